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

// backoffCap is the documented cap on one wait between tries:
// max(sleep, one minute).
func backoffCap(sleep time.Duration) time.Duration { return max(sleep, time.Minute) }

// tryLog records the instant and attempt number of each try of a task.
// Tries of one task are sequential, and Wait orders them before the reader.
type tryLog struct {
	at       []time.Time
	attempts []int
}

// task returns a task that logs each try and fails it with "try N", unless
// okAt > 0 and N >= okAt.
func (l *tryLog) task(okAt int) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		l.at = append(l.at, time.Now())
		l.attempts = append(l.attempts, a.Attempt)
		if okAt > 0 && a.Attempt >= okAt {
			return nil
		}
		return fmt.Errorf("try %d", a.Attempt)
	})
}

// gaps returns the waits between consecutive tries.
func (l *tryLog) gaps() []time.Duration {
	var g []time.Duration
	for i := 1; i < len(l.at); i++ {
		g = append(g, l.at[i].Sub(l.at[i-1]))
	}
	return g
}

func TestTaskArgs(t *testing.T) {
	t.Run("WithInput and DrainTo reach Args, and Args.Context is never nil", func(t *testing.T) {
		in := 41
		d := gopool.NewDrainer[int]()
		var gotIn *int
		var gotDrain *gopool.Drain[int]
		var gotCtx context.Context
		var attempt int
		tk := gopool.NewTask(func(a gopool.Args[int]) error {
			gotIn, gotDrain, gotCtx, attempt = a.Input, a.Drainer, a.Context, a.Attempt
			a.Drainer.Send(*a.Input + 1)
			return nil
		}).WithInput(&in).DrainTo(d)
		if err := gopool.NewPool().Go(tk).Wait(); err != nil {
			t.Fatal(err)
		}
		if gotIn != &in || gotDrain != d || gotCtx == nil || attempt != 1 {
			t.Errorf("Args = {%p %p %v %d}, want {%p %p non-nil 1}", gotIn, gotDrain, gotCtx, attempt, &in, d)
		}
		if got := d.Drain(); len(got) != 1 || got[0] != 42 {
			t.Errorf("Drain = %v, want [42]", got)
		}
	})

	t.Run("without WithInput or DrainTo, Input and Drainer are nil", func(t *testing.T) {
		ok := false
		tk := gopool.NewTask(func(a gopool.Args[string]) error {
			ok = a.Input == nil && a.Drainer == nil && a.Context != nil
			return nil
		})
		if err := gopool.NewPool().Go(tk).Wait(); err != nil || !ok {
			t.Errorf("Wait = %v; Input and Drainer nil and Context set: %v", err, ok)
		}
	})

	t.Run("builders return their task, and WithInput and WithRetry keep each other's setting in either order", func(t *testing.T) {
		in := 1
		var n1, n2 atomic.Int64
		var in1, in2 *int
		t1 := gopool.NewTask(func(a gopool.Args[int]) error { n1.Add(1); in1 = a.Input; return errors.New("x") })
		t2 := gopool.NewTask(func(a gopool.Args[int]) error { n2.Add(1); in2 = a.Input; return errors.New("y") })
		if t1.WithInput(&in) != t1 || t1.WithRetry(3, 0) != gopool.Worker(t1) {
			t.Fatal("a builder did not return its task")
		}
		t2.WithRetry(2, 0)
		t2.WithInput(&in)
		_ = gopool.NewPool().Go(t1, t2).Wait()
		if n1.Load() != 3 || in1 != &in {
			t.Errorf("WithInput then WithRetry(3, 0): %d tries with input %p, want 3 with %p", n1.Load(), in1, &in)
		}
		if n2.Load() != 2 || in2 != &in {
			t.Errorf("WithRetry(2, 0) then WithInput: %d tries with input %p, want 2 with %p", n2.Load(), in2, &in)
		}
	})

	t.Run("tasks configured alike do not share their settings", func(t *testing.T) {
		in := 7
		var n1, n2, n3 atomic.Int64
		var in1 *int
		t1 := gopool.NewTask(func(a gopool.Args[int]) error { n1.Add(1); in1 = a.Input; return errors.New("x") })
		t2 := gopool.NewTask(func(gopool.Args[int]) error { n2.Add(1); return errors.New("x") })
		t3 := gopool.NewTask(func(gopool.Args[int]) error { n3.Add(1); return errors.New("x") })
		t1.WithRetry(3, 0)
		t2.WithRetry(3, 0)
		t3.WithRetry(2, 0)
		t2.WithInput(&in)
		_ = gopool.NewPool().Go(t1, t2, t3).Wait()
		if n1.Load() != 3 || n2.Load() != 3 || n3.Load() != 2 {
			t.Errorf("tries = %d, %d, %d, want 3, 3, 2", n1.Load(), n2.Load(), n3.Load())
		}
		if in1 != nil {
			t.Error("WithInput on one task gave another task configured alike an input")
		}
	})

	t.Run("a task may run in several pools at once", func(t *testing.T) {
		var n atomic.Int64
		tk := counted(&n, nil)
		p1, p2 := gopool.NewPool(), gopool.NewPool().WithLimit(1)
		for range 50 {
			p1.Go(tk)
			p2.Go(tk)
		}
		if err := errors.Join(p1.Wait(), p2.Wait()); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 100 {
			t.Errorf("%d runs, want 100", n.Load())
		}
	})
}

func TestRetryAttempts(t *testing.T) {
	for _, tc := range []struct {
		attempts uint
		tries    int
	}{{0, 1}, {1, 1}, {2, 2}, {5, 5}} {
		t.Run(fmt.Sprintf("WithRetry(%d, 0) tries %d times, with Attempt 1 to %d, and fails with the last error", tc.attempts, tc.tries, tc.tries), func(t *testing.T) {
			for _, via := range []string{"a pool", "Execute"} {
				var l tryLog
				w := l.task(0).WithRetry(tc.attempts, 0)
				var err error
				if via == "Execute" {
					err = w.Execute()
				} else {
					err = gopool.NewPool().Go(w).Wait()
				}
				if len(l.attempts) != tc.tries {
					t.Errorf("via %s: %d tries, want %d", via, len(l.attempts), tc.tries)
				}
				for i, a := range l.attempts {
					if a != i+1 {
						t.Errorf("via %s: try %d saw Attempt %d", via, i+1, a)
					}
				}
				if want := fmt.Sprintf("try %d", tc.tries); err == nil || err.Error() != want {
					t.Errorf("via %s: error %v, want %q", via, err, want)
				}
			}
		})
	}

	t.Run("a try that succeeds ends the retries", func(t *testing.T) {
		var l tryLog
		if err := gopool.NewPool().Go(l.task(3).WithRetry(5, 0)).Wait(); err != nil {
			t.Errorf("Wait = %v, want nil", err)
		}
		if len(l.attempts) != 3 {
			t.Errorf("%d tries, want 3", len(l.attempts))
		}
	})
}

func TestRetrySchedule(t *testing.T) {
	t.Run("each wait is within [d/2, 3d/2) of d = sleep*2^(k-1), and no wait follows the last try", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const attempts, sleep = 8, 100 * time.Millisecond
			var l tryLog
			start := time.Now()
			err := gopool.NewPool().Go(l.task(0).WithRetry(attempts, sleep)).Wait()
			if err == nil || err.Error() != "try 8" {
				t.Errorf("Wait = %v, want the last try's error", err)
			}
			if len(l.at) != attempts {
				t.Fatalf("%d tries, want %d", len(l.at), attempts)
			}
			if !l.at[0].Equal(start) {
				t.Errorf("the first try came %v after Go, want at once", l.at[0].Sub(start))
			}
			for i, gap := range l.gaps() {
				d := sleep << i // before try k+1 = i+2
				if gap < d/2 || gap >= d/2+d || gap > backoffCap(sleep) {
					t.Errorf("wait before try %d = %v, want within [%v, %v)", i+2, gap, d/2, d/2+d)
				}
			}
			if last := l.at[len(l.at)-1]; !time.Now().Equal(last) {
				t.Errorf("Wait returned %v after the last try, want at once", time.Since(last))
			}
		})
	})

	t.Run("the waits are jittered, over both halves of the range", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const sleep = time.Second
			logs := make([]tryLog, 64)
			p := gopool.NewPool()
			for i := range logs {
				p.Go(logs[i].task(0).WithRetry(2, sleep))
			}
			_ = p.Wait()
			var low, high int
			for _, l := range logs {
				g := l.gaps()
				if len(g) != 1 {
					t.Fatalf("%d waits, want 1", len(g))
				}
				switch {
				case g[0] < sleep/2 || g[0] >= 3*sleep/2:
					t.Errorf("wait %v out of [%v, %v)", g[0], sleep/2, 3*sleep/2)
				case g[0] < sleep:
					low++
				default:
					high++
				}
			}
			if low == 0 || high == 0 {
				t.Errorf("of 64 waits, %d fell in [d/2, d) and %d in [d, 3d/2): not jittered", low, high)
			}
		})
	})

	t.Run("the cap applies to the final wait: once d/2 passes max(sleep, 1m) every wait is the cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			for _, tc := range []struct {
				attempts uint
				sleep    time.Duration
			}{{11, time.Second}, {4, 2 * time.Minute}} {
				logs := make([]tryLog, 16) // many samples, so a wrong jitter shows at once
				p := gopool.NewPool()
				for i := range logs {
					p.Go(logs[i].task(0).WithRetry(tc.attempts, tc.sleep))
				}
				_ = p.Wait()
				limit := backoffCap(tc.sleep)
				bad := 0
				for _, l := range logs {
					for i, gap := range l.gaps() {
						d := tc.sleep << i
						lo := min(d/2, limit)
						if (gap < lo || gap > limit || (gap >= d/2+d && gap != limit)) && bad < 5 {
							bad++
							t.Errorf("WithRetry(%d, %v): wait before try %d = %v, want within [%v, %v) and at most %v",
								tc.attempts, tc.sleep, i+2, gap, d/2, d/2+d, limit)
						}
					}
				}
			}
		})
	})

	t.Run("no wait overflows, whatever the attempt count", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			for _, sleep := range []time.Duration{time.Nanosecond, time.Hour, 1 << 62} {
				var l tryLog
				_ = gopool.NewPool().Go(l.task(0).WithRetry(130, sleep)).Wait()
				if len(l.at) != 130 {
					t.Fatalf("%d tries, want 130", len(l.at))
				}
				for i, gap := range l.gaps() {
					if gap < 0 || gap > backoffCap(sleep) {
						t.Errorf("sleep %v: wait before try %d = %v, want within [0, %v]", sleep, i+2, gap, backoffCap(sleep))
					}
				}
			}
		})
	})

	t.Run("a negative sleep counts as zero", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			start := time.Now()
			_ = gopool.NewPool().Go(l.task(0).WithRetry(4, -time.Second)).Wait()
			if len(l.at) != 4 || !time.Now().Equal(start) {
				t.Errorf("%d tries over %v, want 4 at once", len(l.at), time.Since(start))
			}
		})
	})
}

func TestRetryCancellation(t *testing.T) {
	t.Run("Close during a wait ends it at once, and the task fails with its last error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errs := []error{errors.New("try 1"), errors.New("try 2"), errors.New("try 3")}
			secondTry := make(chan struct{})
			var tries atomic.Int64
			tk := gopool.NewTask(func(a gopool.Args[int]) error {
				tries.Add(1)
				if a.Attempt == 2 {
					close(secondTry)
				}
				return errs[a.Attempt-1]
			}).WithRetry(3, time.Hour)
			p := gopool.NewPool().Go(tk)
			<-secondTry
			time.Sleep(10 * time.Minute) // the wait before try 3 is at least an hour
			cancelledAt := time.Now()
			err := p.Close()
			if err != errs[1] {
				t.Errorf("Close = %v, want the last error %v itself", err, errs[1])
			}
			if !time.Now().Equal(cancelledAt) {
				t.Errorf("the task went on waiting %v after Close", time.Since(cancelledAt))
			}
			if tries.Load() != 2 {
				t.Errorf("%d tries, want 2", tries.Load())
			}
		})
	})

	t.Run("a fail-fast cancellation ends another task's wait at that instant", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA, errR := errors.New("a"), errors.New("retry me")
			var tries atomic.Int64
			retrying := gopool.NewTask(func(gopool.Args[int]) error { tries.Add(1); return errR }).WithRetry(5, time.Hour)
			failing := gopool.NewTask(func(gopool.Args[int]) error {
				time.Sleep(10 * time.Minute)
				return errA
			})
			start := time.Now()
			err := gopool.NewPool().WithFailFast().Go(retrying, failing).Wait()
			expectJoined(t, err, errA, errR)
			if got := time.Since(start); got != 10*time.Minute {
				t.Errorf("Wait returned after %v, want 10m, the instant of the cancellation", got)
			}
			if tries.Load() != 1 {
				t.Errorf("%d tries, want 1", tries.Load())
			}
		})
	})

	t.Run("the pool's context deadline ends a wait at that instant", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errR := errors.New("retry me")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			start := time.Now()
			w := &userWorker{err: errR}
			err := gopool.NewPoolWithContext(ctx).WithRetry(5, time.Hour).Go(w).Wait()
			if !errors.Is(err, errR) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait = %v, want it to wrap %v and the deadline", err, errR)
			}
			if got := time.Since(start); got != 10*time.Minute {
				t.Errorf("Wait returned after %v, want 10m", got)
			}
			if w.calls.Load() != 1 {
				t.Errorf("%d calls, want 1", w.calls.Load())
			}
		})
	})
}

func TestPermanent(t *testing.T) {
	t.Run("Permanent stops retrying at once and Wait returns the error itself", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errP := &codeError{9}
			for okTries, name := range []string{"on the first try", "on the second try"} {
				var tries atomic.Int64
				tk := gopool.NewTask(func(a gopool.Args[int]) error {
					tries.Add(1)
					if a.Attempt <= okTries {
						return errors.New("transient")
					}
					return gopool.Permanent(errP)
				}).WithRetry(5, time.Hour)
				start := time.Now()
				err := gopool.NewPool().Go(tk).Wait()
				if err != errP || !errors.Is(err, errP) {
					t.Errorf("%s: Wait = %#v, want %v itself", name, err, errP)
				}
				if tries.Load() != int64(okTries+1) {
					t.Errorf("%s: %d tries, want %d", name, tries.Load(), okTries+1)
				}
				if okTries == 0 && !time.Now().Equal(start) {
					t.Errorf("%s: waited %v", name, time.Since(start))
				}
			}
		})
	})

	t.Run("a wrapped Permanent stops retrying too, and errors.Is reaches the error", func(t *testing.T) {
		errP := errors.New("p")
		var tries atomic.Int64
		tk := gopool.NewTask(func(gopool.Args[int]) error {
			tries.Add(1)
			return fmt.Errorf("calling: %w", gopool.Permanent(errP))
		}).WithRetry(5, 0)
		if err := gopool.NewPool().Go(tk).Wait(); !errors.Is(err, errP) {
			t.Errorf("Wait = %v, want it to wrap %v", err, errP)
		}
		if tries.Load() != 1 {
			t.Errorf("%d tries, want 1", tries.Load())
		}
	})

	t.Run("Permanent stops the pool's retry of a user-written Worker, and of Execute", func(t *testing.T) {
		errP := errors.New("p")
		w := &userWorker{err: gopool.Permanent(errP)}
		if err := gopool.NewPool().WithRetry(5, 0).Go(w).Wait(); err != errP {
			t.Errorf("Wait = %v, want %v itself", err, errP)
		}
		if w.calls.Load() != 1 {
			t.Errorf("%d calls, want 1", w.calls.Load())
		}
		var tries atomic.Int64
		err := counted(&tries, gopool.Permanent(errP)).WithRetry(5, 0).Execute()
		if err != errP || tries.Load() != 1 {
			t.Errorf("Execute = %v after %d tries, want %v itself after 1", err, tries.Load(), errP)
		}
	})

	t.Run("Permanent keeps the message, and Permanent(nil) is nil", func(t *testing.T) {
		if gopool.Permanent(nil) != nil {
			t.Error("Permanent(nil) != nil")
		}
		errP := errors.New("p")
		if got := gopool.Permanent(errP); got.Error() != "p" || !errors.Is(got, errP) {
			t.Errorf("Permanent(p) = %q, want message p wrapping p", got)
		}
		if err := gopool.NewPool().Go(failWith(gopool.Permanent(errP))).Wait(); err != errP {
			t.Errorf("without retry, Wait = %#v, want %v itself", err, errP)
		}
	})
}

func TestRetryPrecedence(t *testing.T) {
	t.Run("a task's own WithRetry(1, 0) wins over the pool's WithRetry(5, ...)", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			start := time.Now()
			_ = gopool.NewPool().WithRetry(5, time.Hour).Go(l.task(0).WithRetry(1, 0)).Wait()
			if len(l.at) != 1 || !time.Now().Equal(start) {
				t.Errorf("%d tries over %v, want 1 at once", len(l.at), time.Since(start))
			}
		})
	})

	t.Run("the pool's WithRetry applies to a task without its own", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			_ = gopool.NewPool().WithRetry(4, time.Second).Go(l.task(0)).Wait()
			if len(l.attempts) != 4 {
				t.Fatalf("%d tries, want 4", len(l.attempts))
			}
			for i, gap := range l.gaps() {
				if d := time.Second << i; gap < d/2 || gap >= d/2+d {
					t.Errorf("wait before try %d = %v, want within [%v, %v)", i+2, gap, d/2, d/2+d)
				}
			}
		})
	})

	t.Run("the pool's WithRetry applies to a user-written Worker", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errU := errors.New("u")
			failing := &userWorker{err: errU}
			succeeding := &userWorker{okFrom: 2}
			start := time.Now()
			err := gopool.NewPool().WithRetry(3, time.Second).Go(failing, succeeding).Wait()
			if err != errU {
				t.Errorf("Wait = %v, want %v", err, errU)
			}
			if failing.calls.Load() != 3 || succeeding.calls.Load() != 2 {
				t.Errorf("Execute calls = %d and %d, want 3 and 2", failing.calls.Load(), succeeding.calls.Load())
			}
			// Two waits, before tries 2 and 3: [0.5s, 1.5s) + [1s, 3s).
			if got := time.Since(start); got < 1500*time.Millisecond || got >= 4500*time.Millisecond {
				t.Errorf("three tries took %v, want within [1.5s, 4.5s)", got)
			}
		})
	})

	t.Run("attempts never multiply", func(t *testing.T) {
		var own, pooled atomic.Int64
		ownTask := counted(&own, errors.New("own")).WithRetry(2, 0)
		pooledTask := counted(&pooled, errors.New("pooled"))
		w := &userWorker{}
		_ = gopool.NewPool().WithRetry(3, 0).Go(ownTask, pooledTask, w).Wait()
		if own.Load() != 2 || pooled.Load() != 3 || w.calls.Load() != 3 {
			t.Errorf("tries = %d, %d, %d; want 2 (own policy), 3 and 3 (pool's)", own.Load(), pooled.Load(), w.calls.Load())
		}
	})
}

func TestExecute(t *testing.T) {
	t.Run("Execute uses context.Background and the task's own retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var ctxs []context.Context
			var l tryLog
			tk := gopool.NewTask(func(a gopool.Args[int]) error {
				ctxs = append(ctxs, a.Context)
				l.at = append(l.at, time.Now())
				return fmt.Errorf("try %d", a.Attempt)
			}).WithRetry(3, time.Second)
			err := tk.Execute()
			if err == nil || err.Error() != "try 3" {
				t.Errorf("Execute = %v, want the last error", err)
			}
			if len(ctxs) != 3 {
				t.Fatalf("%d tries, want 3", len(ctxs))
			}
			for _, c := range ctxs {
				if c != context.Background() {
					t.Errorf("Args.Context = %v, want context.Background()", c)
				}
			}
			for i, gap := range l.gaps() {
				if d := time.Second << i; gap < d/2 || gap >= d/2+d {
					t.Errorf("wait before try %d = %v, want within [%v, %v)", i+2, gap, d/2, d/2+d)
				}
			}
		})
	})

	t.Run("Execute without retry tries once and returns the error itself", func(t *testing.T) {
		errA := &codeError{4}
		var n atomic.Int64
		if err := counted(&n, errA).Execute(); err != errA || n.Load() != 1 {
			t.Errorf("Execute = %v after %d tries, want %v after 1", err, n.Load(), errA)
		}
		if err := succeed().Execute(); err != nil {
			t.Errorf("Execute = %v, want nil", err)
		}
	})

	t.Run("Execute sends to the task's drain without holding it", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		tk := gopool.NewTask(func(a gopool.Args[int]) error { a.Drainer.Send(5); return nil }).DrainTo(d)
		if err := tk.Execute(); err != nil {
			t.Fatal(err)
		}
		if got := d.Drain(); len(got) != 1 || got[0] != 5 {
			t.Errorf("Drain = %v, want [5]", got)
		}
	})
}
