// Command service shows gopool in a long-running HTTP service: one global
// pool guards a downstream that can take only so many calls at once, and
// every request fans its items out through a sub-pool of its own.
//
// It starts, on loopback, a fake downstream that answers 503 to any call
// beyond its limit, and a JSON service whose GET /items?ids=1,2,3 calls the
// downstream once per item, through
//
//	global.SubWithContext(r.Context()).WithFailFast()
//
// with per-task retries, where global is
//
//	gopool.NewPoolWithContext(ctx).WithLimit(limit)
//
// The sub-pool gives each request its own failures, fail-fast and
// cancellation (a client that goes away cancels its own calls and nobody
// else's), while the global limit, which every sub-pool counts against,
// keeps the downstream from ever seeing more than limit calls. GET /metrics
// serves the global pool's Stats for Prometheus.
//
// An in-process load generator then sends requests from -clients clients
// for -duration, with a live line each second; on the end of -duration, or
// on an interrupt, the service shuts down gracefully (Shutdown, then the
// pool's Close) and a final table shows the requests, their latency, the
// downstream's peak against its limit, and the pool's Stats.
//
// Usage:
//
//	go run ./service [-clients 32] [-duration 3s] [-limit 8] [-items 8] [-flaky 0.1] [-bad 0.02]
//
// With -duration 0 it runs until interrupted: curl the /metrics address it
// prints meanwhile.
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

	gopool "github.com/rubengp99/go-pool"
)

// config is what the flags set.
type config struct {
	Clients  int           // load-generator clients, each with one request at a time
	Duration time.Duration // how long the load runs; 0: until interrupted
	Limit    int           // downstream calls in flight at once, across all requests
	Items    int           // items per request: downstream calls per request
	Latency  time.Duration // typical time the downstream takes to answer
	Flaky    float64       // fraction of items whose first try fails with 503
	Bad      float64       // fraction of requests that ask for one missing item
	Attempts uint          // tries per item, the first included
	Backoff  time.Duration // wait before the first retry
	Grace    time.Duration // how long Shutdown lets requests in flight finish
	Seed     uint64        // draws the items each client asks for
	Tick     time.Duration // how often to print the live line; 0: never

	onCall func(requestID string, item int) int // if set, the downstream's test hook
}

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
	// After the first interrupt, which starts a graceful shutdown, a second
	// one kills the program as usual.
	context.AfterFunc(ctx, stop)
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags returns the configuration that args ask for; errors and usage
// go to errOut.
func parseFlags(args []string, errOut io.Writer) (config, error) {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(errOut)
	cfg := config{Tick: time.Second}
	fs.IntVar(&cfg.Clients, "clients", 32, "concurrent clients of the load generator")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "how long the load runs (0: until interrupted)")
	fs.IntVar(&cfg.Limit, "limit", 8, "most downstream calls in flight at once, across all requests; the downstream refuses more")
	fs.IntVar(&cfg.Items, "items", 8, "items per request, each one downstream call")
	fs.DurationVar(&cfg.Latency, "latency", 5*time.Millisecond, "typical time the downstream takes to answer")
	fs.Float64Var(&cfg.Flaky, "flaky", 0.1, "fraction of items whose first try fails with 503, in [0, 1]")
	fs.Float64Var(&cfg.Bad, "bad", 0.02, "fraction of requests that ask for one missing item, in [0, 1]")
	fs.UintVar(&cfg.Attempts, "attempts", 3, "tries per item, the first included")
	fs.DurationVar(&cfg.Backoff, "backoff", 5*time.Millisecond, "wait before the first retry; it doubles for each next one, with jitter")
	fs.DurationVar(&cfg.Grace, "grace", 5*time.Second, "how long the shutdown lets requests in flight finish before closing the pool")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed that draws the items each client asks for")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var bad error
	switch {
	case fs.NArg() > 0:
		bad = fmt.Errorf("unexpected arguments: %q", fs.Args())
	case cfg.Clients < 1:
		bad = fmt.Errorf("-clients %d: must be at least 1", cfg.Clients)
	case cfg.Duration < 0:
		bad = fmt.Errorf("-duration %v: must not be negative", cfg.Duration)
	case cfg.Limit < 1:
		bad = fmt.Errorf("-limit %d: must be at least 1", cfg.Limit)
	case cfg.Items < 1 || cfg.Items > maxItems:
		bad = fmt.Errorf("-items %d: must be in [1, %d]", cfg.Items, maxItems)
	case cfg.Latency < 0:
		bad = fmt.Errorf("-latency %v: must not be negative", cfg.Latency)
	case !(cfg.Flaky >= 0 && cfg.Flaky <= 1):
		bad = fmt.Errorf("-flaky %v: must be in [0, 1]", cfg.Flaky)
	case !(cfg.Bad >= 0 && cfg.Bad <= 1):
		bad = fmt.Errorf("-bad %v: must be in [0, 1]", cfg.Bad)
	case cfg.Grace < 0:
		bad = fmt.Errorf("-grace %v: must not be negative", cfg.Grace)
	}
	if bad != nil {
		fmt.Fprintln(errOut, "service:", bad)
		fs.Usage()
	}
	return cfg, bad
}

// run starts the downstream and the service, runs the load against them
// until cfg.Duration is over or ctx is done, shuts everything down, and
// writes the live lines and the final table to out. It returns an error if
// the downstream ever saw more calls than the limit, or an answer held
// another request's results: the two things the pools are there to
// prevent.
func run(ctx context.Context, cfg config, out io.Writer) (summary, error) {
	down := &downstream{limit: int64(cfg.Limit), latency: cfg.Latency, flaky: cfg.Flaky, onCall: cfg.onCall}
	if err := startDownstream(down); err != nil {
		return summary{}, err
	}
	defer down.close()

	// The global pool lives as long as the service, not as long as ctx: an
	// interrupt must let the requests in flight finish, which a pool
	// cancelled by the signal would cut. The shutdown closes it instead.
	life, end := context.WithCancel(context.WithoutCancel(ctx))
	defer end()
	global := gopool.NewPoolWithContext(life).WithLimit(cfg.Limit)
	svc := &service{
		global:   global,
		down:     newDownstreamClient(down.url, cfg.Limit),
		attempts: cfg.Attempts,
		backoff:  cfg.Backoff,
	}
	if err := startService(svc); err != nil {
		return summary{}, err
	}

	fmt.Fprintf(out, "service on %s (metrics: %s/metrics) · downstream on %s, refusing more than %d calls at once\n",
		svc.url, svc.url, down.url, cfg.Limit)
	fmt.Fprintf(out, "load: %d clients for %s, %d items a request, %.0f%% of items flaky, %.0f%% of requests asking for a missing item; %d tries, backoff %v\n",
		cfg.Clients, durationString(cfg.Duration), cfg.Items, 100*cfg.Flaky, 100*cfg.Bad, max(cfg.Attempts, 1), cfg.Backoff)

	start := time.Now()
	ld := startLoad(cfg, svc.url)
	live := newLiveLine(out, start, global, down, ld)
	var tick, deadline <-chan time.Time
	if cfg.Tick > 0 {
		t := time.NewTicker(cfg.Tick)
		defer t.Stop()
		tick = t.C
	}
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	why := "time is up"
wait:
	for {
		select {
		case <-tick:
			live.print()
		case <-deadline:
			break wait
		case <-ctx.Done():
			why = "interrupted"
			break wait
		}
	}

	fmt.Fprintf(out, "%s: shutting the service down (grace %v), then closing the pool\n", why, cfg.Grace)
	ld.stop()
	shutdownErr := svc.stop(cfg.Grace)
	s := summary{
		tally:     ld.wait(),
		Wall:      time.Since(start),
		Stats:     global.Stats(),
		Limit:     cfg.Limit,
		Peak:      down.peak.Load(),
		Calls:     down.calls.Load(),
		Overloads: down.overloads.Load(),
		Flakes:    down.flakes.Load(),
		Missing:   down.missing.Load(),
		GraceOver: shutdownErr != nil,
	}
	s.print(out)

	var errs []error
	if s.Peak > int64(s.Limit) {
		errs = append(errs, fmt.Errorf("the downstream saw %d calls at once, above the limit %d", s.Peak, s.Limit))
	}
	if s.Mixups > 0 {
		errs = append(errs, fmt.Errorf("%d answers held what was not theirs, the first: %w", s.Mixups, s.FirstMixup))
	}
	return s, errors.Join(errs...)
}

func durationString(d time.Duration) string {
	if d == 0 {
		return "as long as it runs"
	}
	return d.String()
}
