package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gopool "github.com/rubengp99/go-pool"
	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: the server's,
// the client's connections', or the pool's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// outcome is what the client should see of an endpoint after tries.
type outcome struct {
	ok       bool
	status   int // of the last try: 200, 404, 429, 503, or 0 for no response
	tries    int // tries the URL gets: the successful one, or the last failed one
	retries  int // tries beyond the first
	waited   int // retries that waited as the server's Retry-After asked
	timedOut int // tries cut short by the timeout
}

// expect works out, from an endpoint's behaviour alone, what fetching it
// with cfg's number of tries and timeout must give. The endpoints' latency
// must stay below the timeout.
func expect(e endpoint, cfg config) outcome {
	attempts := max(int(cfg.Attempts), 1)
	// recovering is an endpoint that fails its first e.fails requests
	// with status, then answers 200.
	recovering := func(status int) outcome {
		if e.fails < attempts {
			return outcome{ok: true, status: 200, tries: e.fails + 1, retries: e.fails}
		}
		return outcome{status: status, tries: attempts, retries: attempts - 1}
	}
	switch e.kind {
	case kindOK:
		return outcome{ok: true, status: 200, tries: 1}
	case kindFlaky:
		return recovering(503)
	case kindThrottled:
		o := recovering(e.status)
		o.waited = o.retries // every retry follows a Retry-After answer
		return o
	case kindSlow:
		if cfg.Timeout <= 0 || cfg.Timeout >= slowHang {
			return outcome{ok: true, status: 200, tries: 1} // it hangs, then answers
		}
		o := recovering(0)
		o.timedOut = min(e.fails, attempts)
		return o
	case kindDown:
		return outcome{status: 503, tries: attempts, retries: attempts - 1}
	case kindMissing:
		return outcome{status: 404, tries: 1}
	case kindPanic:
		return outcome{status: 0, tries: attempts, retries: attempts - 1}
	}
	panic("unknown kind " + e.kind.String())
}

func itemIndex(t *testing.T, path string) int {
	t.Helper()
	i, err := strconv.Atoi(strings.TrimPrefix(path, "/item/"))
	if err != nil {
		t.Fatalf("path %q is not /item/{i}", path)
	}
	return i
}

// check compares a summary with what plan must give, URL by URL.
func check(t *testing.T, s summary, plan []endpoint, cfg config) {
	t.Helper()
	var want summary
	for _, e := range plan {
		o := expect(e, cfg)
		if o.ok {
			want.Succeeded++
		} else {
			want.Failed++
		}
		want.Retries += int64(o.retries)
		want.Waited += int64(o.waited)
		want.TimedOut += int64(o.timedOut)
	}
	if s.Succeeded != want.Succeeded || s.Failed != want.Failed || s.Retries != want.Retries ||
		s.Waited != want.Waited || s.TimedOut != want.TimedOut {
		t.Errorf("succeeded %d, failed %d, retries %d, waited %d, timed out %d; want %d, %d, %d, %d, %d",
			s.Succeeded, s.Failed, s.Retries, s.Waited, s.TimedOut,
			want.Succeeded, want.Failed, want.Retries, want.Waited, want.TimedOut)
	}
	if len(s.URLs) != len(plan) {
		t.Fatalf("%d URLs in the summary; want %d", len(s.URLs), len(plan))
	}
	for i, u := range s.URLs {
		o := expect(plan[i], cfg)
		if u.Tries != o.tries || u.Waited != o.waited || u.TimedOut != o.timedOut {
			t.Errorf("/item/%d (%v, %d fails): %d tries, %d waited as asked, %d timed out; want %d, %d, %d",
				i, plan[i].kind, plan[i].fails, u.Tries, u.Waited, u.TimedOut, o.tries, o.waited, o.timedOut)
		}
	}
	if s.Peak < 1 || (cfg.Limit > 0 && s.Peak > int64(cfg.Limit)) {
		t.Errorf("peak concurrency %d; want within [1, %d]", s.Peak, cfg.Limit)
	}
	if s.Unfinished != 0 {
		t.Errorf("%d URLs unfinished; want 0", s.Unfinished)
	}
	if len(s.Causes) != s.Failed {
		t.Errorf("%d causes for %d failures: %v", len(s.Causes), s.Failed, s.Causes)
	}

	seen := make([]int, len(plan))
	for _, r := range s.Results {
		path := strings.TrimPrefix(r.URL, "http://")
		path = path[strings.Index(path, "/"):]
		i := itemIndex(t, path)
		seen[i]++
		o := expect(plan[i], cfg)
		if !o.ok || r.Status != http.StatusOK || r.Attempts != o.tries {
			t.Errorf("%s (%v, %d fails) succeeded: status %d at try %d; want %+v",
				path, plan[i].kind, plan[i].fails, r.Status, r.Attempts, o)
		}
	}
	for _, c := range s.Causes {
		fe, ok := errors.AsType[*fetchError](c)
		if !ok {
			t.Errorf("cause %q (%T) is not a *fetchError", c, c)
			continue
		}
		i := itemIndex(t, fe.Path)
		seen[i]++
		o := expect(plan[i], cfg)
		if o.ok || fe.Status != o.status || fe.Attempt != o.tries || (fe.Status == 0) != (fe.Err != nil) {
			t.Errorf("%s (%v, %d fails) failed with %q; want %+v", fe.Path, plan[i].kind, plan[i].fails, c, o)
		}
		if got, want := errors.Is(c, gopool.ErrTimeout), plan[i].kind == kindSlow; got != want {
			t.Errorf("%s (%v, %d fails) failed with %q: errors.Is(err, ErrTimeout) is %v; want %v",
				fe.Path, plan[i].kind, plan[i].fails, c, got, want)
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("/item/%d (%v) is reported %d times; want once", i, plan[i].kind, n)
		}
	}
}

// TestRunEachKind runs one endpoint of each behaviour and checks the summary
// against numbers worked out by hand.
func TestRunEachKind(t *testing.T) {
	plan := []endpoint{
		{kind: kindOK},
		{kind: kindFlaky, fails: 1},
		{kind: kindFlaky, fails: 2},
		{kind: kindFlaky, fails: 3}, // one more failure than 3 tries can absorb
		{kind: kindDown},
		{kind: kindMissing},
		{kind: kindPanic},
		{kind: kindOK, latency: time.Millisecond},
		{kind: kindThrottled, fails: 1, status: 429},
		{kind: kindThrottled, fails: 3, status: 503}, // asks to wait before every retry, and still fails
		{kind: kindSlow, fails: 1},
		{kind: kindSlow, fails: 3}, // times out on every try
	}
	cfg := config{Limit: 3, Attempts: 3, Timeout: 250 * time.Millisecond, plan: plan}
	var out bytes.Buffer
	s, err := run(t.Context(), cfg, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("output:\n%s", out.String())
	// ok 0, flaky 1 and 2, ok 7, throttled 8, slow 10 succeed; flaky 3,
	// down, missing, panic, throttled 9 and slow 11 fail. Retries: 1 + 2
	// (flaky, recovered) + 2 + 2 (flaky 3, down) + 0 (missing: permanent)
	// + 2 (panic) + 1 + 2 (throttled, each after the wait the server asked
	// for) + 1 + 2 (slow, each after a timeout; 11 times out 3 times).
	if s.Succeeded != 6 || s.Failed != 6 || s.Retries != 15 || s.Waited != 3 || s.TimedOut != 4 {
		t.Errorf("succeeded %d, failed %d, retries %d, waited %d, timed out %d; want 6, 6, 15, 3, 4",
			s.Succeeded, s.Failed, s.Retries, s.Waited, s.TimedOut)
	}
	if s.ServerPanics < 3 {
		t.Errorf("server saw %d handler panics; want at least one per try, 3", s.ServerPanics)
	}
	check(t, s, plan, cfg)

	for _, line := range []string{
		"fetching 12 URLs from http://127.0.0.1:",
		"timeout 250ms\n",
		"\r  fetched    6/12 · in flight   0 · retries   15 · ",
		"succeeded      6 ",
		"failed         6   Wait returned errors.Join of 6 causes:",
		"   3× 503 Service Unavailable, gave up after try 3:\n                  /item/ 3 4 9\n",
		"   1× 404 Not Found, permanent: not retried:\n                  /item/ 5\n",
		"   1× no response (EOF), gave up after try 3:\n                  /item/ 6\n",
		"   1× no response within 250ms, gave up after try 3:\n                  /item/ 11\n",
		"retries       15 ",
		"retries       15   tries beyond the first, backoff 0s doubling with jitter\n" +
			"               3   of them after waiting as the server asked (Retry-After), not the backoff\n",
		"timeouts       4   tries cut short at 250ms, each retried while tries remained\n",
		"(limit 3)",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q", line)
		}
	}
}

// TestRunGeneratedPlan runs a small generated plan, with failures of every
// kind, and checks every URL's fate against its endpoint's behaviour.
func TestRunGeneratedPlan(t *testing.T) {
	cfg := config{N: 40, Limit: 4, Attempts: 3, Timeout: 250 * time.Millisecond, FailRate: 0.5, Seed: 15, Progress: time.Millisecond}
	plan := makePlan(cfg.N, cfg.FailRate, cfg.Latency, cfg.Seed)
	kinds := map[kind]int{}
	for _, e := range plan {
		kinds[e.kind]++
	}
	if len(kinds) != 7 || kinds[kindPanic] != 1 {
		t.Fatalf("seed %d draws %v; the test wants every kind, and one panic", cfg.Seed, kinds)
	}
	var out bytes.Buffer
	s, err := run(t.Context(), cfg, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("plan: %v\noutput:\n%s", kinds, out.String())
	check(t, s, plan, cfg)
}

// TestRunNoLimit checks a run without a limit, in which every URL succeeds.
func TestRunNoLimit(t *testing.T) {
	cfg := config{N: 30, Attempts: 2}
	s, err := run(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if s.Succeeded != 30 || s.Failed != 0 || s.Retries != 0 || s.Causes != nil {
		t.Errorf("summary %+v; want 30 successes and nothing else", s)
	}
	check(t, s, makePlan(cfg.N, 0, 0, 0), cfg)
}

// TestMakePlanDeterministic checks that the seed alone draws the plan.
func TestMakePlanDeterministic(t *testing.T) {
	a := makePlan(200, 0.3, 40*time.Millisecond, 42)
	if b := makePlan(200, 0.3, 40*time.Millisecond, 42); !reflect.DeepEqual(a, b) {
		t.Error("two plans from seed 42 differ")
	}
	if c := makePlan(200, 0.3, 40*time.Millisecond, 43); reflect.DeepEqual(a, c) {
		t.Error("seeds 42 and 43 draw the same plan")
	}
	for i, e := range a {
		if e.latency < 20*time.Millisecond || e.latency >= 4*60*time.Millisecond {
			t.Errorf("endpoint %d: latency %v out of range", i, e.latency)
		}
		recovers := e.kind == kindFlaky || e.kind == kindThrottled || e.kind == kindSlow
		if recovers != (e.fails > 0) || e.fails > 3 {
			t.Errorf("endpoint %d: kind %v with %d fails", i, e.kind, e.fails)
		}
		if throttles := e.status == 429 || e.status == 503; throttles != (e.kind == kindThrottled) {
			t.Errorf("endpoint %d: kind %v with status %d", i, e.kind, e.status)
		}
	}
	for _, e := range makePlan(100, 0, 0, 1) {
		if e != (endpoint{}) {
			t.Fatalf("with -fail 0, got endpoint %+v", e)
		}
	}
}

// TestRunCancel cancels a run whose endpoints would take an hour to answer,
// as soon as the server gets its first request: run must return at once with
// the cancellation, and leave nothing running.
func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var once sync.Once
	cfg := config{
		N: 20, Limit: 2, Attempts: 3, Backoff: time.Hour, Latency: time.Hour,
		onHit: func() { once.Do(cancel) },
	}
	start := time.Now()
	s, err := run(ctx, cfg, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run returned %v; want context.Canceled", err)
	}
	if s.Succeeded != 0 || s.Failed != 0 || s.Retries != 0 || s.Unfinished != cfg.N {
		t.Errorf("summary %+v; want nothing done", s)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("run took %v after cancellation", d)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{N: 300, Limit: 16, Attempts: 4, Backoff: 50 * time.Millisecond, Timeout: 500 * time.Millisecond,
		FailRate: 0.2, Latency: 40 * time.Millisecond, Seed: 1, Progress: 100 * time.Millisecond}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults %+v; want %+v", cfg, want)
	}
	cfg, err = parseFlags(strings.Fields("-n 40 -limit 4 -attempts 2 -timeout 2s -fail 0.5 -seed 9"), io.Discard)
	if err != nil || cfg.N != 40 || cfg.Limit != 4 || cfg.Attempts != 2 || cfg.Timeout != 2*time.Second ||
		cfg.FailRate != 0.5 || cfg.Seed != 9 {
		t.Errorf("parsed %+v, %v", cfg, err)
	}
	for _, args := range []string{"-n -1", "-fail 1.5", "-fail NaN", "-latency -1s", "-timeout -1s", "extra", "-nope"} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v; want flag.ErrHelp", err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		value string
		wait  time.Duration
		ok    bool
	}{
		{"1", time.Second, true},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true}, // a date past: at once
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	} {
		if wait, ok := retryAfter(c.value, now); wait != c.wait || ok != c.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.value, wait, ok, c.wait, c.ok)
		}
	}
}
