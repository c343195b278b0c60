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

// scripted returns a task whose try k returns errs[k-1] (nil: success), or
// the last of errs past its end, logging each try in l.
func scripted(l *tryLog, errs ...error) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		l.at = append(l.at, time.Now())
		l.attempts = append(l.attempts, a.Attempt)
		return errs[min(a.Attempt, len(errs))-1]
	})
}

// expectGaps fails t unless the waits between l's tries are exactly want.
func expectGaps(t *testing.T, l *tryLog, want ...time.Duration) {
	t.Helper()
	got := l.gaps()
	if len(got) != len(want) {
		t.Fatalf("%d tries with waits %v, want %d tries with waits %v", len(l.at), got, len(want)+1, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("wait before try %d = %v, want exactly %v", i+2, got[i], want[i])
		}
	}
}

func TestRetryAfter(t *testing.T) {
	errA := errors.New("a")

	t.Run("RetryAfter sets the wait before the next try to exactly d, beyond the backoff's range and cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			tk := scripted(&l,
				gopool.RetryAfter(7*time.Second, errA),  // the backoff would be [0.5s, 1.5s)
				gopool.RetryAfter(90*time.Minute, errA), // past the backoff's cap of 1m
				gopool.RetryAfter(0, errA),
				gopool.RetryAfter(-time.Hour, errA), // counts as 0
				nil,
			).WithRetry(5, time.Second)
			p := gopool.NewPool()
			if err := p.Go(tk).Wait(); err != nil {
				t.Fatalf("Wait = %v, want nil", err)
			}
			expectGaps(t, &l, 7*time.Second, 90*time.Minute, 0, 0)
			if s := p.Stats(); s.Retries != 4 || s.Succeeded != 1 {
				t.Errorf("Stats = %+v, want 4 retries and 1 success", s)
			}
		})
	})

	t.Run("RetryAfter and backoff waits mix: a plain failure still backs off by its attempt number", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			tk := scripted(&l, errA, gopool.RetryAfter(3*time.Second, errA), errA, nil).WithRetry(4, time.Minute)
			if err := gopool.NewPool().Go(tk).Wait(); err != nil {
				t.Fatalf("Wait = %v, want nil", err)
			}
			g := l.gaps()
			if len(g) != 3 {
				t.Fatalf("waits %v, want 3", g)
			}
			if g[0] < 30*time.Second || g[0] >= 90*time.Second {
				t.Errorf("wait before try 2 = %v, want within [30s, 90s)", g[0])
			}
			if g[1] != 3*time.Second {
				t.Errorf("wait before try 3 = %v, want exactly 3s", g[1])
			}
			if g[2] != time.Minute { // d = 4m: [2m, 6m), capped at 1m
				t.Errorf("wait before try 4 = %v, want the cap, 1m", g[2])
			}
		})
	})

	t.Run("the last try's RetryAfter ends the tries, and Wait reports the error itself", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			start := time.Now()
			err := gopool.NewPool().Go(scripted(&l, gopool.RetryAfter(time.Hour, errA)).WithRetry(3, 0)).Wait()
			if err != errA {
				t.Errorf("Wait = %#v, want %v itself", err, errA)
			}
			expectGaps(t, &l, time.Hour, time.Hour)
			if got := time.Since(start); got != 2*time.Hour {
				t.Errorf("Wait returned after %v, want 2h: no wait follows the last try", got)
			}
		})
	})

	t.Run("without a retry policy a RetryAfter error is tried once and reported without its mark", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var n atomic.Int64
			if err := gopool.NewPool().Go(counted(&n, gopool.RetryAfter(time.Hour, errA))).Wait(); err != errA {
				t.Errorf("Wait = %#v, want %v itself", err, errA)
			}
			if n.Load() != 1 || !time.Now().Equal(start) {
				t.Errorf("%d tries over %v, want 1 at once", n.Load(), time.Since(start))
			}
		})
	})

	t.Run("Close during a RetryAfter wait ends it at once, and the task fails with the error, unmarked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			p := gopool.NewPool().Go(scripted(&l, gopool.RetryAfter(time.Hour, errA)).WithRetry(5, 0))
			time.Sleep(10 * time.Minute)
			closedAt := time.Now()
			if err := p.Close(); err != errA {
				t.Errorf("Close = %#v, want %v itself", err, errA)
			}
			if !time.Now().Equal(closedAt) || len(l.at) != 1 {
				t.Errorf("%d tries, Close returned %v after it was called; want 1 try, at once", len(l.at), time.Since(closedAt))
			}
		})
	})

	t.Run("the pool's context deadline ends a RetryAfter wait at that instant", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			var l tryLog
			start := time.Now()
			err := gopool.NewPoolWithContext(ctx).Go(scripted(&l, gopool.RetryAfter(time.Hour, errA)).WithRetry(5, 0)).Wait()
			expectJoined(t, err, errA, context.DeadlineExceeded)
			if got := time.Since(start); got != 10*time.Minute || len(l.at) != 1 {
				t.Errorf("%d tries, Wait after %v; want 1 try, Wait after 10m", len(l.at), got)
			}
		})
	})

	t.Run("Permanent wins over RetryAfter in either order, and Wait reports the error without either mark", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			for _, err := range []error{
				gopool.Permanent(gopool.RetryAfter(time.Hour, errA)),
				gopool.RetryAfter(time.Hour, gopool.Permanent(errA)),
			} {
				var n atomic.Int64
				if got := gopool.NewPool().WithRetry(5, time.Hour).Go(counted(&n, err)).Wait(); got != errA {
					t.Errorf("Wait = %#v, want %v itself", got, errA)
				}
				if n.Load() != 1 {
					t.Errorf("%d tries, want 1", n.Load())
				}
			}
			wrapped := fmt.Errorf("op: %w; %w", gopool.RetryAfter(time.Second, errA), gopool.Permanent(errors.New("b")))
			var n atomic.Int64
			got := gopool.NewPool().WithRetry(5, time.Hour).Go(counted(&n, wrapped)).Wait()
			if n.Load() != 1 || got == nil || got.Error() != wrapped.Error() || !errors.Is(got, errA) {
				t.Errorf("marks inside an error: %d tries, Wait = %v; want 1 try and the same message, wrapping %v", n.Load(), got, errA)
			}
			// Neither mark counts in another pool that gets the error back.
			var l tryLog
			_ = gopool.NewPool().Go(scripted(&l, got).WithRetry(3, 0)).Wait()
			expectGaps(t, &l, 0, 0)
			if !time.Now().Equal(start) {
				t.Errorf("waited %v, want no wait", time.Since(start))
			}
		})
	})

	t.Run("a wrapped RetryAfter is honoured, and the error Wait reports no longer carries its mark", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			wrapped := fmt.Errorf("calling: %w", gopool.RetryAfter(5*time.Second, errA))
			err := gopool.NewPool().Go(scripted(&l, wrapped).WithRetry(3, time.Hour)).Wait()
			expectGaps(t, &l, 5*time.Second, 5*time.Second)
			if err == nil || err.Error() != "calling: a" || !errors.Is(err, errA) {
				t.Fatalf("Wait = %v, want %q wrapping %v", err, "calling: a", errA)
			}
			// Another pool that gets the error back backs off as usual.
			var again tryLog
			_ = gopool.NewPool().Go(scripted(&again, err).WithRetry(2, time.Hour)).Wait()
			if g := again.gaps(); len(g) != 1 || g[0] < 30*time.Minute {
				t.Errorf("another pool waited %v for Wait's error, want a backoff of at least 30m", g)
			}
		})
	})

	t.Run("the first RetryAfter that errors.As finds sets the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var l tryLog
			both := errors.Join(errors.New("x"), fmt.Errorf("y: %w", gopool.RetryAfter(2*time.Second, errA)), gopool.RetryAfter(time.Hour, errA))
			_ = gopool.NewPool().Go(scripted(&l, both, nil).WithRetry(2, 0)).Wait()
			expectGaps(t, &l, 2*time.Second)
		})
	})

	t.Run("a user Worker's RetryAfter is honoured by the pool's retry, and by Execute", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := &userWorker{err: gopool.RetryAfter(4*time.Second, errA)}
			start := time.Now()
			if err := gopool.NewPool().WithRetry(3, time.Hour).Go(w).Wait(); err != errA {
				t.Errorf("Wait = %#v, want %v itself", err, errA)
			}
			if got := time.Since(start); w.calls.Load() != 3 || got != 8*time.Second {
				t.Errorf("%d calls over %v, want 3 over 8s", w.calls.Load(), got)
			}
			var l tryLog
			if err := scripted(&l, gopool.RetryAfter(time.Minute, errA)).WithRetry(3, 0).Execute(); err != errA {
				t.Errorf("Execute = %#v, want %v itself", err, errA)
			}
			expectGaps(t, &l, time.Minute, time.Minute)
		})
	})

	t.Run("RetryAfter keeps the message, reaches the error, and RetryAfter(d, nil) is nil", func(t *testing.T) {
		if gopool.RetryAfter(time.Second, nil) != nil {
			t.Error("RetryAfter(1s, nil) != nil")
		}
		err := gopool.RetryAfter(time.Second, &codeError{3})
		var ce *codeError
		if err.Error() != "code 3" || !errors.As(err, &ce) || ce.code != 3 {
			t.Errorf("RetryAfter(1s, code 3) = %q, want the message code 3, wrapping the error", err)
		}
	})
}
