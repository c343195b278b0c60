package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gopool "github.com/rubengp99/go-pool"
	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: the
// servers', the clients' connections', or the pools'.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// stack is a downstream and a service on loopback, and a client for them.
type stack struct {
	down   *downstream
	svc    *service
	client *http.Client
}

// startStack starts a stack whose downstream takes limit calls at once and
// whose service tries each item 3 times. It stops when the test ends.
func startStack(t *testing.T, limit int, flaky float64, s *service, onCall func(string, int) int) *stack {
	t.Helper()
	down := &downstream{limit: int64(limit), latency: time.Millisecond, flaky: flaky, onCall: onCall}
	if err := startDownstream(down); err != nil {
		t.Fatal(err)
	}
	s.global = gopool.NewPoolWithContext(context.Background()).WithLimit(limit)
	s.down = newDownstreamClient(down.url, limit)
	s.attempts, s.backoff = 3, time.Millisecond
	if err := startService(s); err != nil {
		down.close()
		t.Fatal(err)
	}
	st := &stack{down: down, svc: s, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(func() {
		st.client.CloseIdleConnections()
		if err := s.stop(time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		down.close()
	})
	return st
}

// await returns the value from ch, or fails the test if it does not come
// within a generous time: a guard against a hang, not a wait for an event.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s after 10s", what)
		panic("unreachable")
	}
}

// answer is what one client got for one request.
type answer struct {
	id     string
	items  []int
	bad    int // the missing item asked for, or -1
	status int
	resp   response
	err    error
}

// testItems picks the items of request id: n distinct items of the
// catalog, or, if bad, a missing item and n-1 items that are not flaky for
// this request, so that its fail-fast has exactly one cause.
func testItems(id string, n int, bad bool, flaky float64) (items []int, missing int) {
	h := fnv.New64a()
	h.Write([]byte(id))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0))
	missing = -1
	if bad {
		missing = catalogSize + rng.IntN(catalogSize)
		items = append(items, missing)
	}
	for len(items) < n {
		item := rng.IntN(catalogSize)
		if !slices.Contains(items, item) && !(bad && isFlaky(id, item, flaky)) {
			items = append(items, item)
		}
	}
	rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	return items, missing
}

// TestService runs 50 clients, each sending 3 requests of 8 items, against a
// downstream that takes 4 calls at once, while one more client, the victim,
// asks for 20 items and hangs up as soon as the downstream sees the first
// of them. The second request of one client in ten asks for a missing item,
// which fails for good and so cuts the rest of its request short.
func TestService(t *testing.T) {
	const (
		clients     = 50
		requests    = 3 // per client
		items       = 8 // per request
		limit       = 4
		flaky       = 0.25
		victim      = "victim"
		victimItems = 20
	)

	// The victim's calls are held in the downstream until the service
	// sees the victim's request cancelled, and then fail with 503: were
	// the cancellation not to reach the victim's tasks, they would retry.
	victimCtx := make(chan context.Context, 1)
	victimContext := sync.OnceValue(func() context.Context { return <-victimCtx })
	firstHit := make(chan struct{})
	var hitOnce sync.Once
	var mu sync.Mutex
	victimHits := map[int]int{} // calls per item
	onCall := func(id string, item int) int {
		if id != victim {
			return 0
		}
		mu.Lock()
		victimHits[item]++
		mu.Unlock()
		hitOnce.Do(func() { close(firstHit) })
		<-victimContext().Done()
		return http.StatusServiceUnavailable
	}
	type outcome struct {
		waitErr error
		resp    response
	}
	victimServed := make(chan outcome, 1)
	s := &service{
		onRequest: func(id string, ctx context.Context) {
			if id == victim {
				victimCtx <- ctx
			}
		},
		onServed: func(id string, waitErr error, resp response) {
			if id == victim {
				victimServed <- outcome{waitErr, resp}
			}
		},
	}
	st := startStack(t, limit, flaky, s, onCall)

	hangUp, cancelVictim := context.WithCancel(t.Context())
	defer cancelVictim()
	victimList, _ := testItems(victim, victimItems, false, flaky)
	victimErr := make(chan error, 1)
	go func() {
		_, _, err := askItems(hangUp, st.client, st.svc.url, victim, victimList)
		victimErr <- err
	}()

	answers := make([][]answer, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for seq := 1; seq <= requests; seq++ {
				a := answer{id: fmt.Sprintf("c%d-%d", i, seq)}
				a.items, a.bad = testItems(a.id, items, i%10 == 0 && seq == 2, flaky)
				a.resp, a.status, a.err = askItems(t.Context(), st.client, st.svc.url, a.id, a.items)
				answers[i] = append(answers[i], a)
			}
		})
	}
	await(t, firstHit, "victim call at the downstream")
	cancelVictim()
	wg.Wait()
	if err := await(t, victimErr, "end of the victim's request"); !errors.Is(err, context.Canceled) {
		t.Errorf("victim's request returned %v; want context.Canceled", err)
	}
	victimOutcome := await(t, victimServed, "end of the victim's handler")

	// What the metrics must count, from the answers.
	var want struct {
		results, failures, retries, cut int
	}
	for _, as := range answers {
		for _, a := range as {
			want.results += len(a.resp.Results)
			want.failures += len(a.resp.Errors)
			want.cut += len(a.resp.Cut)
			for _, r := range a.resp.Results {
				if r.Attempts > 1 {
					want.retries += r.Attempts - 1
				}
			}
		}
	}

	t.Run("answers", func(t *testing.T) {
		// Report the first few wrong answers only: when one is wrong,
		// many usually are.
		wrong := 0
		errorf := func(format string, args ...any) {
			t.Helper()
			if wrong++; wrong <= 10 {
				t.Errorf(format, args...)
			}
		}
		defer func() {
			if wrong > 10 {
				t.Errorf("... and %d more wrong answers", wrong-10)
			}
		}()
		for _, as := range answers {
			for _, a := range as {
				if a.err != nil {
					errorf("request %s: %v", a.id, a.err)
					continue
				}
				if err := checkResponse(a.id, a.items, a.resp); err != nil {
					errorf("%v\n%+v", err, a.resp)
				}
				for _, r := range a.resp.Results {
					tries := 1
					if isFlaky(a.id, r.Item, flaky) {
						tries = 2 // the first try fails, the retry succeeds
					}
					wantValue := fmt.Sprintf("item %d for %s", r.Item, a.id)
					if r.Attempts != tries || r.Value != wantValue {
						errorf("request %s: item %d answered %q at try %d; want %q at try %d",
							a.id, r.Item, r.Value, r.Attempts, wantValue, tries)
					}
				}
				if a.bad < 0 {
					if a.status != http.StatusOK || len(a.resp.Results) != items {
						errorf("request %s: %d with %d results; want 200 with %d: %+v", a.id, a.status, len(a.resp.Results), items, a.resp)
					}
					continue
				}
				// Fail-fast: the missing item is the one failure; the
				// other items were answered, or cut before they started.
				wantErr := []itemError{{RequestID: a.id, Item: a.bad, Error: fmt.Sprintf("item %d: 404 Not Found (try 1)", a.bad)}}
				if a.status != http.StatusBadGateway || !reflect.DeepEqual(a.resp.Errors, wantErr) || a.resp.Error != "" {
					errorf("request %s asking for missing item %d: %d %+v; want 502 with errors %+v",
						a.id, a.bad, a.status, a.resp, wantErr)
				}
			}
		}
	})

	t.Run("victim", func(t *testing.T) {
		// The victim's handler saw its own cancellation, and nothing
		// else: no result, no failure of its items.
		if !errors.Is(victimOutcome.waitErr, context.Canceled) {
			t.Errorf("victim's Wait returned %v; want context.Canceled", victimOutcome.waitErr)
		}
		if r := victimOutcome.resp; len(r.Results) != 0 || len(r.Errors) != 0 || len(r.Cut) != victimItems {
			t.Errorf("victim's response %+v; want all %d items cut", r, victimItems)
		}
		// No victim item was tried twice: its tasks saw the cancellation
		// and did not retry, and those not yet started never did.
		mu.Lock()
		defer mu.Unlock()
		for item, n := range victimHits {
			if n != 1 {
				t.Errorf("victim's item %d reached the downstream %d times; want once", item, n)
			}
		}
		if len(victimHits) > limit {
			t.Errorf("%d of the victim's items reached the downstream; the limit lets in at most %d before the hang-up",
				len(victimHits), limit)
		}
	})

	t.Run("limit", func(t *testing.T) {
		if peak := st.down.peak.Load(); peak > limit || peak < 1 {
			t.Errorf("downstream peak %d calls at once; want within [1, %d]", peak, limit)
		}
		if n := st.down.overloads.Load(); n != 0 {
			t.Errorf("downstream refused %d calls as overload; want none", n)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		m := scrape(t, st.client, st.svc.url)
		for _, name := range []string{"gopool_running", "gopool_pending"} {
			if m.types[name] != "gauge" {
				t.Errorf("%s is a %q; want a gauge", name, m.types[name])
			}
		}
		for _, name := range []string{"submitted", "succeeded", "failed", "panicked", "canceled", "skipped", "retries"} {
			if name := "gopool_" + name + "_total"; m.types[name] != "counter" {
				t.Errorf("%s is a %q; want a counter", name, m.types[name])
			}
		}
		v := m.values
		submitted := clients*requests*items + victimItems
		for _, c := range []struct {
			name string
			want int
		}{
			{"gopool_running", 0},
			{"gopool_pending", 0},
			{"gopool_submitted_total", submitted},
			{"gopool_succeeded_total", want.results},
			{"gopool_failed_total", want.failures},
			{"gopool_panicked_total", 0},
			{"gopool_retries_total", want.retries},
			// The victim's items, and the items fail-fast cut, were
			// either skipped or returned an echo of the cancellation.
			{"gopool_canceled_total + gopool_skipped_total", victimItems + want.cut},
		} {
			got := 0.0
			for name := range strings.SplitSeq(c.name, " + ") {
				got += v[name]
			}
			if got != float64(c.want) {
				t.Errorf("%s = %v; want %d", c.name, got, c.want)
			}
		}
		// The ledger: every task registered is running, pending, or
		// ended in exactly one way.
		if sum := v["gopool_running"] + v["gopool_pending"] + v["gopool_succeeded_total"] + v["gopool_failed_total"] +
			v["gopool_canceled_total"] + v["gopool_skipped_total"]; v["gopool_submitted_total"] != sum {
			t.Errorf("submitted %v, but running + pending + succeeded + failed + canceled + skipped = %v", v["gopool_submitted_total"], sum)
		}
		mu.Lock()
		hits := len(victimHits)
		mu.Unlock()
		if v["gopool_canceled_total"] < float64(hits) {
			t.Errorf("canceled %v; want at least the %d victim calls that were in flight", v["gopool_canceled_total"], hits)
		}
	})
}

// exposition is a /metrics scrape: the value and the type of each metric.
type exposition struct {
	values map[string]float64
	types  map[string]string
}

// scrape reads the Prometheus text exposition at base/metrics.
func scrape(t *testing.T, c *http.Client, base string) exposition {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	m := exposition{values: map[string]float64{}, types: map[string]string{}}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "#" && f[1] == "TYPE":
			m.types[f[2]] = f[3]
		case len(f) == 2 && f[0] != "#":
			x, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", sc.Text(), err)
			}
			m.values[f[0]] = x
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBadRequest checks that a request for no items, or for items that are
// not numbers, is refused before anything runs.
func TestBadRequest(t *testing.T) {
	st := startStack(t, 2, 0, &service{}, nil)
	for _, ids := range []string{"", "1,x", strings.Repeat("1,", maxItems) + "1"} {
		resp, err := st.client.Get(st.svc.url + "/items?ids=" + ids)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("ids=%.20q: %s; want 400", ids, resp.Status)
		}
	}
	if n := st.down.calls.Load(); n != 0 {
		t.Errorf("the downstream got %d calls; want none", n)
	}
}

// TestMakeResponse checks how a request's results and Wait's error become
// its answer and status.
func TestMakeResponse(t *testing.T) {
	miss := &callError{RequestID: "r", Item: 1234, Attempt: 1, Status: http.StatusNotFound}
	ok := []itemResult{{RequestID: "r", Item: 7, Value: "v", Attempts: 1}, {RequestID: "r", Item: 3, Value: "w", Attempts: 2}}
	for _, c := range []struct {
		name    string
		items   []int
		results []itemResult
		err     error
		status  int
		want    response
	}{
		{"all answered", []int{7, 3}, ok, nil, http.StatusOK,
			response{RequestID: "r", Results: []itemResult{ok[1], ok[0]}}},
		{"an item failed", []int{7, 1234, 3, 5}, ok, miss, http.StatusBadGateway,
			response{RequestID: "r", Results: []itemResult{ok[1], ok[0]},
				Errors: []itemError{{RequestID: "r", Item: 1234, Error: "item 1234: 404 Not Found (try 1)"}}, Cut: []int{5}}},
		{"closed", []int{7, 3, 5}, ok, errors.Join(gopool.ErrClosed), http.StatusServiceUnavailable,
			response{RequestID: "r", Results: []itemResult{ok[1], ok[0]}, Cut: []int{5}, Error: gopool.ErrClosed.Error()}},
		{"cut without a cause", []int{7, 3, 5, 5}, ok, nil, http.StatusServiceUnavailable,
			response{RequestID: "r", Results: []itemResult{ok[1], ok[0]}, Cut: []int{5, 5}}},
	} {
		got, status := makeResponse("r", c.items, slices.Clone(c.results), c.err)
		if status != c.status || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %d %+v; want %d %+v", c.name, status, got, c.status, c.want)
		}
		if err := checkResponse("r", c.items, got); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestRun runs the whole demo with small numbers, and checks its table.
func TestRun(t *testing.T) {
	cfg := config{
		Clients: 8, Duration: 300 * time.Millisecond, Limit: 4, Items: 4, Latency: time.Millisecond,
		Flaky: 0.2, Bad: 0.1, Attempts: 3, Backoff: time.Millisecond, Grace: 5 * time.Second, Seed: 1,
		Tick: 100 * time.Millisecond,
	}
	var out bytes.Buffer
	s, err := run(t.Context(), cfg, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Errorf("run: %v", err)
	}
	if s.OK == 0 || s.Failed != 0 || s.Mixups != 0 || s.GraceOver {
		t.Errorf("tally %+v; want some ok, no failure, no mixup, a graceful shutdown", s.tally)
	}
	for _, line := range []string{
		"service on http://127.0.0.1:",
		"load: 8 clients for 300ms, 4 items a request,",
		"time is up: shutting the service down (grace 5s), then closing the pool\n",
		"\nrequests    ",
		"\nlatency     p50 ",
		"limit 4: never above\n",
		"\npool        submitted ",
		"\nshutdown    graceful",
		"\nisolation   every answer held its own request's results and errors, and nothing else\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q", line)
		}
	}
	checkLedger(t, s.Stats)
}

// TestRunInterrupted interrupts the demo as soon as the downstream has seen
// some calls, with no grace, so that the pool's Close cuts the requests in
// flight: run must still return at once, with its table, and leave nothing
// running.
func TestRunInterrupted(t *testing.T) {
	ctx, interrupt := context.WithCancel(t.Context())
	defer interrupt()
	var mu sync.Mutex
	calls := 0
	cfg := config{
		Clients: 8, Duration: time.Hour, Limit: 2, Items: 4, Attempts: 2, Seed: 1,
		onCall: func(string, int) int {
			mu.Lock()
			defer mu.Unlock()
			if calls++; calls == 20 {
				interrupt()
			}
			return 0
		},
	}
	var out bytes.Buffer
	s, err := run(ctx, cfg, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Errorf("run: %v", err)
	}
	if !strings.Contains(out.String(), "interrupted: shutting the service down (grace 0s)") {
		t.Error("output does not say it was interrupted")
	}
	if s.Failed != 0 || s.Mixups != 0 {
		t.Errorf("tally %+v; want no failure and no mixup", s.tally)
	}
	checkLedger(t, s.Stats)
}

// checkLedger checks the Stats of a pool with no task left: every task
// registered ended in exactly one way.
func checkLedger(t *testing.T, st gopool.Stats) {
	t.Helper()
	if st.Running != 0 || st.Pending != 0 {
		t.Errorf("stats %+v: tasks still running or pending", st)
	}
	if sum := st.Succeeded + st.Failed + st.Canceled + st.Skipped; st.Submitted != sum || st.Submitted == 0 {
		t.Errorf("stats %+v: submitted is not the (non-zero) sum succeeded + failed + canceled + skipped = %d", st, sum)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Clients: 32, Duration: 3 * time.Second, Limit: 8, Items: 8, Latency: 5 * time.Millisecond,
		Flaky: 0.1, Bad: 0.02, Attempts: 3, Backoff: 5 * time.Millisecond, Grace: 5 * time.Second, Seed: 1, Tick: time.Second}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults %+v; want %+v", cfg, want)
	}
	cfg, err = parseFlags(strings.Fields("-clients 50 -duration 0 -limit 4 -items 20 -flaky 0.5 -bad 0 -seed 9"), io.Discard)
	if err != nil || cfg.Clients != 50 || cfg.Duration != 0 || cfg.Limit != 4 || cfg.Items != 20 || cfg.Flaky != 0.5 || cfg.Bad != 0 || cfg.Seed != 9 {
		t.Errorf("parsed %+v, %v", cfg, err)
	}
	for _, args := range []string{"-clients 0", "-duration -1s", "-limit 0", "-items 0", "-items 101",
		"-latency -1ms", "-flaky 1.5", "-bad NaN", "-grace -1s", "extra", "-nope"} {
		if _, err := parseFlags(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v; want flag.ErrHelp", err)
	}
}
