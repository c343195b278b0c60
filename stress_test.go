package gopool_test

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	gopool "github.com/rubengp99/go-pool"
)

const (
	stressLimitedTasks   = 1_000_000
	stressUnlimitedTasks = 100_000
	stressProducers      = 8
	stressSampleEvery    = 50_000

	// stressHeapSlack and stressHeapSlackPerP bound the growth of HeapInuse
	// (measured after a GC) that does not depend on the limit: per-P
	// allocation caches holding partially used spans (tens of size classes x
	// 8 KiB for each P), GC metadata, the sampler's own bookkeeping, and the
	// drain, whose 1,000,000 struct{} values take no memory. Measured here:
	// 0.9 MiB at GOMAXPROCS=2, 1.4 MiB at 4. If the pool kept anything per
	// task submitted - a queue holding every task, a leaked Task, closure or
	// 8-byte record - growth would be at least 8 MB, and a queue of all tasks
	// (16 B slot + 24 B Task + 16 B closure) about 56 MB: an order of
	// magnitude above this bound.
	stressHeapSlack     = 2 << 20
	stressHeapSlackPerP = 1 << 20
	// stressBytesPerSlot is a generous price for each task that may be in
	// flight at once under the limit (running, queued, or held by a Go
	// blocked at the limit): a Task, its closure, a queue slot, and a
	// worker's share of the pool's state.
	stressBytesPerSlot = 1 << 10
)

// TestStress pushes 1,000,000 tiny tasks through WithLimit(GOMAXPROCS) and
// 100,000 through an unlimited pool, each from 8 producers at once, and checks
// that every task ran exactly once, that the drains hold exactly what was
// sent, and that under the limit the heap stays bounded by the limit rather
// than by the number of tasks.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped with -short")
	}
	t.Run("limited", stressLimited)
	t.Run("unlimited", stressUnlimited)
}

// bitset records which tasks ran, and whether any ran twice.
type bitset []atomic.Uint64

func (b bitset) set(i int) (already bool) {
	m := uint64(1) << (i % 64)
	return b[i/64].Or(m)&m != 0
}

func (b bitset) count() int {
	n := 0
	for i := range b {
		for w := b[i].Load(); w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func stressLimited(t *testing.T) {
	const n = stressLimitedTasks
	limit := runtime.GOMAXPROCS(0)
	ran := make(bitset, n/64+1)
	var done, twice, active, peak atomic.Int64
	var mu sync.Mutex
	var samples []uint64
	maxGoroutines := 0

	d := gopool.NewDrainer[struct{}]() // zero-size values: the drain's storage does not grow
	run := func(i int, a gopool.Args[struct{}]) {
		k := active.Add(1)
		for p := peak.Load(); k > p && !peak.CompareAndSwap(p, k); p = peak.Load() {
		}
		if ran.set(i) {
			twice.Add(1)
		}
		a.Drainer.Send(struct{}{})
		if k := done.Add(1); k%stressSampleEvery == 0 {
			h := heapInuse()
			g := runtime.NumGoroutine()
			mu.Lock()
			samples = append(samples, h)
			maxGoroutines = max(maxGoroutines, g)
			mu.Unlock()
		}
		active.Add(-1)
	}

	goroutines0 := runtime.NumGoroutine()
	base := heapInuse()
	p := gopool.NewPool().WithLimit(limit)
	var producers sync.WaitGroup
	for w := range stressProducers {
		producers.Go(func() {
			// Each task is made just before it is handed over, so that
			// the test itself holds nothing per task.
			for i := w; i < n; i += stressProducers {
				p.Go(gopool.NewTask(func(a gopool.Args[struct{}]) error {
					run(i, a)
					return nil
				}).DrainTo(d))
			}
		})
	}
	producers.Wait()
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}

	if got := done.Load(); got != n {
		t.Errorf("%d tasks ran, want %d", got, n)
	}
	if got := ran.count(); got != n || twice.Load() != 0 {
		t.Errorf("%d distinct tasks ran, %d ran twice; want %d and 0", got, twice.Load(), n)
	}
	if got := d.Count(); got != n {
		t.Errorf("drain Count = %d, want %d", got, n)
	}
	if got := len(d.Drain()); got != n {
		t.Errorf("len(Drain()) = %d, want %d", got, n)
	}
	if got := peak.Load(); got > int64(limit) {
		t.Errorf("peak of %d tasks running at once, limit %d", got, limit)
	}

	if len(samples) != n/stressSampleEvery {
		t.Fatalf("%d heap samples, want %d", len(samples), n/stressSampleEvery)
	}
	bound := uint64(stressHeapSlack + stressHeapSlackPerP*limit + (2*limit+stressProducers)*stressBytesPerSlot)
	var growth uint64
	for _, h := range samples {
		if h > base {
			growth = max(growth, h-base)
		}
	}
	t.Logf("limit %d: HeapInuse %d KiB before, growth up to %d KiB over %d samples (bound %d KiB); goroutines %d before, up to %d",
		limit, base>>10, growth>>10, len(samples), bound>>10, goroutines0, maxGoroutines)
	if growth > bound {
		t.Errorf("heap grew by %d bytes while running %d tasks under limit %d; bound %d", growth, n, limit, bound)
	}
	// Workers are bounded by the limit too: the running tasks, the queue
	// (at most the limit), and one worker starting to look at it.
	if extra := maxGoroutines - goroutines0; extra > stressProducers+2*limit+1 {
		t.Errorf("%d goroutines beyond the %d before: more than %d producers + 2x limit %d + 1",
			extra, goroutines0, stressProducers, limit)
	}
}

func stressUnlimited(t *testing.T) {
	const n = stressUnlimitedTasks
	d := gopool.NewDrainer[int]()
	var done atomic.Int64
	p := gopool.NewPool()
	var producers sync.WaitGroup
	for w := range stressProducers {
		producers.Go(func() {
			for i := w; i < n; i += stressProducers {
				p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					a.Drainer.Send(i)
					done.Add(1)
					return nil
				}).DrainTo(d))
			}
		})
	}
	producers.Wait()
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := done.Load(); got != n {
		t.Errorf("%d tasks ran, want %d", got, n)
	}
	got := d.Drain()
	if len(got) != n || d.Count() != n {
		t.Fatalf("drain holds %d values (Count %d), want %d", len(got), d.Count(), n)
	}
	slices.Sort(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("drain values sorted: [%d] = %d, want %d (lost or doubled values)", i, v, i)
		}
	}
}

const (
	// stressSubPools sub-pools are made, used and waited for by
	// stressProducers goroutines under one long-lived root; under the race
	// detector, which makes each about ten times slower, only
	// stressSubPoolsRace, since there the run checks for races, not memory.
	stressSubPools     = 1_000_000
	stressSubPoolsRace = 20_000
	stressSubSamples   = 20 // rounds, each followed by a heap sample

	// stressBytesPerSubPool is a generous price for each sub-pool that may
	// be in flight at once: one per producer, with its batch, its tasks, a
	// grandchild, their contexts and the watches of the root's and its own.
	// A sub-pool alone is some 700 bytes, so if the root kept anything of
	// each sub-pool it had finished with - the sub-pool, its batch, a watch
	// left registered on a context, or even one 8-byte pointer - a million
	// of them would grow the heap by 8 MB to 700 MB, above the bound of
	// stressHeapSlack + stressHeapSlackPerP x GOMAXPROCS + this price x
	// (stressProducers + 2 x limit): 4 MiB at GOMAXPROCS=2, 6 MiB at 4.
	stressBytesPerSubPool = 4 << 10
)

// TestStressSubPools is point 5 of issue 9: a service that creates, uses and
// waits for 1,000,000 sub-pools of one root keeps bounded memory. Eight
// producers each make sub-pools one after another, alternately with Sub and
// with SubWithContext of a long-lived context, under a root that has a
// context and a limit; each sub-pool runs two tasks (one of which looks at
// its context), every 16th also a grandchild's task, and is waited for. The
// work comes in stressSubSamples rounds; between two rounds, with nothing in
// flight, the heap is measured after a GC: what the tree keeps of the
// sub-pools it is done with must stay within a bound that does not grow with
// their number. (Measured while producers run, the heap also holds what they
// allocate during the GC, some MBs at GOMAXPROCS=1, which says nothing about
// what is kept.) The root's Stats must account for every task.
func TestStressSubPools(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped with -short")
	}
	n := stressSubPools
	if raceEnabled {
		n = stressSubPoolsRace
	}
	perRound := n / stressSubSamples / stressProducers
	n = perRound * stressProducers * stressSubSamples
	limit := runtime.GOMAXPROCS(0)
	service, stopService := context.WithCancel(context.Background())
	defer stopService()
	requests, stopRequests := context.WithCancel(context.Background())
	defer stopRequests()

	var tasks, grandchildren atomic.Int64
	var samples []uint64
	maxGoroutines := 0
	plain := gopool.NewTask(func(gopool.Args[int]) error {
		tasks.Add(1)
		return nil
	})
	looking := gopool.NewTask(func(a gopool.Args[int]) error {
		tasks.Add(1)
		return a.Context.Err()
	})

	goroutines0 := runtime.NumGoroutine()
	base := heapInuse()
	root := gopool.NewPoolWithContext(service).WithLimit(limit)
	for range stressSubSamples {
		var producers sync.WaitGroup
		for range stressProducers {
			producers.Go(func() {
				for i := range perRound {
					var s *gopool.Pool
					if i%2 == 0 {
						s = root.Sub()
					} else {
						s = root.SubWithContext(requests)
					}
					s.Go(plain, looking)
					if i%16 == 0 {
						grandchildren.Add(1)
						g := s.Sub()
						g.Go(plain)
						if err := g.Wait(); err != nil {
							t.Errorf("grandchild: Wait = %v", err)
						}
					}
					if err := s.Wait(); err != nil {
						t.Errorf("sub-pool: Wait = %v", err)
					}
				}
			})
		}
		maxGoroutines = max(maxGoroutines, runtime.NumGoroutine())
		producers.Wait()
		samples = append(samples, heapInuse())
	}
	if err := root.Wait(); err != nil {
		t.Fatalf("root Wait = %v", err)
	}

	want := uint64(2*n) + uint64(grandchildren.Load())
	if got := tasks.Load(); uint64(got) != want {
		t.Errorf("%d tasks ran, want %d", got, want)
	}
	if s := root.Stats(); s != (gopool.Stats{Submitted: want, Succeeded: want}) {
		t.Errorf("root Stats = %+v, want %d tasks Submitted and Succeeded, nothing else", s, want)
	}
	bound := uint64(stressHeapSlack + stressHeapSlackPerP*limit + (stressProducers+2*limit)*stressBytesPerSubPool)
	var growth uint64
	for _, h := range samples {
		if h > base {
			growth = max(growth, h-base)
		}
	}
	t.Logf("%d sub-pools under limit %d: HeapInuse %d KiB before, growth up to %d KiB over %d samples (bound %d KiB); goroutines %d before, up to %d",
		n, limit, base>>10, growth>>10, len(samples), bound>>10, goroutines0, maxGoroutines)
	if growth > bound {
		t.Errorf("heap grew by %d bytes while %d sub-pools were made, used and waited for; bound %d; samples (KiB): %v",
			growth, n, bound, kib(samples))
	}
	if extra := maxGoroutines - goroutines0; extra > stressProducers+2*limit+1 {
		t.Errorf("%d goroutines beyond the %d before: more than %d producers + 2x limit %d + 1",
			extra, goroutines0, stressProducers, limit)
	}
}

func kib(xs []uint64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = x >> 10
	}
	return out
}
