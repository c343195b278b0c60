package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// config is what the flags set.
type config struct {
	N        int           // URLs to fetch
	Limit    int           // tasks running at once; <= 0 means no limit
	Attempts uint          // tries per URL
	Backoff  time.Duration // base wait before the first retry
	Timeout  time.Duration // most time one request may take; <= 0 means no limit
	FailRate float64       // fraction of endpoints that misbehave
	Latency  time.Duration // typical time an endpoint takes to answer
	Seed     uint64        // draws which endpoints misbehave, and how
	Progress time.Duration // how often to redraw the progress line; 0: only at the end

	plan  []endpoint // if set, used instead of makePlan (tests)
	onHit func()     // if set, the server calls it on every request (tests)
}

// result is what a successful fetch sends to the drain. A task's input is
// its result with only the URL filled in, and the task's tries keep count
// in it as they go: tries of one task run one after another.
type result struct {
	URL      string
	Status   int
	Attempts int           // the try that succeeded: 1 if no retry was needed
	Latency  time.Duration // of the request that succeeded
	Tries    int           // tries made, successful or not
	Waited   int           // retries that waited as the server's Retry-After asked
	TimedOut int           // tries cut short by the timeout

	Err error // why the URL was given up on; nil for a fetched one

	asked   time.Duration // the wait the last answer's Retry-After asked for
	askedAt time.Time     // when that answer came; zero if it asked nothing
}

// fetchError is the failure of one try of a fetch.
type fetchError struct {
	Path    string
	Status  int   // the HTTP status, or 0 if there was no response
	Attempt int   // the try that failed
	Err     error // why there was no response (Status 0) or no body
}

func (e *fetchError) Error() string {
	var why string
	switch {
	case e.Status == 0:
		why = "no response: " + e.Err.Error()
	case e.Err != nil:
		why = fmt.Sprintf("%d, then %v", e.Status, e.Err)
	default:
		why = fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("GET %s: %s (try %d)", e.Path, why, e.Attempt)
}

func (e *fetchError) Unwrap() error { return e.Err }

// summary is what a run did.
type summary struct {
	Succeeded    int
	Failed       int      // URLs given up on: causes that are *fetchError
	Results      []result // in the order they arrived
	Causes       []error  // the failures Wait reported, in the order they happened
	Unfinished   int      // URLs neither fetched nor given up on: the run was cut short
	Retries      int64    // tries beyond the first, summed over URLs
	Waited       int64    // retries that waited as the server asked (Retry-After)
	TimedOut     int64    // tries cut short by the timeout
	URLs         []result // every URL's counts of tries, waits and timeouts, in plan order
	Peak         int64    // most fetches ever in flight at once
	Wall         time.Duration
	RequestTime  time.Duration // time spent in requests, summed over tries
	ServerPanics int64         // handler panics that net/http recovered
}

// fetcher holds the client side of a run: what every task shares.
type fetcher struct {
	client   *http.Client
	attempts int          // tries per URL
	gaveUp   atomic.Int64 // URLs given up on, sent to the drain with their failure
	inFlight atomic.Int64
	peak     atomic.Int64
	retries  atomic.Int64
	waited   atomic.Int64
	timedOut atomic.Int64
	busy     atomic.Int64 // nanoseconds spent in requests
}

// fetch is the task: it GETs the URL of its input and sends the result to
// its drain, also when it gives up on the URL, with the failure in Err, so
// that the failures can be printed as they land. A 4xx answer is marked Permanent, since asking again cannot
// change it; a 429 or 503 with a Retry-After header is marked RetryAfter,
// so that the next try waits as long as the server asked instead of the
// backoff; any other 5xx, a dropped connection or a request that ran out of
// time (net/http then fails with its context's cause, gopool.ErrTimeout) is
// returned as is, for the task's retry policy to try again.
func (f *fetcher) fetch(a gopool.Args[result]) error {
	err := f.try(a)
	var fe *fetchError
	if errors.As(err, &fe) && a.Context.Err() == nil && (fe.permanent() || a.Attempt >= f.attempts) {
		r := *a.Input
		r.Err = fe
		f.gaveUp.Add(1)
		a.Drainer.Send(r)
	}
	return err
}

// permanent reports whether e is an answer that asking again cannot change.
func (e *fetchError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests
}

// try is one try of fetch.
func (f *fetcher) try(a gopool.Args[result]) error {
	in := a.Input
	in.Tries = a.Attempt
	if a.Attempt > 1 {
		f.retries.Add(1)
		if !in.askedAt.IsZero() && time.Since(in.askedAt) >= in.asked {
			in.Waited++
			f.waited.Add(1)
		}
	}
	in.asked, in.askedAt = 0, time.Time{}
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
		// Another fetch moved the peak since we loaded it: look again.
	}

	start := time.Now()
	defer func() { f.busy.Add(int64(time.Since(start))) }()
	req, err := http.NewRequestWithContext(a.Context, http.MethodGet, a.Input.URL, nil)
	if err != nil {
		return gopool.Permanent(err)
	}
	fail := &fetchError{Path: req.URL.Path, Attempt: a.Attempt}
	resp, err := f.client.Do(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // the URL is already in the message
		}
		if errors.Is(err, gopool.ErrTimeout) { // net/http fails with the context's cause
			in.TimedOut++
			f.timedOut.Add(1)
		}
		fail.Err = err
		return fail
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fail.Status, fail.Err = resp.StatusCode, err
	switch {
	case err != nil:
		return fail
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			in.asked, in.askedAt = d, time.Now()
			return gopool.RetryAfter(d, fail)
		}
		return fail
	case fail.permanent():
		return gopool.Permanent(fail)
	case resp.StatusCode != http.StatusOK:
		return fail
	}
	r := *in
	r.Status, r.Attempts, r.Latency = resp.StatusCode, a.Attempt, time.Since(start)
	a.Drainer.Send(r)
	return nil
}

// retryAfter returns the wait that a Retry-After header value asks for:
// a number of seconds, or an HTTP date, from now. It reports false for an
// empty or malformed value.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseUint(v, 10, 31); err == nil {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// run starts the demo server, fetches cfg.N URLs from it through a pool, and
// writes the progress and the summary to out. It returns an error only if
// ctx ends the run early; failed URLs are part of the summary.
func run(ctx context.Context, cfg config, out io.Writer) (summary, error) {
	plan := cfg.plan
	if plan == nil {
		plan = makePlan(cfg.N, cfg.FailRate, cfg.Latency, cfg.Seed)
	}
	srv := startServer(plan, cfg.onHit)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: max(cfg.Limit, len(plan)/4, 2)}
	defer tr.CloseIdleConnections()
	f := &fetcher{client: &http.Client{Transport: tr}, attempts: int(max(cfg.Attempts, 1))}

	fmt.Fprintf(out, "fetching %d URLs from %s: limit %s, %d tries each, backoff %v, timeout %s",
		len(plan), srv.URL, limitString(cfg.Limit), max(cfg.Attempts, 1), cfg.Backoff, timeoutString(cfg.Timeout))
	if cfg.plan == nil {
		fmt.Fprintf(out, ", %.0f%% flaky or broken (seed %d)", 100*cfg.FailRate, cfg.Seed)
	}
	fmt.Fprintln(out)

	// Args carries one type for both Input and Drainer: each task's input
	// is its result with only the URL filled in. The drain gets every URL
	// that lands, fetched or given up on.
	results := gopool.NewDrainer[result]()
	inputs := make([]result, len(plan))
	tasks := make([]gopool.Worker, len(plan))
	for i := range plan {
		inputs[i].URL = srv.url(i)
		tasks[i] = gopool.NewTask(f.fetch).
			WithInput(&inputs[i]).
			WithTimeout(cfg.Timeout).
			DrainTo(results).
			WithRetry(cfg.Attempts, cfg.Backoff)
	}

	start := time.Now()
	var outMu sync.Mutex // the progress line and the failures share out
	progress := func() {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, "\r  fetched %4d/%d · in flight %3d · retries %4d · %5.1fs",
			int64(results.Count())-f.gaveUp.Load(), len(plan), f.inFlight.Load(), f.retries.Load(), time.Since(start).Seconds())
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		if cfg.Progress <= 0 {
			return
		}
		tick := time.NewTicker(cfg.Progress)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				progress()
			case <-stop:
				return
			}
		}
	}()

	// The queue holds every task beyond the limit, so Go returns at once,
	// with every task registered, and the loop below sees each URL land.
	pool := gopool.NewPoolWithContext(ctx).WithLimit(cfg.Limit).WithQueue(len(plan))
	pool.Go(tasks...)
	for r := range results.All() {
		if r.Err != nil {
			outMu.Lock()
			fmt.Fprintf(out, "\r  gave up on %s: %v\033[K\n", r.URL, r.Err)
			outMu.Unlock()
		}
	}
	err := pool.Wait()
	s := summary{Wall: time.Since(start)}
	for _, r := range results.Drain() {
		if r.Err == nil {
			s.Results = append(s.Results, r)
		}
	}
	close(stop)
	<-stopped
	progress()
	fmt.Fprintln(out)

	s.Causes = causes(err)
	for _, c := range s.Causes {
		if _, ok := errors.AsType[*fetchError](c); ok {
			s.Failed++
		}
	}
	s.Succeeded = len(s.Results)
	s.Unfinished = len(plan) - s.Succeeded - s.Failed
	s.Retries, s.Peak = f.retries.Load(), f.peak.Load()
	s.Waited, s.TimedOut, s.URLs = f.waited.Load(), f.timedOut.Load(), inputs // Wait returned: no task writes them
	s.RequestTime = time.Duration(f.busy.Load())
	s.ServerPanics = srv.panics.Load()
	s.print(out, cfg, ctx.Err() != nil)
	if ctx.Err() != nil {
		return s, context.Cause(ctx)
	}
	return s, nil
}

// causes lists the failures in err, the error a Pool's Wait returns: itself
// if it is a single failure, the errors it joins if there were more.
func causes(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, causes(e)...)
		}
		return errs
	}
	return []error{err}
}

func timeoutString(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return d.String()
}

func limitString(limit int) string {
	if limit <= 0 {
		return "none"
	}
	return fmt.Sprint(limit)
}

// print writes the summary, listing the causes of failure grouped by what
// went wrong.
func (s *summary) print(out io.Writer, cfg config, interrupted bool) {
	lat := make([]time.Duration, len(s.Results))
	for i, r := range s.Results {
		lat[i] = r.Latency
	}
	slices.Sort(lat)
	pct := func(p int) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[(len(lat)-1)*p/100].Round(time.Millisecond)
	}
	w := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }

	w("succeeded  %5d   latency p50 %v, p99 %v, max %v", s.Succeeded, pct(50), pct(99), pct(100))
	w("failed     %5d   Wait returned errors.Join of %d causes:", s.Failed, len(s.Causes))
	type group struct {
		what  string
		paths []string
	}
	var groups []*group
	byWhat := map[string]*group{}
	for _, c := range s.Causes {
		what, path := c.Error(), ""
		if fe, ok := errors.AsType[*fetchError](c); ok {
			path = fe.Path
			switch {
			case errors.Is(c, gopool.ErrTimeout):
				what = fmt.Sprintf("no response within %v, gave up after try %d", cfg.Timeout, fe.Attempt)
			case fe.Status == 0:
				what = fmt.Sprintf("no response (%v), gave up after try %d", fe.Err, fe.Attempt)
			case fe.Attempt == 1 && fe.Status < 500 && fe.Status != http.StatusTooManyRequests:
				what = fmt.Sprintf("%d %s, permanent: not retried", fe.Status, http.StatusText(fe.Status))
			default:
				what = fmt.Sprintf("%d %s, gave up after try %d", fe.Status, http.StatusText(fe.Status), fe.Attempt)
			}
			if interrupted && fe.Attempt < int(max(cfg.Attempts, 1)) && fe.Status != http.StatusNotFound {
				what += " (retries cut short)"
			}
		}
		g := byWhat[what]
		if g == nil {
			g = &group{what: what}
			byWhat[what] = g
			groups = append(groups, g)
		}
		if path != "" {
			g.paths = append(g.paths, strings.TrimPrefix(path, "/item/"))
		}
	}
	slices.SortStableFunc(groups, func(a, b *group) int { return cmp.Compare(len(b.paths), len(a.paths)) })
	for _, g := range groups {
		if len(g.paths) == 0 {
			w("                  %s", g.what)
			continue
		}
		slices.SortFunc(g.paths, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
		w("             %4d× %s:", len(g.paths), g.what)
		w("                  /item/ %s", wrap(g.paths, 64, 25))
	}
	if s.Unfinished > 0 {
		w("unfinished %5d   URLs the interrupted run did not get to", s.Unfinished)
	}
	w("retries    %5d   tries beyond the first, backoff %v doubling with jitter", s.Retries, cfg.Backoff)
	w("           %5d   of them after waiting as the server asked (Retry-After), not the backoff", s.Waited)
	w("timeouts   %5d   tries cut short at %s, each retried while tries remained", s.TimedOut, timeoutString(cfg.Timeout))
	speedup := 0.0
	if s.Wall > 0 {
		speedup = float64(s.RequestTime) / float64(s.Wall)
	}
	w("wall time  %5.2fs  requests alone add up to %.1fs: %.1f× faster than one at a time",
		s.Wall.Seconds(), s.RequestTime.Seconds(), speedup)
	w("peak       %5d   fetches in flight at once (limit %s)", s.Peak, limitString(cfg.Limit))
	if s.ServerPanics > 0 {
		// One try can meet several: when a reused connection drops, the
		// http.Transport sends an idempotent request again by itself.
		w("server     %5d   handler panics, each recovered by net/http, which dropped the connection", s.ServerPanics)
	}
}

// wrap joins words with spaces, breaking lines longer than width and
// indenting the lines after the first.
func wrap(words []string, width, indent int) string {
	var b strings.Builder
	line := 0
	for i, word := range words {
		if i > 0 {
			if line+1+len(word) > width {
				b.WriteString("\n" + strings.Repeat(" ", indent))
				line = 0
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}
