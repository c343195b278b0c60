package gopool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
	"go.uber.org/goleak"
)

// The helpers below are shared by pool_test.go, task_test.go and
// drain_test.go.

// hasClosed reports, without blocking, whether ch is closed.
func hasClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// currentGoroutineID returns the id of the calling goroutine, as printed at
// the head of its stack trace.
func currentGoroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1] // "goroutine 18 [running]:"
}

// expectGopoolPanic fails t unless f panics with a message that starts with
// "gopool:".
func expectGopoolPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s did not panic", what)
			return
		}
		if msg := fmt.Sprint(r); !strings.HasPrefix(msg, "gopool:") {
			t.Errorf("%s panicked with %q, want a message starting with \"gopool:\"", what, msg)
		}
	}()
	f()
}

// concurrency measures how many task bodies run at once, and the most that
// ever did.
type concurrency struct{ now, peak atomic.Int64 }

func (c *concurrency) enter() {
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *concurrency) leave() { c.now.Add(-1) }

// joinedErrors returns the errors that err joins, or err alone.
func joinedErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// expectJoined fails t unless err joins exactly want, in that order, each
// with its identity, and errors.Is reaches each.
func expectJoined(t *testing.T, err error, want ...error) {
	t.Helper()
	got := joinedErrors(err)
	if len(got) != len(want) {
		t.Fatalf("error %q joins %d errors, want %d", err, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("joined error %d is %q, want %q", i, got[i], want[i])
		}
		if !errors.Is(err, want[i]) {
			t.Errorf("errors.Is(%q, %q) is false", err, want[i])
		}
	}
}

// codeError is a failure type for errors.As.
type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

// succeed is a task that does nothing.
func succeed() *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error { return nil })
}

// failWith is a task that returns err.
func failWith(err error) *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error { return err })
}

// counted is a task that counts its runs in n and returns err.
func counted(n *atomic.Int64, err error) *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error {
		n.Add(1)
		return err
	})
}

// blocking is a task that closes started (if not nil), waits for release,
// and returns err.
func blocking(started, release chan struct{}, err error) *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error {
		if started != nil {
			close(started)
		}
		<-release
		return err
	})
}

func TestGo(t *testing.T) {
	for _, limit := range []int{0, 1, 4} {
		t.Run(fmt.Sprintf("Go under WithLimit(%d) returns while its task still runs, on another goroutine", limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				var taskGoroutine string
				tk := gopool.NewTask(func(gopool.Args[int]) error {
					taskGoroutine = currentGoroutineID()
					<-release
					return nil
				})
				p := gopool.NewPool().WithLimit(limit)
				returned := make(chan struct{})
				var callerGoroutine string
				go func() {
					callerGoroutine = currentGoroutineID()
					p.Go(tk)
					close(returned)
				}()
				synctest.Wait()
				if !hasClosed(returned) {
					t.Error("Go did not return while its task was running: it ran the task itself")
				}
				close(release)
				<-returned
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait: %v", err)
				}
				if taskGoroutine == "" || taskGoroutine == callerGoroutine {
					t.Errorf("task ran on goroutine %q, the caller of Go is %q", taskGoroutine, callerGoroutine)
				}
			})
		})
	}

	t.Run("Go with no tasks is a no-op that starts no batch", func(t *testing.T) {
		p := gopool.NewPool()
		if got := p.Go(); got != p {
			t.Error("Go() did not return its receiver")
		}
		p.WithLimit(2) // would panic if Go() had opened a batch
		if err := p.Wait(); err != nil {
			t.Errorf("Wait after Go() = %v, want nil", err)
		}
	})

	t.Run("the package-level Go runs its tasks on a new pool", func(t *testing.T) {
		var n atomic.Int64
		p := gopool.Go(counted(&n, nil), counted(&n, nil))
		if p == nil {
			t.Fatal("Go returned a nil pool")
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if n.Load() != 2 {
			t.Errorf("%d tasks ran, want 2", n.Load())
		}
	})

	t.Run("Go returns its receiver", func(t *testing.T) {
		p := gopool.NewPool()
		if p.Go(succeed()) != p {
			t.Error("Go did not return its receiver")
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a Worker type that embeds a *Task runs through its own Execute", func(t *testing.T) {
		var ran, overridden atomic.Int64
		w := loggedTask{Task: counted(&ran, nil), executed: &overridden}
		if err := gopool.NewPool().WithRetry(3, 0).Go(w).Wait(); err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if overridden.Load() != 1 || ran.Load() != 1 {
			t.Errorf("Execute override called %d times, task body %d times; want 1 and 1", overridden.Load(), ran.Load())
		}
	})

	t.Run("a Worker that embeds a *Task is no Task to the pool, wherever it stands in Go's arguments", func(t *testing.T) {
		for _, at := range []int{0, 1} {
			// Its drain does not wait for it, even though it feeds one.
			d := gopool.NewDrainer[int]()
			inner := gopool.NewTask(func(a gopool.Args[int]) error {
				a.Drainer.Send(1)
				return nil
			}).DrainTo(d)
			tasks := []gopool.Worker{succeed(), succeed()}
			tasks[at] = embeddedTask{inner}
			if err := gopool.NewPool().Go(tasks...).Wait(); err != nil {
				t.Fatalf("at %d: Wait: %v", at, err)
			}
			if got := d.Count(); got != 1 {
				t.Errorf("at %d: the drain holds %d values, want 1", at, got)
			}
			got := regressWithin(t, fmt.Sprintf("at %d: Drain", at), func() []int { return d.Drain() })
			if len(got) != 1 {
				t.Errorf("at %d: Drain = %v, want [1]", at, got)
			}

			// Nor is one that embeds a nil *Task: it fails when it runs, as
			// a Worker whose Execute panics, and Go does not panic.
			tasks[at] = embeddedTask{}
			err := regressWithin(t, fmt.Sprintf("at %d: Go and Wait", at), func() error {
				return gopool.NewPool().Go(tasks...).Wait()
			})
			if pe := (*gopool.PanicError)(nil); !errors.As(err, &pe) {
				t.Errorf("at %d: Wait = %v, want the *PanicError of its Execute", at, err)
			}
		}
	})

	t.Run("running a task on a pool allocates nothing beyond the task", func(t *testing.T) {
		p := gopool.NewPool()
		tk := succeed()
		p.Go(tk) // starts the batch; the first batch is part of the pool
		if avg := testing.AllocsPerRun(1000, func() { p.Go(tk) }); avg != 0 {
			t.Errorf("Go of a built task allocated %v times per call, want 0", avg)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	})
}

// loggedTask is a user's Worker that wraps a task to add to its Execute.
type loggedTask struct {
	*gopool.Task[int]
	executed *atomic.Int64
}

func (l loggedTask) Execute() error {
	l.executed.Add(1)
	return l.Task.Execute()
}

func TestLimit(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8} {
		t.Run(fmt.Sprintf("with WithLimit(%d) exactly %d task bodies run at once, never more", n, n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				total := 3*n + 2
				var c concurrency
				release := make(chan struct{})
				tasks := make([]gopool.Worker, total)
				for i := range tasks {
					tasks[i] = gopool.NewTask(func(gopool.Args[int]) error {
						c.enter()
						<-release
						c.leave()
						return nil
					})
				}
				p := gopool.NewPool().WithLimit(n)
				produced := make(chan struct{})
				go func() {
					p.Go(tasks...)
					close(produced)
				}()
				for finished := 0; finished < total; finished++ {
					synctest.Wait()
					if got, want := c.now.Load(), int64(min(n, total-finished)); got != want {
						t.Errorf("after %d of %d tasks finished, %d bodies run, want %d", finished, total, got, want)
						break
					}
					release <- struct{}{} // lets exactly one body finish
				}
				close(release)
				<-produced
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait: %v", err)
				}
				if got := c.peak.Load(); got != int64(n) {
					t.Errorf("peak of concurrent bodies = %d, want exactly %d", got, n)
				}
			})
		})
	}

	for _, n := range []int{0, -3} {
		t.Run(fmt.Sprintf("WithLimit(%d) means no limit", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const total = 50
				var c concurrency
				release := make(chan struct{})
				p := gopool.NewPool().WithLimit(n)
				for range total {
					p.Go(gopool.NewTask(func(gopool.Args[int]) error {
						c.enter()
						<-release
						c.leave()
						return nil
					}))
				}
				synctest.Wait()
				if got := c.now.Load(); got != total {
					t.Errorf("%d bodies run at once, want all %d", got, total)
				}
				close(release)
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait: %v", err)
				}
			})
		})
	}

	t.Run("Go blocks while n tasks run, and proceeds when one finishes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(2)
			release := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{})}
			started := []chan struct{}{make(chan struct{}), make(chan struct{}), make(chan struct{})}
			p.Go(blocking(started[0], release[0], nil))
			p.Go(blocking(started[1], release[1], nil))
			returned := make(chan struct{})
			go func() {
				p.Go(blocking(started[2], release[2], nil))
				close(returned)
			}()
			synctest.Wait()
			if hasClosed(returned) {
				t.Error("Go returned while 2 tasks run under WithLimit(2)")
			}
			if hasClosed(started[2]) {
				t.Error("a third task started under WithLimit(2)")
			}
			close(release[1])
			synctest.Wait()
			if !hasClosed(returned) {
				t.Error("Go still blocked after a task finished and freed a slot")
			}
			if !hasClosed(started[2]) {
				t.Error("the task of the unblocked Go did not start")
			}
			close(release[0])
			close(release[2])
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
		})
	})

	t.Run("the limit can change between batches", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool()
			for _, n := range []int{1, 3} {
				var c concurrency
				release := make(chan struct{})
				p.WithLimit(n)
				go p.Go(func() []gopool.Worker {
					ws := make([]gopool.Worker, 2*n)
					for i := range ws {
						ws[i] = gopool.NewTask(func(gopool.Args[int]) error { c.enter(); <-release; c.leave(); return nil })
					}
					return ws
				}()...)
				synctest.Wait()
				if got := c.now.Load(); got != int64(n) {
					t.Errorf("WithLimit(%d): %d bodies run at once", n, got)
				}
				close(release)
				if err := p.Wait(); err != nil {
					t.Fatalf("Wait: %v", err)
				}
			}
		})
	})
}

func TestWait(t *testing.T) {
	t.Run("Wait with nothing registered returns nil", func(t *testing.T) {
		p := gopool.NewPool()
		for range 2 {
			if err := p.Wait(); err != nil {
				t.Errorf("Wait = %v, want nil", err)
			}
		}
	})

	t.Run("Wait blocks until every registered task has finished", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r1, r2 := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().Go(blocking(nil, r1, nil), blocking(nil, r2, nil))
			waited := make(chan struct{})
			go func() {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait: %v", err)
				}
				close(waited)
			}()
			synctest.Wait()
			if hasClosed(waited) {
				t.Fatal("Wait returned while two tasks were running")
			}
			close(r1)
			synctest.Wait()
			if hasClosed(waited) {
				t.Fatal("Wait returned while a task was running")
			}
			close(r2)
			synctest.Wait()
			if !hasClosed(waited) {
				t.Fatal("Wait did not return after every task finished")
			}
		})
	})

	t.Run("a producer that keeps calling Go keeps Wait waiting, in the same batch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var ctx1, ctx2 context.Context
			r1, r2 := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().Go(gopool.NewTask(func(a gopool.Args[int]) error {
				ctx1 = a.Context
				<-r1
				return nil
			}))
			waited := make(chan struct{})
			go func() {
				if err := p.Wait(); err != nil {
					t.Errorf("Wait: %v", err)
				}
				close(waited)
			}()
			synctest.Wait()
			p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				ctx2 = a.Context
				<-r2
				if a.Context.Err() != nil {
					t.Error("the late task's context was done before it returned")
				}
				return nil
			}))
			close(r1)
			synctest.Wait()
			if hasClosed(waited) {
				t.Fatal("Wait returned while a task registered during it still ran")
			}
			close(r2)
			<-waited
			if ctx1 != ctx2 {
				t.Error("a task registered during Wait ran in another batch than the one Wait waited for")
			}
		})
	})

	t.Run("two concurrent Waits on one batch both return its result", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			release := make(chan struct{})
			p := gopool.NewPool().Go(blocking(nil, release, errA))
			results := make(chan error, 2)
			for range 2 {
				go func() { results <- p.Wait() }()
			}
			synctest.Wait()
			close(release)
			for range 2 {
				if err := <-results; err != errA {
					t.Errorf("Wait = %v, want %v", err, errA)
				}
			}
		})
	})
}

func TestWaitErrors(t *testing.T) {
	t.Run("Wait returns nil when every task succeeds", func(t *testing.T) {
		p := gopool.NewPool()
		for range 10 {
			p.Go(succeed())
		}
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
	})

	t.Run("exactly one failure is returned itself, with its identity", func(t *testing.T) {
		want := &codeError{7}
		p := gopool.NewPool().Go(succeed(), succeed(), failWith(want), succeed())
		err := p.Wait()
		if ce, ok := err.(*codeError); !ok || ce != want {
			t.Errorf("Wait = %#v, want the very *codeError returned by the task", err)
		}
	})

	t.Run("several failures are joined in completion order, and errors.Is and errors.As reach each", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA, errC := errors.New("a failed"), errors.New("c failed")
			errB := &codeError{2}
			rA, rB, rC := make(chan struct{}), make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().Go(blocking(nil, rA, errA), blocking(nil, rB, errB), blocking(nil, rC, errC), succeed())
			synctest.Wait()
			for _, r := range []chan struct{}{rB, rC, rA} { // completion order: B, C, A
				close(r)
				synctest.Wait()
			}
			err := p.Wait()
			if err == nil {
				t.Fatal("Wait = nil, want three failures")
			}
			expectJoined(t, err, errB, errC, errA)
			if !strings.HasPrefix(err.Error(), errB.Error()) {
				t.Errorf("message %q does not lead with the first failure %q", err, errB)
			}
			var ce *codeError
			if !errors.As(err, &ce) || ce != errB {
				t.Errorf("errors.As did not reach the *codeError")
			}
		})
	})

	t.Run("a failure is recorded before its slot is released, so under WithLimit(1) the first task's failure leads", func(t *testing.T) {
		errA, errB := errors.New("a"), errors.New("b")
		for range 200 {
			p := gopool.NewPool().WithLimit(1)
			p.Go(failWith(errA), failWith(errB))
			expectJoined(t, p.Wait(), errA, errB)
			if t.Failed() {
				return
			}
		}
	})

	t.Run("an error that echoes the batch's cancellation is dropped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			var started sync.WaitGroup
			started.Add(2)
			echo := gopool.NewTask(func(a gopool.Args[int]) error {
				started.Done()
				<-a.Context.Done()
				return a.Context.Err()
			})
			wrappedEcho := gopool.NewTask(func(a gopool.Args[int]) error {
				started.Done()
				<-a.Context.Done()
				return fmt.Errorf("gave up: %w", a.Context.Err())
			})
			fail := gopool.NewTask(func(gopool.Args[int]) error {
				started.Wait()
				return errA
			})
			err := gopool.NewPool().WithFailFast().Go(echo, wrappedEcho, fail).Wait()
			if err != errA {
				t.Errorf("Wait = %v, want only the failure %v", err, errA)
			}
		})
	})

	t.Run("context.Canceled returned while the batch is live is a failure, not an echo", func(t *testing.T) {
		err := gopool.NewPool().Go(failWith(context.Canceled)).Wait()
		if err != context.Canceled {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
		wrapped := fmt.Errorf("call: %w", context.DeadlineExceeded)
		if err := gopool.NewPool().Go(failWith(wrapped)).Wait(); err != wrapped {
			t.Errorf("Wait = %v, want %v", err, wrapped)
		}
	})

	t.Run("a *PanicError is never an echo, even when its value is the batch's ctx.Err()", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			started := make(chan struct{})
			panicky := gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				panic(a.Context.Err())
			})
			fail := gopool.NewTask(func(gopool.Args[int]) error {
				<-started
				return errA
			})
			err := gopool.NewPool().WithFailFast().Go(panicky, fail).Wait()
			errs := joinedErrors(err)
			if len(errs) != 2 || errs[0] != errA {
				t.Fatalf("Wait = %v, want %v joined with the panic", err, errA)
			}
			var pe *gopool.PanicError
			if !errors.As(errs[1], &pe) || pe.Value != context.Canceled {
				t.Errorf("second failure = %#v, want a *PanicError of context.Canceled", errs[1])
			}
		})
	})
}

func TestBatches(t *testing.T) {
	t.Run("when Wait returns the tasks' context is done, and the next batch has a fresh live context and no old failures", func(t *testing.T) {
		errA := errors.New("a")
		var ctx1, ctx2 context.Context
		p := gopool.NewPool().WithFailFast()
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			ctx1 = a.Context
			if a.Context.Err() != nil {
				t.Error("first batch: context done while the task runs")
			}
			return errA
		}))
		if err := p.Wait(); err != errA {
			t.Fatalf("first Wait = %v, want %v", err, errA)
		}
		if ctx1.Err() == nil || !hasClosed(ctx1.Done()) {
			t.Error("the first batch's context is not done after Wait returned")
		}
		var ran atomic.Int64
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			ctx2 = a.Context
			if a.Context.Err() != nil {
				t.Error("second batch: context done while the task runs")
			}
			ran.Add(1)
			return nil
		}), counted(&ran, nil))
		if err := p.Wait(); err != nil {
			t.Fatalf("second Wait = %v, want nil: a failure was carried over", err)
		}
		if ran.Load() != 2 {
			t.Errorf("%d tasks ran in the batch after a fail-fast one, want 2", ran.Load())
		}
		if ctx2 == ctx1 {
			t.Error("the second batch reused the first batch's context")
		}
		if ctx2.Err() == nil {
			t.Error("the second batch's context is not done after Wait returned")
		}
		goleak.VerifyNone(t)
	})

	for _, limit := range []int{0, 1} {
		t.Run(fmt.Sprintf("under WithLimit(%d) a Go racing with Wait lands in one batch or the next, and runs on a live context", limit), func(t *testing.T) {
			const rounds, producers = 300, 3
			for round := range rounds {
				p := gopool.NewPool().WithLimit(limit)
				p.Go(succeed())
				var ran [producers]atomic.Int64
				errs := make([]error, producers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range producers {
					errs[i] = fmt.Errorf("task %d of round %d", i, round)
					wg.Go(func() {
						<-start
						p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
							if a.Context.Err() != nil {
								t.Errorf("round %d: task %d ran on a done context", round, i)
							}
							ran[i].Add(1)
							return errs[i]
						}))
					})
				}
				close(start)
				w1 := p.Wait()
				wg.Wait()
				w2 := p.Wait()
				for i := range producers {
					if n := ran[i].Load(); n != 1 {
						t.Fatalf("round %d: task %d ran %d times, want once", round, i, n)
					}
					if in1, in2 := errors.Is(w1, errs[i]), errors.Is(w2, errs[i]); in1 == in2 {
						t.Fatalf("round %d: task %d is in the first Wait: %v, in the second: %v; want exactly one", round, i, in1, in2)
					}
				}
			}
			goleak.VerifyNone(t)
		})
	}
}

func TestFailFast(t *testing.T) {
	t.Run("by default a failure does not stop the other tasks", func(t *testing.T) {
		errA := errors.New("a")
		var ran atomic.Int64
		p := gopool.NewPool().WithLimit(1)
		p.Go(failWith(errA), counted(&ran, nil), gopool.NewTask(func(a gopool.Args[int]) error {
			if a.Context.Err() != nil {
				t.Error("a failure cancelled the batch without fail-fast")
			}
			ran.Add(1)
			return nil
		}))
		if err := p.Wait(); err != errA {
			t.Errorf("Wait = %v, want %v", err, errA)
		}
		if ran.Load() != 2 {
			t.Errorf("%d tasks after the failure ran, want 2", ran.Load())
		}
	})

	t.Run("the first failure cancels the batch's context with that failure as its cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			started := make(chan struct{})
			var cause error
			watcher := gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				cause = context.Cause(a.Context)
				return nil
			})
			fail := gopool.NewTask(func(gopool.Args[int]) error {
				<-started
				return errA
			})
			if err := gopool.NewPool().WithFailFast().Go(watcher, fail).Wait(); err != errA {
				t.Errorf("Wait = %v, want %v", err, errA)
			}
			if cause != errA {
				t.Errorf("context.Cause = %v, want %v", cause, errA)
			}
		})
	})

	t.Run("tasks not yet started are skipped", func(t *testing.T) {
		errA := errors.New("a")
		for range 50 {
			var ran atomic.Int64
			p := gopool.NewPool().WithLimit(1).WithFailFast()
			p.Go(failWith(errA), counted(&ran, nil), counted(&ran, nil))
			if err := p.Wait(); err != errA {
				t.Fatalf("Wait = %v, want %v", err, errA)
			}
			if ran.Load() != 0 {
				t.Fatalf("%d tasks started after the failure, want 0", ran.Load())
			}
		}
	})

	t.Run("a blocked Go is woken by fail-fast and its tasks are skipped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			release := make(chan struct{})
			var ran atomic.Int64
			p := gopool.NewPool().WithLimit(1).WithFailFast()
			p.Go(blocking(nil, release, errA))
			returned := make(chan struct{})
			go func() {
				p.Go(counted(&ran, nil), counted(&ran, nil))
				close(returned)
			}()
			synctest.Wait()
			if hasClosed(returned) {
				t.Fatal("Go did not block at the limit")
			}
			close(release)
			synctest.Wait()
			if !hasClosed(returned) {
				t.Fatal("fail-fast did not wake the blocked Go")
			}
			if err := p.Wait(); err != errA {
				t.Errorf("Wait = %v, want %v", err, errA)
			}
			if ran.Load() != 0 {
				t.Errorf("%d tasks of the blocked Go ran, want 0", ran.Load())
			}
		})
	})

	t.Run("a Go after the fail-fast cancellation, in the same batch, never runs its tasks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			cancelled := make(chan struct{})
			watcher := gopool.NewTask(func(a gopool.Args[int]) error {
				<-a.Context.Done()
				close(cancelled)
				return nil
			})
			p := gopool.NewPool().WithFailFast().Go(watcher, failWith(errA))
			<-cancelled
			var ran atomic.Int64
			p.Go(counted(&ran, nil))
			if err := p.Wait(); err != errA {
				t.Errorf("Wait = %v, want %v", err, errA)
			}
			if ran.Load() != 0 {
				t.Error("a task handed to Go after the fail-fast cancellation ran")
			}
		})
	})
}

func TestClose(t *testing.T) {
	t.Run("Close cancels the batch with cause ErrClosed and waits for running tasks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			started, proceed := make(chan struct{}), make(chan struct{})
			var cause error
			p := gopool.NewPool().Go(gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				cause = context.Cause(a.Context)
				<-proceed
				return a.Context.Err()
			}))
			<-started
			closed := make(chan error, 1)
			go func() { closed <- p.Close() }()
			synctest.Wait()
			if len(closed) != 0 {
				t.Fatal("Close returned while a task was still running")
			}
			if cause != gopool.ErrClosed {
				t.Errorf("context.Cause = %v, want ErrClosed", cause)
			}
			close(proceed)
			if err := <-closed; err != nil {
				t.Errorf("Close = %v, want nil: nothing was skipped and the task only echoed the cancellation", err)
			}
		})
	})

	t.Run("Close skips tasks not yet started, also those of a Go blocked at the limit, and joins ErrClosed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			started, proceed := make(chan struct{}), make(chan struct{})
			var ran atomic.Int64
			p := gopool.NewPool().WithLimit(1)
			p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				<-proceed // keeps its slot after the cancellation
				return errA
			}))
			returned := make(chan struct{})
			go func() {
				p.Go(counted(&ran, nil), counted(&ran, nil))
				close(returned)
			}()
			<-started
			synctest.Wait()
			if hasClosed(returned) {
				t.Fatal("Go did not block at the limit")
			}
			closed := make(chan error, 1)
			go func() { closed <- p.Close() }()
			synctest.Wait()
			if !hasClosed(returned) {
				t.Error("Close did not wake the blocked Go while the running task held its slot")
			}
			if len(closed) != 0 {
				t.Error("Close returned while a task was running")
			}
			close(proceed)
			err := <-closed
			if ran.Load() != 0 {
				t.Errorf("%d skipped tasks ran", ran.Load())
			}
			expectJoined(t, err, errA, gopool.ErrClosed)
			if err := p.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		})
		goleak.VerifyNone(t)
	})

	t.Run("Close that skipped nothing returns what Wait would", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := &codeError{1}
			started, release := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().Go(blocking(started, release, errA))
			<-started
			closed := make(chan error, 1)
			go func() { closed <- p.Close() }()
			synctest.Wait()
			close(release)
			if err := <-closed; err != errA {
				t.Errorf("Close = %v, want the task's failure itself", err)
			}
		})
	})

	t.Run("Close on an idle pool returns nil, and so does a later Close", func(t *testing.T) {
		p := gopool.NewPool()
		for i := range 2 {
			if err := p.Close(); err != nil {
				t.Errorf("Close #%d = %v, want nil", i+1, err)
			}
		}
		p = gopool.NewPool().Go(succeed())
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close after Wait = %v, want nil", err)
		}
	})

	t.Run("tasks handed to Go after Close never run, and the next Wait returns ErrClosed once", func(t *testing.T) {
		var ran atomic.Int64
		p := gopool.NewPool()
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if p.Go(counted(&ran, nil)) != p {
			t.Error("Go after Close did not return its receiver")
		}
		p.Go(counted(&ran, nil), counted(&ran, nil))
		if err := p.Wait(); err != gopool.ErrClosed {
			t.Errorf("Wait = %v, want ErrClosed", err)
		}
		if ran.Load() != 0 {
			t.Errorf("%d tasks ran after Close", ran.Load())
		}
		if err := p.Wait(); err != nil {
			t.Errorf("second Wait = %v, want nil", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close after Close = %v, want nil", err)
		}
	})

	t.Run("a Close concurrent with another returns nil only once the running tasks have returned", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			started, release := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool()
			p.Go(gopool.NewTask(func(gopool.Args[int]) error {
				close(started)
				<-release // ignores the cancellation
				return nil
			}))
			<-started
			first, second := make(chan error, 1), make(chan error, 1)
			go func() { first <- p.Close() }()
			synctest.Wait()
			go func() { second <- p.Close() }()
			synctest.Wait()
			if len(second) > 0 {
				t.Fatal("the second Close returned while a task was still running")
			}
			close(release)
			if err := <-first; err != nil {
				t.Errorf("first Close = %v, want nil: it skipped nothing", err)
			}
			if err := <-second; err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
		})
	})

	t.Run("Close leaves no pool goroutine behind", func(t *testing.T) {
		p := gopool.NewPool().WithLimit(2).WithRetry(3, time.Hour)
		started := make(chan struct{}, 4)
		produced := make(chan struct{})
		go func() {
			defer close(produced)
			for range 4 {
				p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					started <- struct{}{}
					<-a.Context.Done()
					return errors.New("retry me")
				}))
			}
		}()
		<-started
		<-started
		if err := p.Close(); !errors.Is(err, gopool.ErrClosed) {
			t.Errorf("Close = %v, want ErrClosed among its errors", err)
		}
		<-produced
		goleak.VerifyNone(t)
	})
}

func TestNewPoolWithContext(t *testing.T) {
	t.Run("when ctx is done running tasks see it, tasks not started are skipped, and every later Wait wraps context.Cause(ctx)", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errParent := errors.New("parent gave up")
			ctx, cancel := context.WithCancelCause(context.Background())
			p := gopool.NewPoolWithContext(ctx).WithLimit(1)
			started, release := make(chan struct{}), make(chan struct{})
			var cause error
			p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				cause = context.Cause(a.Context)
				<-release // keeps its slot after the cancellation
				return a.Context.Err()
			}))
			var ran atomic.Int64
			returned := make(chan struct{})
			go func() {
				p.Go(counted(&ran, nil))
				close(returned)
			}()
			<-started
			synctest.Wait()
			cancel(errParent)
			synctest.Wait()
			if !hasClosed(returned) {
				t.Error("the parent's cancellation did not wake the blocked Go while the running task held its slot")
			}
			close(release)
			if err := p.Wait(); !errors.Is(err, errParent) {
				t.Errorf("Wait = %v, want it to wrap %v", err, errParent)
			}
			if cause != errParent {
				t.Errorf("the running task saw cause %v, want %v", cause, errParent)
			}
			if err := p.Wait(); !errors.Is(err, errParent) {
				t.Errorf("a later empty Wait = %v, want it to wrap %v", err, errParent)
			}
			if err := p.Go(counted(&ran, nil)).Wait(); !errors.Is(err, errParent) {
				t.Errorf("Wait of a later batch = %v, want it to wrap %v", err, errParent)
			}
			if ran.Load() != 0 {
				t.Errorf("%d tasks ran that had not started when ctx was done", ran.Load())
			}
		})
	})

	t.Run("a deadline on ctx ends the batch at that instant, and tasks see the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			want, _ := ctx.Deadline()
			var deadline time.Time
			var hasDeadline bool
			p := gopool.NewPoolWithContext(ctx).Go(gopool.NewTask(func(a gopool.Args[int]) error {
				deadline, hasDeadline = a.Context.Deadline()
				<-a.Context.Done()
				return a.Context.Err()
			}))
			err := p.Wait()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait = %v, want it to wrap context.DeadlineExceeded", err)
			}
			if got := time.Since(start); got != 5*time.Second {
				t.Errorf("Wait returned after %v, want 5s", got)
			}
			if !hasDeadline || !deadline.Equal(want) {
				t.Errorf("task saw deadline %v (%v), want %v", deadline, hasDeadline, want)
			}
		})
	})

	t.Run("with ctx already done nothing runs", func(t *testing.T) {
		errParent := errors.New("parent gave up")
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(errParent)
		var ran atomic.Int64
		err := gopool.NewPoolWithContext(ctx).WithLimit(1).Go(counted(&ran, nil), counted(&ran, nil)).Wait()
		if !errors.Is(err, errParent) {
			t.Errorf("Wait = %v, want it to wrap %v", err, errParent)
		}
		if ran.Load() != 0 {
			t.Errorf("%d tasks ran", ran.Load())
		}
		goleak.VerifyNone(t)
	})

	t.Run("with ctx live tasks see its values and run normally", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, "v")
		var got any
		p := gopool.NewPoolWithContext(ctx).Go(gopool.NewTask(func(a gopool.Args[int]) error {
			got = a.Context.Value(key{})
			return nil
		}))
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
		if got != "v" {
			t.Errorf("task saw value %v, want v", got)
		}
	})

	t.Run("NewPoolWithContext(nil) panics with a gopool: message", func(t *testing.T) {
		expectGopoolPanic(t, "NewPoolWithContext(nil)", func() {
			//lint:ignore SA1012 a nil context is what this test is about
			gopool.NewPoolWithContext(nil)
		})
	})
}

// explodeWith panics with v; its name must show in a PanicError's stack.
//
//go:noinline
func explodeWith(v any) { panic(v) }

func TestPanics(t *testing.T) {
	t.Run("a panic becomes a *PanicError with the value and a stack naming the panicking function", func(t *testing.T) {
		err := gopool.NewPool().Go(gopool.NewTask(func(gopool.Args[int]) error {
			explodeWith("boom")
			return nil
		})).Wait()
		pe, ok := err.(*gopool.PanicError)
		if !ok {
			t.Fatalf("Wait = %#v, want a *PanicError", err)
		}
		if pe.Value != "boom" {
			t.Errorf("Value = %v, want boom", pe.Value)
		}
		if !bytes.Contains(pe.Stack, []byte("explodeWith")) {
			t.Errorf("Stack does not name the panicking function:\n%s", pe.Stack)
		}
		if !strings.Contains(pe.Error(), "boom") {
			t.Errorf("Error() = %q, want it to show the value", pe.Error())
		}
		if pe.Unwrap() != nil {
			t.Errorf("Unwrap of a non-error value = %v, want nil", pe.Unwrap())
		}
	})

	t.Run("a PanicError unwraps to its value when the value is an error", func(t *testing.T) {
		errA := &codeError{3}
		err := gopool.NewPool().Go(gopool.NewTask(func(gopool.Args[int]) error {
			explodeWith(errA)
			return nil
		})).Wait()
		var pe *gopool.PanicError
		if !errors.As(err, &pe) || pe.Unwrap() != errA {
			t.Fatalf("Wait = %v, want a *PanicError unwrapping to %v", err, errA)
		}
		var ce *codeError
		if !errors.Is(err, errA) || !errors.As(err, &ce) || ce != errA {
			t.Errorf("errors.Is/As do not see through the panic to %v", errA)
		}
	})

	t.Run("a panicking task is never retried, by its own policy or the pool's", func(t *testing.T) {
		var own, pooled atomic.Int64
		ownTask := gopool.NewTask(func(gopool.Args[int]) error { own.Add(1); panic("own") }).WithRetry(5, 0)
		pooledTask := gopool.NewTask(func(gopool.Args[int]) error { pooled.Add(1); panic("pooled") })
		worker := &userWorker{panicWith: "user"}
		err := gopool.NewPool().WithRetry(5, 0).Go(ownTask, pooledTask, worker).Wait()
		if own.Load() != 1 || pooled.Load() != 1 || worker.calls.Load() != 1 {
			t.Errorf("panicking tasks ran %d, %d and %d times, want once each", own.Load(), pooled.Load(), worker.calls.Load())
		}
		if n := len(joinedErrors(err)); n != 3 {
			t.Errorf("Wait = %v: %d failures, want 3", err, n)
		}
	})

	t.Run("ten panicking tasks under WithLimit(2) neither deadlock nor disturb the others or the limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) { // a deadlock makes synctest fail at once
			var c concurrency
			var ran atomic.Int64
			p := gopool.NewPool().WithLimit(2)
			for i := range 10 {
				p.Go(gopool.NewTask(func(gopool.Args[int]) error {
					c.enter()
					defer c.leave()
					explodeWith(i)
					return nil
				}), gopool.NewTask(func(gopool.Args[int]) error {
					c.enter()
					defer c.leave()
					ran.Add(1)
					return nil
				}))
			}
			err := p.Wait()
			errs := joinedErrors(err)
			if len(errs) != 10 {
				t.Fatalf("Wait = %v: %d failures, want 10", err, len(errs))
			}
			for _, e := range errs {
				if _, ok := e.(*gopool.PanicError); !ok {
					t.Errorf("failure %v is not a *PanicError", e)
				}
			}
			if ran.Load() != 10 {
				t.Errorf("%d of the 10 other tasks ran", ran.Load())
			}
			if c.peak.Load() > 2 {
				t.Errorf("%d bodies ran at once under WithLimit(2)", c.peak.Load())
			}
			// The limit still holds exactly in the next batch.
			var next concurrency
			release := make(chan struct{})
			body := func(gopool.Args[int]) error { next.enter(); <-release; next.leave(); return nil }
			go p.Go(gopool.NewTask(body), gopool.NewTask(body), gopool.NewTask(body))
			synctest.Wait()
			if got := next.now.Load(); got != 2 {
				t.Errorf("after the panics, %d bodies run at once under WithLimit(2), want 2", got)
			}
			close(release)
			if err := p.Wait(); err != nil {
				t.Errorf("next batch: %v", err)
			}
		})
	})

	t.Run("Execute called directly lets a panic propagate", func(t *testing.T) {
		var calls atomic.Int64
		tk := gopool.NewTask(func(gopool.Args[int]) error {
			calls.Add(1)
			explodeWith("direct")
			return nil
		})
		for _, w := range []gopool.Worker{tk, tk.WithRetry(3, 0)} {
			calls.Store(0)
			func() {
				defer func() {
					if r := recover(); r != "direct" {
						t.Errorf("recovered %v, want the panic value \"direct\"", r)
					}
				}()
				_ = w.Execute()
				t.Error("Execute returned instead of panicking")
			}()
			if calls.Load() != 1 {
				t.Errorf("the panicking function ran %d times, want once", calls.Load())
			}
		}
	})

	t.Run("a task that calls runtime.Goexit fails with a message, and the next task still runs", func(t *testing.T) {
		var ran atomic.Int64
		p := gopool.NewPool().WithLimit(1)
		p.Go(gopool.NewTask(func(gopool.Args[int]) error {
			runtime.Goexit()
			return nil
		}), counted(&ran, nil))
		err := p.Wait()
		if err == nil || err.Error() != "gopool: task called runtime.Goexit" {
			t.Errorf("Wait = %v, want \"gopool: task called runtime.Goexit\"", err)
		}
		if ran.Load() != 1 {
			t.Error("the task after the Goexit did not run")
		}
		goleak.VerifyNone(t)
	})
}

// userWorker is a Worker written by a user: the pool can only call Execute.
type userWorker struct {
	calls     atomic.Int64
	okFrom    int64 // the call from which Execute succeeds; 0 means never
	err       error
	panicWith any
}

func (w *userWorker) Execute() error {
	n := w.calls.Add(1)
	if w.panicWith != nil {
		panic(w.panicWith)
	}
	if w.okFrom > 0 && n >= w.okFrom {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	return fmt.Errorf("call %d failed", n)
}

func (w *userWorker) WithRetry(uint, time.Duration) gopool.Worker { return w }

func TestZeroPoolAndBuilders(t *testing.T) {
	t.Run("the zero Pool is ready to use", func(t *testing.T) {
		var p gopool.Pool
		errA := errors.New("a")
		var ran atomic.Int64
		if err := p.Go(counted(&ran, nil), counted(&ran, nil)).Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
		if err := p.Go(counted(&ran, errA)).Wait(); err != errA {
			t.Errorf("second batch: Wait = %v, want %v", err, errA)
		}
		if ran.Load() != 3 {
			t.Errorf("%d tasks ran, want 3", ran.Load())
		}
		if err := p.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})

	t.Run("the zero Pool is ready for concurrent use from its first call", func(t *testing.T) {
		// Its shared state is made on first use: calls racing to make it
		// must all end up in one pool, whose Wait sees every task.
		for range 100 {
			var p gopool.Pool
			var ran atomic.Int64
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() { p.Go(counted(&ran, nil)) })
			}
			wg.Wait()
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v, want nil", err)
			}
			if got := p.Stats().Submitted; got != 4 || ran.Load() != 4 {
				t.Fatalf("Submitted = %d, %d ran; want 4 and 4", got, ran.Load())
			}
		}
	})

	t.Run("builders mutate and return their receiver", func(t *testing.T) {
		p := gopool.NewPool()
		if p.WithLimit(1) != p || p.WithRetry(2, 0) != p || p.WithFailFast() != p {
			t.Fatal("a builder did not return its receiver")
		}
		// The configuration took effect on p itself.
		errA := errors.New("a")
		var ran atomic.Int64
		w := &userWorker{err: errA}
		if err := p.Go(w, counted(&ran, nil)).Wait(); err != errA {
			t.Errorf("Wait = %v, want %v", err, errA)
		}
		if w.calls.Load() != 2 {
			t.Errorf("WithRetry(2, 0) on the pool: %d calls, want 2", w.calls.Load())
		}
		if ran.Load() != 0 {
			t.Error("WithLimit(1).WithFailFast() on the pool: the task behind the failure ran")
		}
	})

	t.Run("builders panic with a gopool: message while a batch has tasks not yet waited for", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			p := gopool.NewPool().Go(blocking(nil, release, nil))
			check := func(when string) {
				expectGopoolPanic(t, "WithLimit "+when, func() { p.WithLimit(2) })
				expectGopoolPanic(t, "WithRetry "+when, func() { p.WithRetry(2, time.Second) })
				expectGopoolPanic(t, "WithFailFast "+when, func() { p.WithFailFast() })
			}
			check("while a task runs")
			close(release)
			synctest.Wait()
			check("after the tasks finished but before Wait")
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			p.WithLimit(2).WithRetry(2, time.Second).WithFailFast() // allowed again
		})
	})

	t.Run("Go(nil), Go with a nil *Task, NewTask(nil) and DrainTo(nil) panic with a gopool: message", func(t *testing.T) {
		p := gopool.NewPool()
		expectGopoolPanic(t, "Go(nil)", func() { p.Go(nil) })
		expectGopoolPanic(t, "Go((*Task)(nil))", func() { p.Go((*gopool.Task[int])(nil)) })
		expectGopoolPanic(t, "NewTask(nil)", func() { gopool.NewTask[int](nil) })
		expectGopoolPanic(t, "DrainTo(nil)", func() { succeed().DrainTo(nil) })
	})

	t.Run("a Go that panics on a nil task registers none of its tasks", func(t *testing.T) {
		var ran atomic.Int64
		d := gopool.NewDrainer[int]()
		p := gopool.NewPool()
		expectGopoolPanic(t, "Go(task, nil)", func() { p.Go(counted(&ran, nil).DrainTo(d), nil) })
		if err := p.Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
		if got := d.Drain(); got != nil {
			t.Errorf("Drain = %v, want nil", got)
		}
		if ran.Load() != 0 {
			t.Error("a task of the panicking Go ran")
		}
		p.WithLimit(1) // no batch was opened
	})
}

func TestNoGoroutineOutlivesWait(t *testing.T) {
	errA := errors.New("a")
	d := gopool.NewDrainer[int]()
	p := gopool.NewPool().WithLimit(3).WithRetry(2, 0)
	for i := range 20 {
		p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			a.Drainer.Send(i)
			_ = a.Context.Err()
			if i%7 == 0 {
				return errA
			}
			return nil
		}).DrainTo(d))
	}
	if err := p.Wait(); !errors.Is(err, errA) {
		t.Errorf("Wait = %v, want it to wrap %v", err, errA)
	}
	goleak.VerifyNone(t)
	if got := len(d.Drain()); got != 20+3 {
		t.Errorf("drained %d values, want 23", got)
	}
}

func TestWorkersDoNotPileUp(t *testing.T) {
	// A worker that stands by in case a task blocks, or one that yields
	// to a producer likely to submit again, may not have run when the
	// last task ends: the caller and the next pool's worker hand the
	// processor to each other, and it waits behind them.
	for _, limit := range []int{0, 1} {
		t.Run(fmt.Sprintf("pools made per batch under WithLimit(%d) at GOMAXPROCS=1 leave no worker waiting to run after their Wait", limit), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			base := runtime.NumGoroutine()
			for i := range 2000 {
				p := gopool.NewPool().WithLimit(limit)
				p.Go(gopool.NewTask(func(gopool.Args[int]) error { return nil }))
				p.Go(gopool.NewTask(func(gopool.Args[int]) error { return nil }))
				if err := p.Wait(); err != nil {
					t.Fatal(err)
				}
				// A worker that has exited may still be returning.
				if n := runtime.NumGoroutine(); n > base+2 {
					t.Fatalf("after %d batches, %d goroutines are alive, %d before the first", i+1, n, base)
				}
			}
		})
	}
}

// uncomparableError is an error of a type that == cannot compare: two
// values of it panic when compared.
type uncomparableError struct{ parts []string }

func (e uncomparableError) Error() string { return strings.Join(e.parts, ": ") }

func TestWaitWithUncomparableErrors(t *testing.T) {
	t.Run("Wait reports a failure and a context cause of a type == cannot compare, without panicking", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := uncomparableError{[]string{"shutting down"}}
		failure := uncomparableError{[]string{"disk", "full"}}
		started, release := make(chan struct{}), make(chan struct{})
		p := gopool.NewPoolWithContext(ctx)
		p.Go(gopool.NewTask(func(gopool.Args[int]) error { close(started); <-release; return failure }))
		<-started
		cancel(cause)
		close(release)
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("Wait panicked: %v", v)
				}
			}()
			err = p.Wait()
		}()
		var got uncomparableError
		if !errors.As(err, &got) || !strings.Contains(err.Error(), "disk: full") || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("Wait = %v, want the task's failure and the context's cause", err)
		}
	})
}
