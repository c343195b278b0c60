package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load is the in-process load generator: clients that each send one request
// at a time to the service, as fast as it answers, until stopped. It checks
// every answer as it goes: a response must hold the results and errors of
// its own request's items, and of nothing else.
type load struct {
	cfg    config
	url    string // the service's
	client *http.Client

	stopping chan struct{} // closed to stop sending requests
	clients  sync.WaitGroup
	answered atomic.Int64 // requests that got an answer, for the live line

	mu    sync.Mutex
	tally tally // guarded by mu
}

// tally is what the load generator saw.
type tally struct {
	OK         int             // 200: every item answered
	ItemErrors int             // 502: an item failed, and fail-fast cut the others
	Cut        int             // turned away or cut short by the shutdown: 503, or no answer, once stopping
	Failed     int             // anything else
	Mixups     int             // answers that held another request's results or errors
	FirstMixup error           // the first of them
	FirstFail  error           // the first failure
	Latencies  []time.Duration // of the answered requests (200 and 502)
}

// startLoad starts cfg.Clients clients that send requests to the service at
// url until stop is called.
func startLoad(cfg config, url string) *load {
	l := &load{
		cfg:      cfg,
		url:      url,
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: max(cfg.Clients, 2)}},
		stopping: make(chan struct{}),
	}
	for i := range cfg.Clients {
		l.clients.Add(1)
		go l.run(i)
	}
	return l
}

// stop tells the clients to send no more requests. Those in flight go on,
// for the service's shutdown to finish or cut.
func (l *load) stop() { close(l.stopping) }

// wait waits for the clients to return, after stop, and returns the tally.
func (l *load) wait() tally {
	l.clients.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tally
}

// run is client i: it sends requests c{i}-1, c{i}-2, ... each for
// cfg.Items distinct items, until stopped. A fraction cfg.Bad of requests
// ask for one missing item among them. Client i draws its items from
// cfg.Seed and i alone.
func (l *load) run(i int) {
	defer l.clients.Done()
	rng := rand.New(rand.NewPCG(l.cfg.Seed, uint64(i)))
	for seq := 1; ; seq++ {
		select {
		case <-l.stopping:
			return
		default:
		}
		id := fmt.Sprintf("c%d-%d", i, seq)
		items := pickItems(rng, l.cfg.Items, l.cfg.Bad)
		start := time.Now()
		resp, status, err := askItems(context.Background(), l.client, l.url, id, items)
		elapsed := time.Since(start)
		if !l.record(id, items, resp, status, err, elapsed) {
			return
		}
	}
}

// record adds one request's outcome to the tally, and reports whether the
// client should go on.
func (l *load) record(id string, items []int, resp response, status int, err error, elapsed time.Duration) bool {
	stopping := false
	select {
	case <-l.stopping:
		stopping = true
	default:
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.tally
	switch {
	case err != nil && stopping, status == http.StatusServiceUnavailable && stopping:
		t.Cut++
		return false
	case err != nil:
		// The service is unreachable: trying again at once would only
		// spin.
		t.Failed++
		t.FirstFail = cmp.Or(t.FirstFail, fmt.Errorf("request %s: %w", id, err))
		return false
	}
	l.answered.Add(1)
	if err := checkResponse(id, items, resp); err != nil {
		t.Mixups++
		t.FirstMixup = cmp.Or(t.FirstMixup, err)
	}
	switch status {
	case http.StatusOK:
		t.OK++
	case http.StatusBadGateway:
		t.ItemErrors++
	default:
		t.Failed++
		t.FirstFail = cmp.Or(t.FirstFail, fmt.Errorf("request %s: %d %s", id, status, resp.Error))
		return true
	}
	t.Latencies = append(t.Latencies, elapsed)
	return true
}

// pickItems draws n distinct items of the catalog; with probability bad,
// one of them is replaced by an item the downstream does not have.
func pickItems(rng *rand.Rand, n int, bad float64) []int {
	items := make([]int, 0, n)
	for len(items) < n {
		if item := rng.IntN(catalogSize); !slices.Contains(items, item) {
			items = append(items, item)
		}
	}
	if n > 0 && rng.Float64() < bad {
		items[rng.IntN(n)] = catalogSize + rng.IntN(catalogSize)
	}
	return items
}

// askItems sends GET /items?ids=... to the service at base as request id,
// and decodes the answer. The error is about the exchange only: an answer
// with any status is returned with a nil error.
func askItems(ctx context.Context, c *http.Client, base, id string, items []int) (response, int, error) {
	ids := make([]string, len(items))
	for i, item := range items {
		ids[i] = strconv.Itoa(item)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/items?ids="+strings.Join(ids, ","), nil)
	if err != nil {
		return response{}, 0, err
	}
	req.Header.Set("X-Request-Id", id)
	resp, err := c.Do(req)
	if err != nil {
		return response{}, 0, err
	}
	defer resp.Body.Close()
	var r response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return response{}, resp.StatusCode, fmt.Errorf("decoding a %d answer: %w", resp.StatusCode, err)
	}
	return r, resp.StatusCode, nil
}

// checkResponse reports how resp, the answer to request id for items, holds
// anything but its own request's results and errors: a result or error of
// another request, or of an item not asked for, or an item accounted for
// twice, or not at all.
func checkResponse(id string, items []int, resp response) error {
	if resp.RequestID != id {
		return fmt.Errorf("request %s: answered as request %q", id, resp.RequestID)
	}
	left := map[int]int{}
	for _, item := range items {
		left[item]++
	}
	take := func(what string, item int) error {
		if left[item] == 0 {
			return fmt.Errorf("request %s: %s for item %d, which it did not ask for (or not that often)", id, what, item)
		}
		left[item]--
		return nil
	}
	for _, r := range resp.Results {
		if r.RequestID != id {
			return fmt.Errorf("request %s: holds a result of request %q (item %d)", id, r.RequestID, r.Item)
		}
		if err := take("a result", r.Item); err != nil {
			return err
		}
	}
	for _, e := range resp.Errors {
		if e.RequestID != id {
			return fmt.Errorf("request %s: holds an error of request %q (item %d)", id, e.RequestID, e.Item)
		}
		if err := take("an error", e.Item); err != nil {
			return err
		}
	}
	for _, item := range resp.Cut {
		if err := take("a cut", item); err != nil {
			return err
		}
	}
	for item, n := range left {
		if n > 0 {
			return fmt.Errorf("request %s: item %d is neither answered, failed nor cut", id, item)
		}
	}
	return nil
}
