package gopool

import (
	"errors"
	"fmt"
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

// honoured wraps an error whose marks a pool has honoured, so that they no
// longer count.
type honoured struct{ err error }

func (e *honoured) Error() string { return e.err.Error() }
func (e *honoured) Unwrap() error { return e.err }

// permanent reports whether err carries a [Permanent] mark not yet honoured,
// and returns err with the mark removed: the mark itself if it is on top,
// and otherwise by wrapping err in [honoured].
func permanent(err error) (error, bool) {
	if p, ok := err.(*permanentError); ok {
		return p.err, true
	}
	if marked(err) {
		return &honoured{err}, true
	}
	return err, false
}

// marked reports whether err's tree holds a [Permanent] mark outside any
// [honoured] error.
func marked(err error) bool {
	for {
		switch e := err.(type) {
		case nil, *honoured:
			return false
		case *permanentError:
			return true
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				if marked(err) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		default:
			return false
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
		case nil:
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
