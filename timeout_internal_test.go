package gopool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// These tests replace newTryContext or randUint64, so none of them may run
// in parallel.

// countTryContexts counts the calls of newTryContext until t ends.
func countTryContexts(t *testing.T) *atomic.Int64 {
	t.Helper()
	var calls atomic.Int64
	saved := newTryContext
	newTryContext = func(ctx context.Context, d time.Duration, cause error) (context.Context, context.CancelFunc) {
		calls.Add(1)
		return saved(ctx, d, cause)
	}
	t.Cleanup(func() { newTryContext = saved })
	return &calls
}

func TestTaskWithoutTimeoutMakesNoTimer(t *testing.T) {
	calls := countTryContexts(t)
	errF := errors.New("fails")
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		// Each task checks that its context is the batch itself, with no
		// deadline, as before timeouts existed.
		plain := func(a Args[int]) error {
			if _, ok := a.Context.(*batch); !ok {
				t.Errorf("Args.Context is a %T, want the batch", a.Context)
			}
			if dl, ok := a.Context.Deadline(); ok {
				t.Errorf("Args.Context has a deadline, %v", dl)
			}
			return errF
		}
		for _, c := range []struct {
			name string
			run  func() error
		}{
			{"a failing task with a retry policy in a pool", func() error {
				return NewPool().Go(NewTask(plain).WithRetry(3, 0)).Wait()
			}},
			{"a task with WithTimeout(0) in a pool with a timeout", func() error {
				return NewPool().WithTimeout(time.Hour).Go(NewTask(plain).WithTimeout(0).WithRetry(3, 0)).Wait()
			}},
			{"a task with a negative timeout", func() error {
				return NewPool().Go(NewTask(plain).WithTimeout(-time.Second)).Wait()
			}},
			{"a task in a pool with WithTimeout(0)", func() error {
				return NewPool().WithTimeout(0).WithRetry(2, 0).Go(NewTask(plain)).Wait()
			}},
			{"a task in a sub-pool of a pool with a timeout", func() error {
				return NewPool().WithTimeout(time.Hour).Sub().Go(NewTask(plain)).Wait()
			}},
			{"a user Worker in a pool with a timeout", func() error {
				return NewPool().WithTimeout(time.Hour).WithRetry(2, 0).Go(&plainWorker{err: errF}).Wait()
			}},
			{"Map on a pool without a timeout", func() error {
				_, err := Map(NewPool().WithRetry(2, 0), []int{1, 2}, func(context.Context, int) (int, error) { return 0, errF })
				return err
			}},
			{"a task run by Execute", func() error {
				return NewTask(func(Args[int]) error { return errF }).WithRetry(2, 0).Execute()
			}},
		} {
			if err := c.run(); err == nil {
				t.Errorf("%s: no error", c.name)
			}
			if n := calls.Load(); n != 0 {
				t.Fatalf("%s: %d try contexts made, want none", c.name, n)
			}
			if !time.Now().Equal(start) {
				t.Fatalf("%s: fake time moved by %v", c.name, time.Since(start))
			}
		}
	})
	// The control: a task with a timeout makes one context, with its timer,
	// per try.
	if err := NewPool().Go(NewTask(func(Args[int]) error { return errF }).WithTimeout(time.Hour).WithRetry(3, 0)).Wait(); err != errF {
		t.Fatalf("Wait = %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("a task with a timeout made %d try contexts over 3 tries, want 3", n)
	}
}

func TestTimeoutFiresAtDThenBackoff(t *testing.T) {
	calls := replaceDraw(t, func() uint64 { return 0 }) // each backoff is exactly d/2
	synctest.Test(t, func(t *testing.T) {
		var starts, timeouts []time.Time
		tk := NewTask(func(a Args[int]) error {
			starts = append(starts, time.Now())
			if a.Attempt == 4 {
				return nil
			}
			<-a.Context.Done()
			timeouts = append(timeouts, time.Now())
			return a.Context.Err()
		}).WithTimeout(3*time.Second).WithRetry(5, 2*time.Second)
		start := time.Now()
		p := NewPool()
		if err := p.Go(tk).Wait(); err != nil {
			t.Fatalf("Wait = %v", err)
		}
		// Try k times out 3s after it starts; the wait after it is
		// 2s*2^(k-1)/2.
		wantStarts := []time.Duration{0, 4 * time.Second, 9 * time.Second, 16 * time.Second}
		wantTimeouts := []time.Duration{3 * time.Second, 7 * time.Second, 12 * time.Second}
		if len(starts) != len(wantStarts) || len(timeouts) != len(wantTimeouts) {
			t.Fatalf("%d tries and %d timeouts, want %d and %d", len(starts), len(timeouts), len(wantStarts), len(wantTimeouts))
		}
		for i, w := range wantStarts {
			if got := starts[i].Sub(start); got != w {
				t.Errorf("try %d started at %v, want exactly %v", i+1, got, w)
			}
		}
		for i, w := range wantTimeouts {
			if got := timeouts[i].Sub(start); got != w {
				t.Errorf("try %d timed out at %v, want exactly %v", i+1, got, w)
			}
		}
		if s := p.Stats(); s.Retries != 3 || s.Succeeded != 1 {
			t.Errorf("Stats = %+v, want 3 retries and a success", s)
		}
	})
	if n := calls.Load(); n != 3 {
		t.Errorf("%d random draws, want 3, one per backoff", n)
	}
}

func TestTimedOutErrors(t *testing.T) {
	t.Run("only an error that is or wraps the context's error, without ErrTimeout yet, is wrapped", func(t *testing.T) {
		other := errors.New("other")
		for _, c := range []struct {
			err  error
			wrap bool
		}{
			{context.DeadlineExceeded, true},
			{&wrapped{context.DeadlineExceeded}, true},
			{errors.Join(other, context.DeadlineExceeded), true},
			{other, false},
			{context.Canceled, false},
			{ErrTimeout, false},
			{errors.Join(ErrTimeout, context.DeadlineExceeded), false},
		} {
			got, ok := timedOut(c.err)
			if ok != c.wrap || !errors.Is(got, c.err) || got.Error() != c.err.Error() {
				t.Errorf("timedOut(%q) = %q, %v; want wrapped: %v, with the same message, wrapping it", c.err, got, ok, c.wrap)
			}
			if c.wrap && !errors.Is(got, ErrTimeout) {
				t.Errorf("timedOut(%q) = %q: errors.Is finds no ErrTimeout in it", c.err, got)
			}
		}
	})

	t.Run("marks on top stay on top, and unmark removes them cleanly", func(t *testing.T) {
		for _, err := range []error{
			Permanent(context.DeadlineExceeded),
			RetryAfter(time.Second, context.DeadlineExceeded),
			Permanent(RetryAfter(time.Second, context.DeadlineExceeded)),
		} {
			got, ok := timedOut(err)
			if !ok {
				t.Fatalf("timedOut(%q) did not wrap it", err)
			}
			m, bare := unmark(got)
			if _, isTimeout := bare.(*timeoutError); !isTimeout || !m.permanent && !m.retryAfter {
				t.Errorf("unmark(timedOut(%#v)) = %#v, %+v; want a bare *timeoutError and the marks", err, bare, m)
			}
		}
	})

	t.Run("a timed-out try's error is never an echo, even of a deadline", func(t *testing.T) {
		for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
			got, _ := timedOut(context.DeadlineExceeded)
			if echoes(got, ctxErr) || echoes(errors.Join(got, ctxErr), ctxErr) {
				t.Errorf("a timed-out try's error echoes %v", ctxErr)
			}
		}
	})
}

func TestUnmark(t *testing.T) {
	errA := errors.New("a")
	t.Run("an error without marks is returned as it is, without allocating", func(t *testing.T) {
		joined := errors.Join(errA, &wrapped{errA})
		for _, err := range []error{errA, &wrapped{errA}, joined} {
			var got error
			var m marks
			if avg := testing.AllocsPerRun(100, func() { m, got = unmark(err) }); avg != 0 {
				t.Errorf("unmark(%q) allocated %v times", err, avg)
			}
			if got != err || m != (marks{}) {
				t.Errorf("unmark(%q) = %#v, %+v; want it unchanged and no marks", err, got, m)
			}
		}
	})

	t.Run("honoured hides both kinds of mark from a later unmark", func(t *testing.T) {
		err := &wrapped{errors.Join(Permanent(errA), RetryAfter(time.Second, errA))}
		m, got := unmark(err)
		if !m.permanent || !m.retryAfter || m.after != time.Second {
			t.Fatalf("unmark = %+v, want both marks", m)
		}
		m2, again := unmark(got)
		if again != got || m2 != (marks{}) {
			t.Errorf("unmark of an honoured error = %#v, %+v; want it unchanged and no marks", again, m2)
		}
	})
}

// wrapped is an error that wraps another with the same message.
type wrapped struct{ err error }

func (e *wrapped) Error() string { return e.err.Error() }
func (e *wrapped) Unwrap() error { return e.err }
