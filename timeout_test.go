package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// ctxLog records, for each try of a task, when it started, the deadline its
// context reported, and when and why the context was done.
type ctxLog struct {
	start, done []time.Time
	deadline    []time.Time // zero if the context reported none
	err, cause  []error
}

// awaiting returns a task whose every try waits for its context and returns
// ret(ctx), logging the try in l.
func (l *ctxLog) awaiting(ret func(ctx context.Context) error) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		l.start = append(l.start, time.Now())
		dl, _ := a.Context.Deadline()
		l.deadline = append(l.deadline, dl)
		<-a.Context.Done()
		l.done = append(l.done, time.Now())
		l.err = append(l.err, a.Context.Err())
		l.cause = append(l.cause, context.Cause(a.Context))
		return ret(a.Context)
	})
}

func ctxErr(ctx context.Context) error { return ctx.Err() }

func TestTimeout(t *testing.T) {
	t.Run("a try's context is done d after the try starts, with cause ErrTimeout, and reports that deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			start := time.Now()
			p := gopool.NewPool()
			err := p.Go(l.awaiting(ctxErr).WithTimeout(5 * time.Second)).Wait()
			if len(l.start) != 1 || !l.start[0].Equal(start) {
				t.Fatalf("%d tries, want 1 at once", len(l.start))
			}
			if want := start.Add(5 * time.Second); !l.deadline[0].Equal(want) || !l.done[0].Equal(want) {
				t.Errorf("deadline %v, done at %v; want both at the start plus 5s, %v", l.deadline[0], l.done[0], want)
			}
			if l.err[0] != context.DeadlineExceeded || l.cause[0] != gopool.ErrTimeout {
				t.Errorf("Err %v, Cause %v; want %v and %v", l.err[0], l.cause[0], context.DeadlineExceeded, gopool.ErrTimeout)
			}
			if !errors.Is(err, gopool.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != "context deadline exceeded" {
				t.Errorf("Wait = %q, want the context's error, in which errors.Is finds ErrTimeout", err)
			}
			if s := p.Stats(); s.Failed != 1 || s.Canceled != 0 {
				t.Errorf("Stats = %+v, want the try counted as failed, not canceled", s)
			}
		})
	})

	t.Run("a try that timed out is retried under the task's policy, each try with its own d", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			start := time.Now()
			p := gopool.NewPool()
			err := p.Go(l.awaiting(ctxErr).WithTimeout(5*time.Second).WithRetry(3, time.Second)).Wait()
			if len(l.start) != 3 || !errors.Is(err, gopool.ErrTimeout) {
				t.Fatalf("%d tries, Wait = %v; want 3 and a timeout", len(l.start), err)
			}
			for i := range l.start {
				if d := l.done[i].Sub(l.start[i]); d != 5*time.Second || !l.deadline[i].Equal(l.start[i].Add(5*time.Second)) {
					t.Errorf("try %d: done %v after it started, deadline %v; want 5s and its start plus 5s", i+1, d, l.deadline[i])
				}
			}
			for i, w := range []struct{ lo, hi time.Duration }{{time.Second / 2, 3 * time.Second / 2}, {time.Second, 3 * time.Second}} {
				if gap := l.start[i+1].Sub(l.done[i]); gap < w.lo || gap >= w.hi {
					t.Errorf("wait before try %d = %v, want the backoff, within [%v, %v)", i+2, gap, w.lo, w.hi)
				}
			}
			if last := l.done[2]; !time.Now().Equal(last) || !l.start[0].Equal(start) {
				t.Errorf("Wait returned %v after the last timeout, want at once", time.Since(last))
			}
			if s := p.Stats(); s.Retries != 2 || s.Failed != 1 {
				t.Errorf("Stats = %+v, want 2 retries and 1 failure", s)
			}
		})
	})

	t.Run("an error that wraps the context's error keeps its message, and errors.Is finds ErrTimeout in it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			err := gopool.Go(l.awaiting(func(ctx context.Context) error {
				return &wrapError{"fetch", ctx.Err()}
			}).WithTimeout(time.Second)).Wait()
			var we *wrapError
			if err == nil || err.Error() != "fetch: context deadline exceeded" || !errors.Is(err, gopool.ErrTimeout) ||
				!errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &we) {
				t.Errorf("Wait = %q, want %q, wrapping a *wrapError, in which errors.Is finds ErrTimeout", err, "fetch: context deadline exceeded")
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				t.Errorf("Wait's error splits into %v like a join of failures", j.Unwrap())
			}
		})
	})

	t.Run("a try that returns the context's cause fails with ErrTimeout itself", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			if err := gopool.Go(l.awaiting(context.Cause).WithTimeout(time.Second)).Wait(); err != gopool.ErrTimeout {
				t.Errorf("Wait = %#v, want ErrTimeout itself", err)
			}
		})
	})

	t.Run("a function that ignores its context runs on, and what it returns is the try's result", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errLate := errors.New("late")
			start := time.Now()
			for _, ret := range []error{nil, errLate} {
				tk := gopool.NewTask(func(gopool.Args[int]) error {
					time.Sleep(10 * time.Second)
					return ret
				}).WithTimeout(time.Second)
				if err := gopool.Go(tk).Wait(); err != ret {
					t.Errorf("Wait = %#v, want %v itself", err, ret)
				}
			}
			if got := time.Since(start); got != 20*time.Second {
				t.Errorf("the two tasks took %v, want 10s each", got)
			}
		})
	})

	t.Run("the batch's cancellation reaches a try with a timeout at once, and its echo is no failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			p := gopool.NewPool().Go(l.awaiting(ctxErr).WithTimeout(time.Hour).WithRetry(3, 0))
			time.Sleep(2 * time.Second)
			closedAt := time.Now()
			if err := p.Close(); err != nil {
				t.Errorf("Close = %v, want nil: the try echoed the cancellation", err)
			}
			if len(l.done) != 1 || !l.done[0].Equal(closedAt) || l.cause[0] != gopool.ErrClosed || l.err[0] != context.Canceled {
				t.Errorf("tries done at %v with causes %v; want one, done at the Close with cause ErrClosed", l.done, l.cause)
			}
			if s := p.Stats(); s.Canceled != 1 || s.Failed != 0 {
				t.Errorf("Stats = %+v, want 1 canceled", s)
			}
		})
	})

	t.Run("a deadline error of a try whose context was cancelled, not timed out, is no timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			own := fmt.Errorf("own deadline: %w", context.DeadlineExceeded)
			p := gopool.NewPool().Go(l.awaiting(func(context.Context) error { return own }).WithTimeout(time.Hour))
			time.Sleep(time.Second)
			if err := p.Close(); err != own {
				t.Errorf("Close = %v, want the try's error itself, with no ErrTimeout in it", err)
			}
		})
	})

	t.Run("under fail-fast a timeout is a failure that cancels the batch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var timed, other ctxLog
			err := gopool.NewPool().WithFailFast().Go(
				timed.awaiting(ctxErr).WithTimeout(3*time.Second),
				other.awaiting(ctxErr),
			).Wait()
			if !errors.Is(err, gopool.ErrTimeout) || len(joinedErrors(err)) != 1 {
				t.Errorf("Wait = %v, want the timeout alone", err)
			}
			if len(other.cause) != 1 || !errors.Is(other.cause[0], gopool.ErrTimeout) || !other.done[0].Equal(timed.done[0]) {
				t.Errorf("the other task saw cause %v; want the timeout, at the same instant", other.cause)
			}
		})
	})

	t.Run("marks on an error of a try that timed out are honoured", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var perm ctxLog
			p := gopool.NewPool()
			err := p.Go(perm.awaiting(func(ctx context.Context) error {
				return gopool.Permanent(ctx.Err())
			}).WithTimeout(time.Second).WithRetry(5, 0)).Wait()
			if len(perm.start) != 1 || !errors.Is(err, gopool.ErrTimeout) || err.Error() != "context deadline exceeded" {
				t.Errorf("Permanent: %d tries, Wait = %v; want 1 try and a timeout", len(perm.start), err)
			}
			var after ctxLog
			err = gopool.Go(after.awaiting(func(ctx context.Context) error {
				return gopool.RetryAfter(7*time.Second, ctx.Err())
			}).WithTimeout(time.Second).WithRetry(2, time.Hour)).Wait()
			if len(after.start) != 2 || after.start[1].Sub(after.done[0]) != 7*time.Second || !errors.Is(err, gopool.ErrTimeout) {
				t.Errorf("RetryAfter: tries at %v after timeouts at %v, Wait = %v; want 2 tries 7s apart and a timeout", after.start, after.done, err)
			}
			// Neither mark stays: another pool retries Wait's error as usual.
			var n atomic.Int64
			_ = gopool.NewPool().WithRetry(3, 0).Go(counted(&n, err)).Wait()
			if n.Load() != 3 {
				t.Errorf("another pool tried Wait's error %d times, want 3", n.Load())
			}
		})
	})

	t.Run("a panic in a try with a timeout is a failure, never retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var n atomic.Int64
			err := gopool.Go(gopool.NewTask(func(gopool.Args[int]) error {
				n.Add(1)
				panic("boom")
			}).WithTimeout(time.Second).WithRetry(3, 0)).Wait()
			if pe, ok := errors.AsType[*gopool.PanicError](err); !ok || pe.Value != "boom" || n.Load() != 1 {
				t.Errorf("%d tries, Wait = %v; want 1 and the panic", n.Load(), err)
			}
		})
	})
}

// sinkWorker keeps tasks built in allocation tests on the heap, as real use does.
var sinkWorker gopool.Worker

// wrapError is an error with a message of its own that wraps another.
type wrapError struct {
	op  string
	err error
}

func (e *wrapError) Error() string { return e.op + ": " + e.err.Error() }
func (e *wrapError) Unwrap() error { return e.err }

func TestTimeoutAndDeadline(t *testing.T) {
	t.Run("a timeout shorter than the batch's deadline fires first, with cause ErrTimeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			start := time.Now()
			var l ctxLog
			p := gopool.NewPoolWithContext(ctx)
			err := p.Go(l.awaiting(ctxErr).WithTimeout(time.Minute)).Wait()
			if want := start.Add(time.Minute); !l.deadline[0].Equal(want) || !l.done[0].Equal(want) || l.cause[0] != gopool.ErrTimeout {
				t.Errorf("deadline %v, done at %v with cause %v; want 1m after the start, with ErrTimeout", l.deadline[0], l.done[0], l.cause[0])
			}
			if !errors.Is(err, gopool.ErrTimeout) || time.Since(start) != time.Minute {
				t.Errorf("Wait = %v after %v, want the timeout after 1m", err, time.Since(start))
			}
			if s := p.Stats(); s.Failed != 1 {
				t.Errorf("Stats = %+v, want 1 failure", s)
			}
		})
	})

	t.Run("a timeout longer than the batch's deadline yields to it: the deadline is the batch's, and the echo is no failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			start := time.Now()
			var l ctxLog
			p := gopool.NewPoolWithContext(ctx)
			err := p.Go(l.awaiting(ctxErr).WithTimeout(time.Hour).WithRetry(3, 0)).Wait()
			if want := start.Add(10 * time.Minute); !l.deadline[0].Equal(want) || !l.done[0].Equal(want) {
				t.Errorf("deadline %v, done at %v; want the batch's, %v", l.deadline[0], l.done[0], want)
			}
			if len(l.start) != 1 || l.cause[0] != context.DeadlineExceeded {
				t.Errorf("%d tries, cause %v; want 1, with the batch's cause", len(l.start), l.cause[0])
			}
			if err != context.DeadlineExceeded {
				t.Errorf("Wait = %v, want the batch's deadline alone", err)
			}
			if s := p.Stats(); s.Canceled != 1 || s.Failed != 0 {
				t.Errorf("Stats = %+v, want 1 canceled", s)
			}
		})
	})

	t.Run("each retry's deadline is the earlier of its own and the batch's", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			start := time.Now()
			var l ctxLog
			err := gopool.NewPoolWithContext(ctx).Go(l.awaiting(ctxErr).WithTimeout(4*time.Minute).WithRetry(5, 0)).Wait()
			want := []time.Duration{4 * time.Minute, 8 * time.Minute, 10 * time.Minute}
			if len(l.start) != len(want) {
				t.Fatalf("%d tries, want %d", len(l.start), len(want))
			}
			for i, w := range want {
				if !l.deadline[i].Equal(start.Add(w)) || !l.done[i].Equal(start.Add(w)) {
					t.Errorf("try %d: deadline %v, done %v; want %v after the start", i+1, l.deadline[i].Sub(start), l.done[i].Sub(start), w)
				}
			}
			// The third try's error echoes the batch's cancellation: the
			// task ends canceled, and Wait reports the deadline alone.
			if err != context.DeadlineExceeded {
				t.Errorf("Wait = %v, want the batch's deadline alone", err)
			}
		})
	})
}

func TestTimeoutPrecedence(t *testing.T) {
	t.Run("a task's own timeout wins over its pool's, even WithTimeout(0), which means none", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var pooled, own, none, negative ctxLog
			release := make(chan struct{})
			noneTask := gopool.NewTask(func(a gopool.Args[int]) error {
				dl, ok := a.Context.Deadline()
				none.deadline = append(none.deadline, dl)
				if ok {
					t.Errorf("a task with WithTimeout(0) sees a deadline %v", dl)
				}
				<-release
				return a.Context.Err()
			}).WithTimeout(0)
			p := gopool.NewPool().WithTimeout(time.Second)
			p.Go(pooled.awaiting(ctxErr), own.awaiting(ctxErr).WithTimeout(5*time.Second), noneTask,
				negative.awaiting(ctxErr).WithTimeout(-time.Second))
			time.Sleep(time.Hour)
			close(release)
			// negative is still waiting: it has no timeout either.
			_ = p.Close()
			if !pooled.done[0].Equal(start.Add(time.Second)) || pooled.cause[0] != gopool.ErrTimeout {
				t.Errorf("without its own timeout: done %v after the start, cause %v; want 1s, ErrTimeout", pooled.done[0].Sub(start), pooled.cause[0])
			}
			if !own.done[0].Equal(start.Add(5*time.Second)) || own.cause[0] != gopool.ErrTimeout {
				t.Errorf("WithTimeout(5s): done %v after the start; want 5s", own.done[0].Sub(start))
			}
			if !negative.deadline[0].IsZero() || !negative.done[0].Equal(start.Add(time.Hour)) || negative.cause[0] != gopool.ErrClosed {
				t.Errorf("WithTimeout(-1s): deadline %v, done %v after the start with cause %v; want none, and the Close at 1h",
					negative.deadline[0], negative.done[0].Sub(start), negative.cause[0])
			}
		})
	})

	t.Run("a task's own timeout applies in a pool without one, and Pool.WithTimeout(0) or a negative one means none", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			for _, d := range []time.Duration{0, -time.Second} {
				start := time.Now()
				var own ctxLog
				var sawDeadline atomic.Bool
				plain := gopool.NewTask(func(a gopool.Args[int]) error {
					_, ok := a.Context.Deadline()
					sawDeadline.Store(ok)
					return nil
				})
				err := gopool.NewPool().WithTimeout(d).Go(own.awaiting(ctxErr).WithTimeout(3*time.Second), plain).Wait()
				if !errors.Is(err, gopool.ErrTimeout) || !own.done[0].Equal(start.Add(3*time.Second)) || sawDeadline.Load() {
					t.Errorf("Pool.WithTimeout(%v): Wait = %v; own timeout done %v after the start, other task saw a deadline: %v",
						d, err, own.done[0].Sub(start), sawDeadline.Load())
				}
			}
		})
	})

	t.Run("sub-pools do not inherit the pool's timeout, and Map takes it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			p := gopool.NewPool().WithTimeout(time.Minute)
			var subDeadline atomic.Bool
			sub := p.Sub()
			if err := sub.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				_, ok := a.Context.Deadline()
				subDeadline.Store(ok)
				return nil
			})).Wait(); err != nil || subDeadline.Load() {
				t.Errorf("sub-pool: Wait = %v, task saw a deadline: %v; want nil and none", err, subDeadline.Load())
			}
			out, err := gopool.Map(p, []int{1, 2}, func(ctx context.Context, in int) (time.Duration, error) {
				if in == 2 {
					<-ctx.Done()
					return 0, ctx.Err()
				}
				dl, _ := ctx.Deadline()
				return dl.Sub(start), nil
			})
			if out[0] != time.Minute || !errors.Is(err, gopool.ErrTimeout) || time.Since(start) != time.Minute {
				t.Errorf("Map: deadline %v after the start, Wait = %v after %v; want 1m, a timeout, after 1m", out[0], err, time.Since(start))
			}
		})
	})

	t.Run("Execute applies the task's own timeout, with context.Background", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var l ctxLog
			err := l.awaiting(ctxErr).WithTimeout(2*time.Second).WithRetry(2, 0).Execute()
			if !errors.Is(err, gopool.ErrTimeout) || len(l.done) != 2 || time.Since(start) != 4*time.Second {
				t.Errorf("Execute = %v after %d tries over %v, want a timeout after 2 tries over 4s", err, len(l.done), time.Since(start))
			}
		})
	})

	t.Run("a Worker that embeds a *Task with a timeout runs it inside its Execute", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l ctxLog
			var executed atomic.Int64
			w := loggedTask{Task: l.awaiting(ctxErr).WithTimeout(2 * time.Second), executed: &executed}
			start := time.Now()
			err := gopool.NewPool().WithTimeout(time.Hour).Go(w).Wait()
			if !errors.Is(err, gopool.ErrTimeout) || time.Since(start) != 2*time.Second || executed.Load() != 1 {
				t.Errorf("Wait = %v after %v, %d Execute calls; want a timeout after 2s, 1 call", err, time.Since(start), executed.Load())
			}
		})
	})
}

func TestTimeoutConfiguration(t *testing.T) {
	t.Run("Pool.WithTimeout panics while the pool, or a pool below it, has tasks not yet waited for", func(t *testing.T) {
		started, release := make(chan struct{}), make(chan struct{})
		p := gopool.NewPool()
		p.Go(blocking(started, release, nil))
		<-started
		mustPanicGopool(t, "WithTimeout", func() { p.WithTimeout(time.Second) })
		close(release)
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		if p.WithTimeout(time.Second) != p {
			t.Error("WithTimeout did not return its pool")
		}
		started, release = make(chan struct{}), make(chan struct{})
		sub := p.Sub()
		sub.Go(blocking(started, release, nil))
		<-started
		mustPanicGopool(t, "WithTimeout", func() { p.WithTimeout(time.Second) })
		close(release)
		if err := sub.Wait(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("WithTimeout returns its task, and keeps WithRetry's policy in either order", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			for _, timeoutFirst := range []bool{true, false} {
				var l ctxLog
				tk := l.awaiting(ctxErr)
				if timeoutFirst {
					if tk.WithTimeout(time.Second) != tk {
						t.Fatal("WithTimeout did not return its task")
					}
					tk.WithRetry(3, 0)
				} else {
					tk.WithRetry(3, 0)
					tk.WithTimeout(time.Second)
				}
				start := time.Now()
				_ = gopool.Go(tk).Wait()
				if len(l.done) != 3 || time.Since(start) != 3*time.Second {
					t.Errorf("timeout first: %v: %d tries over %v, want 3 over 3s", timeoutFirst, len(l.done), time.Since(start))
				}
			}
		})
	})

	t.Run("tasks built alike with WithTimeout and WithRetry cost one allocation each, the task", func(t *testing.T) {
		fn := func(gopool.Args[int]) error { return nil }
		avg := testing.AllocsPerRun(1000, func() {
			sinkWorker = gopool.NewTask(fn).WithTimeout(time.Second).WithRetry(3, time.Millisecond)
		})
		if avg != 1 {
			t.Errorf("NewTask(fn).WithTimeout(1s).WithRetry(3, 1ms) allocated %v times, want 1", avg)
		}
		avg = testing.AllocsPerRun(1000, func() {
			tk := gopool.NewTask(fn)
			tk.WithRetry(3, time.Millisecond)
			sinkWorker = tk.WithTimeout(time.Second)
		})
		if avg != 1 {
			t.Errorf("WithRetry then WithTimeout allocated %v times, want 1", avg)
		}
	})

	t.Run("tasks configured alike do not share a timeout set on one of them later", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var a, b ctxLog
			ta := a.awaiting(ctxErr).WithTimeout(time.Second)
			tb := b.awaiting(ctxErr).WithTimeout(time.Second)
			ta.WithTimeout(5 * time.Second)
			start := time.Now()
			_ = gopool.Go(ta, tb).Wait()
			if a.done[0].Sub(start) != 5*time.Second || b.done[0].Sub(start) != time.Second {
				t.Errorf("timeouts fired after %v and %v, want 5s and 1s", a.done[0].Sub(start), b.done[0].Sub(start))
			}
		})
	})
}
