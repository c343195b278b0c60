package gopool

import (
	"context"
	"sync"
	"sync/atomic"
)

// batch is the state of one batch of a pool, guarded by its tree's mutex.
// It is also the context its tasks receive (see context.go).
type batch struct {
	pool  *Pool
	t     *tree       // pool.tree(), which every step of a task needs
	links [2]listLink // in tree.blocked and tree.live

	waiting   fifo[entry] // tasks of Go calls blocked at a limit (see admit.go)
	held      fifo[entry] // tasks admitted to the queues, waiting for a slot
	tickets   uint64      // tasks ever pushed to waiting
	admitted  uint64      // tasks ever taken from waiting
	blocked   int         // Go calls waiting for admission
	cut       bool        // a cancellation skipped the blocked tasks from cutTicket on
	cutTicket uint64

	pending int // tasks registered and not yet finished or skipped
	waits   int // Wait and Close calls waiting for the batch to end

	errs       []error     // failures, in the order the tasks finished
	cause      error       // why the batch was cancelled, once known
	ended      bool        // Wait has ended it; the next Go starts another
	closing    bool        // cancelled by Close, of its pool or one above
	cutByClose bool        // Close skipped a task of it
	cancelled  atomic.Bool // cancelled, or a context on its path is done
	mapped     bool        // a batch of Map
	atLimit    atomic.Bool // in tree.blocked, kept for a batch of Map, whose tasks read it without the lock

	ctx      atomic.Pointer[cancelable] // made on first use by a task
	watching int                        // watches of contexts on its path that may yet call back
	stops    []func() bool              // stop those watches

	space sync.Cond // Go calls blocked at a limit wait for admission
	done  sync.Cond // Wait waits for pending and watching to drop to 0
}

// newBatchLocked starts a batch of p: the current one has ended, or there
// is none.
func (p *Pool) newBatchLocked() *batch {
	b := &p.first
	if b.pool != nil {
		b = new(batch)
	}
	t := p.tree()
	b.pool, b.t = p, t
	b.space.L, b.done.L = &t.mu, &t.mu
	t.live.push(b, liveList)
	t.exited.Broadcast() // a Wait waiting for the workers to exit: they serve b
	p.cur = b
	return b
}

// registerLocked registers a task with b: b's Wait now waits for it, and so
// does f, the drain it feeds, if not nil.
func (b *batch) registerLocked(f *feed) {
	b.pending++
	b.t.registered++
	if f != nil {
		f.pending.Add(1)
	}
}

// startLocked records that a worker starts w, a task of b.
func (b *batch) startLocked() {
	b.t.running++
	for a := b.pool; a != nil; a = a.parent {
		a.st.started++
	}
}

// An outcome is how a task that ran ended.
type outcome uint8

const (
	succeeded outcome = iota
	failed
	panicked // failed, with a *PanicError
	canceled // returned only an echo of the batch's cancellation
)

// finishLocked records the end of a running task of b that made tries tries.
// The failure is recorded, and under fail-fast the batch cancelled, before
// the task's slot is released, so that the first failure is well defined.
func (b *batch) finishLocked(o outcome, err error, tries int) {
	p, t := b.pool, b.t
	t.running--
	if o == succeeded && tries == 1 {
		for a := p; a != nil; a = a.parent {
			a.st.active--
			a.st.succeeded++
		}
	} else {
		b.countEndLocked(o, err, tries)
	}
	if t.blocked.head != nil {
		t.advanceLocked()
	}
	b.doneLocked(1)
}

// countEndLocked counts the end of a task of b that made tries tries and
// did not just succeed at once, and records its failure.
func (b *batch) countEndLocked(o outcome, err error, tries int) {
	p := b.pool
	var y tally
	y.add(o, tries)
	for a := p; a != nil; a = a.parent {
		a.st.active--
		a.st.addLocked(y)
	}
	if o == failed || o == panicked {
		b.errs = append(b.errs, err)
		if p.failFast {
			b.cancelLocked(err)
		}
	}
}

// skipLocked records that e, a registered task of b, will never run; for a
// task of Map, that the inputs not yet claimed will never run. A task that
// held slots or queue space gives them back.
func (b *batch) skipLocked(e entry, st state) {
	if r, ok := e.w.(*mapRun); ok {
		r.skipLocked()
	} else {
		b.skipTaskLocked(e)
	}
	switch st {
	case isHeld:
		e.unholdLocked()
		b.t.advanceLocked()
	case isQueued:
		b.t.releaseLocked(b.pool)
	}
}

// skipTaskLocked counts e, a registered task, as skipped.
func (b *batch) skipTaskLocked(e entry) {
	if t, ok := asTask(e.w); ok {
		if f := t.feed(); f != nil {
			f.done()
		}
	}
	for a := b.pool; a != nil; a = a.parent {
		if e.uncounted {
			a.st.submitted++
		}
		a.st.skipped++
	}
	if b.closing {
		b.cutByClose = true
	}
	b.doneLocked(1)
}

// doneLocked records that n registered tasks finished or were skipped.
func (b *batch) doneLocked(n int) {
	b.pending -= n
	b.t.unregisterLocked(n)
	if b.pending == 0 {
		b.done.Broadcast()
	}
}

// cancelledLocked reports whether the batch is cancelled, noticing first
// whether a context on its pool's path is done. Only the contexts' Done
// channels are looked at here: their methods are the caller's code, which
// never runs under the lock, so the cause of such a cancellation is recorded
// later, by the watch that calls back (see watch).
func (b *batch) cancelledLocked() bool {
	return b.cancelled.Load() || b.pool.hasCtx && b.noticePathDoneLocked()
}

// noticePathDoneLocked cancels the batch if a context on its path is done,
// and reports whether it did; cancelledLocked stays small enough to inline.
func (b *batch) noticePathDoneLocked() bool {
	if b.pool.pathDone() {
		b.setCancelledLocked(nil)
		return true
	}
	return false
}

// cancelLocked cancels the batch with cause unless it is already cancelled,
// or turns out to be by a context on its path: the earlier cause wins. It
// reports whether it cancelled the batch.
func (b *batch) cancelLocked(cause error) bool {
	if b.cancelledLocked() {
		return false
	}
	b.setCancelledLocked(cause)
	return true
}

// closeLocked cancels the batch for Close, unless it is already cancelled.
func (b *batch) closeLocked() {
	if !b.cancelledLocked() {
		b.closing = true
		b.setCancelledLocked(ErrClosed)
	}
}

// setCancelledLocked cancels the batch with cause, or, if cause is nil,
// because a context on its path is done: its context is done, tasks blocked
// at a limit are skipped and their Go calls woken. Queued tasks are skipped
// by the workers as they reach them.
func (b *batch) setCancelledLocked(cause error) {
	b.cancelled.Store(true)
	if cause != nil {
		b.recordCauseLocked(cause)
	}
	if b.waiting.n > 0 || b.held.n > 0 {
		if !b.cut {
			b.cut, b.cutTicket = true, b.admitted
		}
		b.t.blocked.remove(b, blockedList)
		for b.waiting.n > 0 {
			e := *b.waiting.peek()
			b.dropWaitingLocked()
			if e.w != nil {
				b.skipLocked(e, isBlocked)
			}
		}
		for b.held.n > 0 {
			b.skipLocked(b.held.pop(), isHeld)
		}
	}
	b.space.Broadcast()
}

// recordCauseLocked sets the batch's cause, once, and cancels its context
// with it. Our context derives from none of the caller's, so cancelling it
// runs none of the caller's code.
func (b *batch) recordCauseLocked(cause error) {
	if b.cause != nil {
		return
	}
	b.cause = cause
	if c := b.ctx.Load(); c != nil {
		c.cancel(cause)
	}
}

// waitLocked waits until every registered task of b has finished or been
// skipped, ends b, and waits for the watches of its contexts to stop. It
// unlocks the tree while it stops them, or asks them why b was cancelled,
// since that runs the contexts' code.
func (b *batch) waitLocked() {
	t := b.t
	for b.pending > 0 {
		b.done.Wait()
	}
	if !b.ended {
		b.ended = true
		b.cancelLocked(context.Canceled)
		b.waiting.release()
		b.held.release()
		t.live.remove(b, liveList)
		var unlink context.CancelFunc
		if c := b.ctx.Load(); c != nil {
			unlink = c.unlink
		}
		if stops := b.stops; stops != nil || unlink != nil {
			b.stops = nil
			t.mu.Unlock()
			if unlink != nil {
				unlink()
			}
			stopped := stopAll(stops)
			t.mu.Lock()
			b.unwatchLocked(stopped)
		}
	}
	for b.watching > 0 {
		b.done.Wait()
	}
	t.awaitWorkersLocked()
	if b.cause == nil {
		// A context on the path was done, and its watch was stopped
		// before it could tell why (a context's Done closes before its
		// AfterFuncs are started): ask the contexts, without the lock.
		t.mu.Unlock()
		cause := b.pool.pathCause()
		t.mu.Lock()
		b.recordCauseLocked(cause)
	}
}
