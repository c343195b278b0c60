package benchmarks_test

// The shapes of the root module's bench_test.go, with gopool, its floors and
// errgroup repeated next to the peer pools, so that each shape compares them
// all side by side in one run. The peers are used as their documentation
// shows, with their default options; tasks are plain functions made once
// per benchmark, so that a peer allocates only what it must.
//
// Unlike gopool under a limit, pond and workerpool queue without bound by
// default: their producer runs ahead of the workers. PondNoQueue is pond
// with its queue disabled (WithQueueSize(0)), so that, as with gopool, Go
// blocks while the limit is reached; pond then starts a goroutine per task.

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/gammazero/workerpool"
	"github.com/panjf2000/ants/v2"
	gopool "github.com/rubengp99/go-pool"
	"github.com/sourcegraph/conc/iter"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/errgroup"
)

// The tiny task sums 0..tinyN-1; tinyN is a variable and every sum is
// checked, so the compiler can neither fold the loop nor drop it.
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

func tiny() error {
	if sumTo(tinyN) != tinyWant {
		return errBadSum
	}
	return nil
}

func tinySum() int { return sumTo(tinyN) }

func tinyTask(gopool.Args[int]) error { return tiny() }

func tinySendTask(a gopool.Args[int]) error {
	a.Drainer.Send(sumTo(tinyN))
	return nil
}

// The slow task runs ~1µs of the same loop, calibrated on first use.
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
	pending sync.WaitGroup
	exited  sync.WaitGroup
	mu      sync.Mutex
	err     error
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

func (w *workers) wait() error {
	w.pending.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	w.err = nil
	return err
}

func (w *workers) stop() {
	close(w.jobs)
	w.exited.Wait()
}

func runTiny(int) error { return tiny() }
func runSlow(int) error { return slow() }

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

// failures turns a task into the func() that the peers take, recording
// its failure.
type failures struct{ failed atomic.Bool }

func (f *failures) wrap(task func() error) func() {
	return func() {
		if task() != nil {
			f.failed.Store(true)
		}
	}
}

func (f *failures) check(b *testing.B) {
	b.Helper()
	if f.failed.Load() {
		b.Fatal(errBadSum)
	}
}

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

func benchGoPool(b *testing.B, p *gopool.Pool, fn func(gopool.Args[int]) error) {
	b.ReportAllocs()
	for range b.N {
		p.Go(gopool.NewTask(fn))
	}
	if err := p.Wait(); err != nil {
		b.Fatal(err)
	}
}

// benchErrGroup: limit < 0 means none.
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

// benchPond: limit 0 means none.
func benchPond(b *testing.B, limit int, task func() error, options ...pond.Option) {
	b.ReportAllocs()
	var f failures
	run := f.wrap(task)
	p := pond.NewPool(limit, options...)
	for range b.N {
		if err := p.Go(run); err != nil {
			b.Fatal(err)
		}
	}
	p.StopAndWait()
	f.check(b)
}

// benchAnts: limit <= 0 means none. Submit blocks while the pool is full.
func benchAnts(b *testing.B, limit int, task func() error) {
	b.ReportAllocs()
	var (
		f  failures
		wg sync.WaitGroup
	)
	p, err := ants.NewPool(limit)
	if err != nil {
		b.Fatal(err)
	}
	run := f.wrap(task)
	done := func() {
		defer wg.Done()
		run()
	}
	for range b.N {
		wg.Add(1)
		if err := p.Submit(done); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	if err := p.ReleaseTimeout(time.Minute); err != nil {
		b.Fatal(err)
	}
	f.check(b)
}

// benchConc: limit <= 0 means none.
func benchConc(b *testing.B, limit int, task func() error) {
	b.ReportAllocs()
	var f failures
	run := f.wrap(task)
	p := pool.New()
	if limit > 0 {
		p = p.WithMaxGoroutines(limit)
	}
	for range b.N {
		p.Go(run)
	}
	p.Wait()
	f.check(b)
}

// benchWorkerPool: workerpool always has a limit; <= 0 means GOMAXPROCS.
func benchWorkerPool(b *testing.B, limit int, task func() error) {
	b.ReportAllocs()
	if limit <= 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	var f failures
	run := f.wrap(task)
	p := workerpool.New(limit)
	for range b.N {
		p.Submit(run)
	}
	p.StopWait()
	f.check(b)
}

// BenchmarkFanout runs b.N tiny tasks with no limit, then waits for them.
// workerpool has no unlimited mode: it runs GOMAXPROCS workers.
func BenchmarkFanout(b *testing.B) {
	b.Run("Inline", func(b *testing.B) { benchInline(b, tiny) })
	b.Run("Workers", func(b *testing.B) { benchWorkers(b, runTiny) })
	b.Run("GoPool", func(b *testing.B) { benchGoPool(b, gopool.NewPool(), tinyTask) })
	b.Run("ErrGroup", func(b *testing.B) { benchErrGroup(b, -1, tiny) })
	b.Run("Pond", func(b *testing.B) { benchPond(b, 0, tiny) })
	b.Run("Ants", func(b *testing.B) { benchAnts(b, 0, tiny) })
	b.Run("Conc", func(b *testing.B) { benchConc(b, 0, tiny) })
	b.Run("WorkerPool", func(b *testing.B) { benchWorkerPool(b, 0, tiny) })
}

// appender collects sums under a mutex, for the peers that have no drain.
type appender struct {
	mu      sync.Mutex
	results []int
}

func (a *appender) task() error {
	s := sumTo(tinyN)
	a.mu.Lock()
	a.results = append(a.results, s)
	a.mu.Unlock()
	return nil
}

// BenchmarkFanoutDrain is Fanout where the caller collects every task's
// sum: through a gopool drain, pond's and conc's result pools, or a slice
// under a mutex.
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
	b.Run("ErrGroupMutexAppend", func(b *testing.B) {
		var a appender
		benchErrGroup(b, -1, a.task)
		b.StopTimer()
		checkSums(b, a.results)
	})
	b.Run("Pond", func(b *testing.B) {
		b.ReportAllocs()
		p := pond.NewResultPool[int](0)
		g := p.NewGroup()
		for range b.N {
			g.Submit(tinySum)
		}
		results, err := g.Wait()
		if err != nil {
			b.Fatal(err)
		}
		p.StopAndWait()
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("Ants", func(b *testing.B) {
		var a appender
		benchAnts(b, 0, a.task)
		b.StopTimer()
		checkSums(b, a.results)
	})
	b.Run("Conc", func(b *testing.B) {
		b.ReportAllocs()
		p := pool.NewWithResults[int]()
		for range b.N {
			p.Go(tinySum)
		}
		results := p.Wait()
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("WorkerPool", func(b *testing.B) {
		var a appender
		benchWorkerPool(b, 0, a.task)
		b.StopTimer()
		checkSums(b, a.results)
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
	b.Run("Pond", func(b *testing.B) { benchPond(b, n, tiny) })
	b.Run("PondNoQueue", func(b *testing.B) { benchPond(b, n, tiny, pond.WithQueueSize(0)) })
	b.Run("Ants", func(b *testing.B) { benchAnts(b, n, tiny) })
	b.Run("Conc", func(b *testing.B) { benchConc(b, n, tiny) })
	b.Run("WorkerPool", func(b *testing.B) { benchWorkerPool(b, n, tiny) })
}

// BenchmarkLimitedSlow runs b.N tasks of ~1µs of work at most 100 at once.
func BenchmarkLimitedSlow(b *testing.B) {
	calibrateSlow()
	const n = 100
	b.Run("Inline", func(b *testing.B) { benchInline(b, slow) })
	b.Run("Workers", func(b *testing.B) { benchWorkers(b, runSlow) })
	b.Run("GoPool", func(b *testing.B) { benchGoPool(b, gopool.NewPool().WithLimit(n), slowTask) })
	b.Run("ErrGroup", func(b *testing.B) { benchErrGroup(b, n, slow) })
	b.Run("Pond", func(b *testing.B) { benchPond(b, n, slow) })
	b.Run("PondNoQueue", func(b *testing.B) { benchPond(b, n, slow, pond.WithQueueSize(0)) })
	b.Run("Ants", func(b *testing.B) { benchAnts(b, n, slow) })
	b.Run("Conc", func(b *testing.B) { benchConc(b, n, slow) })
	b.Run("WorkerPool", func(b *testing.B) { benchWorkerPool(b, n, slow) })
}

const batchSize = 64

// BenchmarkBatch runs batches of 64 tiny tasks; one operation is one
// batch. gopool, errgroup, pond, conc and workerpool get a new pool (or
// group) per batch; PondGroup runs a new group per batch on one pond pool,
// and Ants one long-lived pool with a WaitGroup per batch, as their
// documentation suggests.
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
	b.Run("Pond", func(b *testing.B) {
		b.ReportAllocs()
		var f failures
		run := f.wrap(tiny)
		for b.Loop() {
			p := pond.NewPool(0)
			for range batchSize {
				if err := p.Go(run); err != nil {
					b.Fatal(err)
				}
			}
			p.StopAndWait()
		}
		f.check(b)
	})
	b.Run("PondGroup", func(b *testing.B) { benchPondGroups(b, 0) })
	b.Run("Ants", func(b *testing.B) {
		b.ReportAllocs()
		var (
			f  failures
			wg sync.WaitGroup
		)
		p, err := ants.NewPool(0)
		if err != nil {
			b.Fatal(err)
		}
		defer p.ReleaseTimeout(time.Minute)
		run := f.wrap(tiny)
		done := func() {
			defer wg.Done()
			run()
		}
		for b.Loop() {
			for range batchSize {
				wg.Add(1)
				if err := p.Submit(done); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		}
		f.check(b)
	})
	b.Run("Conc", func(b *testing.B) {
		b.ReportAllocs()
		var f failures
		run := f.wrap(tiny)
		for b.Loop() {
			p := pool.New()
			for range batchSize {
				p.Go(run)
			}
			p.Wait()
		}
		f.check(b)
	})
	b.Run("WorkerPool", func(b *testing.B) {
		b.ReportAllocs()
		var f failures
		run := f.wrap(tiny)
		n := runtime.GOMAXPROCS(0)
		for b.Loop() {
			p := workerpool.New(n)
			for range batchSize {
				p.Submit(run)
			}
			p.StopWait()
		}
		f.check(b)
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
// sub-pool's Wait returned after every one of them.
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

// benchPondGroups runs each batch of 64 tiny tasks on a new group of one
// pond pool of n (0: no limit), made with opts.
func benchPondGroups(b *testing.B, n int, opts ...pond.Option) {
	b.ReportAllocs()
	p := pond.NewPool(n, opts...)
	defer p.StopAndWait()
	for b.Loop() {
		g := p.NewGroup()
		for range batchSize {
			g.SubmitErr(tiny)
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPondSubpools runs each batch of 64 tiny tasks on a new subpool of n
// of one pond pool of n, made with opts.
func benchPondSubpools(b *testing.B, n int, opts ...pond.Option) {
	b.ReportAllocs()
	var f failures
	run := f.wrap(tiny)
	p := pond.NewPool(n, opts...)
	defer p.StopAndWait()
	for b.Loop() {
		sp := p.NewSubpool(n)
		for range batchSize {
			if err := sp.Go(run); err != nil {
				b.Fatal(err)
			}
		}
		sp.StopAndWait()
	}
	f.check(b)
}

// BenchmarkSubBatch is Batch under a limit of GOMAXPROCS shared by every
// batch; one operation is one batch of 64 tiny tasks. GoPool runs each
// batch on a new sub-pool (root.Sub()) of one limited root pool, and
// GoPoolQueue the same under a root with WithQueue(64), which lets the
// producer run ahead as pond's unbounded queue does; PondGroup
// on a new group of one pond pool limited to GOMAXPROCS, PondSubpool on a
// new pond subpool (NewSubpool(GOMAXPROCS)) of it, the NoQueue rows the same
// with pond's queue disabled, so that its producer is held at the limit as
// gopool's is without WithQueue, and Ants on one ants
// pool of GOMAXPROCS with a WaitGroup per batch: all share their limit.
// errgroup and conc cannot share a limit between groups: ErrGroup and Conc
// are a new group (pool) per batch limited to GOMAXPROCS on its own.
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
	b.Run("PondGroup", func(b *testing.B) { benchPondGroups(b, n) })
	b.Run("PondGroupNoQueue", func(b *testing.B) { benchPondGroups(b, n, pond.WithQueueSize(0)) })
	b.Run("PondSubpool", func(b *testing.B) { benchPondSubpools(b, n) })
	b.Run("PondSubpoolNoQueue", func(b *testing.B) { benchPondSubpools(b, n, pond.WithQueueSize(0)) })
	b.Run("Ants", func(b *testing.B) {
		b.ReportAllocs()
		var (
			f  failures
			wg sync.WaitGroup
		)
		p, err := ants.NewPool(n)
		if err != nil {
			b.Fatal(err)
		}
		defer p.ReleaseTimeout(time.Minute)
		run := f.wrap(tiny)
		done := func() {
			defer wg.Done()
			run()
		}
		for b.Loop() {
			for range batchSize {
				wg.Add(1)
				if err := p.Submit(done); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		}
		f.check(b)
	})
	b.Run("Conc", func(b *testing.B) {
		b.ReportAllocs()
		var f failures
		run := f.wrap(tiny)
		for b.Loop() {
			p := pool.New().WithMaxGoroutines(n)
			for range batchSize {
				p.Go(run)
			}
			p.Wait()
		}
		f.check(b)
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

func tinyMap(_ context.Context, in int) (int, error) { return sumTo(in), nil }

// checkMap fails b unless out holds mapWant, in order.
func checkMap(b *testing.B, out []int) {
	b.Helper()
	if !slices.Equal(out, mapWant) {
		b.Fatalf("got %v, want %v", out, mapWant)
	}
}

// BenchmarkMap maps the 64 mapInputs through the tiny task, outputs in
// input order, at most GOMAXPROCS at once; one operation is one map of 64
// inputs. GoPool is gopool.Map on one limited root pool, GoPoolNil
// gopool.Map with a nil pool (no limit); ErrGroupIndex is a new limited
// errgroup per map whose tasks write by index into a slice made
// beforehand; Conc is conc's iter.Mapper with MaxGoroutines, MapErr;
// PondGroup is a new result group per map on one limited pond result pool,
// whose Wait returns the outputs in the order they were submitted.
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
	b.Run("Conc", func(b *testing.B) {
		b.ReportAllocs()
		m := iter.Mapper[int, int]{MaxGoroutines: n}
		f := func(in *int) (int, error) { return sumTo(*in), nil }
		for b.Loop() {
			out, err := m.MapErr(mapInputs, f)
			if err != nil {
				b.Fatal(err)
			}
			checkMap(b, out)
		}
	})
	b.Run("PondGroup", func(b *testing.B) {
		b.ReportAllocs()
		p := pond.NewResultPool[int](n)
		defer p.StopAndWait()
		for b.Loop() {
			g := p.NewGroup()
			for _, in := range mapInputs {
				g.SubmitErr(func() (int, error) { return sumTo(in), nil })
			}
			out, err := g.Wait()
			if err != nil {
				b.Fatal(err)
			}
			checkMap(b, out)
		}
	})
}

func tinyInputTask(a gopool.Args[int]) error {
	a.Drainer.Send(sumTo(*a.Input))
	return nil
}

// sum appends the sum of 0..v-1 under the mutex.
func (a *appender) sum(v int) {
	s := sumTo(v)
	a.mu.Lock()
	a.results = append(a.results, s)
	a.mu.Unlock()
}

// BenchmarkInput is FanoutDrain where each task gets its own input, an int
// (tinyN) that it sums up to: gopool's through
// NewTask(tinyInputTask).WithInput(&v).DrainTo(d), the others' captured by
// a closure made per task; one operation is one task.
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
			g errgroup.Group
			a appender
		)
		for range b.N {
			v := tinyN
			g.Go(func() error {
				a.sum(v)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		checkSums(b, a.results)
	})
	b.Run("Pond", func(b *testing.B) {
		b.ReportAllocs()
		p := pond.NewResultPool[int](0)
		g := p.NewGroup()
		for range b.N {
			v := tinyN
			g.Submit(func() int { return sumTo(v) })
		}
		results, err := g.Wait()
		if err != nil {
			b.Fatal(err)
		}
		p.StopAndWait()
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("Ants", func(b *testing.B) {
		b.ReportAllocs()
		var (
			a  appender
			wg sync.WaitGroup
		)
		p, err := ants.NewPool(0)
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			v := tinyN
			wg.Add(1)
			if err := p.Submit(func() {
				defer wg.Done()
				a.sum(v)
			}); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
		if err := p.ReleaseTimeout(time.Minute); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		checkSums(b, a.results)
	})
	b.Run("Conc", func(b *testing.B) {
		b.ReportAllocs()
		p := pool.NewWithResults[int]()
		for range b.N {
			v := tinyN
			p.Go(func() int { return sumTo(v) })
		}
		results := p.Wait()
		b.StopTimer()
		checkSums(b, results)
	})
	b.Run("WorkerPool", func(b *testing.B) {
		b.ReportAllocs()
		var a appender
		p := workerpool.New(runtime.GOMAXPROCS(0))
		for range b.N {
			v := tinyN
			p.Submit(func() { a.sum(v) })
		}
		p.StopWait()
		b.StopTimer()
		checkSums(b, a.results)
	})
}
