package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	gopool "github.com/rubengp99/go-pool"
	"go.uber.org/goleak"
)

// Each test here pins down one defect reported against v0.1.0: it fails on
// that version and passes once the defect is fixed. A test whose defect made
// a call hang waits for it a bounded time and then fails, leaving the stuck
// goroutine behind: the run has failed anyway.

// regressTimeout bounds the wait for a call that hung on v0.1.0.
const regressTimeout = 5 * time.Second

// regressWithin runs f on a goroutine and returns its result, or fails t if
// f has not returned within regressTimeout.
func regressWithin[V any](t *testing.T, what string, f func() V) V {
	t.Helper()
	ch := make(chan V, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(regressTimeout):
		t.Fatalf("%s has not returned after %v: the pool is wedged", what, regressTimeout)
		panic("unreachable")
	}
}

// regressCount returns how many times target itself occurs in err's tree.
func regressCount(err, target error) int {
	if err == nil {
		return 0
	}
	n := 0
	if err == target {
		n++
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			n += regressCount(e, target)
		}
	case interface{ Unwrap() error }:
		n += regressCount(u.Unwrap(), target)
	}
	return n
}

// statusError is a user's error type whose Is method reads its receiver
// before anything else, as such methods usually do: a typed-nil
// *statusError panics when errors.Is asks it.
type statusError struct{ status int }

func (e *statusError) Error() string { return "status error" }

func (e *statusError) Is(target error) bool {
	status := e.status
	t, ok := target.(*statusError)
	return ok && t != nil && t.status == status
}

// ctxEchoError is a user's error that echoes a context it captured: its Is
// method asks that context why it is done.
type ctxEchoError struct{ ctx context.Context }

func (e *ctxEchoError) Error() string { return "stopped early" }

func (e *ctxEchoError) Is(target error) bool { return target == e.ctx.Err() }

// typedNilAfterCancel is a task that closes started, waits for its context
// to be done, and returns a typed-nil *statusError.
func typedNilAfterCancel(started chan struct{}) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		done := a.Context.Done()
		close(started)
		<-done
		var e *statusError
		return e
	})
}

func TestRegressPanickingErrorMethodDoesNotWedgePool(t *testing.T) {
	t.Run("under fail-fast a typed-nil error whose Is method panics becomes its task's failure and the pool stays usable", func(t *testing.T) {
		errB := errors.New("B failed")
		p := gopool.NewPool().WithFailFast()
		started := make(chan struct{})
		p.Go(typedNilAfterCancel(started))
		<-started
		p.Go(failWith(errB))
		err := regressWithin(t, "Wait", p.Wait)
		if err == nil {
			t.Fatal("Wait = nil, want the failures of both tasks")
		}
		if got := joinedErrors(err); got[0] != errB {
			t.Errorf("Wait = %q, want errB first: it failed first", err)
		}
		var pe *gopool.PanicError
		if !errors.As(err, &pe) {
			t.Errorf("Wait = %q, want a *PanicError for the panic in the Is method", err)
		}
		if err := regressWithin(t, "the next batch's Wait", func() error { return p.Go(succeed()).Wait() }); err != nil {
			t.Errorf("the next batch: Wait = %v, want nil", err)
		}
	})

	t.Run("Close returns when a running task's typed-nil error panics in its Is method", func(t *testing.T) {
		p := gopool.NewPool()
		started := make(chan struct{})
		p.Go(typedNilAfterCancel(started))
		<-started
		err := regressWithin(t, "Close", p.Close)
		var pe *gopool.PanicError
		if !errors.As(err, &pe) {
			t.Errorf("Close = %v, want a *PanicError for the panic in the Is method", err)
		}
		regressWithin(t, "Wait after Close", p.Wait)
	})

	t.Run("an error whose Is method asks the task's context does not deadlock the pool", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := gopool.NewPoolWithContext(parent)
		started, release := make(chan struct{}), make(chan struct{})
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			close(started)
			<-release
			return &ctxEchoError{a.Context} // the context is captured, never used here
		}))
		<-started
		cancel()
		close(release)
		err := regressWithin(t, "Wait", p.Wait)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want the parent's cause, context.Canceled", err)
		}
	})
}

func TestRegressGoDuringCloseIsReportedByNextWait(t *testing.T) {
	t.Run("a task handed to Go while Close waits for a running task never runs and the next Wait returns ErrClosed", func(t *testing.T) {
		p := gopool.NewPool()
		started, cancelled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			done := a.Context.Done()
			close(started)
			<-done // Close cancels the batch, then waits for this task
			close(cancelled)
			<-release
			return nil
		}))
		<-started
		closed := make(chan error, 1)
		go func() { closed <- p.Close() }()
		<-cancelled
		var ran atomic.Int64
		p.Go(counted(&ran, nil))
		close(release)
		select {
		case <-closed:
		case <-time.After(regressTimeout):
			t.Fatalf("Close has not returned after %v", regressTimeout)
		}
		if err := p.Wait(); !errors.Is(err, gopool.ErrClosed) {
			t.Errorf("the next Wait = %v, want ErrClosed: a task handed to Go was dropped", err)
		}
		if n := ran.Load(); n != 0 {
			t.Errorf("the task handed to Go during Close ran %d times, want never", n)
		}
	})
}

func TestRegressRelayedErrClosedIsReportedOnce(t *testing.T) {
	t.Run("a never-closed pool whose task fails with ErrClosed reports that failure once and nothing more", func(t *testing.T) {
		var ran atomic.Int64
		p := gopool.NewPool().WithLimit(1).WithFailFast()
		p.Go(failWith(gopool.ErrClosed), counted(&ran, nil))
		err := p.Wait()
		if n := ran.Load(); n != 0 {
			t.Fatalf("the second task ran %d times, want it skipped by fail-fast", n)
		}
		if n := regressCount(err, gopool.ErrClosed); n != 1 {
			t.Errorf("Wait = %q holds ErrClosed %d times, want once: the pool was never closed", err, n)
		}
		if err != gopool.ErrClosed {
			t.Errorf("Wait = %q, want the first task's failure, ErrClosed itself", err)
		}
	})
}

func TestRegressRealFailureJoinedWithCancellationIsKept(t *testing.T) {
	errDisk := errors.New("disk full")

	// closeWhileRunning runs a task that waits for its context to be done
	// and then returns what fail makes of it, closes the pool while the
	// task runs, and returns what Close returns.
	closeWhileRunning := func(fail func(ctx context.Context) error) error {
		p := gopool.NewPool()
		started := make(chan struct{})
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			done := a.Context.Done()
			close(started)
			<-done
			return fail(a.Context)
		}))
		<-started
		return p.Close()
	}

	t.Run("Close reports a failure joined with the context's error", func(t *testing.T) {
		err := closeWhileRunning(func(ctx context.Context) error { return errors.Join(errDisk, ctx.Err()) })
		if !errors.Is(err, errDisk) {
			t.Errorf("Close = %v, want errDisk among its errors: it is a real failure, not an echo", err)
		}
	})

	t.Run("under fail-fast Wait reports a failure joined with the context's error", func(t *testing.T) {
		errB := errors.New("B failed")
		p := gopool.NewPool().WithFailFast()
		started := make(chan struct{})
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			done := a.Context.Done()
			close(started)
			<-done
			return errors.Join(errDisk, a.Context.Err())
		}))
		<-started
		err := p.Go(failWith(errB)).Wait()
		if !errors.Is(err, errB) || !errors.Is(err, errDisk) {
			t.Errorf("Wait = %v, want both errB and errDisk among its errors", err)
		}
	})

	t.Run("an error that only wraps the context's error is still an echo, not a failure", func(t *testing.T) {
		err := closeWhileRunning(func(ctx context.Context) error { return fmt.Errorf("stopping: %w", ctx.Err()) })
		if err != nil {
			t.Errorf("Close = %v, want nil: the task only echoed the cancellation and nothing was skipped", err)
		}
	})
}

func TestRegressWrappedPermanentLosesItsMarkAfterWait(t *testing.T) {
	t.Run("an error that Wait returned from a wrapped Permanent is retried by a task that returns it", func(t *testing.T) {
		errX := errors.New("x")
		err := gopool.NewPool().Go(failWith(fmt.Errorf("op: %w", gopool.Permanent(errX)))).Wait()
		if !errors.Is(err, errX) {
			t.Errorf("inner Wait = %v, want it to wrap errX", err)
		}
		if want := "op: " + errX.Error(); err == nil || err.Error() != want {
			t.Errorf("inner Wait = %v, want the message %q", err, want)
		}
		var tries atomic.Int64
		relay := gopool.NewTask(func(gopool.Args[int]) error {
			tries.Add(1)
			return err
		}).WithRetry(3, 0)
		outerErr := gopool.NewPool().Go(relay).Wait()
		if n := tries.Load(); n != 3 {
			t.Errorf("the relaying task was tried %d times, want 3: the Permanent mark outlived the inner Wait", n)
		}
		if !errors.Is(outerErr, errX) {
			t.Errorf("outer Wait = %v, want it to wrap errX", outerErr)
		}
	})
}

// embeddedTask is a user's Worker that embeds a *Task.
type embeddedTask struct{ *gopool.Task[int] }

func TestRegressEmbeddedTaskRetriesByItsOwnPolicyOnly(t *testing.T) {
	for _, c := range []struct{ pool, task uint }{{3, 3}, {5, 2}} {
		t.Run(fmt.Sprintf("a Worker embedding a Task with WithRetry(%d) in a pool with WithRetry(%d) is tried %d times", c.task, c.pool, c.task), func(t *testing.T) {
			errA := errors.New("always fails")
			var tries atomic.Int64
			task := gopool.NewTask(func(gopool.Args[int]) error {
				tries.Add(1)
				return errA
			})
			task.WithRetry(c.task, 0)
			err := gopool.NewPool().WithRetry(c.pool, 0).Go(embeddedTask{task}).Wait()
			if n := tries.Load(); n != int64(c.task) {
				t.Errorf("the task was tried %d times, want %d: its own policy wins, the pool's does not multiply it", n, c.task)
			}
			if err != errA {
				t.Errorf("Wait = %v, want errA itself", err)
			}
		})
	}
}

const (
	heavyFailures = 1000
	heavyPayload  = 64 << 10
)

// heavyError is a failure that holds a large payload.
type heavyError struct{ payload []byte }

func (e *heavyError) Error() string { return fmt.Sprintf("failed holding %d bytes", len(e.payload)) }

// failHeavily runs heavyFailures failing tasks on p, each failure holding
// heavyPayload bytes, waits for them, drops Wait's error, and returns a weak
// pointer to one of the payloads.
func failHeavily(t *testing.T, p *gopool.Pool) weak.Pointer[[heavyPayload]byte] {
	t.Helper()
	tracked := make(chan weak.Pointer[[heavyPayload]byte], 1)
	tasks := make([]gopool.Worker, heavyFailures)
	for i := range tasks {
		tasks[i] = gopool.NewTask(func(gopool.Args[int]) error {
			payload := new([heavyPayload]byte)
			if i == 0 {
				tracked <- weak.Make(payload)
			}
			return &heavyError{payload[:]}
		})
	}
	if n := len(joinedErrors(p.Go(tasks...).Wait())); n != heavyFailures {
		t.Fatalf("Wait joined %d failures, want %d", n, heavyFailures)
	}
	return <-tracked
}

// expectCollected fails t unless the payload wp points to is collected by
// the garbage collector: at once, or within a second, since goroutines that
// the pool started may take a moment to exit.
func expectCollected(t *testing.T, wp weak.Pointer[[heavyPayload]byte]) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for range 2 {
		runtime.GC()
	}
	for wp.Value() != nil {
		if time.Now().After(deadline) {
			t.Fatal("a failure of a batch already waited for is still reachable after garbage collection")
		}
		runtime.Gosched()
		runtime.GC()
	}
}

func TestRegressFailuresAreReleasedAfterWait(t *testing.T) {
	t.Run("the failures of a batch are released once Wait returns and its error is dropped", func(t *testing.T) {
		p := gopool.NewPool()
		wp := failHeavily(t, p)
		expectCollected(t, wp)
		runtime.KeepAlive(p)
	})

	t.Run("the failures of the first batch are released once the next batch runs", func(t *testing.T) {
		p := gopool.NewPool()
		wp := failHeavily(t, p)
		if err := p.Go(succeed()).Wait(); err != nil {
			t.Fatalf("second batch: Wait = %v, want nil", err)
		}
		expectCollected(t, wp)
		runtime.KeepAlive(p)
	})
}

// chanContext is a context.Context of a type foreign to the context
// package: it is done once its channel is closed.
type chanContext struct{ done chan struct{} }

func (c chanContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c chanContext) Done() <-chan struct{}       { return c.done }
func (c chanContext) Value(any) any               { return nil }

func (c chanContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

func TestRegressNoGoroutineOutlivesWait(t *testing.T) {
	for _, limit := range []int{0, 2} {
		t.Run(fmt.Sprintf("under WithLimit(%d) no task runs once Wait returns and the pool's goroutines exit", limit), func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			const n = 50
			errOdd := errors.New("odd")
			var running atomic.Int64
			results := make([]int, n) // written by tasks, read after Wait without a lock
			p := gopool.NewPool().WithLimit(limit)
			for i := range n {
				p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					running.Add(1)
					defer running.Add(-1)
					results[i] = i + 1
					if i%2 == 1 {
						return errOdd
					}
					return a.Context.Err()
				}))
			}
			err := p.Wait()
			if r := running.Load(); r != 0 {
				t.Errorf("%d tasks still running after Wait returned", r)
			}
			if got := len(joinedErrors(err)); got != n/2 {
				t.Errorf("Wait joined %d failures, want %d", got, n/2)
			}
			for i, r := range results {
				if r != i+1 {
					t.Errorf("task %d did not finish before Wait returned", i)
				}
			}
			goleak.VerifyNone(t, before)
		})
	}

	for _, cancelParent := range []bool{false, true} {
		name := "a pool whose parent context of a foreign type is never done leaves no goroutine behind once waited for"
		if cancelParent {
			name = "a pool whose parent context of a foreign type is done during the batch leaves no goroutine behind once waited for"
		}
		t.Run(name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			parent := chanContext{make(chan struct{})}
			p := gopool.NewPoolWithContext(parent)
			started := make(chan struct{})
			p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				if cancelParent {
					<-a.Context.Done()
				}
				return nil
			}))
			<-started
			if cancelParent {
				close(parent.done)
			}
			err := p.Wait()
			if cancelParent != errors.Is(err, context.Canceled) {
				t.Errorf("Wait = %v; the parent is done: %v", err, cancelParent)
			}
			goleak.VerifyNone(t, before)
		})
	}
}
