package gopool

import (
	"context"
	"runtime/debug"
	"time"
)

// A batch is the context.Context of its tasks. It is done when the batch is
// cancelled (by fail-fast, Close, or Wait ending it) or when a context on its
// pool's path is done: the pool's own, from NewPoolWithContext or
// SubWithContext, or one of an ancestor's. Deadline, Done, Err and Value
// delegate to a context made on first use, which carries the values of the
// nearest context on the path; Value also answers the context package's own
// key, so context.Cause and derived contexts work.

// cancelable is a batch's context, made when a task first uses it.
type cancelable struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// context returns the batch's context, making it on first use: most tasks
// never look at theirs, and a batch whose tasks do not costs no allocation.
// It derives from no context of the caller's but for values, so that
// cancelling it, which the pool does under its lock, runs none of the
// caller's code; the caller's contexts reach it through the batch's watches.
func (b *batch) context() context.Context {
	if c := b.ctx.Load(); c != nil {
		return c.ctx
	}
	parent := context.Background()
	for a := b.pool; a != nil; a = a.parent {
		if a.ctx != nil {
			parent = context.WithoutCancel(a.ctx)
			break
		}
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := b.pool.tree()
	t.mu.Lock()
	if c := b.ctx.Load(); c != nil {
		t.mu.Unlock()
		cancel(nil)
		return c.ctx
	}
	b.ctx.Store(&cancelable{ctx, cancel})
	if b.cause != nil {
		cancel(b.cause)
	}
	t.mu.Unlock()
	return ctx
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
			ctx := a.ctx
			stops = append(stops, context.AfterFunc(ctx, func() { b.contextCancelled(ctx) }))
		}
	}
	return stops
}

// startWatchLocked starts the watches of a new batch. It unlocks the tree
// meanwhile; b.watching holds b's Wait until they are in place.
func (b *batch) startWatchLocked() {
	t := b.pool.tree()
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

// contextCancelled runs when ctx, a context on the batch's path, is done.
func (b *batch) contextCancelled(ctx context.Context) {
	cause := causeOf(ctx)
	t := b.pool.tree()
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
