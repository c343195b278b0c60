package gopool

import (
	"context"
	"fmt"
)

// Admission across a pool tree. A task handed to Go is, in turn:
//
//   - blocked: its Go waits, since some limit on its pool's path has neither
//     a free slot nor queue space ([Pool.WithQueue]);
//   - held: in its batch's held queue, its Go returned, waiting for a slot
//     at every limit on its path;
//   - queued: holding a slot at every limit on its path, in the tree's
//     queue, waiting for a worker;
//   - running.
//
// A pool's counts.active counts the queued and running tasks of its subtree
// (the slots taken at its limit), and counts.accepted also the held ones.
// Whenever a slot or queue space frees, advanceLocked moves tasks on, the
// oldest first, so that no blocked or held task could move on.

// state is where a registered task stands on its way to a worker.
type state uint8

const (
	isBlocked state = iota
	isHeld
	isQueued
)

// admissionLocked reports whether every limit on p's path has a free slot,
// and whether every one has a free slot or queue space.
func (p *Pool) admissionLocked() (run, accept bool) {
	run, accept = true, true
	for a := p; a != nil; a = a.parent {
		if a.limit > 0 {
			run = run && a.st.active < a.limit
			accept = accept && a.st.accepted < a.limit+a.queue
		}
	}
	return run, accept
}

// placeLocked admits e, a registered task, at once if it can: to a worker
// if every limit on its path has a free slot, else to its batch's held
// queue if they all have queue space. It reports whether it did.
func (t *tree) placeLocked(e entry) bool {
	switch run, accept := e.b.pool.admissionLocked(); {
	case run && accept:
		t.runLocked(e, false)
	case accept:
		e.ticket = t.tickets
		t.tickets++
		e.b.holdLocked(e)
	default:
		return false
	}
	return true
}

// runLocked takes a slot at every limit on the path of e's pool, and queue
// space too unless e was held, and queues e for a worker.
func (t *tree) runLocked(e entry, held bool) {
	for a := e.b.pool; a != nil; a = a.parent {
		a.st.active++
		if !held {
			a.st.accepted++
		}
	}
	t.queue.push(e)
	t.ensureWorkerLocked()
}

// holdLocked takes queue space at every limit on the path of b's pool and
// holds e until a slot frees.
func (b *batch) holdLocked(e entry) {
	for a := b.pool; a != nil; a = a.parent {
		a.st.accepted++
	}
	b.held.push(e)
	b.pool.tree().blocked.push(b, blockedList)
}

// releaseLocked gives back the queue space that a task of p held, and its
// slots if it had them, and moves other tasks on.
func (t *tree) releaseLocked(p *Pool, slots bool) {
	for a := p; a != nil; a = a.parent {
		a.st.accepted--
		if slots {
			a.st.active--
		}
	}
	t.advanceLocked()
}

// advanceLocked moves blocked and held tasks on as far as the limits let
// them, the oldest first, until none can move.
func (t *tree) advanceLocked() {
	for b := t.blocked.head; b != nil; b = t.blocked.head {
		if b.links[blockedList].next == nil {
			// One batch: its own order is the order.
			toRun, ok := b.movableLocked()
			if !ok {
				return
			}
			b.advanceLocked(toRun)
			continue
		}
		var (
			next   *batch
			oldest uint64
			toRun  bool
		)
		for ; b != nil; b = b.links[blockedList].next {
			run, ok := b.movableLocked()
			if !ok {
				continue
			}
			e := b.waiting.peek
			if run && b.held.n > 0 {
				e = b.held.peek
			}
			ticket := e().ticket
			if next == nil || ticket < oldest {
				next, oldest, toRun = b, ticket, run
			}
		}
		if next == nil {
			return
		}
		next.advanceLocked(toRun)
	}
}

// movableLocked reports whether b's oldest held task can move to a worker
// (run), or else its oldest blocked task to a worker (run) or to the held
// queue; ok is false if neither can move.
func (b *batch) movableLocked() (run, ok bool) {
	run, accept := b.pool.admissionLocked()
	switch {
	case b.held.n > 0 && run:
		return true, true
	case b.held.n == 0 && b.waiting.n > 0 && accept:
		return run, true
	case b.held.n > 0 && b.waiting.n > 0 && accept:
		return false, true
	}
	return false, false
}

// advanceLocked moves b's oldest held task to a worker if run, and
// otherwise its oldest blocked task to a worker or, if it has held tasks,
// to the held queue.
func (b *batch) advanceLocked(run bool) {
	t := b.pool.tree()
	switch {
	case run && b.held.n > 0:
		t.runLocked(b.held.pop(), true)
	default:
		e := b.popWaitingLocked()
		if e.uncounted {
			e.uncounted = false
			for a := b.pool; a != nil; a = a.parent {
				a.st.submitted++
				a.st.pending++
			}
		}
		if run {
			t.runLocked(e, false)
		} else {
			b.holdLocked(e)
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

// popWaitingLocked takes b's oldest blocked task, and drops the tasks that
// GoContext took back behind it.
func (b *batch) popWaitingLocked() entry {
	e := b.waiting.pop()
	b.admitted++
	for b.waiting.n > 0 && b.waiting.peek().w == nil {
		b.waiting.pop()
		b.admitted++
	}
	return e
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
// gaveUp is closed, which takes it back.
func (b *batch) blockLocked(e entry, gaveUp <-chan struct{}) wait {
	t := b.pool.tree()
	t.blocked.push(b, blockedList)
	e.ticket = t.tickets
	t.tickets++
	b.waiting.push(e)
	ticket := b.tickets
	b.tickets++
	b.blocked++
	defer func() { b.blocked-- }()
	for b.admitted <= ticket {
		if b.cancelledLocked() {
			return skipped
		}
		select {
		case <-gaveUp: // nil, and never ready, for Go
			b.withdrawLocked(e.ticket)
			return withdrawn
		default:
		}
		b.space.Wait()
	}
	return admitted
}

// withdrawLocked takes back the blocked task with ticket, for a GoContext
// whose context is done: the task is unregistered, as if never handed in.
func (b *batch) withdrawLocked(ticket uint64) {
	e := b.waiting.find(ticket)
	e.w = nil
	if b.waiting.peek().w == nil {
		b.popWaitingLocked()
	}
	if b.waiting.n == 0 && b.held.n == 0 {
		b.pool.tree().blocked.remove(b, blockedList)
	}
	b.doneLocked()
}

// WithQueue lets up to n tasks of p wait in p's queue, under its limit, once
// the limit's tasks are running: [Pool.Go] then blocks only while the limit's
// tasks are running and n more are queued, so that a producer may run ahead
// of the workers while memory stays bounded by the limit plus n. n <= 0
// means no queue, the default: Go blocks as soon as the limit's tasks are
// running, as with errgroup. Without a limit, WithQueue has no effect. In a
// tree, each pool's queue holds tasks that its own limit admitted but that
// cannot start yet. Close, fail-fast and a done context skip queued tasks.
// It returns p. It panics if p, or a pool below it, has tasks not yet waited
// for.
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
	mustBeWorker(task)
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.closedLocked() || p.pathDone() {
		return false
	}
	if _, accept := p.admissionLocked(); !accept {
		return false
	}
	b := p.openBatchLocked()
	if p.closedLocked() || b.cancelledLocked() {
		return false
	}
	if _, accept := p.admissionLocked(); !accept {
		return false
	}
	b.registerLocked(task)
	p.countLocked(1)
	return t.placeLocked(entry{w: task, b: b})
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
	mustBeWorker(task)
	if ctx.Err() != nil {
		return notAdmitted(ctx)
	}
	gaveUp := ctx.Done()
	t := p.tree()
	t.mu.Lock()
	b := p.openBatchLocked()
	if p.closedLocked() {
		t.mu.Unlock()
		return ErrClosed
	}
	b.registerLocked(task)
	e := entry{w: task, b: b, uncounted: true}
	if b.cancelledLocked() {
		b.skipLocked(e, isBlocked)
		return b.skippedUnlock()
	}
	if _, accept := p.admissionLocked(); accept {
		p.countLocked(1)
		t.placeLocked(entry{w: task, b: b})
		t.mu.Unlock()
		return nil
	}
	if gaveUp != nil {
		// Wake the wait below once ctx is done. Registering runs ctx's
		// code, so the lock is released meanwhile; b cannot end, since
		// task is registered with it.
		t.mu.Unlock()
		stop := context.AfterFunc(ctx, func() {
			t.mu.Lock()
			b.space.Broadcast()
			t.mu.Unlock()
		})
		defer stop()
		t.mu.Lock()
	}
	switch b.blockLocked(e, gaveUp) {
	case admitted:
		t.mu.Unlock()
		return nil
	case skipped:
		return b.skippedUnlock()
	}
	t.mu.Unlock()
	if f := feedOf(task); f != nil {
		f.done()
	}
	return notAdmitted(ctx)
}

func notAdmitted(ctx context.Context) error {
	return fmt.Errorf("gopool: task not admitted: %w", context.Cause(ctx))
}

// skippedUnlock unlocks the tree and returns GoContext's error for a task
// skipped by the batch's cancellation.
func (b *batch) skippedUnlock() error {
	b.pool.tree().mu.Unlock()
	return fmt.Errorf("gopool: task skipped: %w", b.causeNow())
}
