package main

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	gopool "github.com/rubengp99/go-pool"
)

// metrics serves a pool's [gopool.Stats] in the Prometheus text format, at
// the pool's current values on every scrape: Running and Pending as gauges,
// the others as counters (named gopool_..._total). Stats counts the pool
// and all its sub-pools, so the global pool's Stats cover every request.
//
// Each scrape takes one snapshot of Stats, which every metric of that scrape
// reads: metrics read one by one would each see a different moment, and the
// ledger (Submitted is Running + Pending + Succeeded + Failed + Canceled +
// Skipped) would not add up in a scrape taken under load.
type metrics struct {
	pool    *gopool.Pool
	handler http.Handler

	mu   sync.Mutex   // one scrape at a time
	snap gopool.Stats // the current scrape's snapshot; guarded by mu
}

// newMetrics returns the /metrics handler for pool. Its metrics are in a
// registry of their own, not Prometheus's default one, so that any number
// of services (one per test) can coexist in a process.
func newMetrics(pool *gopool.Pool) http.Handler {
	m := &metrics{pool: pool}
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v func(*gopool.Stats) int) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "gopool", Name: name, Help: help,
		}, func() float64 { return float64(v(&m.snap)) }))
	}
	counter := func(name, help string, v func(*gopool.Stats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "gopool", Name: name + "_total", Help: help,
		}, func() float64 { return float64(v(&m.snap)) }))
	}
	gauge("running", "Task bodies running now.", func(s *gopool.Stats) int { return s.Running })
	gauge("pending", "Tasks registered and not yet started: queued, or waiting at the limit.", func(s *gopool.Stats) int { return s.Pending })
	counter("submitted", "Tasks ever registered.", func(s *gopool.Stats) uint64 { return s.Submitted })
	counter("succeeded", "Tasks that returned nil.", func(s *gopool.Stats) uint64 { return s.Succeeded })
	counter("failed", "Tasks that failed, panics included: the failures Wait reports.", func(s *gopool.Stats) uint64 { return s.Failed })
	counter("panicked", "Tasks that panicked (part of failed).", func(s *gopool.Stats) uint64 { return s.Panicked })
	counter("canceled", "Tasks that returned only an echo of their batch's cancellation.", func(s *gopool.Stats) uint64 { return s.Canceled })
	counter("skipped", "Tasks never started: cut by fail-fast, Close or a done context.", func(s *gopool.Stats) uint64 { return s.Skipped })
	counter("retries", "Tries beyond the first.", func(s *gopool.Stats) uint64 { return s.Retries })
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// ServeHTTP takes the snapshot, then lets promhttp gather and write the
// metrics, which read it. The registry calls the metric functions on
// goroutines it starts after the snapshot is taken and waits for before
// ServeHTTP returns, so they see the snapshot without a lock of their own.
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap = m.pool.Stats()
	m.handler.ServeHTTP(w, r)
}
