// Command fetch shows what gopool does with real work: it starts an HTTP
// server on loopback whose endpoints are slow, flaky, throttled, hanging,
// broken, missing, or panicking, and fetches a few hundred URLs from it
// through a gopool.Pool with a concurrency limit, a timeout per request,
// per-task retries with backoff, waits as long as a server's Retry-After
// header asks, and a typed drain of results. It prints a progress line while
// it runs, and then what succeeded, what failed and why, the retries spent
// (and how many waited as the server asked), the requests that timed out,
// the wall time and the peak concurrency.
//
// Usage:
//
//	go run ./fetch [-n 300] [-limit 16] [-attempts 4] [-timeout 500ms] [-fail 0.2] [-seed 1]
//
// The same seed always draws the same endpoints, so two runs with the same
// flags fail in the same way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags returns the configuration that args ask for; errors and usage
// go to errOut.
func parseFlags(args []string, errOut io.Writer) (config, error) {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var cfg config
	fs.IntVar(&cfg.N, "n", 300, "number of URLs to fetch")
	fs.IntVar(&cfg.Limit, "limit", 16, "most fetches in flight at once (0: no limit)")
	fs.UintVar(&cfg.Attempts, "attempts", 4, "tries per URL, the first included")
	fs.DurationVar(&cfg.Backoff, "backoff", 50*time.Millisecond, "wait before the first retry; it doubles for each next one, with jitter")
	fs.DurationVar(&cfg.Timeout, "timeout", 500*time.Millisecond, "most time one request may take before it is given up and retried (0: no limit)")
	fs.Float64Var(&cfg.FailRate, "fail", 0.2, "fraction of endpoints that are flaky or broken, in [0, 1]")
	fs.DurationVar(&cfg.Latency, "latency", 40*time.Millisecond, "typical time an endpoint takes to answer")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed that draws which endpoints misbehave, and how")
	cfg.Progress = 100 * time.Millisecond
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var bad error
	switch {
	case fs.NArg() > 0:
		bad = fmt.Errorf("unexpected arguments: %q", fs.Args())
	case cfg.N < 0:
		bad = fmt.Errorf("-n %d: must not be negative", cfg.N)
	case !(cfg.FailRate >= 0 && cfg.FailRate <= 1):
		bad = fmt.Errorf("-fail %v: must be in [0, 1]", cfg.FailRate)
	case cfg.Latency < 0:
		bad = fmt.Errorf("-latency %v: must not be negative", cfg.Latency)
	case cfg.Timeout < 0:
		bad = fmt.Errorf("-timeout %v: must not be negative", cfg.Timeout)
	}
	if bad != nil {
		fmt.Fprintln(errOut, "fetch:", bad)
		fs.Usage()
	}
	return cfg, bad
}
