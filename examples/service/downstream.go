package main

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// catalogSize is the number of items the downstream knows: /item/0 to
// /item/999. Any other item is missing (404), which the service treats as a
// permanent failure.
const catalogSize = 1000

// downstream is the fake backend the service depends on. It stands for a
// system that can take only limit calls at once: it counts the calls in
// flight, answers 503 to any that arrives while limit are already in, and
// records the peak. The service's global pool is what keeps it below that
// peak, however many requests the service itself is handling.
//
// Besides overload, it fails in two ways a real backend does: a fraction of
// items is flaky, answering 503 to their first try only, so one retry fixes
// them; and items outside the catalog are missing (404), which no retry can
// fix.
type downstream struct {
	limit   int64
	latency time.Duration // typical time to answer; each call takes [latency/2, 3*latency/2)
	flaky   float64       // fraction of (request, item) pairs whose first try fails

	// onCall, if set, is called on every call the limit lets in, before
	// it is answered; a non-zero status it returns is answered instead. It
	// may block. Tests use it to hold calls and to follow a request.
	onCall func(requestID string, item int) (status int)

	inFlight  atomic.Int64
	peak      atomic.Int64
	calls     atomic.Int64 // calls received, overloads included
	overloads atomic.Int64 // calls refused with 503 because limit were in flight
	flakes    atomic.Int64 // 503 answers of flaky items
	missing   atomic.Int64 // 404 answers

	srv    *http.Server
	url    string
	served chan struct{} // closed when Serve has returned
}

// itemAnswer is the downstream's JSON answer to a call that succeeds. It
// echoes the request id it was given, so that the service's response shows
// which call each result came from.
type itemAnswer struct {
	RequestID string `json:"request_id"`
	Item      int    `json:"item"`
	Value     string `json:"value"`
}

// startDownstream starts d on a loopback port of its own.
func startDownstream(d *downstream) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item/{item}", d.item)
	d.srv = &http.Server{Handler: mux}
	d.url = "http://" + ln.Addr().String()
	d.served = make(chan struct{})
	go func() {
		defer close(d.served)
		d.srv.Serve(ln) // returns ErrServerClosed once closed
	}()
	return nil
}

// close stops d at once. It is called after the service has shut down, when
// no call is in flight any more.
func (d *downstream) close() error {
	err := d.srv.Close()
	<-d.served
	return err
}

// item answers GET /item/{item}?req=ID, with the try number in the
// X-Attempt header.
func (d *downstream) item(w http.ResponseWriter, r *http.Request) {
	n := d.inFlight.Add(1)
	d.calls.Add(1)
	for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
		// Another call moved the peak since we loaded it: look again.
	}
	status, body := d.answer(r, n)
	// Leave the count before answering: the caller may start its next call
	// as soon as it has this answer, and that call must not find this one
	// still counted, or the peak would count a call that is over.
	d.inFlight.Add(-1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// answer works out the status and body of a call that found n calls in
// flight, itself included.
func (d *downstream) answer(r *http.Request, n int64) (int, []byte) {
	if n > d.limit {
		d.overloads.Add(1)
		return errorBody(http.StatusServiceUnavailable, "overloaded: more than "+strconv.FormatInt(d.limit, 10)+" calls at once")
	}
	req := r.URL.Query().Get("req")
	item, err := strconv.Atoi(r.PathValue("item"))
	if err != nil {
		return errorBody(http.StatusBadRequest, "item is not a number")
	}
	if d.onCall != nil {
		if status := d.onCall(req, item); status != 0 {
			return errorBody(status, "held by a test")
		}
	}
	if d.latency > 0 {
		t := time.NewTimer(d.latency/2 + rand.N(d.latency))
		select {
		case <-t.C:
		case <-r.Context().Done(): // the server is closing
			t.Stop()
			return errorBody(http.StatusServiceUnavailable, "closing")
		}
	}
	switch {
	case item < 0 || item >= catalogSize:
		d.missing.Add(1)
		return errorBody(http.StatusNotFound, "no such item")
	case r.Header.Get("X-Attempt") == "1" && isFlaky(req, item, d.flaky):
		d.flakes.Add(1)
		return errorBody(http.StatusServiceUnavailable, "flaky: try again")
	}
	body, _ := json.Marshal(itemAnswer{RequestID: req, Item: item, Value: "item " + strconv.Itoa(item) + " for " + req})
	return http.StatusOK, body
}

func errorBody(status int, msg string) (int, []byte) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	return status, body
}

// isFlaky reports whether item, asked for by request requestID, fails its
// first try. It is a hash, not a draw, so that tests know in advance which
// calls fail.
func isFlaky(requestID string, item int, rate float64) bool {
	h := fnv.New64a()
	h.Write([]byte(requestID))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(item)))
	return float64(h.Sum64()>>11)/(1<<53) < rate
}
