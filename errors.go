package gopool

import (
	"errors"
	"fmt"
	"time"
)

// ErrClosed reports that [Pool.Close] cut work short. Close returns it when
// it skipped tasks of the pool's batch that had not started; the next
// [Pool.Wait] returns it when tasks were handed to Go after the Close, and
// never ran; a sub-pool's Wait returns it when a Close above it skipped its
// tasks. A pool that was never closed never reports it, except as a task's
// own failure. Test for it with errors.Is.
var ErrClosed = errors.New("gopool: pool closed")

// errGoexit is the failure of a task that called runtime.Goexit: it neither
// returned nor panicked, so there is no error or value to report.
var errGoexit = errors.New("gopool: task called runtime.Goexit")

// PanicError is the failure of a task that panicked while a [Pool] ran it.
// The pool recovers the panic so that the caller's process survives and the
// other tasks and their results are unaffected; [Pool.Wait] reports it like
// any other failure. A panicking task is never retried.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack trace of the panicking goroutine, taken where the
	// panic was recovered, as formatted by runtime/debug.Stack.
	Stack []byte
}

// Error describes the panic by its value; the stack is in Stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("gopool: task panicked: %v", e.Value)
}

// Unwrap returns Value if it is an error, so that errors.Is and errors.As
// see through the panic; otherwise it returns nil.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Permanent marks err as not worth retrying: a task that returns it, or an
// error wrapping it, is not tried again, whatever its retry policy.
// Permanent(nil) is nil.
//
// The mark is honoured once, by the pool that runs the task, and does not
// leak out of it: if the task returned the mark itself, [Pool.Wait] reports
// err, unmarked; if the mark sits deeper, inside other wrappers (as in
// fmt.Errorf("op: %w", Permanent(err))), Wait reports an error with the same
// message that wraps the task's error, through which errors.Is and errors.As
// reach err, but that no longer counts as marked: a task that returns it, in
// another pool, is retried as usual.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// RetryAfter marks err as worth trying again after exactly d, as when a
// server answers with a Retry-After header: when a task's try returns it, or
// an error wrapping it, the wait before the next try is d instead of the
// backoff of the task's retry policy, with no jitter and no cap. Only the
// task's context cuts the wait short: once it is done, the task fails with
// err at once. The try counts against the policy's attempts like any other,
// so a task without a retry policy is still tried once, and the last try
// ends the tries whatever its mark. A negative d counts as 0, and
// RetryAfter(d, nil) is nil.
//
// A [Permanent] mark on the same error wins: the tries end at once. If an
// error carries several RetryAfter marks, the first that errors.As would
// find sets the wait. The mark is honoured once, by the pool that runs the
// task, and does not leak out of it, as Permanent's does not: [Pool.Wait]
// reports err itself if the task returned the mark itself, and otherwise an
// error with the same message, through which errors.Is and errors.As reach
// err, but that no longer counts as marked. RetryAfter allocates one small
// object; honouring it allocates only for a mark inside another error.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err, max(d, 0)}
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// honoured wraps an error whose marks ([Permanent] and [RetryAfter]) a pool
// has honoured, so that they no longer count.
type honoured struct{ err error }

func (e *honoured) Error() string { return e.err.Error() }
func (e *honoured) Unwrap() error { return e.err }

// marks are what the marks of a try's error ask of the retry loop.
type marks struct {
	permanent  bool          // end the tries
	retryAfter bool          // wait after instead of the backoff
	after      time.Duration // the first RetryAfter's wait, as errors.As finds it
}

// unmark returns what the marks that err carries and no pool has yet
// honoured ask, and err without them: the marks on top of err are removed,
// and deeper ones hidden by wrapping what is left in [honoured]. An error
// without marks is returned as it is, and costs no allocation. It runs err's
// Unwrap methods: a panic in one propagates.
func unmark(err error) (marks, error) {
	var m marks
	for {
		switch e := err.(type) {
		case *permanentError:
			m.permanent = true
			err = e.err
			continue
		case *retryAfterError:
			m.note(e.d)
			err = e.err
			continue
		}
		break
	}
	if findMarks(err, &m) {
		err = &honoured{err}
	}
	return m, err
}

// note records a RetryAfter mark's wait, unless an earlier one was found.
func (m *marks) note(d time.Duration) {
	if !m.retryAfter {
		m.retryAfter, m.after = true, d
	}
}

// findMarks adds to m the marks in err's tree outside any [honoured] error,
// in the order errors.As visits them, and reports whether there were any.
func findMarks(err error, m *marks) bool {
	found := false
	for {
		switch e := err.(type) {
		case nil, *honoured:
			return found
		case *permanentError:
			m.permanent, found = true, true
			err = e.err
		case *retryAfterError:
			m.note(e.d)
			found = true
			err = e.err
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				if findMarks(err, m) {
					found = true
				}
			}
			return found
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		default:
			return found
		}
	}
}

// echoes reports whether err only echoes the cancellation of a context
// whose Err is ctxErr: every error at the leaves of err's tree, reached
// through Unwrap() error and Unwrap() []error, is ctxErr (errors.Is). An
// error that carries another failure beside the echo, as errors.Join(err,
// ctx.Err()) does, is not an echo. It runs err's methods: call it without
// the lock, and recover.
func echoes(err, ctxErr error) bool {
	for {
		if err == ctxErr {
			return true
		}
		switch e := err.(type) {
		case nil, *timeoutError: // a try that timed out failed
			return false
		case interface{ Unwrap() []error }:
			errs := e.Unwrap()
			if len(errs) == 0 {
				return errors.Is(err, ctxErr)
			}
			for _, err := range errs {
				if !echoes(err, ctxErr) {
					return false
				}
			}
			return true
		case interface{ Unwrap() error }:
			inner := e.Unwrap()
			if inner == nil {
				return errors.Is(err, ctxErr)
			}
			err = inner
		default:
			return errors.Is(err, ctxErr)
		}
	}
}
