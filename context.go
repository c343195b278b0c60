package gopool

import (
	"cmp"
	"context"
	"runtime/debug"
	"time"
)

// A batch is the context.Context of its tasks. It is done when the batch is
// cancelled (by fail-fast, Close, or Wait ending it) or when a context on its
// pool's path is done: the pool's own, from NewPoolWithContext or
// SubWithContext, or one of an ancestor's. Deadline, Done, Err and Value
// delegate to a context made on first use; Value also answers the context
// package's own key, so context.Cause and derived contexts work.

// cancelable is a batch's context, made when a task first uses it. ctx
// derives from the nearest context on the pool's path through link, a
// context of its own, so that the cancellation of that nearest context
// reaches the tasks at once, as with any derived context, while cancelling
// ctx, which the pool does under its lock, runs none of the caller's code:
// only unlink, called without the lock once the batch ends, reaches the
// caller's context. Contexts further up the path reach the batch through
// its watches.
type cancelable struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	unlink context.CancelFunc // nil if ctx has no link to the caller's context
}

// context returns the batch's context, making it on first use: most tasks
// never look at theirs, and a batch whose tasks do not costs no allocation.
// It is made without the lock, since deriving it runs the caller's code.
func (b *batch) context() context.Context {
	if c := b.ctx.Load(); c != nil {
		return c.ctx
	}
	parent := context.Background()
	for a := b.pool; a != nil; a = a.parent {
		if a.ctx != nil {
			parent = a.ctx
			break
		}
	}
	t := b.t
	for {
		cancelled := b.cancelled.Load()
		c := new(cancelable)
		var cause error
		if cancelled {
			// Born cancelled, with the batch's cause, or with that of the
			// context on the path that is done.
			cause = b.causeNow()
			c.ctx, c.cancel = context.WithCancelCause(context.WithoutCancel(parent))
		} else {
			link := parent
			if parent.Done() != nil {
				link, c.unlink = context.WithCancel(parent)
			}
			c.ctx, c.cancel = context.WithCancelCause(link)
		}
		t.mu.Lock()
		old := b.ctx.Load()
		if old == nil && b.cancelled.Load() == cancelled {
			// Not ended, if not cancelled: its end will unlink c.
			b.ctx.Store(c)
			if cancelled {
				c.cancel(cmp.Or(b.cause, cause))
			}
			t.mu.Unlock()
			return c.ctx
		}
		t.mu.Unlock()
		c.cancel(nil)
		if c.unlink != nil {
			c.unlink()
		}
		if old != nil {
			return old.ctx
		}
	}
}

// causeNow returns why the batch was cancelled. The cause of a
// cancellation by a context on the path may not be recorded yet: it is then
// asked of the context. Call it without the lock.
func (b *batch) causeNow() error {
	t := b.t
	t.mu.Lock()
	cause := b.cause
	t.mu.Unlock()
	if cause == nil {
		cause = b.pool.pathCause()
	}
	return cause
}

// Deadline reports the earliest deadline of the contexts on the pool's path.
func (b *batch) Deadline() (deadline time.Time, ok bool) {
	for a := b.pool; a != nil; a = a.parent {
		if a.ctx == nil {
			continue
		}
		if d, has := a.ctx.Deadline(); has && (!ok || d.Before(deadline)) {
			deadline, ok = d, true
		}
	}
	return deadline, ok
}

func (b *batch) Done() <-chan struct{} { return b.context().Done() }
func (b *batch) Err() error            { return b.context().Err() }
func (b *batch) Value(key any) any     { return b.context().Value(key) }
func (b *batch) String() string        { return "gopool batch context" }

// pathDone reports whether a context on p's path is done. It looks only at
// their Done channels, taken when each pool was made, so it runs none of
// the caller's code and may be called under the lock.
func (p *Pool) pathDone() bool {
	if !p.hasCtx {
		return false
	}
	for a := p; a != nil; a = a.parent {
		if a.done != nil {
			select {
			case <-a.done:
				return true
			default:
			}
		}
	}
	return false
}

// contextDone reports, without the lock, whether the batch's context is
// done, as a task that just returned would see it.
func (b *batch) contextDone() bool { return b.cancelled.Load() || b.pool.pathDone() }

// contextErr returns the Err of the batch's done context, as its tasks see
// it: its own, or, until a watch has passed it on, that of the context on
// the path that is done. It runs the caller's code: call it without the lock.
func (b *batch) contextErr() error {
	if c := b.ctx.Load(); c != nil {
		if err := c.ctx.Err(); err != nil {
			return err
		}
	}
	for a := b.pool; a != nil; a = a.parent {
		if a.done != nil {
			select {
			case <-a.done:
				return a.ctx.Err()
			default:
			}
		}
	}
	return context.Canceled
}

// watchesLocked returns how many contexts on p's path can be done.
func (p *Pool) watches() int {
	n := 0
	for a := p; a != nil; a = a.parent {
		if a.done != nil {
			n++
		}
	}
	return n
}

// watch makes each context on the batch's path cancel the batch once it is
// done, and returns the functions that stop those watches. It runs the
// contexts' code: call it without the lock.
func (b *batch) watch() []func() bool {
	stops := make([]func() bool, 0, b.pool.watches())
	for a := b.pool; a != nil; a = a.parent {
		if a.done != nil {
			stops = append(stops, context.AfterFunc(a.ctx, b.contextCancelled))
		}
	}
	return stops
}

// startWatchLocked starts the watches of a new batch. It unlocks the tree
// meanwhile; b.watching holds b's Wait until they are in place.
func (b *batch) startWatchLocked() {
	t := b.t
	b.watching = b.pool.watches() + 1
	t.mu.Unlock()
	stops := b.watch()
	t.mu.Lock()
	if b.ended {
		t.mu.Unlock()
		n := stopAll(stops)
		t.mu.Lock()
		b.unwatchLocked(n)
	} else {
		b.stops = stops
	}
	b.unwatchLocked(1)
}

// contextCancelled runs when a context on the batch's path is done. Its
// watch may run after that of another context done just after it, so it
// records the cause of the nearest done context on the path, which is what
// a batch context linked to the nearest one would have seen first.
func (b *batch) contextCancelled() {
	cause := b.pool.pathCause()
	t := b.t
	t.mu.Lock()
	if b.cause == nil {
		b.setCancelledLocked(cause)
	}
	b.unwatchLocked(1)
	t.mu.Unlock()
}

func (b *batch) unwatchLocked(n int) {
	b.watching -= n
	if b.watching == 0 {
		b.done.Broadcast()
	}
}

// causeOf returns context.Cause(ctx) of a done ctx; a panic in ctx's code
// becomes the cause.
func causeOf(ctx context.Context) (cause error) {
	defer func() {
		if v := recover(); v != nil {
			cause = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if cause = context.Cause(ctx); cause == nil {
		cause = context.Canceled
	}
	return cause
}

func stopAll(stops []func() bool) int {
	n := 0
	for _, stop := range stops {
		if stop() {
			n++
		}
	}
	return n
}

// pathCause returns the cause of the first done context on p's path, or
// context.Canceled. It runs the contexts' code: call it without the lock.
func (p *Pool) pathCause() error {
	for a := p; a != nil; a = a.parent {
		if a.done != nil {
			select {
			case <-a.done:
				return causeOf(a.ctx)
			default:
			}
		}
	}
	return context.Canceled
}
