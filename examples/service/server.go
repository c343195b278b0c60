package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// maxItems is the most items one request may ask for.
const maxItems = 100

// service is the HTTP JSON service. GET /items fans a request's items out
// to the downstream, one call per item, through a sub-pool of one global
// pool; GET /metrics serves the global pool's Stats.
//
// The global pool is the only place where the downstream's limit is known:
// each request has a sub-pool of its own, for its own failures, fail-fast
// and cancellation, but all sub-pools count against the global limit, so
// the downstream never sees more than limit calls at once, however many
// requests arrive.
type service struct {
	global   *gopool.Pool
	down     *downstreamClient
	attempts uint          // tries per item
	backoff  time.Duration // wait before the first retry
	seq      atomic.Uint64 // numbers requests that come without an id

	// Test hooks, called if set: onRequest when a request's items are
	// about to be fanned out, with the request's context; onServed when
	// they are all done, with what the request's Wait returned and the
	// response (written only if the client is still there).
	onRequest func(id string, ctx context.Context)
	onServed  func(id string, waitErr error, resp response)

	srv    *http.Server
	url    string
	served chan struct{} // closed when Serve has returned
}

// response is the JSON answer to GET /items.
type response struct {
	RequestID string       `json:"request_id"`
	Results   []itemResult `json:"results"`
	Errors    []itemError  `json:"errors,omitempty"`
	// Cut lists the items that have neither a result nor an error: the
	// request's fail-fast, or the service's shutdown, cut them short.
	Cut []int `json:"cut,omitempty"`
	// Error says why the request as a whole failed, if it did.
	Error string `json:"error,omitempty"`
}

// itemResult is one item the downstream answered. RequestID is the one the
// downstream echoed, not the one the task was given, so that a result that
// went to the wrong request would show.
type itemResult struct {
	RequestID string `json:"request_id"`
	Item      int    `json:"item"`
	Value     string `json:"value"`
	Attempts  int    `json:"attempts"` // the try that succeeded
}

// itemError is an item that failed: its last try's error.
type itemError struct {
	RequestID string `json:"request_id"`
	Item      int    `json:"item"`
	Error     string `json:"error"`
}

// startService starts s on a loopback port of its own.
func startService(s *service) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", s.items)
	mux.Handle("GET /metrics", newMetrics(s.global))
	s.srv = &http.Server{Handler: mux}
	s.url = "http://" + ln.Addr().String()
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		s.srv.Serve(ln) // returns ErrServerClosed once shut down
	}()
	return nil
}

// stop shuts s down gracefully: it stops taking requests and lets those in
// flight finish, for up to grace; then it closes the global pool, which
// cancels, with cause [gopool.ErrClosed], the sub-pools of the requests
// still running, so that they end at once and answer 503. It returns
// Shutdown's error: non-nil if requests had to be cut.
func (s *service) stop(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	// The global pool runs no task of its own: whatever its Close cuts, the
	// handlers report it to their clients.
	s.global.Close()
	if err != nil {
		// The handlers that outlived the grace period are returning now
		// that their sub-pools are closed: wait for them, a little.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			s.srv.Close()
		}
	}
	<-s.served
	s.down.close()
	return err
}

// items answers GET /items?ids=1,2,3 with the items' values. The request
// id is taken from the X-Request-Id header, or made up if there is none.
//
// Each item is one task of a sub-pool of the global pool, made for this
// request only: it is derived from the request's context, so a client that
// goes away cancels its own tasks and nobody else's; it is fail-fast, so an
// item that fails for good (a missing one) stops the request's other items
// early; and its Wait reports this request's failures only.
func (s *service) items(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = "r" + strconv.FormatUint(s.seq.Add(1), 10)
	}
	items, err := parseItems(r.URL.Query().Get("ids"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, response{RequestID: id, Error: err.Error()})
		return
	}
	if s.onRequest != nil {
		s.onRequest(id, r.Context())
	}

	results := gopool.NewDrainer[itemResult]()
	tasks := make([]gopool.Worker, len(items))
	for i, item := range items {
		tasks[i] = gopool.NewTask(s.fetchItem).
			WithInput(&itemResult{RequestID: id, Item: item}).
			DrainTo(results).
			WithRetry(s.attempts, s.backoff)
	}
	pool := s.global.SubWithContext(r.Context()).WithFailFast()
	// Go blocks while the global limit is reached, with other requests'
	// tasks as well as this one's, until this request's turn comes.
	waitErr := pool.Go(tasks...).Wait()

	resp, status := makeResponse(id, items, results.Drain(), waitErr)
	if s.onServed != nil {
		s.onServed(id, waitErr, resp)
	}
	if r.Context().Err() != nil {
		return // the client is gone: nobody to answer
	}
	writeJSON(w, status, resp)
}

// makeResponse builds the answer to a request for items from its results
// and its Wait's error, and picks its status: 200 if every item has a
// result, 502 if an item failed, 503 if the service's shutdown cut the
// request short.
func makeResponse(id string, items []int, results []itemResult, waitErr error) (response, int) {
	resp := response{RequestID: id, Results: results}
	var other []string
	for _, err := range causes(waitErr) {
		if ce, ok := errors.AsType[*callError](err); ok {
			resp.Errors = append(resp.Errors, itemError{RequestID: ce.RequestID, Item: ce.Item, Error: ce.Error()})
		} else {
			other = append(other, err.Error())
		}
	}
	resp.Error = strings.Join(other, "; ")
	slices.SortFunc(resp.Results, func(a, b itemResult) int { return cmp.Compare(a.Item, b.Item) })
	slices.SortFunc(resp.Errors, func(a, b itemError) int { return cmp.Compare(a.Item, b.Item) })

	// What remains of the items once results and errors are taken out was
	// cut. Items may repeat, hence the counts.
	left := map[int]int{}
	for _, item := range items {
		left[item]++
	}
	for _, r := range resp.Results {
		left[r.Item]--
	}
	for _, e := range resp.Errors {
		left[e.Item]--
	}
	for _, item := range items {
		if left[item] > 0 {
			left[item]--
			resp.Cut = append(resp.Cut, item)
		}
	}
	slices.Sort(resp.Cut)

	switch {
	case errors.Is(waitErr, gopool.ErrClosed):
		return resp, http.StatusServiceUnavailable
	case len(resp.Errors) > 0:
		return resp, http.StatusBadGateway
	case len(resp.Cut) > 0 || waitErr != nil:
		// Cut short, and not by an item of its own: by the shutdown.
		return resp, http.StatusServiceUnavailable
	}
	return resp, http.StatusOK
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

// parseItems parses a comma-separated list of item numbers.
func parseItems(s string) ([]int, error) {
	if s == "" {
		return nil, errors.New("ids: no items asked for")
	}
	fields := strings.Split(s, ",")
	if len(fields) > maxItems {
		return nil, fmt.Errorf("ids: %d items asked for; at most %d", len(fields), maxItems)
	}
	items := make([]int, len(fields))
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ids: %q is not an item number", f)
		}
		items[i] = n
	}
	return items, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
