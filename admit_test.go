package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// The tests of admission control (issue 10): TryGo, GoContext and
// WithQueue, alone and across a pool tree. Each test names the point of the
// issue it proves.

var (
	errAdmitGaveUp  = errors.New("the caller gave up waiting")
	errAdmitBoom    = errors.New("boom")
	errAdmitStopped = errors.New("the pool's context was stopped")
)

// admitRegression fails t with msg, which says what went wrong and what in
// the library once caused it: each of these checks found a defect of
// TryGo, GoContext or WithQueue, since fixed.
func admitRegression(t *testing.T, msg string) {
	t.Helper()
	t.Error(msg)
}

// admitNoPanic runs f and fails t if it panics.
func admitNoPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if v := recover(); v != nil {
			t.Errorf("%s panicked: %v", what, v)
		}
	}()
	f()
}

// admitStats fails t unless s is want, every counter.
func admitStats(t *testing.T, what string, s gopool.Stats, want gopool.Stats) {
	t.Helper()
	if s != want {
		t.Errorf("%s: Stats = %+v, want %+v", what, s, want)
	}
}

// admitHookCtx is a caller's context that runs hook the first time a watch
// is registered on it, and counts the watches registered and stopped.
// context.AfterFunc uses a context's own AfterFunc method when it has one;
// Value answers nothing, so that the context package cannot find the
// cancelCtx inside and go around that method. GoContext registers its watch
// with the pool's lock released: hook acts in that window, as another
// goroutine could.
type admitHookCtx struct {
	context.Context
	hook           func()
	watches, stops atomic.Int64
}

func (c *admitHookCtx) Value(any) any { return nil }

func (c *admitHookCtx) AfterFunc(f func()) func() bool {
	c.watches.Add(1)
	if h := c.hook; h != nil {
		c.hook = nil
		h()
	}
	stop := context.AfterFunc(c.Context, f)
	return func() bool {
		c.stops.Add(1)
		return stop()
	}
}

// TestTryGo proves point 1 of issue 10: TryGo admits a task only if every
// limit on its path has a free slot or queue space and nothing cancelled
// its batch; otherwise the task is not registered, never runs and is not
// counted. It never blocks: under synctest a blocking TryGo would deadlock
// the bubble.
func TestTryGo(t *testing.T) {
	t.Run("TryGo below the limit starts its task at once and returns true", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(2)
			release := make(chan struct{})
			started := []chan struct{}{make(chan struct{}), make(chan struct{})}
			for i := range started {
				if !p.TryGo(blocking(started[i], release, nil)) {
					t.Fatalf("TryGo %d of 2 under WithLimit(2) = false", i+1)
				}
				synctest.Wait()
				if !hasClosed(started[i]) {
					t.Errorf("the task of TryGo %d did not start", i+1)
				}
			}
			admitStats(t, "two tasks running", p.Stats(), gopool.Stats{Running: 2, Submitted: 2})
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: 2, Succeeded: 2})
		})
	})

	t.Run("TryGo at the limit returns false at once, and its task neither runs nor counts", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(2)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil), blocking(nil, release, nil))
			var ran atomic.Int64
			if p.TryGo(counted(&ran, nil)) {
				t.Error("TryGo with both slots of WithLimit(2) taken = true")
			}
			s := p.Stats()
			if s.Submitted != 2 || s.Pending+s.Running != 2 {
				t.Errorf("Stats = %+v: the refused task counts", s)
			}
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if ran.Load() != 0 {
				t.Error("the task TryGo refused ran")
			}
			admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: 2, Succeeded: 2})
		})
	})

	t.Run("TryGo above the limit, behind a blocked Go, returns false; once the pool is idle it returns true", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil))
			var blockedRan, refusedRan, laterRan atomic.Int64
			returned := make(chan struct{})
			go func() {
				p.Go(counted(&blockedRan, nil))
				close(returned)
			}()
			synctest.Wait()
			if hasClosed(returned) {
				t.Fatal("Go did not block at the limit")
			}
			if p.TryGo(counted(&refusedRan, nil)) {
				t.Error("TryGo jumped ahead of a Go blocked at the limit")
			}
			close(release)
			synctest.Wait()
			if !hasClosed(returned) || blockedRan.Load() != 1 {
				t.Error("the blocked Go's task did not get the freed slot")
			}
			if !p.TryGo(counted(&laterRan, nil)) {
				t.Error("TryGo on an idle pool = false")
			}
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if refusedRan.Load() != 0 || laterRan.Load() != 1 {
				t.Errorf("refused task ran %d times, admitted one %d times; want 0 and 1", refusedRan.Load(), laterRan.Load())
			}
			admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: 3, Succeeded: 3})
		})
	})

	t.Run("TryGo takes queue space under WithQueue, and returns false once the limit and the queue are full", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1).WithQueue(2)
			release := make(chan struct{})
			var ran, refusedRan atomic.Int64
			for i := range 3 {
				if !p.TryGo(gopool.NewTask(func(gopool.Args[int]) error { <-release; ran.Add(1); return nil })) {
					t.Fatalf("TryGo %d of limit 1 + queue 2 = false", i+1)
				}
			}
			synctest.Wait()
			admitStats(t, "one running, two queued", p.Stats(), gopool.Stats{Running: 1, Pending: 2, Submitted: 3})
			if p.TryGo(counted(&refusedRan, nil)) {
				t.Error("TryGo with the limit and the queue full = true")
			}
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if ran.Load() != 3 || refusedRan.Load() != 0 {
				t.Errorf("%d admitted tasks ran, the refused one %d times; want 3 and 0", ran.Load(), refusedRan.Load())
			}
			admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: 3, Succeeded: 3})
		})
	})

	t.Run("without a limit TryGo always admits, whatever WithQueue says", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n = 50
			p := gopool.NewPool().WithQueue(1)
			var c concurrency
			release := make(chan struct{})
			for i := range n {
				if !p.TryGo(gopool.NewTask(func(gopool.Args[int]) error { c.enter(); <-release; c.leave(); return nil })) {
					t.Fatalf("TryGo %d on an unlimited pool = false", i+1)
				}
			}
			synctest.Wait()
			if got := c.now.Load(); got != n {
				t.Errorf("%d bodies run at once, want all %d", got, n)
			}
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
		})
	})

	t.Run("TryGo after Close returns false, and neither Stats nor the next Wait see its task", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(4)
		before := root.Sub()
		if err := root.Close(); err != nil {
			t.Fatalf("Close of an idle pool = %v", err)
		}
		after := root.Sub()
		var ran atomic.Int64
		for _, c := range []struct {
			name string
			p    *gopool.Pool
		}{{"the closed pool", root}, {"a sub-pool made before the Close", before}, {"a sub-pool made after it", after}} {
			if c.p.TryGo(counted(&ran, nil)) {
				t.Errorf("TryGo on %s = true", c.name)
			}
			if err := c.p.Wait(); err != nil {
				t.Errorf("Wait on %s = %v, want nil: TryGo registered nothing (Go would make it ErrClosed)", c.name, err)
			}
		}
		admitStats(t, "the closed root", root.Stats(), gopool.Stats{})
		if ran.Load() != 0 {
			t.Error("a task TryGo refused ran")
		}
	})

	t.Run("TryGo on a batch cancelled by fail-fast returns false, and the next batch admits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithFailFast()
			p.Go(failWith(errAdmitBoom))
			synctest.Wait() // the failure has cancelled the batch
			var ran atomic.Int64
			if p.TryGo(counted(&ran, nil)) {
				t.Error("TryGo on a batch cancelled by fail-fast = true")
			}
			if err := p.Wait(); err != errAdmitBoom {
				t.Errorf("Wait = %v, want %v alone", err, errAdmitBoom)
			}
			admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: 1, Failed: 1})
			if !p.TryGo(counted(&ran, nil)) {
				t.Error("TryGo on the next batch = false")
			}
			if err := p.Wait(); err != nil {
				t.Errorf("Wait of the next batch = %v", err)
			}
			if ran.Load() != 1 {
				t.Errorf("%d tasks ran, want 1: the refused one must not", ran.Load())
			}
		})
	})

	t.Run("TryGo on a pool whose context, or its parent's, is done returns false", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			p := gopool.NewPoolWithContext(ctx).WithLimit(2)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil)) // a batch in flight when the context ends
			sub := p.Sub()
			subCtx, subCancel := context.WithCancelCause(context.Background())
			own := p.SubWithContext(subCtx)
			var ran atomic.Int64
			subCancel(errAdmitGaveUp)
			if own.TryGo(counted(&ran, nil)) {
				t.Error("TryGo on a sub-pool whose own context is done = true")
			}
			if !sub.TryGo(counted(&ran, nil)) {
				t.Error("TryGo on a live sibling = false")
			}
			synctest.Wait() // both admitted tasks have started
			cancel(errAdmitStopped)
			for _, c := range []struct {
				name string
				p    *gopool.Pool
			}{{"the pool", p}, {"its sub-pool", sub}} {
				if c.p.TryGo(counted(&ran, nil)) {
					t.Errorf("TryGo on %s after its context ended = true", c.name)
				}
			}
			close(release)
			for _, q := range []*gopool.Pool{p, sub, own} {
				if err := q.Wait(); err == nil {
					t.Errorf("Wait = nil, want the cause of a done context")
				}
			}
			if ran.Load() != 1 {
				t.Errorf("%d tasks ran, want 1 (the sibling's, admitted before the context ended)", ran.Load())
			}
			admitStats(t, "the root", p.Stats(), gopool.Stats{Submitted: 2, Succeeded: 2})
		})
	})

	t.Run("TryGo on a sub-pool returns false while the root's limit is full, and true once a root slot frees", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			a, b := root.Sub(), root.Sub().WithLimit(3)
			release := make(chan struct{})
			a.Go(blocking(nil, release, nil))
			var ran atomic.Int64
			if b.TryGo(counted(&ran, nil)) {
				t.Error("TryGo on a sub-pool with free slots of its own, under a full root, = true")
			}
			admitStats(t, "the sub-pool that was refused", b.Stats(), gopool.Stats{})
			close(release)
			synctest.Wait()
			if !b.TryGo(counted(&ran, nil)) {
				t.Error("TryGo on a sub-pool once the root's slot is free = false")
			}
			for _, q := range []*gopool.Pool{a, b} {
				if err := q.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
			if ran.Load() != 1 {
				t.Errorf("%d tasks ran, want 1", ran.Load())
			}
			admitStats(t, "the root", root.Stats(), gopool.Stats{Submitted: 2, Succeeded: 2})
		})
	})

	t.Run("TryGo panics on a nil task, even where it could not admit one, and the pool stays usable", func(t *testing.T) {
		p := gopool.NewPool()
		mustPanicGopool(t, "nil", func() { p.TryGo(nil) })
		mustPanicGopool(t, "nil", func() { p.TryGo((*gopool.Task[int])(nil)) })
		closed := gopool.NewPool()
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		mustPanicGopool(t, "nil", func() { closed.TryGo(nil) })
		full := gopool.NewPool().WithLimit(1)
		release := make(chan struct{})
		full.Go(blocking(nil, release, nil))
		mustPanicGopool(t, "nil", func() { full.TryGo(nil) })
		close(release)
		if err := full.Wait(); err != nil {
			t.Errorf("Wait on the full pool = %v", err)
		}
		if !p.TryGo(succeed()) {
			t.Error("TryGo after the panics = false")
		}
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
	})

	t.Run("TryGo of a built task allocates nothing, admitted, queued or refused", func(t *testing.T) {
		tk := succeed()
		free := gopool.NewPool()
		free.TryGo(tk) // starts the batch; the first batch is part of the pool
		if avg := testing.AllocsPerRun(1000, func() { free.TryGo(tk) }); avg != 0 {
			t.Errorf("an admitted TryGo allocated %v times per call, want 0", avg)
		}
		release := make(chan struct{})
		queued := gopool.NewPool().WithLimit(1).WithQueue(2000)
		queued.Go(blocking(nil, release, nil))
		if avg := testing.AllocsPerRun(1000, func() { queued.TryGo(tk) }); avg != 0 {
			t.Errorf("a queued TryGo allocated %v times per call, want 0 amortised", avg)
		}
		full := gopool.NewPool().WithLimit(1)
		full.Go(blocking(nil, release, nil))
		if avg := testing.AllocsPerRun(1000, func() { full.TryGo(tk) }); avg != 0 {
			t.Errorf("a refused TryGo allocated %v times per call, want 0", avg)
		}
		close(release)
		for _, p := range []*gopool.Pool{free, queued, full} {
			if err := p.Wait(); err != nil {
				t.Errorf("Wait = %v", err)
			}
		}
		if s := full.Stats(); s.Submitted != 1 {
			t.Errorf("the full pool's Stats = %+v: refused tasks count", s)
		}
	})

	t.Run("TryGo racing Wait and Close: every task it admits runs or is skipped, and no refused task runs or counts", func(t *testing.T) {
		for _, closing := range []bool{false, true} {
			const producers, each = 4, 500
			p := gopool.NewPool().WithLimit(4).WithQueue(4)
			ran := make([]atomic.Bool, producers*each)
			admitted := make([]bool, producers*each) // each producer writes its own part
			var wg sync.WaitGroup
			half := make(chan struct{})
			for w := range producers {
				wg.Go(func() {
					for i := w * each; i < (w+1)*each; i++ {
						if w == 0 && i == each/2 {
							close(half)
						}
						admitted[i] = p.TryGo(gopool.NewTask(func(gopool.Args[int]) error {
							if ran[i].Swap(true) {
								t.Errorf("task %d ran twice", i)
							}
							return nil
						}))
					}
				})
			}
			producing := make(chan struct{})
			go func() { wg.Wait(); close(producing) }()
			var closeErr error
			if closing {
				<-half
				closeErr = p.Close()
			}
			for waiting := true; waiting; {
				select {
				case <-producing:
					waiting = false
				default:
				}
				if err := p.Wait(); err != nil && !errors.Is(err, gopool.ErrClosed) {
					t.Fatalf("Wait racing TryGo = %v", err)
				}
			}
			if err := p.Wait(); err != nil {
				t.Fatalf("last Wait = %v", err)
			}
			if closeErr != nil && !errors.Is(closeErr, gopool.ErrClosed) {
				t.Errorf("Close = %v", closeErr)
			}
			var nAdmitted, nRan uint64
			for i := range admitted {
				r := ran[i].Load()
				if r && !admitted[i] {
					t.Errorf("close=%v: task %d ran, but TryGo refused it", closing, i)
				}
				if !closing && admitted[i] && !r {
					t.Errorf("task %d was admitted and never ran, and nothing closed the pool", i)
				}
				if admitted[i] {
					nAdmitted++
				}
				if r {
					nRan++
				}
			}
			s := p.Stats()
			if s.Submitted != nAdmitted || s.Succeeded != nRan || s.Succeeded+s.Skipped != s.Submitted || s.Running+s.Pending != 0 {
				t.Errorf("close=%v: Stats = %+v; TryGo admitted %d tasks, %d ran", closing, s, nAdmitted, nRan)
			}
		}
	})
}

// TestGoContext proves point 2 of issue 10: GoContext is Go for one task
// with a bound on the wait for admission, and a task it does not admit is
// not registered.
func TestGoContext(t *testing.T) {
	t.Run("GoContext with a free slot admits its task at once and returns nil", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			started, release := make(chan struct{}), make(chan struct{})
			start := time.Now()
			if err := p.GoContext(ctx, blocking(started, release, nil)); err != nil {
				t.Fatalf("GoContext with a free slot = %v", err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("GoContext with a free slot took %v", d)
			}
			synctest.Wait()
			if !hasClosed(started) {
				t.Error("the admitted task did not start")
			}
			admitStats(t, "once admitted", p.Stats(), gopool.Stats{Running: 1, Submitted: 1})
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
		})
	})

	t.Run("GoContext with a context already done refuses its task at once, even with a free slot, and registers nothing", func(t *testing.T) {
		p := gopool.NewPool().WithLimit(1)
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errAdmitGaveUp)
		var ran atomic.Int64
		d := gopool.NewDrainer[int]()
		err := p.GoContext(ctx, gopool.NewTask(func(gopool.Args[int]) error { ran.Add(1); return nil }).DrainTo(d))
		if !errors.Is(err, errAdmitGaveUp) || !strings.HasPrefix(fmt.Sprint(err), "gopool:") {
			t.Errorf("GoContext = %v, want a gopool: error that wraps context.Cause(ctx)", err)
		}
		if got := d.Drain(); len(got) != 0 {
			t.Errorf("Drain = %v", got)
		}
		admitStats(t, "after the refusal", p.Stats(), gopool.Stats{})
		admitNoPanic(t, "WithQueue on a pool that GoContext refused a task", func() { p.WithQueue(1) })
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		if ran.Load() != 0 {
			t.Error("the refused task ran")
		}
	})

	t.Run("GoContext waits for a slot, returns nil once its task is admitted, and counts it in Stats only then", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			release0, release1 := make(chan struct{}), make(chan struct{})
			started1 := make(chan struct{})
			p.Go(blocking(nil, release0, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := make(chan error, 1)
			go func() { res <- p.GoContext(ctx, blocking(started1, release1, nil)) }()
			synctest.Wait()
			if len(res) != 0 {
				t.Fatalf("GoContext returned %v while the limit's task runs", <-res)
			}
			admitStats(t, "GoContext waiting", p.Stats(), gopool.Stats{Running: 1, Submitted: 1})
			close(release0)
			synctest.Wait()
			if len(res) == 0 {
				t.Fatal("GoContext still waits after the slot freed")
			}
			if err := <-res; err != nil {
				t.Errorf("GoContext = %v, want nil once admitted", err)
			}
			if !hasClosed(started1) {
				t.Error("the admitted task did not start")
			}
			admitStats(t, "once admitted", p.Stats(), gopool.Stats{Running: 1, Submitted: 2, Succeeded: 1})
			close(release1)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
		})
	})

	for _, c := range []struct {
		name  string
		cause error
	}{{"DeadlineExceeded", context.DeadlineExceeded}, {"a cause of its own", errAdmitGaveUp}} {
		t.Run("GoContext whose deadline passes while it waits returns exactly at the deadline, with an error wrapping "+c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const timeout = 3 * time.Second
				p := gopool.NewPool().WithLimit(1)
				release := make(chan struct{})
				p.Go(blocking(nil, release, nil))
				var ran atomic.Int64
				d := gopool.NewDrainer[int]()
				task := gopool.NewTask(func(gopool.Args[int]) error { ran.Add(1); return nil }).DrainTo(d)
				ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, c.cause)
				defer cancel()
				start := time.Now()
				err := p.GoContext(ctx, task)
				if elapsed := time.Since(start); elapsed != timeout {
					t.Errorf("GoContext returned after %v, want exactly %v", elapsed, timeout)
				}
				if !errors.Is(err, c.cause) || !strings.HasPrefix(fmt.Sprint(err), "gopool:") {
					t.Errorf("GoContext = %v, want a gopool: error wrapping %v", err, c.cause)
				}
				admitStats(t, "after the withdrawal", p.Stats(), gopool.Stats{Running: 1, Submitted: 1})
				drained := make(chan []int, 1)
				go func() { drained <- d.Drain() }()
				synctest.Wait()
				if len(drained) == 0 {
					t.Error("Drain waits for the task GoContext took back")
				}
				close(release)
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait = %v", err)
				}
				if ran.Load() != 0 {
					t.Error("the task GoContext took back ran")
				}
				admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: 1, Succeeded: 1})
				<-drained
			})
		})
	}

	t.Run("GoContext after Close returns ErrClosed and registers nothing, on the pool and below it", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(1)
		before := root.Sub()
		if err := root.Close(); err != nil {
			t.Fatal(err)
		}
		var ran atomic.Int64
		for _, c := range []struct {
			name string
			p    *gopool.Pool
		}{{"the closed pool", root}, {"a sub-pool made before the Close", before}, {"a sub-pool made after it", root.Sub()}} {
			if err := c.p.GoContext(context.Background(), counted(&ran, nil)); err != gopool.ErrClosed {
				t.Errorf("GoContext on %s = %v, want ErrClosed", c.name, err)
			}
			if err := c.p.Wait(); err != nil {
				t.Errorf("Wait on %s = %v, want nil: nothing was registered", c.name, err)
			}
		}
		admitStats(t, "the closed root", root.Stats(), gopool.Stats{})
		if ran.Load() != 0 {
			t.Error("a task handed to a closed pool ran")
		}
	})

	t.Run("GoContext on a closed pool watches no context, as Go does not", func(t *testing.T) {
		root := gopool.NewPool()
		if err := root.Close(); err != nil {
			t.Fatal(err)
		}
		inner, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx := &admitHookCtx{Context: inner}
		viaGo := root.SubWithContext(ctx)
		viaGo.Go(succeed())
		goWatches := ctx.watches.Load() - ctx.stops.Load()
		viaGoContext := root.SubWithContext(ctx)
		if err := viaGoContext.GoContext(context.Background(), succeed()); err != gopool.ErrClosed {
			t.Errorf("GoContext = %v, want ErrClosed", err)
		}
		watches := ctx.watches.Load() - ctx.stops.Load() - goWatches
		var configured bool
		func() {
			defer func() { _ = recover() }()
			viaGoContext.WithLimit(1)
			configured = true
		}()
		if err := viaGo.Wait(); !errors.Is(err, gopool.ErrClosed) {
			t.Errorf("Wait after Go on a closed pool = %v, want ErrClosed", err)
		}
		if err := viaGoContext.Wait(); err != nil {
			t.Errorf("Wait after GoContext on a closed pool = %v, want nil", err)
		}
		if goWatches != 0 {
			t.Errorf("Go on a closed pool left %d watches on the pool's context", goWatches)
		}
		if watches != 0 || !configured {
			admitRegression(t, fmt.Sprintf("GoContext on a closed pool starts a batch, as Go does not: it left %d watch(es) "+
				"on the pool's context until the next Wait (a goroutine each for contexts that are not the context "+
				"package's own), and WithLimit then panicked (%v) as if tasks were pending; GoContext calls "+
				"openBatchLocked before it checks closedLocked", watches, !configured))
		}
	})

	t.Run("GoContext on a batch already cancelled by fail-fast skips its task and wraps the failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithFailFast()
			p.Go(failWith(errAdmitBoom))
			synctest.Wait() // the failure has cancelled the batch
			var ran atomic.Int64
			err := p.GoContext(context.Background(), counted(&ran, nil))
			if !errors.Is(err, errAdmitBoom) || !strings.HasPrefix(fmt.Sprint(err), "gopool:") {
				t.Errorf("GoContext = %v, want a gopool: error wrapping %v", err, errAdmitBoom)
			}
			admitStats(t, "the skip", p.Stats(), gopool.Stats{Submitted: 2, Failed: 1, Skipped: 1})
			if err := p.Wait(); err != errAdmitBoom {
				t.Errorf("Wait = %v, want %v", err, errAdmitBoom)
			}
			if ran.Load() != 0 {
				t.Error("the skipped task ran")
			}
		})
	})

	t.Run("GoContext on a pool whose context is done skips its task and wraps the context's cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errAdmitStopped)
			root := gopool.NewPoolWithContext(ctx)
			var ran atomic.Int64
			for _, p := range []*gopool.Pool{root, root.Sub()} {
				err := p.GoContext(context.Background(), counted(&ran, nil))
				if !errors.Is(err, errAdmitStopped) {
					t.Errorf("GoContext = %v, want an error wrapping %v", err, errAdmitStopped)
				}
				if err := p.Wait(); !errors.Is(err, errAdmitStopped) {
					t.Errorf("Wait = %v, want %v", err, errAdmitStopped)
				}
			}
			admitStats(t, "the skips", root.Stats(), gopool.Stats{Submitted: 2, Skipped: 2})
			if ran.Load() != 0 {
				t.Error("a skipped task ran")
			}
		})
	})

	for _, c := range []struct {
		name  string
		cause error
		// setup makes the pool GoContext waits on, with a task running
		// under its limit until release. end cancels the batch, lets the
		// task finish, and returns the error that reports the batch's end
		// for the GoContext's pool: its Close's, or its Wait's.
		setup func(release chan struct{}) (p *gopool.Pool, end func() error)
	}{
		{"Close of its pool", gopool.ErrClosed, func(release chan struct{}) (*gopool.Pool, func() error) {
			p := gopool.NewPool().WithLimit(1)
			p.Go(blocking(nil, release, nil))
			return p, func() error {
				closed := make(chan error, 1)
				go func() { closed <- p.Close() }()
				synctest.Wait()
				close(release)
				return <-closed
			}
		}},
		{"Close of the root above its sub-pool", gopool.ErrClosed, func(release chan struct{}) (*gopool.Pool, func() error) {
			root := gopool.NewPool().WithLimit(1)
			root.Go(blocking(nil, release, nil))
			sub := root.Sub()
			return sub, func() error {
				closed := make(chan error, 1)
				go func() { closed <- root.Close() }()
				synctest.Wait()
				close(release)
				if err := <-closed; err != nil {
					t.Errorf("the root's Close = %v, want nil: none of its own tasks was skipped", err)
				}
				return sub.Wait()
			}
		}},
		{"fail-fast", errAdmitBoom, func(release chan struct{}) (*gopool.Pool, func() error) {
			p := gopool.NewPool().WithLimit(1).WithFailFast()
			p.Go(blocking(nil, release, errAdmitBoom))
			return p, func() error { close(release); return p.Wait() }
		}},
		{"its pool's context", errAdmitStopped, func(release chan struct{}) (*gopool.Pool, func() error) {
			ctx, cancel := context.WithCancelCause(context.Background())
			p := gopool.NewPoolWithContext(ctx).WithLimit(1)
			p.Go(blocking(nil, release, nil))
			return p, func() error { cancel(errAdmitStopped); close(release); return p.Wait() }
		}},
	} {
		t.Run("GoContext waiting when "+c.name+" cancels the batch skips its task and returns an error wrapping the cause", func(t *testing.T) {
			var defect string
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				p, end := c.setup(release)
				var ran atomic.Int64
				res := make(chan error, 1)
				go func() { res <- p.GoContext(context.Background(), counted(&ran, nil)) }()
				synctest.Wait()
				if len(res) != 0 {
					t.Fatalf("GoContext returned %v while the limit's task runs", <-res)
				}
				if err := end(); !errors.Is(err, c.cause) {
					t.Errorf("the batch ended with %v, want an error wrapping %v", err, c.cause)
				}
				err := <-res
				if ran.Load() != 0 {
					t.Error("the task of the GoContext ran after its batch was cancelled")
				}
				if s := p.Stats(); s.Skipped != 1 || s.Running+s.Pending != 0 {
					t.Errorf("Stats of the GoContext's pool = %+v, want its task skipped", s)
				}
				if !errors.Is(err, c.cause) {
					defect = fmt.Sprintf("GoContext returned %v for a task skipped by %s while it waited; want an error wrapping %v. "+
						"setCancelledLocked skips the waiting tasks through dropWaitingLocked, which advances b.admitted, so the "+
						"woken blockLocked sees b.admitted > ticket and reports the task admitted", err, c.name, c.cause)
				}
			})
			if defect != "" {
				admitRegression(t, defect)
			}
		})
	}

	t.Run("GoContext panics on a nil context or a nil task, with a gopool: message", func(t *testing.T) {
		p := gopool.NewPool()
		done, cancel := context.WithCancel(context.Background())
		cancel()
		//lint:ignore SA1012 passing a nil context is the misuse under test
		mustPanicGopool(t, "nil context", func() { _ = p.GoContext(nil, succeed()) })
		mustPanicGopool(t, "nil", func() { _ = p.GoContext(context.Background(), nil) })
		mustPanicGopool(t, "nil", func() { _ = p.GoContext(done, nil) })
		mustPanicGopool(t, "nil", func() { _ = p.GoContext(context.Background(), (*gopool.Task[int])(nil)) })
		if err := p.GoContext(context.Background(), succeed()); err != nil {
			t.Errorf("GoContext after the panics = %v", err)
		}
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		admitStats(t, "after the panics", p.Stats(), gopool.Stats{Submitted: 1, Succeeded: 1})
	})

	t.Run("GoContext in a sub-pool waits at the root's limit, and is admitted when a root slot frees", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			sub := root.Sub().WithLimit(2)
			release0, release1 := make(chan struct{}), make(chan struct{})
			started := make(chan struct{})
			root.Go(blocking(nil, release0, nil))
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			res := make(chan error, 1)
			go func() { res <- sub.GoContext(ctx, blocking(started, release1, nil)) }()
			synctest.Wait()
			if len(res) != 0 {
				t.Fatalf("GoContext returned %v while the root's limit is full", <-res)
			}
			admitStats(t, "the sub-pool while its GoContext waits", sub.Stats(), gopool.Stats{})
			close(release0)
			synctest.Wait()
			if len(res) == 0 {
				t.Fatal("GoContext still waits after the root's slot freed")
			}
			if err := <-res; err != nil {
				t.Errorf("GoContext = %v", err)
			}
			if !hasClosed(started) {
				t.Error("the admitted task did not start")
			}
			admitStats(t, "the sub-pool once admitted", sub.Stats(), gopool.Stats{Running: 1, Submitted: 1})
			close(release1)
			for _, p := range []*gopool.Pool{root, sub} {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
			admitStats(t, "the root", root.Stats(), gopool.Stats{Submitted: 2, Succeeded: 2})
		})
	})

	t.Run("GoContext in a sub-pool whose deadline passes at the root's limit takes its task back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			sub := root.Sub()
			release := make(chan struct{})
			root.Go(blocking(nil, release, nil))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var ran atomic.Int64
			start := time.Now()
			if err := sub.GoContext(ctx, counted(&ran, nil)); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("GoContext = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d != time.Minute {
				t.Errorf("GoContext gave up after %v, want %v", d, time.Minute)
			}
			admitStats(t, "the sub-pool", sub.Stats(), gopool.Stats{})
			close(release)
			for _, p := range []*gopool.Pool{root, sub} {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
			if ran.Load() != 0 {
				t.Error("the task taken back ran")
			}
		})
	})

	t.Run("GoContext under WithQueue returns nil once its task is queued, before it can start", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1).WithQueue(1)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil))
			var ran atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := p.GoContext(ctx, counted(&ran, nil)); err != nil {
				t.Fatalf("GoContext with queue space = %v", err)
			}
			synctest.Wait()
			admitStats(t, "one running, one queued", p.Stats(), gopool.Stats{Running: 1, Pending: 1, Submitted: 2})
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if ran.Load() != 1 {
				t.Error("the queued task did not run")
			}
		})
	})

	t.Run("GoContext is admitted when a slot frees while it registers the watch on its context", func(t *testing.T) {
		var defect string
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			started, release := make(chan struct{}), make(chan struct{})
			p.Go(blocking(started, release, nil))
			<-started
			inner, cancel := context.WithCancel(context.Background())
			defer cancel()
			hooked := make(chan struct{})
			ctx := &admitHookCtx{Context: inner, hook: func() {
				close(release)
				synctest.Wait() // the running task has finished and freed its slot
				close(hooked)
			}}
			var ran atomic.Int64
			res := make(chan error, 1)
			go func() { res <- p.GoContext(ctx, counted(&ran, nil)) }()
			<-hooked
			synctest.Wait()
			if len(res) == 0 {
				defect = fmt.Sprintf("GoContext still waits on an idle pool (Stats %+v): the slot freed while it registered "+
					"its context's watch with the lock released, advanceLocked then had no waiting task to admit, and "+
					"blockLocked queues the task without checking admission again (a lost wake-up; the call waits for the "+
					"next release, or forever)", p.Stats())
				cancel()
			}
			err := <-res
			if defect == "" && err != nil {
				t.Errorf("GoContext = %v, want nil", err)
			}
			if err := p.Wait(); err != nil {
				t.Errorf("Wait = %v", err)
			}
		})
		if defect != "" {
			admitRegression(t, defect)
		}
	})
}

// TestGoContextCancelledWhileRegisteringItsWatch: GoContext registers the
// watch on its context with the pool's lock released. If the batch is
// cancelled then, and the tree's last running task finishes, the task must
// still be skipped and the batch must end. A failure here leaves Close or
// Wait waiting forever, which synctest turns into a fatal deadlock: each
// case runs in a child process.
func TestGoContextCancelledWhileRegisteringItsWatch(t *testing.T) {
	cases := []struct {
		name, variant string
		cause         error
	}{
		{"Close while GoContext registers its watch skips its task, and Close returns", "close", gopool.ErrClosed},
		{"fail-fast while GoContext registers its watch skips its task, and Wait returns", "failfast", errAdmitBoom},
		{"the pool's context ending while GoContext registers its watch skips its task, and Wait returns", "context", errAdmitStopped},
	}
	if v := os.Getenv("GOPOOL_ADMIT_CHILD"); v != "" {
		for _, c := range cases {
			if c.variant == v {
				admitCancelWhileRegistering(t, c.variant, c.cause)
			}
		}
		return
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestGoContextCancelledWhileRegisteringItsWatch$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "GOPOOL_ADMIT_CHILD="+c.variant)
			out, err := cmd.CombinedOutput()
			if err != nil {
				var lines []string
				for l := range strings.Lines(string(out)) {
					if l = strings.TrimSpace(l); strings.HasPrefix(l, "admit_test.go:") || strings.HasPrefix(l, "panic:") {
						lines = append(lines, l)
					}
				}
				admitRegression(t, fmt.Sprintf("%s: the child process failed (%v): %s. blockLocked, called after GoContext "+
					"relocks, returns skipped when the batch is already cancelled, but leaves the task it just pushed to "+
					"b.waiting there: setCancelledLocked, which skips waiting tasks, ran before the push. Unless a later "+
					"release in the tree pops that entry, b.pending never drops to 0, and Close or Wait waits forever",
					c.variant, err, strings.Join(lines, " | ")))
			}
		})
	}
}

func admitCancelWhileRegistering(t *testing.T, variant string, cause error) {
	synctest.Test(t, func(t *testing.T) {
		var (
			p      *gopool.Pool
			cancel func() // cancels the batch, in the window
		)
		started, release := make(chan struct{}), make(chan struct{})
		ended := make(chan error, 1) // Close's result, for "close"
		switch variant {
		case "close":
			p = gopool.NewPool().WithLimit(1)
			p.Go(blocking(started, release, nil))
			cancel = func() { go func() { ended <- p.Close() }() }
		case "failfast":
			p = gopool.NewPool().WithLimit(1).WithFailFast()
			p.Go(blocking(started, release, errAdmitBoom))
			cancel = func() { close(release) }
		case "context":
			ctx, stop := context.WithCancelCause(context.Background())
			p = gopool.NewPoolWithContext(ctx).WithLimit(1)
			p.Go(blocking(started, release, nil))
			cancel = func() { stop(errAdmitStopped) }
		}
		<-started
		inner, stop := context.WithCancel(context.Background())
		defer stop()
		hooked := make(chan struct{})
		ctx := &admitHookCtx{Context: inner, hook: func() {
			cancel()
			if variant != "failfast" {
				synctest.Wait() // the batch is cancelled
				close(release)
			}
			synctest.Wait() // and the running task has finished
			close(hooked)
		}}
		var ran atomic.Int64
		res := make(chan error, 1)
		go func() { res <- p.GoContext(ctx, counted(&ran, nil)) }()
		<-hooked
		if err := <-res; !errors.Is(err, cause) {
			t.Errorf("GoContext = %v, want an error wrapping %v", err, cause)
		}
		final, what := (<-chan error)(ended), "Close"
		if variant != "close" {
			waited := make(chan error, 1)
			go func() { waited <- p.Wait() }()
			final, what = waited, "Wait"
		}
		synctest.Wait()
		select {
		case err := <-final:
			if !errors.Is(err, cause) {
				t.Errorf("%s = %v, want an error wrapping %v", what, err, cause)
			}
		default:
			t.Errorf("%s still waits, for the task GoContext reported skipped; Stats %+v", what, p.Stats())
		}
		if ran.Load() != 0 {
			t.Error("the task ran after its batch was cancelled")
		}
	})
}

// TestWithQueue proves point 3 of issue 10: under a limit, WithQueue(n) lets
// n admitted tasks wait beyond the running ones, and no more.
func TestWithQueue(t *testing.T) {
	for _, c := range []struct{ limit, queue int }{{1, 1}, {2, 3}, {3, 8}} {
		t.Run(fmt.Sprintf("under WithLimit(%d).WithQueue(%d) Go returns for %d tasks, Stats.Pending counts the queued ones, and the next Go blocks until one finishes",
			c.limit, c.queue, c.limit+c.queue), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := gopool.NewPool().WithLimit(c.limit).WithQueue(c.queue)
				var conc concurrency
				release := make(chan struct{})
				task := func() gopool.Worker {
					return gopool.NewTask(func(gopool.Args[int]) error { conc.enter(); <-release; conc.leave(); return nil })
				}
				for range c.limit + c.queue {
					p.Go(task()) // would deadlock the bubble if it blocked
				}
				synctest.Wait()
				admitStats(t, "the limit running, the queue full", p.Stats(),
					gopool.Stats{Running: c.limit, Pending: c.queue, Submitted: uint64(c.limit + c.queue)})
				returned := make(chan struct{})
				go func() { p.Go(task()); close(returned) }()
				synctest.Wait()
				if hasClosed(returned) {
					t.Fatal("Go returned with the limit's tasks running and the queue full")
				}
				if s := p.Stats(); s.Pending != c.queue+1 {
					t.Errorf("Stats.Pending = %d, want %d: the queued tasks and the blocked Go's", s.Pending, c.queue+1)
				}
				release <- struct{}{} // one task finishes
				synctest.Wait()
				if !hasClosed(returned) {
					t.Error("Go still blocks after a task finished")
				}
				if got := conc.now.Load(); got != int64(c.limit) {
					t.Errorf("%d bodies run, want the limit %d", got, c.limit)
				}
				close(release)
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait = %v", err)
				}
				if got := conc.peak.Load(); got != int64(c.limit) {
					t.Errorf("peak of %d bodies at once, want the limit %d", got, c.limit)
				}
				admitStats(t, "after Wait", p.Stats(), gopool.Stats{Submitted: uint64(c.limit + c.queue + 1), Succeeded: uint64(c.limit + c.queue + 1)})
			})
		})
	}

	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprintf("WithQueue(%d) means no queue: Go blocks as soon as the limit's tasks run", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := gopool.NewPool().WithLimit(2).WithQueue(5).WithQueue(n)
				release := make(chan struct{})
				p.Go(blocking(nil, release, nil), blocking(nil, release, nil))
				returned := make(chan struct{})
				go func() { p.Go(succeed()); close(returned) }()
				synctest.Wait()
				if hasClosed(returned) {
					t.Error("Go returned with the limit's tasks running")
				}
				if p.TryGo(succeed()) {
					t.Error("TryGo admitted a task with the limit's tasks running")
				}
				close(release)
				<-returned
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait = %v", err)
				}
			})
		})
	}

	t.Run("WithQueue without a limit has no effect: every task runs at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n = 20
			p := gopool.NewPool().WithQueue(2)
			var conc concurrency
			release := make(chan struct{})
			for range n {
				p.Go(gopool.NewTask(func(gopool.Args[int]) error { conc.enter(); <-release; conc.leave(); return nil }))
			}
			synctest.Wait()
			if got := conc.now.Load(); got != n {
				t.Errorf("%d bodies run at once, want all %d", got, n)
			}
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
		})
	})

	t.Run("WithQueue is configuration: it returns its receiver between batches and panics during one", func(t *testing.T) {
		p := gopool.NewPool()
		if p.WithQueue(3) != p {
			t.Error("WithQueue did not return its receiver")
		}
		release := make(chan struct{})
		p.Go(blocking(nil, release, nil))
		mustPanicGopool(t, "WithQueue", func() { p.WithQueue(1) })
		root := gopool.NewPool()
		sub := root.Sub()
		sub.Go(blocking(nil, release, nil))
		mustPanicGopool(t, "WithQueue", func() { root.WithQueue(1) })
		close(release)
		for _, q := range []*gopool.Pool{p, sub} {
			if err := q.Wait(); err != nil {
				t.Errorf("Wait = %v", err)
			}
		}
		if p.WithQueue(1) != p || root.WithQueue(1) != root {
			t.Error("WithQueue after Wait did not return its receiver")
		}
	})

	t.Run("WithQueue panics while a GoContext waits in a pool below", func(t *testing.T) {
		var defect string
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			mid := root.Sub()
			leaf := mid.Sub()
			release := make(chan struct{})
			root.Go(blocking(nil, release, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res := make(chan error, 1)
			go func() { res <- leaf.GoContext(ctx, succeed()) }()
			synctest.Wait()
			var v any
			func() {
				defer func() { v = recover() }()
				mid.WithQueue(2)
			}()
			if v == nil {
				defect = "mid.WithQueue(2) did not panic while a GoContext of a pool below waits with its task registered " +
					"(\"It panics if p, or a pool below it, has tasks not yet waited for\"; a blocked Go's task would make " +
					"it panic): mustBeIdleLocked looks at st.pending, which leaves out a waiting GoContext's task"
			}
			close(release)
			if err := <-res; err != nil {
				t.Errorf("GoContext = %v", err)
			}
			for _, p := range []*gopool.Pool{root, leaf} {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
		})
		if defect != "" {
			admitRegression(t, defect)
		}
	})

	t.Run("queued tasks start in the order they were queued", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n = 6
			p := gopool.NewPool().WithLimit(1).WithQueue(n)
			var order []int
			release := make(chan struct{})
			for i := range n {
				p.Go(gopool.NewTask(func(gopool.Args[int]) error { order = append(order, i); <-release; return nil }))
			}
			for range n {
				synctest.Wait()
				release <- struct{}{}
			}
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if !slices.Equal(order, []int{0, 1, 2, 3, 4, 5}) {
				t.Errorf("tasks started in order %v", order)
			}
		})
	})

	for _, c := range []struct {
		name  string
		cause error
	}{
		{"Close", gopool.ErrClosed},
		{"fail-fast", errAdmitBoom},
		{"a done context", errAdmitStopped},
	} {
		t.Run(c.name+" skips queued tasks and the blocked Go's, and the batch reports it", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				p := gopool.NewPoolWithContext(ctx).WithLimit(1).WithQueue(3)
				if c.cause == errAdmitBoom {
					p.WithFailFast()
				}
				started, release := make(chan struct{}), make(chan struct{})
				var ran atomic.Int64
				p.Go(gopool.NewTask(func(gopool.Args[int]) error {
					close(started)
					<-release
					if c.cause == errAdmitBoom {
						return errAdmitBoom
					}
					return nil
				}))
				<-started
				for range 3 {
					p.Go(counted(&ran, nil))
				}
				returned := make(chan struct{})
				go func() { p.Go(counted(&ran, nil)); close(returned) }()
				synctest.Wait()
				if hasClosed(returned) {
					t.Fatal("Go returned with the limit and the queue full")
				}
				var err error
				switch c.cause {
				case gopool.ErrClosed:
					closed := make(chan error, 1)
					go func() { closed <- p.Close() }()
					synctest.Wait()
					close(release)
					err = <-closed
				case errAdmitBoom:
					close(release)
					err = p.Wait()
				case errAdmitStopped:
					cancel(errAdmitStopped)
					close(release)
					err = p.Wait()
				}
				if !errors.Is(err, c.cause) {
					t.Errorf("the batch ended with %v, want an error wrapping %v", err, c.cause)
				}
				synctest.Wait()
				if !hasClosed(returned) {
					t.Error("the blocked Go never returned")
				}
				if ran.Load() != 0 {
					t.Errorf("%d queued or blocked tasks ran after the batch was cancelled", ran.Load())
				}
				if s := p.Stats(); s.Submitted != 5 || s.Skipped != 4 || s.Running+s.Pending != 0 {
					t.Errorf("Stats = %+v, want 5 submitted and 4 skipped", s)
				}
			})
		})
	}

	t.Run("in a tree, a queued task is held by the nearest full limit, and the tree's tasks in flight stay within the sum of limits and queues", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The root runs at most 3 tasks and queues 2; a and b run at
			// most 1 and 2, and queue 1 and 2. A task that cannot run
			// waits in the queue of the nearest limit that stops it, so
			// the tree holds at most 3 running + 2+1+2 queued, and a pool
			// at most its limit plus its queue and the root's. Ten
			// producers per pool each hand over one task.
			root := gopool.NewPool().WithLimit(3).WithQueue(2)
			a := root.Sub().WithLimit(1).WithQueue(1)
			b := root.Sub().WithLimit(2).WithQueue(2)
			pools := []*gopool.Pool{a, b}
			const producers = 10
			release := make(chan struct{})
			var conc [2]concurrency
			var returned [2]atomic.Int64
			var wg sync.WaitGroup
			for i, p := range pools {
				for range producers {
					wg.Go(func() {
						p.Go(gopool.NewTask(func(gopool.Args[int]) error { conc[i].enter(); <-release; conc[i].leave(); return nil }))
						returned[i].Add(1)
					})
				}
			}
			synctest.Wait()
			inFlight := returned[0].Load() + returned[1].Load()
			running := conc[0].now.Load() + conc[1].now.Load()
			if inFlight > 3+2+1+2 || running > 3 {
				t.Errorf("%d tasks admitted in the tree, %d running; want at most 8 and 3", inFlight, running)
			}
			if returned[0].Load() > 1+1+2 || returned[1].Load() > 2+2+2 {
				t.Errorf("admitted %d tasks of a (limit 1, queue 1, under the root's queue 2) and %d of b (limit 2, queue 2)", returned[0].Load(), returned[1].Load())
			}
			if conc[0].now.Load() > 1 || conc[1].now.Load() > 2 {
				t.Errorf("%d tasks of a and %d of b run; limits 1 and 2", conc[0].now.Load(), conc[1].now.Load())
			}
			if s := root.Stats(); s.Running != int(running) || s.Pending != 2*producers-int(running) {
				t.Errorf("root Stats = %+v, want %d running and the other %d pending (queued or blocked in Go)", s, running, 2*producers-int(running))
			}
			for range 2 * producers {
				release <- struct{}{}
				synctest.Wait()
				if n := conc[0].now.Load() + conc[1].now.Load(); n > 3 || conc[0].now.Load() > 1 || conc[1].now.Load() > 2 {
					t.Fatalf("%d tasks of a and %d of b run; limits 1, 2 and 3 on the root", conc[0].now.Load(), conc[1].now.Load())
				}
			}
			wg.Wait()
			for _, p := range pools {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
			admitStats(t, "the root", root.Stats(), gopool.Stats{Submitted: 2 * producers, Succeeded: 2 * producers})
		})
	})

	t.Run("a sub-pool's queued task does not take a free slot of the root from a sibling", func(t *testing.T) {
		var defect string
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(2) // no queue: errgroup's contract at the root
			a := root.Sub().WithLimit(1).WithQueue(1)
			b := root.Sub()
			release := make(chan struct{})
			a.Go(blocking(nil, release, nil))
			a.Go(blocking(nil, release, nil)) // queued in a, behind a's limit
			synctest.Wait()
			admitStats(t, "a, one running and one queued", a.Stats(), gopool.Stats{Running: 1, Pending: 1, Submitted: 2})
			started, returned := make(chan struct{}), make(chan struct{})
			go func() { b.Go(blocking(started, release, nil)); close(returned) }()
			synctest.Wait()
			if !hasClosed(returned) || !hasClosed(started) {
				defect = fmt.Sprintf("b.Go blocks and its task waits, with one task running under the root's WithLimit(2) "+
					"and no queue on the root (root Stats %+v): the task queued in a behind a's own limit took queue space "+
					"at the root too (holdLocked counts accepted at every pool on the path), so the root's limit+queue "+
					"(2+0) is spent on one running task and one that cannot run", root.Stats())
			}
			close(release)
			<-returned
			for _, p := range []*gopool.Pool{a, b} {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
		})
		if defect != "" {
			admitRegression(t, defect)
		}
	})
}

// TestAdmissionOrder proves the ordering the issue asks for: blocked Go
// calls, and GoContext calls among them, are admitted in the order they
// blocked, across the pools of a tree.
func TestAdmissionOrder(t *testing.T) {
	// blockInTurn starts each call on its own goroutine, letting each block
	// before the next starts.
	blockInTurn := func(calls []func()) {
		for _, call := range calls {
			go call()
			synctest.Wait()
		}
	}
	// record returns a task that appends i to order when it starts.
	record := func(order *[]int, i int) gopool.Worker {
		return gopool.NewTask(func(gopool.Args[int]) error { *order = append(*order, i); return nil })
	}

	t.Run("blocked Go calls are admitted in the order they blocked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil))
			var order []int
			var calls []func()
			for i := range 8 {
				calls = append(calls, func() { p.Go(record(&order, i)) })
			}
			blockInTurn(calls)
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if want := []int{0, 1, 2, 3, 4, 5, 6, 7}; !slices.Equal(order, want) {
				t.Errorf("tasks started in order %v, want %v", order, want)
			}
		})
	})

	t.Run("across sub-pools, blocked calls are admitted in the order they blocked, whatever their pool", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			subs := []*gopool.Pool{root.Sub(), root.Sub().WithLimit(1), root.Sub().WithQueue(2)}
			release := make(chan struct{})
			root.Go(blocking(nil, release, nil))
			var order []int
			var calls []func()
			for i := range 9 {
				p := subs[(i*2)%3]
				calls = append(calls, func() { p.Go(record(&order, i)) })
			}
			blockInTurn(calls)
			close(release)
			for _, p := range append(subs, root) {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait = %v", err)
				}
			}
			if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(order, want) {
				t.Errorf("tasks started in order %v, want %v", order, want)
			}
		})
	})

	t.Run("GoContext and Go calls blocked together keep one order, and a GoContext that gives up leaves its place to the next", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil))
			var order []int
			var withdrawn error
			short, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			calls := []func(){
				func() { p.Go(record(&order, 0)) },
				func() { _ = p.GoContext(context.Background(), record(&order, 1)) },
				func() { withdrawn = p.GoContext(short, record(&order, 2)) },
				func() { p.Go(record(&order, 3)) },
				func() { _ = p.GoContext(context.Background(), record(&order, 4)) },
			}
			blockInTurn(calls)
			time.Sleep(time.Second) // the third call's deadline passes
			synctest.Wait()
			if !errors.Is(withdrawn, context.DeadlineExceeded) {
				t.Errorf("the GoContext whose deadline passed returned %v", withdrawn)
			}
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if want := []int{0, 1, 3, 4}; !slices.Equal(order, want) {
				t.Errorf("tasks started in order %v, want %v", order, want)
			}
		})
	})

	t.Run("with a queue, blocked calls enter the queue in the order they blocked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1).WithQueue(1)
			release := make(chan struct{})
			p.Go(blocking(nil, release, nil))
			var order []int
			p.Go(record(&order, 0)) // queued
			var calls []func()
			for i := 1; i < 6; i++ {
				calls = append(calls, func() { p.Go(record(&order, i)) })
			}
			blockInTurn(calls)
			close(release)
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
			if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(order, want) {
				t.Errorf("tasks started in order %v, want %v", order, want)
			}
		})
	})
}

// TestAdmitRandomShapes proves point 4's randomized check: seeded trees of
// pools with limits and queues, fed by concurrent producers that mix Go,
// TryGo and GoContext (with no deadline, a short one, or a done context),
// call Wait now and then, while Close, fail-fast and the root's context cut
// batches short at random points. Throughout, each pool with a limit runs
// at most its limit, and holds at most its limit plus its queue of admitted
// tasks (Stats.Pending+Running, less the tasks of Go calls in progress,
// which count while they wait). At the end, every registered task ran once
// or was skipped, no task TryGo refused or GoContext did not admit ran, and
// each pool's Stats match the tasks registered in its subtree, with
// Submitted == Running+Pending+Succeeded+Failed+Canceled+Skipped. Each seed
// runs in a synctest bubble, so that deadlines and the tasks' work take
// virtual time.
func TestAdmitRandomShapes(t *testing.T) {
	seeds := 256
	if testing.Short() {
		seeds = 32
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed %d: peaks stay within limits and queues, and every task is accounted for", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runAdmitShape(t, seed) })
		})
	}
}

type admitShapePool struct {
	p            *gopool.Pool
	limit, queue int
	failFast     bool
	path         []int // itself, then each pool above it
	subtree      []int // itself and each pool below it

	goStarted, goFinished atomic.Int64 // tasks of Go calls begun and returned
	running, peakRunning  atomic.Int64 // bodies running in its subtree
	peakAdmitted          atomic.Int64
}

// admitRecord is one task handed to a pool, and what became of it.
type admitRecord struct {
	pool  int
	sleep time.Duration
	fail  bool
	ran   atomic.Int32
	// Set by the producer once its call returned.
	registered bool
	mustNotRun bool // refused, taken back, or skipped before GoContext returned
}

type admitShape struct {
	t       *testing.T
	desc    string
	pools   []*admitShapePool
	mu      sync.Mutex
	records []*admitRecord
}

func admitMax(a *atomic.Int64, v int64) {
	for p := a.Load(); v > p && !a.CompareAndSwap(p, v); p = a.Load() {
	}
}

// admitIsBatchCause reports whether err wraps a cause that can end a batch in
// these shapes.
func admitIsBatchCause(err error) bool {
	return errors.Is(err, gopool.ErrClosed) || errors.Is(err, errAdmitBoom) || errors.Is(err, errAdmitStopped)
}

func runAdmitShape(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xad317))
	s := &admitShape{t: t}
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	stopAt := time.Duration(-1)
	root := gopool.NewPool()
	if rng.IntN(3) == 0 {
		root = gopool.NewPoolWithContext(ctx)
		stopAt = time.Duration(rng.IntN(30)) * time.Millisecond
	}
	var desc strings.Builder
	add := func(p *gopool.Pool, parent int) {
		sp := &admitShapePool{p: p, limit: rng.IntN(5), queue: rng.IntN(4) * rng.IntN(2), failFast: rng.IntN(4) == 0}
		p.WithLimit(sp.limit).WithQueue(sp.queue)
		if sp.failFast {
			p.WithFailFast()
		}
		i := len(s.pools)
		s.pools = append(s.pools, sp)
		sp.path = []int{i}
		if parent >= 0 {
			sp.path = append(sp.path, s.pools[parent].path...)
		}
		for _, a := range sp.path {
			s.pools[a].subtree = append(s.pools[a].subtree, i)
		}
		fmt.Fprintf(&desc, "pool %d (parent %d): limit %d queue %d failFast %v; ", i, parent, sp.limit, sp.queue, sp.failFast)
	}
	add(root, -1)
	for range rng.IntN(4) {
		parent := rng.IntN(len(s.pools))
		add(s.pools[parent].p.Sub(), parent)
	}
	closePool, closeAt := -1, time.Duration(0)
	if rng.IntN(2) == 0 {
		closePool, closeAt = rng.IntN(len(s.pools)), time.Duration(rng.IntN(30))*time.Millisecond
	}
	fmt.Fprintf(&desc, "close pool %d at %v; stop the root's context at %v", closePool, closeAt, stopAt)
	s.desc = desc.String()

	var wg sync.WaitGroup
	for range 2 + rng.IntN(4) {
		pool, ops, pseed := rng.IntN(len(s.pools)), 10+rng.IntN(30), rng.Uint64()
		wg.Go(func() { s.produce(pool, ops, rand.New(rand.NewPCG(pseed, seed))) })
	}
	if closePool >= 0 {
		wg.Go(func() {
			time.Sleep(closeAt)
			if err := s.pools[closePool].p.Close(); err != nil && !admitIsBatchCause(err) {
				s.t.Errorf("%s: Close = %v", s.desc, err)
			}
		})
	}
	if stopAt >= 0 {
		wg.Go(func() {
			time.Sleep(stopAt)
			stop(errAdmitStopped)
		})
	}
	wg.Wait()
	for i := len(s.pools) - 1; i >= 0; i-- {
		if err := s.pools[i].p.Wait(); err != nil && !admitIsBatchCause(err) {
			t.Errorf("%s: Wait of pool %d = %v", s.desc, i, err)
		}
	}
	s.check(closePool < 0 && stopAt < 0)
}

// produce hands ops tasks, or Waits, to pool p.
func (s *admitShape) produce(p int, ops int, rng *rand.Rand) {
	sp := s.pools[p]
	newTask := func() (*admitRecord, gopool.Worker) {
		r := &admitRecord{pool: p, sleep: time.Duration(rng.IntN(4)) * time.Millisecond, fail: rng.IntN(6) == 0}
		s.mu.Lock()
		s.records = append(s.records, r)
		s.mu.Unlock()
		return r, gopool.NewTask(func(gopool.Args[int]) error { return s.body(r) })
	}
	for range ops {
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(2)) * time.Millisecond)
		}
		switch op := rng.IntN(21); {
		case op < 7: // Go, of one task or two
			n := 1 + rng.IntN(2)
			rs := make([]*admitRecord, n)
			ws := make([]gopool.Worker, n)
			for i := range n {
				rs[i], ws[i] = newTask()
			}
			sp.goStarted.Add(int64(n))
			sp.p.Go(ws...)
			sp.goFinished.Add(int64(n))
			for _, r := range rs {
				r.registered = true
			}
		case op < 11:
			r, w := newTask()
			r.registered = sp.p.TryGo(w)
			r.mustNotRun = !r.registered
		case op < 20:
			r, w := newTask()
			var ctx context.Context = context.Background()
			switch k := op % 3; {
			case k == 1:
				c, cancel := context.WithTimeoutCause(context.Background(), time.Duration(rng.IntN(6))*time.Millisecond, errAdmitGaveUp)
				defer cancel()
				ctx = c
			case k == 2 && rng.IntN(3) == 0:
				c, cancel := context.WithCancelCause(context.Background())
				cancel(errAdmitGaveUp)
				ctx = c
			}
			err := sp.p.GoContext(ctx, w)
			switch {
			case err == nil:
				r.registered = true
			case err == gopool.ErrClosed:
				r.mustNotRun = true
			case errors.Is(err, errAdmitGaveUp):
				r.mustNotRun = true
				if ctx.Done() == nil {
					s.t.Errorf("%s: GoContext with a context that is never done = %v", s.desc, err)
				}
			case admitIsBatchCause(err):
				r.registered, r.mustNotRun = true, true
			default:
				s.t.Errorf("%s: GoContext = %v: neither nil, ErrClosed, its context's cause nor a batch's", s.desc, err)
			}
		default:
			if err := sp.p.Wait(); err != nil && !admitIsBatchCause(err) {
				s.t.Errorf("%s: Wait racing the producers = %v", s.desc, err)
			}
		}
		s.sample(p)
	}
}

func (s *admitShape) body(r *admitRecord) error {
	if r.ran.Add(1) > 1 {
		s.t.Errorf("%s: a task ran twice", s.desc)
	}
	path := s.pools[r.pool].path
	for _, i := range path {
		admitMax(&s.pools[i].peakRunning, s.pools[i].running.Add(1))
	}
	s.sample(r.pool)
	time.Sleep(r.sleep)
	for _, i := range path {
		s.pools[i].running.Add(-1)
	}
	if r.fail {
		return errAdmitBoom
	}
	return nil
}

// sample checks the bounds of each limited pool on p's path, by its Stats:
// the tasks it counts are those of Go calls in progress (counted before
// they wait), and those admitted below its limit, running or held in a
// queue, which at most its limit plus the queues that may hold them may be:
// a queued task is held in the queue of the nearest limit on its path
// without a free slot, at the pool or below it, or above it.
func (s *admitShape) sample(p int) {
	for _, i := range s.pools[p].path {
		sp := s.pools[i]
		if sp.limit == 0 {
			continue
		}
		var finished, started int64
		for _, j := range sp.subtree {
			finished += s.pools[j].goFinished.Load()
		}
		st := sp.p.Stats()
		for _, j := range sp.subtree {
			started += s.pools[j].goStarted.Load()
		}
		admitted := int64(st.Pending+st.Running) - (started - finished)
		admitMax(&sp.peakAdmitted, admitted)
		if st.Running > sp.limit {
			s.t.Errorf("%s: pool %d runs %d tasks, limit %d", s.desc, i, st.Running, sp.limit)
		}
		queues := 0
		for _, j := range sp.subtree {
			queues += s.pools[j].queue
		}
		for _, j := range sp.path {
			if j != i {
				queues += s.pools[j].queue
			}
		}
		if admitted > int64(sp.limit+queues) {
			s.t.Errorf("%s: pool %d holds %d admitted tasks (Stats %+v, %d in Go calls), limit %d + queues that may hold them %d",
				s.desc, i, admitted, st, started-finished, sp.limit, queues)
		}
	}
}

// check runs at quiescence: every call returned and every pool waited for.
func (s *admitShape) check(uncut bool) {
	t := s.t
	type tally struct{ registered, succeeded, failed uint64 }
	own := make([]tally, len(s.pools))
	cancellable := !uncut
	for _, sp := range s.pools {
		cancellable = cancellable || sp.failFast
	}
	for _, r := range s.records {
		ran := r.ran.Load()
		if r.mustNotRun && ran != 0 {
			t.Errorf("%s: a task TryGo refused, or GoContext did not admit or reported skipped, ran", s.desc)
		}
		if !r.registered {
			continue
		}
		own[r.pool].registered++
		switch {
		case ran == 0 && !cancellable:
			t.Errorf("%s: a registered task never ran, and nothing cancelled a batch", s.desc)
		case ran == 1 && r.fail:
			own[r.pool].failed++
		case ran == 1:
			own[r.pool].succeeded++
		}
	}
	var peaks strings.Builder
	for i, sp := range s.pools {
		fmt.Fprintf(&peaks, " pool %d: %d running, %d admitted;", i, sp.peakRunning.Load(), sp.peakAdmitted.Load())
	}
	var tasks, registered, ran int
	for _, r := range s.records {
		tasks++
		if r.registered {
			registered++
		}
		if r.ran.Load() != 0 {
			ran++
		}
	}
	t.Logf("%s\n%d tasks, %d registered, %d ran; peaks:%s", s.desc, tasks, registered, ran, peaks.String())
	for i, sp := range s.pools {
		var want tally
		for _, j := range sp.subtree {
			want.registered += own[j].registered
			want.succeeded += own[j].succeeded
			want.failed += own[j].failed
		}
		st := sp.p.Stats()
		ledger := uint64(st.Running+st.Pending) + st.Succeeded + st.Failed + st.Canceled + st.Skipped
		if st.Submitted != want.registered || st.Succeeded != want.succeeded || st.Failed != want.failed ||
			st.Skipped != want.registered-want.succeeded-want.failed || st.Running+st.Pending != 0 || st.Canceled != 0 ||
			ledger != st.Submitted {
			t.Errorf("%s: pool %d: Stats %+v; want %d registered, %d succeeded, %d failed, the rest skipped",
				s.desc, i, st, want.registered, want.succeeded, want.failed)
		}
		if sp.limit > 0 && sp.peakRunning.Load() > int64(sp.limit) {
			t.Errorf("%s: pool %d: peak of %d bodies running, limit %d", s.desc, i, sp.peakRunning.Load(), sp.limit)
		}
	}
}
