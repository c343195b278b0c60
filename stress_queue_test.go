package gopool_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"

	gopool "github.com/rubengp99/go-pool"
)

const (
	stressQueueTasks     = 1_000_000
	stressQueueRaceTasks = 200_000 // under -race, which makes each task some 10x dearer
	stressQueueLen       = 64
	stressQueueProducers = 4
	stressQueueSamples   = 20
	stressQueueStatsEach = 1 << 10

	// The heap bound follows TestStress's (see stress_test.go for what
	// each term covers and what was measured): a slack independent of the
	// limit, a per-P slack, and a generous 1 KiB for each task that may be
	// in flight at once: running or queued under the limit (up to twice
	// the limit, as in TestStress), held in the queue of WithQueue (up to
	// its length), or registered by a Go blocked at the limit (one per
	// producer). A queue or a record kept per task submitted would grow by
	// tens of MB over 1,000,000 tasks, and still by some 10 MB over the
	// 200,000 run under -race.
	stressQueueHeapSlack     = 2 << 20
	stressQueueHeapSlackPerP = 1 << 20
	stressQueueBytesPerSlot  = 1 << 10
)

// stressQueueHeap returns HeapInuse after a GC, as TestStress measures it,
// but the lesser of two such readings: the producers keep allocating tasks
// between a GC and the reading, by up to a few MiB with the queue letting
// them run ahead, while memory the pool kept would survive both GCs.
func stressQueueHeap() uint64 {
	var m runtime.MemStats
	h := uint64(1<<64 - 1)
	for range 2 {
		runtime.GC()
		runtime.ReadMemStats(&m)
		h = min(h, m.HeapInuse)
	}
	return h
}

// admitRaceEnabled reports whether the test binary was built with -race.
func admitRaceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestStressQueue proves the stress point of issue 10: 1,000,000 tiny tasks
// (200,000 under -race) through WithLimit(GOMAXPROCS).WithQueue(64), from 4
// producers that mix Go, TryGo (falling back to Go when refused) and
// GoContext. Every task runs exactly once, at most the limit run at once,
// at most the limit plus the queue are admitted at once (by Stats, beside
// one task per producer's Go that waits), and the heap stays bounded by the
// limit and the queue rather than by the number of tasks.
func TestStressQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped with -short")
	}
	n := stressQueueTasks
	if admitRaceEnabled() {
		n = stressQueueRaceTasks
	}
	limit := runtime.GOMAXPROCS(0)
	ran := make([]atomic.Uint64, n/64+1)
	var done, twice, active, peak, peakAdmitted, refused atomic.Int64
	var mu sync.Mutex
	var samples []uint64
	var over []gopool.Stats
	maxGoroutines := 0

	goroutines0 := runtime.NumGoroutine()
	base := stressQueueHeap()
	p := gopool.NewPool().WithLimit(limit).WithQueue(stressQueueLen)
	run := func(i int) {
		k := active.Add(1)
		admitMax(&peak, k)
		m := uint64(1) << (i % 64)
		if ran[i/64].Or(m)&m != 0 {
			twice.Add(1)
		}
		k = done.Add(1)
		if k%stressQueueStatsEach == 0 {
			s := p.Stats()
			admitted := int64(s.Pending + s.Running)
			admitMax(&peakAdmitted, admitted)
			if s.Running > limit || admitted > int64(limit+stressQueueLen+stressQueueProducers) {
				mu.Lock()
				over = append(over, s)
				mu.Unlock()
			}
		}
		if k%int64(n/stressQueueSamples) == 0 {
			h := stressQueueHeap()
			g := runtime.NumGoroutine()
			mu.Lock()
			samples = append(samples, h)
			maxGoroutines = max(maxGoroutines, g)
			mu.Unlock()
		}
		active.Add(-1)
	}
	var producers sync.WaitGroup
	for w := range stressQueueProducers {
		producers.Go(func() {
			// Each task is made just before it is handed over, so that
			// the test itself holds nothing per task.
			for i := w; i < n; i += stressQueueProducers {
				task := gopool.NewTask(func(gopool.Args[struct{}]) error { run(i); return nil })
				switch (i / stressQueueProducers) % 3 {
				case 0:
					p.Go(task)
				case 1:
					if !p.TryGo(task) {
						refused.Add(1)
						p.Go(task)
					}
				default:
					if err := p.GoContext(context.Background(), task); err != nil {
						t.Errorf("GoContext = %v", err)
						return
					}
				}
			}
		})
	}
	producers.Wait()
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}

	if got := done.Load(); got != int64(n) {
		t.Errorf("%d tasks ran, want %d", got, n)
	}
	distinct := 0
	for i := range ran {
		for w := ran[i].Load(); w != 0; w &= w - 1 {
			distinct++
		}
	}
	if distinct != n || twice.Load() != 0 {
		t.Errorf("%d distinct tasks ran, %d ran twice; want %d and 0", distinct, twice.Load(), n)
	}
	if s := p.Stats(); s.Submitted != uint64(n) || s.Succeeded != uint64(n) {
		t.Errorf("Stats = %+v, want %d submitted and succeeded", s, n)
	}
	if got := peak.Load(); got > int64(limit) {
		t.Errorf("peak of %d tasks running at once, limit %d", got, limit)
	}
	if len(over) > 0 {
		t.Errorf("%d Stats samples beyond limit %d + queue %d (+ %d producers' blocked Go), the first %+v",
			len(over), limit, stressQueueLen, stressQueueProducers, over[0])
	}
	if len(samples) != stressQueueSamples {
		t.Fatalf("%d heap samples, want %d", len(samples), stressQueueSamples)
	}
	bound := uint64(stressQueueHeapSlack + stressQueueHeapSlackPerP*limit +
		(2*limit+stressQueueLen+stressQueueProducers)*stressQueueBytesPerSlot)
	var growth uint64
	for _, h := range samples {
		if h > base {
			growth = max(growth, h-base)
		}
	}
	t.Logf("%d tasks, limit %d, queue %d: peak %d running, %d admitted (Pending+Running); TryGo refused %d; "+
		"HeapInuse %d KiB before, growth up to %d KiB over %d samples (bound %d KiB); goroutines %d before, up to %d",
		n, limit, stressQueueLen, peak.Load(), peakAdmitted.Load(), refused.Load(),
		base>>10, growth>>10, len(samples), bound>>10, goroutines0, maxGoroutines)
	if growth > bound {
		t.Errorf("heap grew by %d bytes while running %d tasks under limit %d and queue %d; bound %d",
			growth, n, limit, stressQueueLen, bound)
	}
	// Workers are bounded by the limit, as in TestStress: the queue of
	// WithQueue holds tasks, not goroutines.
	if extra := maxGoroutines - goroutines0; extra > stressQueueProducers+2*limit+1 {
		t.Errorf("%d goroutines beyond the %d before: more than %d producers + 2x limit %d + 1",
			extra, goroutines0, stressQueueProducers, limit)
	}
}
