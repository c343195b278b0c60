package gopool

import (
	"context"
	"errors"
	"time"
)

// ErrTimeout is the context.Cause of a try's context once the try's timeout
// ([Task.WithTimeout], [Pool.WithTimeout]) has passed. A try that timed out
// and returned its context's error, or an error wrapping it, fails with an
// error for which errors.Is(err, ErrTimeout) holds: [Pool.Wait] reports it
// so. Test for it with errors.Is.
var ErrTimeout = errors.New("gopool: try timed out")

// policy is what a pool gives the tasks it runs that have no retry policy or
// timeout of their own.
type policy struct {
	retry   retryPolicy
	timeout time.Duration // never negative; 0 means none
}

// WithTimeout gives each try of t at most d, and returns t. The try's
// [Args].Context is done d after the try starts, with context.Cause
// [ErrTimeout], and its Deadline is the try's start plus d, or the batch's
// deadline if that is earlier; the batch's own cancellation still reaches it
// at once. d <= 0 means no timeout. t's own timeout wins over any pool's, as
// its retry policy does: WithTimeout(0) means no timeout for t, whatever its
// pool's.
//
// A try that timed out has failed, even though its context is done: the
// batch was not cancelled, so its error is no echo of that. It is retried
// under t's retry policy like any other failure, and if it is the last,
// Wait reports it. If the try returned its context's error, or an error
// wrapping it, that error is wrapped, keeping its message and its marks
// ([Permanent], [RetryAfter]), so that errors.Is(err, ErrTimeout) holds for
// it. The timeout is cooperative: the pool cannot stop a function, and one
// that ignores its context runs on past d; whatever it then returns is the
// try's result.
//
// Each try with a timeout makes a context and a timer, and stops them: four
// allocations and some 300 bytes, what context.WithTimeoutCause and its
// cancel cost. Tasks without a timeout touch neither the clock nor any timer. Like
// WithRetry, WithTimeout allocates only when it gives t options other than
// those it last gave any task, and it keeps t's retry policy.
func (t *Task[T]) WithTimeout(d time.Duration) *Task[T] {
	o := t.options()
	o.timeout, o.hasTimeout = max(d, 0), true
	t.opts = sharedOptions(&lastTimeout, o)
	return t
}

// WithTimeout gives each try of every task of p that has no timeout of its
// own at most d; see [Task.WithTimeout] for what that means. d <= 0 means no
// timeout. A [Worker] of a type other than [Task] cannot see the pool's
// context, so the timeout does not reach it. Sub-pools do not inherit it;
// [Map] does. It returns p. It panics if p, or a pool below it, has tasks not
// yet waited for.
func (p *Pool) WithTimeout(d time.Duration) *Pool {
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	p.mustBeIdleLocked("WithTimeout")
	p.timeout = max(d, 0)
	return p
}

// newTryContext makes the context of a try with a timeout; tests replace it
// to prove when no timer is made.
var newTryContext = context.WithTimeoutCause

// timedTry runs try with a context derived from ctx that is done d after the
// try starts, with cause ErrTimeout, and cancels that context when try
// returns, or panics. If the timeout passed before ctx was done, an error of
// try's that is or wraps the context's error is wrapped so that errors.Is
// finds ErrTimeout in it.
func timedTry(ctx context.Context, d time.Duration, try func(context.Context) error) error {
	tctx, cancel := newTryContext(ctx, d, ErrTimeout)
	defer cancel()
	err := try(tctx)
	// A cancellation that reaches tctx from ctx sets ctx's Err, which for a
	// batch is always context.Canceled: only tctx's own timer makes it
	// context.DeadlineExceeded.
	if err != nil && tctx.Err() == context.DeadlineExceeded && context.Cause(tctx) == ErrTimeout {
		err, _ = timedOut(err)
	}
	return err
}

// timedOut wraps err, the error of a try that timed out, in a timeoutError if
// it is or wraps context.DeadlineExceeded and errors.Is does not already
// find ErrTimeout in it, and reports whether it did. Marks on top of err stay
// on top, so that they are removed as cleanly as ever.
func timedOut(err error) (error, bool) {
	switch e := err.(type) {
	case *permanentError:
		if inner, ok := timedOut(e.err); ok {
			return &permanentError{inner}, true
		}
		return err, false
	case *retryAfterError:
		if inner, ok := timedOut(e.err); ok {
			return &retryAfterError{inner, e.d}, true
		}
		return err, false
	}
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		return err, false
	}
	return &timeoutError{err}, true
}

// timeoutError is the error of a try that timed out: the try's own error,
// with its message, in which errors.Is also finds ErrTimeout. It is never an
// echo of the batch's cancellation (see echoes). It has one Unwrap() error,
// not Unwrap() []error, so that code splitting Wait's joined failures does
// not split it.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string        { return e.err.Error() }
func (e *timeoutError) Unwrap() error        { return e.err }
func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }
