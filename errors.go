package gopool

import (
	"errors"
	"fmt"
)

// ErrClosed reports that [Pool.Close] cut work short: tasks that had not
// started when Close was called, or that were handed to [Pool.Go] after it,
// never ran. Test for it with errors.Is.
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

// Permanent marks err as not worth retrying: a task that returns it (or an
// error wrapping it) is not tried again, whatever its retry policy, and
// [Pool.Wait] reports err itself, without the mark. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent reports whether err is marked by [Permanent], and returns it with
// a top-level mark removed.
func permanent(err error) (error, bool) {
	if p, ok := err.(*permanentError); ok {
		return p.err, true
	}
	var p *permanentError
	return err, errors.As(err, &p)
}
