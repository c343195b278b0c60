package gopool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// Each test here is one way of misusing the pool, with its documented
// outcome.

// mustPanicGopool runs f and fails unless it panics with a message that
// starts with "gopool:" and mentions want.
func mustPanicGopool(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		v := recover()
		msg := fmt.Sprint(v)
		if v == nil || !strings.HasPrefix(msg, "gopool:") || !strings.Contains(msg, want) {
			t.Errorf("panic value %#v; want a message starting with \"gopool:\" that mentions %q", v, want)
		}
	}()
	f()
}

func okTask(ran *atomic.Int64) gopool.Worker {
	return gopool.NewTask(func(gopool.Args[int]) error { ran.Add(1); return nil })
}

func TestMisuseNilWorkers(t *testing.T) {
	var ran atomic.Int64
	p := gopool.NewPool()
	mustPanicGopool(t, "nil", func() { p.Go(nil) })
	mustPanicGopool(t, "nil", func() { p.Go((*gopool.Task[int])(nil)) })
	mustPanicGopool(t, "nil", func() { gopool.Go(nil) })
	mustPanicGopool(t, "nil", func() { gopool.NewTask[int](nil) })
	//lint:ignore SA1012 passing a nil context is the misuse under test
	mustPanicGopool(t, "nil", func() { gopool.NewPoolWithContext(nil) })
	// A Go call with a nil among valid tasks panics too, and leaves the
	// pool usable: its Wait returns, the next batch runs.
	mustPanicGopool(t, "nil", func() { p.Go(okTask(&ran), nil) })
	if err := p.Wait(); err != nil {
		t.Errorf("Wait after a panicking Go = %v", err)
	}
	if err := p.Go(okTask(&ran)).Wait(); err != nil {
		t.Errorf("the next batch: Wait = %v", err)
	}
	if ran.Load() < 1 {
		t.Errorf("the next batch's task did not run")
	}
	// Go with no task is a no-op: it starts no batch, so the pool may
	// still be configured.
	p.Go()
	p.WithLimit(2)
	if err := p.Wait(); err != nil {
		t.Errorf("Wait after Go() = %v", err)
	}
}

func TestMisuseConfigureDuringBatch(t *testing.T) {
	release := make(chan struct{})
	p := gopool.NewPool()
	p.Go(gopool.NewTask(func(gopool.Args[int]) error { <-release; return nil }))
	mustPanicGopool(t, "WithLimit", func() { p.WithLimit(2) })
	mustPanicGopool(t, "WithRetry", func() { p.WithRetry(3, 0) })
	mustPanicGopool(t, "WithFailFast", func() { p.WithFailFast() })
	close(release)
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	// Between batches, the builders work and return their receiver.
	if p.WithLimit(2) != p || p.WithRetry(2, 0) != p || p.WithFailFast() != p {
		t.Errorf("a builder did not return its receiver")
	}
}

func TestMisuseWaitTwice(t *testing.T) {
	errA := errors.New("A")
	p := gopool.Go(gopool.NewTask(func(gopool.Args[int]) error { return errA }))
	if err := p.Wait(); err != errA {
		t.Errorf("first Wait = %v, want %v itself", err, errA)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("second Wait = %v, want nil: the batch ended, nothing is registered", err)
	}
	// The zero pool, never used.
	var zero gopool.Pool
	if err := zero.Wait(); err != nil {
		t.Errorf("Wait on the zero Pool = %v", err)
	}
}

func TestMisuseConcurrentWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("A")
		release := make(chan struct{})
		p := gopool.Go(gopool.NewTask(func(gopool.Args[int]) error { <-release; return errA }))
		var errs [2]error
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = p.Wait() })
		}
		synctest.Wait() // both Waits are blocked on the same batch
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != errA {
				t.Errorf("Wait #%d = %v, want %v itself", i, err, errA)
			}
		}
	})
}

func TestMisuseCloseTwice(t *testing.T) {
	var unused gopool.Pool
	if err := unused.Close(); err != nil {
		t.Errorf("Close of an unused pool = %v", err)
	}
	if err := unused.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	started := make(chan struct{})
	p := gopool.Go(gopool.NewTask(func(gopool.Args[int]) error { close(started); return nil }))
	<-started
	if err := p.Close(); err != nil {
		t.Errorf("Close that skipped nothing = %v, want nil", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}

	// Close that skips a task: ErrClosed once, then nil.
	synctest.Test(t, func(t *testing.T) {
		p := gopool.NewPool().WithLimit(1)
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error { <-a.Context.Done(); return a.Context.Err() }))
		go p.Go(gopool.NewTask(func(gopool.Args[int]) error { t.Error("a skipped task ran"); return nil }))
		synctest.Wait() // the second Go is blocked at the limit
		if err := p.Close(); err != gopool.ErrClosed {
			t.Errorf("Close = %v, want ErrClosed alone", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
		if err := p.Wait(); err != nil {
			t.Errorf("Wait after Close = %v, want nil: Close reported the skip", err)
		}
	})
}

func TestMisuseGoAfterClose(t *testing.T) {
	var ran atomic.Int64
	d := gopool.NewDrainer[int]()
	p := gopool.NewPool()
	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	p.Go(okTask(&ran), gopool.NewTask(func(a gopool.Args[int]) error { a.Drainer.Send(1); return nil }).DrainTo(d))
	if got := d.Drain(); got != nil {
		t.Errorf("Drain of a drain fed only after Close = %v, want nil at once", got)
	}
	if err := p.Wait(); err != gopool.ErrClosed {
		t.Errorf("Wait = %v, want ErrClosed itself", err)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("the next Wait = %v, want nil: ErrClosed is reported once", err)
	}
	if ran.Load() != 0 {
		t.Errorf("a task handed to Go after Close ran")
	}
}

// TestMisuseCloseConcurrently races Close with Go and Wait: no deadlock, no
// task starts once Close has returned, and whatever was cut short is
// reported as ErrClosed by Close or by a Wait.
func TestMisuseCloseConcurrently(t *testing.T) {
	for round := range 50 {
		const n = 200
		var ran atomic.Int64
		var closed atomic.Bool
		var errs []error
		var mu sync.Mutex
		report := func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
		p := gopool.NewPool().WithLimit(1 + round%3)
		task := gopool.NewTask(func(gopool.Args[int]) error {
			if closed.Load() {
				t.Error("a task started after Close returned")
			}
			if ran.Add(1)%7 == 0 {
				runtime.Gosched()
			}
			return nil
		})
		var wg sync.WaitGroup
		wg.Go(func() {
			for range n {
				p.Go(task)
			}
		})
		wg.Go(func() {
			for range 20 {
				report(p.Wait())
				runtime.Gosched()
			}
		})
		wg.Go(func() {
			for ran.Load() < int64(round) {
				runtime.Gosched()
			}
			report(p.Close())
			closed.Store(true)
		})
		wg.Wait()
		report(p.Wait())
		var closedErrs int
		for _, err := range errs {
			switch {
			case err == nil:
			case err == gopool.ErrClosed:
				closedErrs++
			default:
				t.Errorf("round %d: unexpected error %v", round, err)
			}
		}
		if skipped := n - ran.Load(); skipped > 0 && closedErrs == 0 {
			t.Errorf("round %d: %d tasks never ran, but no ErrClosed was reported", round, skipped)
		}
		if ran.Load() > n {
			t.Errorf("round %d: %d tries of %d tasks", round, ran.Load(), n)
		}
	}
}

func TestMisuseDrainNobodyFeeds(t *testing.T) {
	d := gopool.NewDrainer[int]()
	if got := d.Drain(); got != nil || d.Count() != 0 {
		t.Errorf("Drain of a new drain = %#v (Count %d), want nil at once", got, d.Count())
	}
	var zero gopool.Drain[string]
	if got := zero.Drain(); got != nil {
		t.Errorf("Drain of the zero Drain = %#v, want nil", got)
	}
	// Sent without any task: returned at once, and the caller owns the copy.
	d.Send(1)
	d.Send(2)
	got := d.Drain()
	got[0] = 99
	if again := d.Drain(); len(again) != 2 || again[0] != 1 || again[1] != 2 {
		t.Errorf("Drain after changing an earlier result = %v, want [1 2]", again)
	}
}

func TestMisuseNilDrain(t *testing.T) {
	mustPanicGopool(t, "nil", func() {
		gopool.NewTask(func(gopool.Args[int]) error { return nil }).DrainTo(nil)
	})
}

// failingTask counts its tries and always fails with err.
func failingTask(tries *atomic.Int64, err error) *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error { tries.Add(1); return err })
}

func TestMisuseRetryZero(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("A")
		start := time.Now()
		for _, attempts := range []uint{0, 1} {
			var tries atomic.Int64
			if err := gopool.Go(failingTask(&tries, errA).WithRetry(attempts, 0)).Wait(); err != errA {
				t.Errorf("task WithRetry(%d, 0): Wait = %v, want %v", attempts, err, errA)
			}
			if tries.Load() != 1 {
				t.Errorf("task WithRetry(%d, 0): %d tries, want 1", attempts, tries.Load())
			}
			tries.Store(0)
			if err := gopool.NewPool().WithRetry(attempts, time.Second).Go(failingTask(&tries, errA)).Wait(); err != errA {
				t.Errorf("pool WithRetry(%d, 1s): Wait = %v, want %v", attempts, err, errA)
			}
			if tries.Load() != 1 {
				t.Errorf("pool WithRetry(%d, 1s): %d tries, want 1", attempts, tries.Load())
			}
			tries.Store(0)
			if err := failingTask(&tries, errA).WithRetry(attempts, time.Second).Execute(); err != errA || tries.Load() != 1 {
				t.Errorf("Execute with WithRetry(%d, 1s) = %v after %d tries, want %v after 1", attempts, err, tries.Load(), errA)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("one try took %v of (fake) time: it waited", d)
		}
	})
}

func TestMisuseNegativeSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("A")
		start := time.Now()
		var tries atomic.Int64
		if err := gopool.Go(failingTask(&tries, errA).WithRetry(3, -time.Hour)).Wait(); err != errA || tries.Load() != 3 {
			t.Errorf("task WithRetry(3, -1h): Wait = %v after %d tries, want %v after 3", err, tries.Load(), errA)
		}
		tries.Store(0)
		if err := gopool.NewPool().WithRetry(4, math.MinInt64).Go(failingTask(&tries, errA)).Wait(); err != errA || tries.Load() != 4 {
			t.Errorf("pool WithRetry(4, MinInt64): Wait = %v after %d tries, want %v after 4", err, tries.Load(), errA)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("negative sleeps waited %v of (fake) time, want 0", d)
		}
	})
}

// TestMisuseRetryForever: WithRetry(math.MaxUint, sleep) never overflows its
// waits, however many tries, and ends at once when the context is done.
func TestMisuseRetryForever(t *testing.T) {
	// (Sleeps so long that 200 waits overflow the clock itself are left to
	// FuzzBackoff, which checks the pure computation.)
	for _, tc := range []struct {
		name  string
		sleep time.Duration
		cap   time.Duration // max(sleep, time.Minute)
	}{
		{"day", 24 * time.Hour, 24 * time.Hour},             // sleep above a minute: the cap is sleep
		{"millisecond", time.Millisecond, time.Minute},      // the cap is a minute
		{"nanosecond", time.Nanosecond, time.Minute},        // 2^199 ns would overflow anything
		{"just-under-cap", time.Minute - 1, time.Minute},    // waits start near the cap
		{"just-over-cap", time.Minute + 1, time.Minute + 1}, // the cap is sleep
	} {
		for _, stop := range []string{"close", "cancel"} {
			t.Run(tc.name+"/"+stop, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { retryForever(t, tc.sleep, tc.cap, stop) })
			})
		}
	}
}

// retryForever checks that every wait is within [0, hi], and at least hi/2
// once the base wait sleep*2^(k-1) is far past the cap: however many tries,
// the wait neither overflows nor collapses.
func retryForever(t *testing.T, sleep, hi time.Duration, stop string) {
	const tries = 200 // well past 64 doublings
	errA := errors.New("A")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	cause := errors.New("stop retrying")
	p := gopool.NewPoolWithContext(ctx)
	var times []time.Time
	reached := make(chan struct{})
	p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
		times = append(times, time.Now())
		if a.Attempt != len(times) {
			t.Errorf("Attempt = %d on try %d", a.Attempt, len(times))
		}
		if len(times) == tries {
			close(reached)
		}
		return errA
	}).WithRetry(math.MaxUint, sleep))
	<-reached
	synctest.Wait() // the task waits before try tries+1
	stopAt := time.Now()
	var err error
	var want error
	if stop == "close" {
		err, want = p.Close(), errA
	} else {
		cancel(cause)
		err, want = p.Wait(), errors.Join(errA, cause)
	}
	if d := time.Since(stopAt); d != 0 {
		t.Errorf("the task ended %v after its context was done, want at once", d)
	}
	if err == nil || err.Error() != want.Error() || !errors.Is(err, errA) {
		t.Errorf("result = %q, want %q", err, want)
	}
	if len(times) != tries {
		t.Errorf("%d tries, want %d: a try ran after the context was done", len(times), tries)
	}
	for k := 1; k < len(times); k++ {
		w := times[k].Sub(times[k-1])
		if w < 0 || w > hi {
			t.Fatalf("wait before try %d = %v, outside [0, %v]", k+1, w, hi)
		}
		if k > 70 && w < hi/2 {
			t.Fatalf("wait before try %d = %v, want at least %v once the base passed the cap", k+1, w, hi/2)
		}
	}
}

func TestMisuseGoexit(t *testing.T) {
	for _, limit := range []int{0, 1} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var ran, exits atomic.Int64
			d := gopool.NewDrainer[int]()
			goexit := func() gopool.Worker {
				return gopool.NewTask(func(a gopool.Args[int]) error {
					exits.Add(1)
					a.Drainer.Send(-1)
					runtime.Goexit()
					return nil
				}).DrainTo(d).WithRetry(5, 0) // not retried: it neither returned nor panicked
			}
			p := gopool.NewPool().WithLimit(limit)
			// Under WithLimit(1), these Go calls block until the Goexit
			// tasks free their slot.
			p.Go(goexit(), okTask(&ran), okTask(&ran))
			p.Go(goexit(), okTask(&ran), goexit())
			err := p.Wait()
			if ran.Load() != 3 || exits.Load() != 3 {
				t.Errorf("%d ok tasks and %d Goexit tries ran, want 3 and 3", ran.Load(), exits.Load())
			}
			gs := leaves(err)
			if len(gs) != 3 {
				t.Fatalf("Wait = %q, want 3 failures", err)
			}
			for _, g := range gs {
				if g.Error() != goexitMsg {
					t.Errorf("failure %q, want %q", g, goexitMsg)
				}
			}
			if got := d.Drain(); len(got) != 3 {
				t.Errorf("Drain = %v, want the 3 values sent before Goexit", got)
			}
			// The pool keeps working.
			if err := p.Go(okTask(&ran), okTask(&ran)).Wait(); err != nil || ran.Load() != 5 {
				t.Errorf("next batch: Wait = %v, %d ran", err, ran.Load())
			}
		})
	}
}

func TestMisusePanicValues(t *testing.T) {
	sentinel := errors.New("sentinel")
	var tries atomic.Int64
	panicking := func(v any) gopool.Worker {
		return gopool.NewTask(func(gopool.Args[int]) error {
			tries.Add(1)
			panic(v)
		}).WithRetry(3, 0) // a panic is never retried
	}

	t.Run("nil", func(t *testing.T) {
		tries.Store(0)
		err := gopool.NewPool().WithLimit(1).Go(panicking(nil)).Wait()
		var pe *gopool.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("Wait = %v, want a *PanicError", err)
		}
		if _, ok := pe.Value.(*runtime.PanicNilError); !ok {
			t.Errorf("PanicError.Value = %#v, want a *runtime.PanicNilError", pe.Value)
		}
		var pne *runtime.PanicNilError
		if !errors.As(err, &pne) {
			t.Errorf("errors.As does not reach the *runtime.PanicNilError through PanicError.Unwrap")
		}
		if tries.Load() != 1 {
			t.Errorf("%d tries, want 1", tries.Load())
		}
	})

	t.Run("error", func(t *testing.T) {
		tries.Store(0)
		err := gopool.Go(panicking(sentinel)).Wait()
		if !errors.Is(err, sentinel) {
			t.Errorf("errors.Is(%v, sentinel) = false: PanicError.Unwrap must reach it", err)
		}
		var pe *gopool.PanicError
		if !errors.As(err, &pe) || pe.Value != sentinel {
			t.Fatalf("Wait = %#v, want a *PanicError with Value sentinel", err)
		}
		if !bytes.Contains(pe.Stack, []byte("TestMisusePanicValues")) {
			t.Errorf("PanicError.Stack does not show the panicking function:\n%s", pe.Stack)
		}
		if tries.Load() != 1 {
			t.Errorf("%d tries, want 1", tries.Load())
		}
	})

	t.Run("value", func(t *testing.T) {
		err := gopool.Go(panicking("boom")).Wait()
		var pe *gopool.PanicError
		if !errors.As(err, &pe) || pe.Value != "boom" || pe.Unwrap() != nil {
			t.Errorf("Wait = %#v, want a *PanicError with Value \"boom\" and no Unwrap", err)
		}
		if !strings.Contains(err.Error(), "boom") {
			t.Errorf("message %q does not show the value", err)
		}
	})

	t.Run("execute", func(t *testing.T) {
		defer func() {
			if v := recover(); v != sentinel {
				t.Errorf("Execute recovered %v, want the panic to propagate with sentinel", v)
			}
		}()
		panicking(sentinel).Execute()
		t.Error("Execute returned")
	})
}

// TestMisusePanicNilOldGODEBUG: with GODEBUG=panicnil=1 (the default for a
// main module whose go.mod says go 1.20 or older) recover returns nil for
// panic(nil), yet the panic is over. The pool must still count the task
// once, as a failure, and Wait must not return while other tasks run.
func TestMisusePanicNilOldGODEBUG(t *testing.T) {
	if os.Getenv("GOPOOL_MISUSE_HELPER") == "panicnil" {
		panicNilHelper(t)
		return
	}
	out, err := runHelper(t, "TestMisusePanicNilOldGODEBUG", "GOPOOL_MISUSE_HELPER=panicnil", "GODEBUG=panicnil=1")
	if err != nil {
		t.Errorf("under GODEBUG=panicnil=1: %v\n%s", err, out)
	}
}

func panicNilHelper(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ran atomic.Int64
		release := make(chan struct{})
		p := gopool.NewPool()
		p.Go(gopool.NewTask(func(gopool.Args[int]) error { panic(nil) }))
		for range 3 {
			p.Go(gopool.NewTask(func(gopool.Args[int]) error { <-release; ran.Add(1); return nil }))
		}
		synctest.Wait()
		var err error
		waited := make(chan struct{})
		go func() { err = p.Wait(); close(waited) }()
		for i := range 3 {
			release <- struct{}{}
			synctest.Wait()
			select {
			case <-waited:
				if i < 2 {
					t.Errorf("Wait returned after %d of 3 tasks finished", i+1)
				}
			default:
			}
		}
		<-waited
		if ran.Load() != 3 {
			t.Errorf("%d of 3 tasks ran", ran.Load())
		}
		if err == nil || err.Error() == goexitMsg {
			t.Errorf("Wait = %v: the nil panic is reported as missing or as a Goexit", err)
		}
	})
}
