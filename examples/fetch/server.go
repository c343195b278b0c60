package main

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"time"
)

// kind is how an endpoint of the demo server behaves.
type kind uint8

const (
	kindOK        kind = iota // answers 200
	kindFlaky                 // answers 503 for its first fails requests, then 200
	kindDown                  // always answers 503
	kindMissing               // always answers 404: retrying cannot help
	kindPanic                 // its handler panics: net/http drops the connection
	kindThrottled             // answers its status, with a Retry-After header, for its first fails requests, then 200
	kindSlow                  // takes slowHang to answer its first fails requests, then answers in its latency
)

// retryAfterSeconds is what a throttled endpoint's Retry-After header asks
// for: how many seconds to wait before asking again.
const retryAfterSeconds = 1

// slowHang is how long a slow endpoint takes to answer its first requests:
// far longer than any sensible -timeout, so that those requests time out.
const slowHang = 30 * time.Second

func (k kind) String() string {
	switch k {
	case kindOK:
		return "ok"
	case kindFlaky:
		return "flaky"
	case kindDown:
		return "down"
	case kindMissing:
		return "missing"
	case kindPanic:
		return "panic"
	case kindThrottled:
		return "throttled"
	case kindSlow:
		return "slow"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// endpoint is the behaviour of one URL of the demo server.
type endpoint struct {
	kind    kind
	fails   int           // kindFlaky, kindThrottled, kindSlow: how many requests fail before one succeeds
	status  int           // kindThrottled: 429 or 503
	latency time.Duration // how long each request takes to answer
}

// makePlan draws the behaviour of n endpoints from seed. A fraction failRate
// of them misbehave: most are flaky (1 to 3 failures, then success), some
// are throttled (1 or 2 answers of 429 or 503 with a Retry-After header,
// then success), some slow (1 or 2 requests that hang, then success), some
// down for good, some missing; if any may misbehave, exactly one endpoint
// panics. Request latencies are drawn from [latency/2, 3*latency/2), and one
// endpoint in twenty is four times slower. The same arguments always give the
// same plan.
func makePlan(n int, failRate float64, latency time.Duration, seed uint64) []endpoint {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	plan := make([]endpoint, n)
	for i := range plan {
		e := &plan[i]
		if latency > 0 {
			e.latency = latency/2 + time.Duration(r.Int64N(int64(latency)))
		}
		if r.IntN(20) == 0 {
			e.latency *= 4
		}
		if r.Float64() >= failRate {
			continue
		}
		switch x := r.Float64(); {
		case x < 0.45:
			e.kind, e.fails = kindFlaky, 1+r.IntN(3)
		case x < 0.6:
			e.kind, e.fails, e.status = kindThrottled, 1+r.IntN(2), http.StatusTooManyRequests
			if r.IntN(2) == 0 {
				e.status = http.StatusServiceUnavailable
			}
		case x < 0.7:
			e.kind, e.fails = kindSlow, 1+r.IntN(2)
		case x < 0.9:
			e.kind = kindDown
		default:
			e.kind = kindMissing
		}
	}
	if failRate > 0 && n > 0 {
		i := r.IntN(n)
		plan[i] = endpoint{kind: kindPanic, latency: plan[i].latency}
	}
	return plan
}

// server is a loopback HTTP server whose endpoint /item/{i} behaves as
// plan[i] says.
type server struct {
	*httptest.Server
	plan   []endpoint
	hits   []atomic.Int32 // requests received, per endpoint
	panics atomic.Int64   // handler panics, recovered by net/http
	onHit  func()         // if set, called on every request (a test hook)
}

func startServer(plan []endpoint, onHit func()) *server {
	s := &server{plan: plan, hits: make([]atomic.Int32, len(plan)), onHit: onHit}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item/{id}", s.item)
	s.Server = httptest.NewUnstartedServer(mux)
	// net/http logs each recovered panic with its stack; the demo counts
	// them instead.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	return s
}

func (s *server) url(i int) string { return s.URL + "/item/" + strconv.Itoa(i) }

func (s *server) item(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || i < 0 || i >= len(s.plan) {
		http.NotFound(w, r)
		return
	}
	if s.onHit != nil {
		s.onHit()
	}
	e := s.plan[i]
	hit := int(s.hits[i].Add(1))
	latency := e.latency
	if e.kind == kindSlow && hit <= e.fails {
		latency = slowHang
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client gave up
			t.Stop()
			return
		}
	}
	switch {
	case e.kind == kindPanic:
		s.panics.Add(1)
		panic(fmt.Sprintf("item %d: nil map write in handler", i))
	case e.kind == kindMissing:
		http.Error(w, "no such item", http.StatusNotFound)
	case e.kind == kindDown, e.kind == kindFlaky && hit <= e.fails:
		http.Error(w, "overloaded, try again later", http.StatusServiceUnavailable)
	case e.kind == kindThrottled && hit <= e.fails:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		http.Error(w, "slow down, come back later", e.status)
	default:
		fmt.Fprintf(w, "item %d\n", i)
	}
}
