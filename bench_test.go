package gopool_test

// Benchmarks of issue 3: each shape is one top-level benchmark whose
// sub-benchmarks are gopool and its baselines, so that one run compares them
// (benchstat, or benchmarks/run.sh, which also runs the peer pools of the
// benchmarks module). Every shape has two floors:
//
//   - Inline: the task called directly, without concurrency;
//   - Workers: runtime.GOMAXPROCS(0) long-lived goroutines fed through one
//     unbuffered channel, and a sync.WaitGroup: the cheapest way to reuse
//     goroutines when, as under a pool's limit, the producer may not run
//     ahead of the workers.
//
// gopool's tasks are built per operation with gopool.NewTask, so that the
// allocation of the *Task is counted, as it is in real use.

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gopool "github.com/rubengp99/go-pool"
	"golang.org/x/sync/errgroup"
)

// The tiny task sums 0..tinyN-1. tinyN is a variable and every sum is
// compared with tinyWant (or kept and checked after the run), so the
// compiler can neither fold the loop nor drop it.
var (
	tinyN     = 1000
	tinyWant  = tinyN * (tinyN - 1) / 2
	errBadSum = errors.New("bench: wrong sum")
)

// sumTo is not inlined, so that every row runs the same machine code: an
// inlined copy's loop lands at a different alignment in each caller, which
// alone was seen to make it 1.8x slower in one row than in another.
//
//go:noinline
func sumTo(n int) int {
	s := 0
	for i := range n {
		s += i
	}
	return s
}

// tiny is the tiny task as a plain function.
func tiny() error {
	if sumTo(tinyN) != tinyWant {
		return errBadSum
	}
	return nil
}

// tinyTask is the tiny task as a gopool task function. A top-level
// function, so that NewTask(tinyTask) allocates only the *Task.
func tinyTask(gopool.Args[int]) error { return tiny() }

// tinySendTask sends its sum to the task's drain.
func tinySendTask(a gopool.Args[int]) error {
	a.Drainer.Send(sumTo(tinyN))
	return nil
}

// The slow task runs ~1µs of the same loop: slowN is calibrated on first
// use rather than slept, so that it measures scheduling, not timers.
var (
	slowOnce sync.Once
	slowN    int
	slowWant int
)

func calibrateSlow() {
	slowOnce.Do(func() {
		probe := 1 << 16
		want := probe * (probe - 1) / 2
		best := time.Duration(1<<63 - 1)
		for range 20 {
			start := time.Now()
			if sumTo(probe) != want {
				panic("bench: wrong sum")
			}
			best = min(best, time.Since(start))
		}
		slowN = max(1, int(int64(probe)*int64(time.Microsecond)/int64(max(best, 1))))
		slowWant = slowN * (slowN - 1) / 2
	})
}

func slow() error {
	if sumTo(slowN) != slowWant {
		return errBadSum
	}
	return nil
}

func slowTask(gopool.Args[int]) error { return slow() }

// workers is the Workers floor: n long-lived goroutines that run run(i) for
// every i received from one unbuffered channel.
type workers struct {
	jobs    chan int
	pending sync.WaitGroup // jobs submitted and not yet finished
	exited  sync.WaitGroup
	mu      sync.Mutex
	err     error // the first failure since the last wait
}

func startWorkers(n int, run func(i int) error) *workers {
	return startWorkersBuffered(n, 0, run)
}

// startWorkersBuffered is startWorkers with a channel buffer of buf jobs: the
// run-ahead floor, whose producer may queue buf jobs beyond the running ones.
func startWorkersBuffered(n, buf int, run func(i int) error) *workers {
	w := &workers{jobs: make(chan int, buf)}
	for range n {
		w.exited.Go(func() {
			for i := range w.jobs {
				if err := run(i); err != nil {
					w.mu.Lock()
					if w.err == nil {
						w.err = err
					}
					w.mu.Unlock()
				}
				w.pending.Done()
			}
		})
	}
	return w
}

func (w *workers) submit(i int) {
	w.pending.Add(1)
	w.jobs <- i
}

// wait waits for every job submitted so far and returns the first failure.
func (w *workers) wait() error {
	w.pending.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	w.err = nil
	return err
}

// stop makes the workers exit and waits for them.
func (w *workers) stop() {
	close(w.jobs)
	w.exited.Wait()
}

func runTiny(int) error { return tiny() }
func runSlow(int) error { return slow() }

// benchInline runs task b.N times on the benchmark's goroutine.
func benchInline(b *testing.B, task func() error) {
	b.ReportAllocs()
	for range b.N {
		if err := task(); err != nil {
			b.Fatal(err)
		}
	}
}

// lastTask keeps each task of benchInlineTask on the heap, as a pool's is.
var lastTask *gopool.Task[int]

// benchInlineTask is Inline with what gopool's rows add before any pool is
// involved: a new *Task per operation, run through Execute. No pool that
// is handed a new Task per task can cost less.
func benchInlineTask(b *testing.B, fn func(gopool.Args[int]) error) {
	b.ReportAllocs()
	for range b.N {
		lastTask = gopool.NewTask(fn)
		if err := lastTask.Execute(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchWorkers runs b.N jobs on the Workers floor.
func benchWorkers(b *testing.B, run func(int) error) {
	benchWorkersBuffered(b, 0, run)
}

// benchWorkersBuffered is benchWorkers fed through a channel with a buffer
// of buf jobs.
func benchWorkersBuffered(b *testing.B, buf int, run func(int) error) {
	b.ReportAllocs()
	w := startWorkersBuffered(runtime.GOMAXPROCS(0), buf, run)
	defer w.stop()
	for i := range b.N {
		w.submit(i)
	}
	if err := w.wait(); err != nil {
		b.Fatal(err)
	}
}

// benchGoPool runs b.N tasks made by NewTask(fn) on p, then waits.
func benchGoPool(b *testing.B, p *gopool.Pool, fn func(gopool.Args[int]) error) {
	b.ReportAllocs()
	for range b.N {
		p.Go(gopool.NewTask(fn))
	}
	if err := p.Wait(); err != nil {
		b.Fatal(err)
	}
}

// benchErrGroup runs b.N calls of task on an errgroup with the given limit
// (negative: none), then waits.
func benchErrGroup(b *testing.B, limit int, task func() error) {
	b.ReportAllocs()
	var g errgroup.Group
	g.SetLimit(limit)
	for range b.N {
		g.Go(task)
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// benchSemaphore runs b.N calls of task, each on its own goroutine, at
// most limit at once, with a channel as the semaphore.
func benchSemaphore(b *testing.B, limit int, task func() error) {
	b.ReportAllocs()
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
		sem    = make(chan struct{}, limit)
	)
	run := func() {
		defer func() { <-sem; wg.Done() }()
		if task() != nil {
			failed.Store(true)
		}
	}
	for range b.N {
		sem <- struct{}{}
		wg.Add(1)
		go run()
	}
	wg.Wait()
	if failed.Load() {
		b.Fatal(errBadSum)
	}
}

// BenchmarkFanout runs b.N tiny tasks with no limit, then waits for them:
// the shape of the original README's benchmarks.
func BenchmarkFanout(b *testing.B) {
	b.Run("Inline", func(b *testing.B) { benchInline(b, tiny) })
	b.Run("Workers", func(b *testing.B) { benchWorkers(b, runTiny) })
	b.Run("GoPool", func(b *testing.B) { benchGoPool(b, gopool.NewPool(), tinyTask) })
	// TryGo on a pool without a limit always succeeds: what it costs beside Go.
	b.Run("GoPoolTryGo", func(b *testing.B) {
		b.ReportAllocs()
		p := gopool.NewPool()
		for range b.N {
			if !p.TryGo(gopool.NewTask(tinyTask)) {
				b.Fatal("TryGo refused a task on a pool without a limit")
			}
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("ErrGroup", func(b *testing.B) { benchErrGroup(b, -1, tiny) })
	b.Run("GoWaitGroup", func(b *testing.B) {
		b.ReportAllocs()
		var (
			wg     sync.WaitGroup
			failed atomic.Bool
		)
		run := func() {
			defer wg.Done()
			if tiny() != nil {
				failed.Store(true)
			}
		}
		for range b.N {
			wg.Add(1)
			go run()
		}
		wg.Wait()
		if failed.Load() {
			b.Fatal(errBadSum)
		}
	})
	// Each goroutine sends its result or its error; the caller receives
	// exactly one message per task. Both channels hold every message, so no
	// sender ever blocks.
	b.Run("ChannelsWithOutputAndErrChannel", func(b *testing.B) {
		b.ReportAllocs()
		out := make(chan int, b.N)
		errs := make(chan error, b.N)
		run := func() {
			if s := sumTo(tinyN); s != tinyWant {
				errs <- errBadSum
			} else {
				out <- s
			}
		}
		for range b.N {
			go run()
		}
		for range b.N {
			select {
			case <-out:
			case err := <-errs:
				b.Fatal(err)
			}
		}
	})
	b.Run("ChannelsWithWaitGroup", func(b *testing.B) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		out := make(chan int, b.N)
		errs := make(chan error, b.N)
		run := func() {
			defer wg.Done()
			if s := sumTo(tinyN); s != tinyWant {
				errs <- errBadSum
			} else {
				out <- s
			}
		}
		for range b.N {
			wg.Add(1)
			go run()
		}
		wg.Wait()
		close(out)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		n := 0
		for range out {
			n++
		}
		if n != b.N {
			b.Fatalf("got %d results, want %d", n, b.N)
		}
	})
	b.Run("ChannelsWithErrGroup", func(b *testing.B) {
		b.ReportAllocs()
		var g errgroup.Group
		out := make(chan int, b.N)
		run := func() error {
			s := sumTo(tinyN)
			if s != tinyWant {
				return errBadSum
			}
			out <- s
			return nil
		}
		for range b.N {
			g.Go(run)
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		close(out)
		n := 0
		for range out {
			n++
		}
		if n != b.N {
			b.Fatalf("got %d results, want %d", n, b.N)
		}
	})
	b.Run("MutexWithErrGroup", func(b *testing.B) { benchErrGroupMutexAppend(b) })
}

// benchErrGroupMutexAppend runs b.N tiny tasks on an errgroup, each
// appending its sum to a slice guarded by a mutex.
func benchErrGroupMutexAppend(b *testing.B) {
	b.ReportAllocs()
	var (
		g       errgroup.Group
		mu      sync.Mutex
		results []int
	)
	run := func() error {
		s := sumTo(tinyN)
		mu.Lock()
		results = append(results, s)
		mu.Unlock()
		return nil
	}
	for range b.N {
		g.Go(run)
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	checkSums(b, results)
}

// checkSums fails b unless results holds b.N tiny sums.
func checkSums(b *testing.B, results []int) {
	b.Helper()
	if len(results) != b.N {
		b.Fatalf("got %d results, want %d", len(results), b.N)
	}
	for _, s := range results {
		if s != tinyWant {
			b.Fatal(errBadSum)
		}
	}
}

// BenchmarkFanoutDrain is Fanout where each task sends its sum to a drain,
// and the caller collects every sum.
func BenchmarkFanoutDrain(b *testing.B) {
	b.Run("Inline", func(b *testing.B) {
		b.ReportAllocs()
		var results []int
		for range b.N {
			results = append(results, sumTo(tinyN))
		}
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("Workers", func(b *testing.B) {
		results := make([]int, b.N)
		benchWorkers(b, func(i int) error {
			results[i] = sumTo(tinyN)
			return nil
		})
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("GoPool", func(b *testing.B) {
		b.ReportAllocs()
		d := gopool.NewDrainer[int]()
		p := gopool.NewPool()
		for range b.N {
			p.Go(gopool.NewTask(tinySendTask).DrainTo(d))
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
		results := d.Drain()
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("ErrGroupMutexAppend", func(b *testing.B) { benchErrGroupMutexAppend(b) })
	b.Run("ErrGroupIndex", func(b *testing.B) {
		b.ReportAllocs()
		var g errgroup.Group
		results := make([]int, b.N)
		for i := range b.N {
			g.Go(func() error {
				results[i] = sumTo(tinyN)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		checkSums(b, results)
	})
}

// BenchmarkLimited runs b.N tiny tasks at most GOMAXPROCS at once.
func BenchmarkLimited(b *testing.B) {
	n := runtime.GOMAXPROCS(0)
	b.Run("Inline", func(b *testing.B) { benchInline(b, tiny) })
	b.Run("InlineTask", func(b *testing.B) { benchInlineTask(b, tinyTask) })
	b.Run("Workers", func(b *testing.B) { benchWorkers(b, runTiny) })
	b.Run("WorkersQueue", func(b *testing.B) { benchWorkersBuffered(b, 128, runTiny) })
	b.Run("GoPool", func(b *testing.B) { benchGoPool(b, gopool.NewPool().WithLimit(n), tinyTask) })
	b.Run("GoPoolQueue", func(b *testing.B) { benchGoPool(b, gopool.NewPool().WithLimit(n).WithQueue(64), tinyTask) })
	b.Run("ErrGroup", func(b *testing.B) { benchErrGroup(b, n, tiny) })
	b.Run("GoSemaphore", func(b *testing.B) { benchSemaphore(b, n, tiny) })
}

// BenchmarkLimitedSlow runs b.N tasks of ~1µs of work at most 100 at once.
func BenchmarkLimitedSlow(b *testing.B) {
	calibrateSlow()
	const n = 100
	b.Run("Inline", func(b *testing.B) { benchInline(b, slow) })
	b.Run("Workers", func(b *testing.B) { benchWorkers(b, runSlow) })
	b.Run("GoPool", func(b *testing.B) { benchGoPool(b, gopool.NewPool().WithLimit(n), slowTask) })
	b.Run("ErrGroup", func(b *testing.B) { benchErrGroup(b, n, slow) })
	b.Run("GoSemaphore", func(b *testing.B) { benchSemaphore(b, n, slow) })
}

// batchSize is the number of tasks of one operation of BenchmarkBatch.
const batchSize = 64

// BenchmarkBatch runs batches of 64 tiny tasks, each batch on a new pool
// (or group) with new tasks, as a service handling a request would; one
// operation is one batch.
func BenchmarkBatch(b *testing.B) {
	b.Run("Inline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range batchSize {
				if err := tiny(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Workers", func(b *testing.B) {
		b.ReportAllocs()
		w := startWorkers(runtime.GOMAXPROCS(0), runTiny)
		defer w.stop()
		for b.Loop() {
			for i := range batchSize {
				w.submit(i)
			}
			if err := w.wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GoPool", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := gopool.NewPool()
			for range batchSize {
				p.Go(gopool.NewTask(tinyTask))
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ErrGroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g errgroup.Group
			for range batchSize {
				g.Go(tiny)
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GoWaitGroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var (
				wg     sync.WaitGroup
				failed atomic.Bool
			)
			run := func() {
				if tiny() != nil {
					failed.Store(true)
				}
			}
			for range batchSize {
				wg.Go(run)
			}
			wg.Wait()
			if failed.Load() {
				b.Fatal(errBadSum)
			}
		}
	})
}

// BenchmarkRetry is Fanout with a retry policy that is never needed: tasks
// succeed at once, so a retry policy should cost nothing. A timeout costs
// what its one try costs: a context and a timer, made and stopped.
func BenchmarkRetry(b *testing.B) {
	b.Run("Inline", func(b *testing.B) { benchInline(b, tiny) })
	b.Run("Workers", func(b *testing.B) { benchWorkers(b, runTiny) })
	b.Run("GoPool", func(b *testing.B) { benchGoPool(b, gopool.NewPool(), tinyTask) })
	b.Run("GoPoolTaskRetry", func(b *testing.B) {
		b.ReportAllocs()
		p := gopool.NewPool()
		for range b.N {
			p.Go(gopool.NewTask(tinyTask).WithRetry(3, time.Millisecond))
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("GoPoolPoolRetry", func(b *testing.B) {
		benchGoPool(b, gopool.NewPool().WithRetry(3, time.Millisecond), tinyTask)
	})
	b.Run("GoPoolTaskTimeout", func(b *testing.B) {
		b.ReportAllocs()
		p := gopool.NewPool()
		for range b.N {
			p.Go(gopool.NewTask(tinyTask).WithTimeout(time.Second).WithRetry(3, time.Millisecond))
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("GoPoolPoolTimeout", func(b *testing.B) {
		benchGoPool(b, gopool.NewPool().WithTimeout(time.Second).WithRetry(3, time.Millisecond), tinyTask)
	})
}

// benchSubBatch runs each batch of 64 tiny tasks on a new sub-pool of root.
func benchSubBatch(b *testing.B, root *gopool.Pool) {
	b.ReportAllocs()
	checkSubWaits(b, root)
	for b.Loop() {
		p := root.Sub()
		for range batchSize {
			p.Go(gopool.NewTask(tinyTask))
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// checkSubWaits runs one batch of counted tiny tasks on a sub-pool of root,
// before the timed loop (which b.Loop starts afresh), and fails b unless the
// sub-pool's Wait returned after every one of them: the timed batches check
// only the tasks' errors, as Batch's do.
func checkSubWaits(b *testing.B, root *gopool.Pool) {
	b.Helper()
	var done atomic.Int64
	count := func(gopool.Args[int]) error {
		defer done.Add(1)
		return tiny()
	}
	p := root.Sub()
	for range batchSize {
		p.Go(gopool.NewTask(count))
	}
	if err := p.Wait(); err != nil {
		b.Fatal(err)
	}
	if got := done.Load(); got != batchSize {
		b.Fatalf("Wait returned after %d of its %d tasks", got, batchSize)
	}
}

// BenchmarkSubBatch is Batch under a limit shared by every batch, as a
// service whose requests share one budget of concurrency would run it: one
// root pool limited to GOMAXPROCS is made once, and each operation is one
// batch of 64 tiny tasks on a new sub-pool of it (root.Sub()), then the
// sub-pool's Wait; GoPoolQueue is the same under a root with WithQueue(64),
// whose producer may run ahead. errgroup cannot share a limit between groups: ErrGroup
// is a new group per batch limited to GOMAXPROCS on its own, a weaker
// guarantee than gopool's. GoSemaphore is goroutines and a WaitGroup per
// batch under one semaphore channel shared by every batch, the hand-rolled
// shared limit; Workers, being long-lived, share their limit too.
func BenchmarkSubBatch(b *testing.B) {
	n := runtime.GOMAXPROCS(0)
	b.Run("Inline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range batchSize {
				if err := tiny(); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Workers", func(b *testing.B) {
		b.ReportAllocs()
		w := startWorkers(n, runTiny)
		defer w.stop()
		for b.Loop() {
			for i := range batchSize {
				w.submit(i)
			}
			if err := w.wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GoPool", func(b *testing.B) { benchSubBatch(b, gopool.NewPool().WithLimit(n)) })
	b.Run("GoPoolQueue", func(b *testing.B) { benchSubBatch(b, gopool.NewPool().WithLimit(n).WithQueue(batchSize)) })
	b.Run("ErrGroup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g errgroup.Group
			g.SetLimit(n)
			for range batchSize {
				g.Go(tiny)
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GoSemaphore", func(b *testing.B) {
		b.ReportAllocs()
		sem := make(chan struct{}, n)
		for b.Loop() {
			var (
				wg     sync.WaitGroup
				failed atomic.Bool
			)
			run := func() {
				defer func() { <-sem }()
				if tiny() != nil {
					failed.Store(true)
				}
			}
			for range batchSize {
				sem <- struct{}{}
				wg.Go(run)
			}
			wg.Wait()
			if failed.Load() {
				b.Fatal(errBadSum)
			}
		}
	})
}

// mapInputs are the inputs of BenchmarkMap: tinyN+i for the i-th, so that
// every output differs and one out of order fails; mapWant[i] is the
// output of the i-th.
var mapInputs, mapWant = func() (in, want []int) {
	for i := range batchSize {
		n := tinyN + i
		in = append(in, n)
		want = append(want, n*(n-1)/2)
	}
	return in, want
}()

// tinyMap is the tiny task as a function for gopool.Map: it sums
// 0..in-1.
func tinyMap(_ context.Context, in int) (int, error) { return sumTo(in), nil }

// checkMap fails b unless out holds mapWant, in order.
func checkMap(b *testing.B, out []int) {
	b.Helper()
	if !slices.Equal(out, mapWant) {
		b.Fatalf("got %v, want %v", out, mapWant)
	}
}

// BenchmarkMap maps the 64 mapInputs through the tiny task, outputs in
// input order, into a new slice per operation; one operation is one map of
// 64 inputs. GoPool is gopool.Map on a root pool limited to GOMAXPROCS,
// made once; GoPoolNil is gopool.Map with a nil pool (no limit).
// ErrGroupIndex is a new errgroup per map, limited to GOMAXPROCS, whose
// tasks write by index into a slice made beforehand.
func BenchmarkMap(b *testing.B) {
	n := runtime.GOMAXPROCS(0)
	b.Run("Inline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := make([]int, len(mapInputs))
			for i, in := range mapInputs {
				out[i] = sumTo(in)
			}
			checkMap(b, out)
		}
	})
	b.Run("Workers", func(b *testing.B) {
		b.ReportAllocs()
		var out []int
		w := startWorkers(n, func(i int) error {
			out[i] = sumTo(mapInputs[i])
			return nil
		})
		defer w.stop()
		for b.Loop() {
			out = make([]int, len(mapInputs))
			for i := range mapInputs {
				w.submit(i)
			}
			if err := w.wait(); err != nil {
				b.Fatal(err)
			}
			checkMap(b, out)
		}
	})
	b.Run("GoPool", func(b *testing.B) {
		b.ReportAllocs()
		root := gopool.NewPool().WithLimit(n)
		for b.Loop() {
			out, err := gopool.Map(root, mapInputs, tinyMap)
			if err != nil {
				b.Fatal(err)
			}
			checkMap(b, out)
		}
	})
	b.Run("GoPoolNil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := gopool.Map(nil, mapInputs, tinyMap)
			if err != nil {
				b.Fatal(err)
			}
			checkMap(b, out)
		}
	})
	b.Run("ErrGroupIndex", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var g errgroup.Group
			g.SetLimit(n)
			out := make([]int, len(mapInputs))
			for i, in := range mapInputs {
				g.Go(func() error {
					out[i] = sumTo(in)
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			checkMap(b, out)
		}
	})
}

// tinyInputTask sends the sum of 0..*Input-1 to the task's drain.
func tinyInputTask(a gopool.Args[int]) error {
	a.Drainer.Send(sumTo(*a.Input))
	return nil
}

// BenchmarkInput is FanoutDrain where each task gets its own input, an int
// (tinyN) that it sums up to: gopool's through
// NewTask(tinyInputTask).WithInput(&v).DrainTo(d), the others' captured by
// a closure made per task; one operation is one task, so the input's
// allocation (v, or the closure) counts in every row but Inline's.
func BenchmarkInput(b *testing.B) {
	b.Run("Inline", func(b *testing.B) {
		b.ReportAllocs()
		var results []int
		for range b.N {
			v := tinyN
			results = append(results, sumTo(v))
		}
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("Workers", func(b *testing.B) {
		inputs := make([]int, b.N)
		results := make([]int, b.N)
		for i := range inputs {
			inputs[i] = tinyN
		}
		benchWorkers(b, func(i int) error {
			results[i] = sumTo(inputs[i])
			return nil
		})
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("GoPool", func(b *testing.B) {
		b.ReportAllocs()
		d := gopool.NewDrainer[int]()
		p := gopool.NewPool()
		for range b.N {
			v := tinyN
			p.Go(gopool.NewTask(tinyInputTask).WithInput(&v).DrainTo(d))
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
		results := d.Drain()
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("ErrGroupMutexAppend", func(b *testing.B) {
		b.ReportAllocs()
		var (
			g       errgroup.Group
			mu      sync.Mutex
			results []int
		)
		for range b.N {
			v := tinyN
			g.Go(func() error {
				s := sumTo(v)
				mu.Lock()
				results = append(results, s)
				mu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("ErrGroupIndex", func(b *testing.B) {
		b.ReportAllocs()
		var g errgroup.Group
		results := make([]int, b.N)
		for i := range b.N {
			v := tinyN
			g.Go(func() error {
				results[i] = sumTo(v)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		checkSums(b, results)
	})
}
