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

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: the server's,
// the client's connections', or the pool's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// outcome is what the client should see of an endpoint after tries.
type outcome struct {
	ok      bool
	status  int // of the last try: 200, 404, 503, or 0 for no response
	tries   int // tries the URL gets: the successful one, or the last failed one
	retries int // tries beyond the first
}

// expect works out, from an endpoint's behaviour alone, what fetching it with
// the given number of tries must give.
func expect(e endpoint, attempts int) outcome {
	attempts = max(attempts, 1)
	switch e.kind {
	case kindOK:
		return outcome{ok: true, status: 200, tries: 1}
	case kindFlaky:
		if e.fails < attempts {
			return outcome{ok: true, status: 200, tries: e.fails + 1, retries: e.fails}
		}
		return outcome{status: 503, tries: attempts, retries: attempts - 1}
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
	attempts := int(cfg.Attempts)
	var want summary
	for _, e := range plan {
		o := expect(e, attempts)
		if o.ok {
			want.Succeeded++
		} else {
			want.Failed++
		}
		want.Retries += int64(o.retries)
	}
	if s.Succeeded != want.Succeeded || s.Failed != want.Failed || s.Retries != want.Retries {
		t.Errorf("succeeded %d, failed %d, retries %d; want %d, %d, %d",
			s.Succeeded, s.Failed, s.Retries, want.Succeeded, want.Failed, want.Retries)
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
		o := expect(plan[i], attempts)
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
		o := expect(plan[i], attempts)
		if o.ok || fe.Status != o.status || fe.Attempt != o.tries || (fe.Status == 0) != (fe.Err != nil) {
			t.Errorf("%s (%v, %d fails) failed with %q; want %+v", fe.Path, plan[i].kind, plan[i].fails, c, o)
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
	}
	cfg := config{Limit: 3, Attempts: 3, plan: plan}
	var out bytes.Buffer
	s, err := run(t.Context(), cfg, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("output:\n%s", out.String())
	// ok 0, flaky 1 and 2, ok 7 succeed; flaky 3, down, missing and panic
	// fail. Retries: 1 + 2 (flaky, recovered) + 2 + 2 (flaky 3, down) + 0
	// (missing: permanent) + 2 (panic).
	if s.Succeeded != 4 || s.Failed != 4 || s.Retries != 9 {
		t.Errorf("succeeded %d, failed %d, retries %d; want 4, 4, 9", s.Succeeded, s.Failed, s.Retries)
	}
	if s.ServerPanics < 3 {
		t.Errorf("server saw %d handler panics; want at least one per try, 3", s.ServerPanics)
	}
	check(t, s, plan, cfg)

	for _, line := range []string{
		"fetching 8 URLs from http://127.0.0.1:",
		"\r  fetched    4/8 · in flight   0 · retries    9 · ",
		"succeeded      4 ",
		"failed         4   Wait returned errors.Join of 4 causes:",
		"   2× 503 Service Unavailable, gave up after try 3:\n                  /item/ 3 4\n",
		"   1× 404 Not Found, permanent: not retried:\n                  /item/ 5\n",
		"   1× no response (EOF), gave up after try 3:\n                  /item/ 6\n",
		"retries        9 ",
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
	cfg := config{N: 40, Limit: 4, Attempts: 3, FailRate: 0.5, Seed: 7, Progress: time.Millisecond}
	plan := makePlan(cfg.N, cfg.FailRate, cfg.Latency, cfg.Seed)
	kinds := map[kind]int{}
	for _, e := range plan {
		kinds[e.kind]++
	}
	if len(kinds) != 5 || kinds[kindPanic] != 1 {
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
		if (e.kind == kindFlaky) != (e.fails > 0) || e.fails > 3 {
			t.Errorf("endpoint %d: kind %v with %d fails", i, e.kind, e.fails)
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
	want := config{N: 300, Limit: 16, Attempts: 4, Backoff: 50 * time.Millisecond, FailRate: 0.2,
		Latency: 40 * time.Millisecond, Seed: 1, Progress: 100 * time.Millisecond}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults %+v; want %+v", cfg, want)
	}
	cfg, err = parseFlags(strings.Fields("-n 40 -limit 4 -attempts 2 -fail 0.5 -seed 9"), io.Discard)
	if err != nil || cfg.N != 40 || cfg.Limit != 4 || cfg.Attempts != 2 || cfg.FailRate != 0.5 || cfg.Seed != 9 {
		t.Errorf("parsed %+v, %v", cfg, err)
	}
	for _, args := range []string{"-n -1", "-fail 1.5", "-fail NaN", "-latency -1s", "extra", "-nope"} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v; want flag.ErrHelp", err)
	}
}
