package gopool

import (
	"context"
	"fmt"
)

// Admission across a pool tree. A task handed to Go is, in turn:
//
//   - blocked: its Go waits, since some limit on its pool's path has no free
//     slot, and the nearest such limit has no queue space ([Pool.WithQueue]);
//   - held: in its batch's held queue, counted in the queue of the nearest
//     limit that had no free slot; its Go has returned;
//   - queued: holding a slot at every limit on its path, in the tree's queue,
//     waiting for a worker;
//   - running.
//
// A pool's counts.active counts the queued and running tasks of its subtree
// (the slots taken at its limit), and counts.held the tasks held in its
// queue. Whenever a slot or queue space frees, advanceLocked moves tasks
// on, the oldest first, until none could move.

// state is where a registered task stands on its way to a worker.
type state uint8

const (
	isBlocked state = iota
	isHeld
	isQueued
)

// admissionLocked reports whether every limit on p's path has a free slot;
// if not, hold is the pool of the nearest limit without one, if its queue
// has space, and nil otherwise.
func (p *Pool) admissionLocked() (run bool, hold *Pool) {
	for a := p; a != nil; a = a.parent {
		if a.limit > 0 && a.st.active >= a.limit {
			if a.st.held < a.queue {
				return false, a
			}
			return false, nil
		}
	}
	return true, nil
}

// placeLocked admits e, a registered task, at once if it can: to a worker
// if every limit on its path has a free slot, else to its batch's held
// queue if the nearest full limit has queue space. It reports whether it
// did.
func (t *tree) placeLocked(e *entry) bool {
	run, hold := e.b.pool.admissionLocked()
	switch {
	case run:
		t.runLocked(e.w, e.b)
	case hold != nil:
		e.ticket = t.tickets
		t.tickets++
		e.b.holdLocked(*e, hold)
	default:
		return false
	}
	return true
}

// runLocked takes a slot at every limit on the path of b's pool, and queues
// w, a task of b, for a worker.
func (t *tree) runLocked(w Worker, b *batch) {
	for a := b.pool; a != nil; a = a.parent {
		a.st.active++
	}
	t.queue.push(job{w, b})
	t.ensureWorkerLocked()
}

// holdLocked holds e in b's held queue, counted in the queue of at, until
// every limit on its path has a free slot.
func (b *batch) holdLocked(e entry, at *Pool) {
	at.st.held++
	e.at = at
	b.held.push(e)
	b.t.blocked.push(b, blockedList)
}

// unholdLocked gives back the queue space that e held.
func (e *entry) unholdLocked() {
	e.at.st.held--
	e.at = nil
}

// releaseLocked gives back the slots that a task of p held, and moves other
// tasks on.
func (t *tree) releaseLocked(p *Pool) {
	for a := p; a != nil; a = a.parent {
		a.st.active--
	}
	t.advanceLocked()
}

// advanceLocked moves blocked and held tasks on as far as the limits let
// them, the oldest first, until none can move.
func (t *tree) advanceLocked() {
	for b := t.blocked.head; b != nil; b = t.blocked.head {
		if b.links[blockedList].next == nil {
			// One batch: its own order is the order.
			m := b.movableLocked()
			if m.e == nil {
				return
			}
			if !b.cancelledLocked() { // else its tasks were just skipped
				b.advanceLocked(m)
			}
			continue
		}
		var (
			next *batch
			move move
		)
		for ; b != nil; b = b.links[blockedList].next {
			if m := b.movableLocked(); m.e != nil && (next == nil || m.e.ticket < move.e.ticket) {
				next, move = b, m
			}
		}
		if next == nil {
			return
		}
		if !next.cancelledLocked() { // else its tasks were just skipped
			next.advanceLocked(move)
		}
	}
}

// A move is how a blocked or held task can move on: e, to a worker if run,
// else to the queue of hold.
type move struct {
	e    *entry
	run  bool
	hold *Pool
}

// movableLocked returns how b's oldest task that can move on does: its
// oldest held task if every limit on the path has a free slot, or else its
// oldest blocked task if it can run or be held. Its e is nil if none can.
func (b *batch) movableLocked() move {
	run, hold := b.pool.admissionLocked()
	switch {
	case run && b.held.n > 0:
		return move{e: b.held.peek(), run: true}
	case b.waiting.n > 0 && (run || hold != nil):
		return move{e: b.waiting.peek(), run: run, hold: hold}
	}
	return move{}
}

// advanceLocked makes m, which movableLocked returned: a held task to a
// worker, a blocked one to a worker or to a queue.
func (b *batch) advanceLocked(m move) {
	t := b.t
	if b.held.n > 0 && m.e == b.held.peek() {
		e := b.held.pop()
		e.unholdLocked()
		t.runLocked(e.w, e.b)
	} else {
		e := m.e // b.waiting.peek()
		if e.uncounted {
			e.uncounted = false
			b.pool.countLocked(1)
		}
		if m.run {
			w := e.w
			b.dropWaitingLocked()
			t.runLocked(w, b)
		} else {
			held := *e
			b.dropWaitingLocked()
			b.holdLocked(held, m.hold) // keeping its ticket, older than any held since
		}
		if b.blocked == 1 {
			b.space.Signal()
		} else {
			b.space.Broadcast() // the one admitted is among them
		}
	}
	if b.held.n == 0 && b.waiting.n == 0 {
		t.blocked.remove(b, blockedList)
	}
}

// dropWaitingLocked drops b's oldest blocked task, and the tasks that
// GoContext took back behind it.
func (b *batch) dropWaitingLocked() {
	b.waiting.drop()
	b.admitted++
	for b.waiting.n > 0 && b.waiting.peek().w == nil {
		b.waiting.drop()
		b.admitted++
	}
}

// A wait is how blockLocked ended.
type wait uint8

const (
	admitted  wait = iota // to a worker or to the held queue
	skipped               // by the batch's cancellation
	withdrawn             // taken back, unregistered: gaveUp was closed
)

// blockLocked queues e, a registered task of b, behind the limits and
// waits until it is admitted, the batch is cancelled, which skips it, or
// gaveUp is closed, which takes it back. The caller has just seen that b is
// not cancelled, without unlocking since.
func (b *batch) blockLocked(e entry, gaveUp <-chan struct{}) wait {
	t := b.t
	t.blocked.push(b, blockedList)
	e.ticket = t.tickets
	t.tickets++
	b.waiting.push(e)
	ticket := b.tickets
	b.tickets++
	b.blocked++
	for b.admitted <= ticket && !b.cancelledLocked() {
		if gaveUp != nil { // nil for Go
			select {
			case <-gaveUp:
				b.blocked--
				b.withdrawLocked(e.ticket)
				return withdrawn
			default:
			}
		}
		b.space.Wait()
	}
	b.blocked--
	if b.cut && ticket >= b.cutTicket {
		return skipped // by setCancelledLocked, with every blocked task
	}
	return admitted
}

// withdrawLocked takes back the blocked task with ticket, for a GoContext
// whose context is done: the task is unregistered, as if never handed in.
func (b *batch) withdrawLocked(ticket uint64) {
	e := find(&b.waiting, ticket)
	e.w = nil
	if b.waiting.peek().w == nil {
		b.dropWaitingLocked()
	}
	if b.waiting.n == 0 && b.held.n == 0 {
		b.t.blocked.remove(b, blockedList)
	}
	b.doneLocked(1)
}

// WithQueue lets up to n tasks wait in p's queue once p's limit has no free
// slot: [Pool.Go] then blocks only while the limit's tasks are running and n
// more are queued, so that a producer may run ahead of the workers while
// memory stays bounded by the limit plus n. n <= 0 means no queue, the
// default: Go blocks as soon as the limit's tasks are running, as with
// errgroup. Without a limit, WithQueue has no effect. Queued tasks start in
// the order they were handed in. In a tree, a task that cannot start waits
// in the queue of the nearest limit on its path that has no free slot, or,
// if that queue is full, its Go blocks; so memory stays bounded by the sum
// of the limits and queues on the tree. Close, fail-fast and a done context
// skip queued tasks. It returns p. It panics if p, or a pool below it, has
// tasks not yet waited for.
func (p *Pool) WithQueue(n int) *Pool {
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	p.mustBeIdleLocked("WithQueue")
	p.queue = max(n, 0)
	return p
}

// TryGo registers task with p's current batch and starts it, as [Pool.Go]
// does, only if it can be admitted now: every limit on its path has a free
// slot or queue space, p is not closed and its batch is not cancelled.
// Otherwise it returns false, and task is not registered: it never runs and
// [Pool.Stats] does not count it. TryGo never blocks, and costs what Go
// costs. It panics if task is nil.
func (p *Pool) TryGo(task Worker) bool {
	f := mustBeWorker(task)
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.closedLocked() || p.pathDone() {
		return false
	}
	if run, hold := p.admissionLocked(); !run && hold == nil {
		return false
	}
	b := p.openBatchLocked()
	if p.closedLocked() || b.cancelledLocked() {
		return false
	}
	if run, hold := p.admissionLocked(); !run && hold == nil {
		return false
	}
	b.registerLocked(f)
	p.countLocked(1)
	return t.placeLocked(&entry{w: task, b: b})
}

// GoContext registers task with p's current batch and starts it, as
// [Pool.Go] does for one task, but waits for admission only while ctx is
// live. It returns nil once task is admitted (to a worker, or to the queue
// of [Pool.WithQueue]). If ctx is done first, or already done (even if a
// slot is free), it returns an error that wraps context.Cause(ctx), and task
// is not registered. If p is closed, it returns [ErrClosed], and task is not
// registered. If p's batch is cancelled (by fail-fast, Close or a done
// context) before task is admitted, task is skipped as with Go, and
// GoContext returns an error that wraps the batch's cause. Until it is
// admitted, task is not in [Pool.Stats]. It panics if ctx or task is nil.
func (p *Pool) GoContext(ctx context.Context, task Worker) error {
	if ctx == nil {
		panic("gopool: GoContext called with a nil context")
	}
	f := mustBeWorker(task)
	if ctx.Err() != nil {
		return notAdmitted(ctx)
	}
	gaveUp := ctx.Done()
	t := p.tree()
	t.mu.Lock()
	if p.closedLocked() {
		t.mu.Unlock()
		return ErrClosed
	}
	b := p.openBatchLocked()
	if p.closedLocked() {
		t.mu.Unlock()
		return ErrClosed
	}
	b.registerLocked(f)
	e := entry{w: task, b: b, uncounted: true}
	var stop func() bool
	for {
		if b.cancelledLocked() {
			b.skipLocked(e, isBlocked)
			return b.skippedUnlock(stop)
		}
		if run, hold := p.admissionLocked(); run || hold != nil {
			e.uncounted = false
			p.countLocked(1)
			t.placeLocked(&e)
			t.mu.Unlock()
			stopWatch(stop)
			return nil
		}
		if gaveUp == nil || stop != nil {
			break
		}
		// Wake the wait below once ctx is done. Registering runs ctx's
		// code, so the lock is released meanwhile, and everything is
		// looked at again after; b cannot end, since task is registered.
		t.mu.Unlock()
		stop = context.AfterFunc(ctx, func() {
			t.mu.Lock()
			b.space.Broadcast()
			t.mu.Unlock()
		})
		t.mu.Lock()
	}
	switch b.blockLocked(e, gaveUp) {
	case admitted:
		t.mu.Unlock()
		stopWatch(stop)
		return nil
	case skipped:
		return b.skippedUnlock(stop)
	}
	t.mu.Unlock()
	stopWatch(stop)
	if f != nil {
		f.done()
	}
	return notAdmitted(ctx)
}

func stopWatch(stop func() bool) {
	if stop != nil {
		stop()
	}
}

func notAdmitted(ctx context.Context) error {
	return fmt.Errorf("gopool: task not admitted: %w", context.Cause(ctx))
}

// skippedUnlock unlocks the tree, stops GoContext's watch, and returns
// GoContext's error for a task skipped by the batch's cancellation. The
// cause is read before the lock is released: once the task is skipped, Wait
// may end the batch. A cancellation by a context on the path whose watch has
// not yet told why is asked of the contexts, without the lock.
func (b *batch) skippedUnlock(stop func() bool) error {
	cause := b.cause
	b.t.mu.Unlock()
	stopWatch(stop)
	if cause == nil {
		cause = b.pool.pathCause()
	}
	return fmt.Errorf("gopool: task skipped: %w", cause)
}
