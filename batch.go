package gopool

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// batch is the state of one batch of a pool, guarded by the pool's mutex.
// It is also the context its tasks receive.
type batch struct {
	pool *Pool

	queue    fifo   // admitted tasks, not yet started
	waiting  fifo   // tasks of Go calls blocked at the limit, not yet admitted
	tickets  uint64 // tasks ever pushed to waiting
	admitted uint64 // tasks ever moved from waiting to queue

	pending int // tasks registered and not yet finished or skipped
	running int // tasks started and not yet finished
	workers int // worker goroutines alive
	idle    int // workers waiting on work, not yet signalled
	skipped int // tasks skipped because the batch was cancelled
	blocked int // Go calls waiting for admission

	errs      []error     // failures, in the order the tasks finished
	cause     error       // why the batch was cancelled; nil while it is live
	ctxErr    error       // what its context's Err reports once cancelled
	ended     bool        // Wait has ended it: workers exit once the queue is empty
	byParent  bool        // cancelled because the pool's parent context is done
	cancelled atomic.Bool // cause != nil, readable without the lock

	ctx atomic.Pointer[cancelable] // made on first use by a task

	parentDone   <-chan struct{} // the pool's parent's Done, if it has one
	stopWatching func() bool     // stops the parent's AfterFunc
	watching     bool            // the AfterFunc may yet run

	hasWork sync.Cond // idle workers wait for tasks
	space   sync.Cond // Go calls blocked at the limit wait for admission
	done    sync.Cond // Wait waits for pending, workers and watching to drop
}

// A launcher starts a worker for a batch without allocating: "go" needs a
// func value, and a method value bound to the batch would be allocated for
// every worker. A launcher carries its batch to exactly the goroutine it
// starts, and is recycled with the func value it is bound to.
type launcher struct {
	b     *batch
	start func()
}

var launchers sync.Pool

func init() {
	launchers.New = func() any {
		l := new(launcher)
		l.start = l.run
		return l
	}
}

func (l *launcher) run() {
	b := l.b
	l.b = nil
	launchers.Put(l)
	b.work()
}

// ensureWorkerLocked makes sure some worker that is not running a task will
// look at the queue: if none is awake, it wakes an idle one or starts one.
// Called whenever the queue may hold a task, it keeps every queued task
// reachable even when all running tasks block.
func (b *batch) ensureWorkerLocked() {
	if b.workers-b.running-b.idle > 0 {
		return
	}
	if b.idle > 0 {
		b.idle--
		b.hasWork.Signal()
		return
	}
	b.workers++
	l := launchers.Get().(*launcher)
	l.b = b
	go l.start()
}

// work runs queued tasks until none is left to come.
func (b *batch) work() {
	mu := &b.pool.mu
	returned := false
	defer func() {
		if !returned {
			// A task called runtime.Goexit, so this goroutine is ending:
			// finish the task and let another worker take the queue.
			mu.Lock()
			b.finishLocked(errGoexit, false)
			b.exitLocked()
			if b.queue.n > 0 {
				b.ensureWorkerLocked()
			}
			mu.Unlock()
		}
	}()
	mu.Lock()
	for {
		w := b.nextLocked()
		if w == nil {
			break
		}
		mu.Unlock()
		err := b.execute(w)
		late := err != nil && b.contextDone()
		mu.Lock()
		b.finishLocked(err, late)
	}
	b.exitLocked()
	mu.Unlock()
	returned = true
}

// nextLocked returns the next task to run, skipping tasks while the batch is
// cancelled. With the queue empty, it waits while registered tasks remain,
// and otherwise returns nil, so that no worker outlives the batch's work even
// if Wait is never called; before that, it yields once, since a producer
// that just got a slot is likely to submit again.
func (b *batch) nextLocked() Worker {
	yielded := false
	for {
		if b.queue.n == 0 {
			if b.ended || b.pending == 0 && yielded {
				return nil
			}
			if b.pending == 0 {
				yielded = true
				b.pool.mu.Unlock()
				runtime.Gosched()
				b.pool.mu.Lock()
				continue
			}
			b.idle++
			b.hasWork.Wait()
			continue
		}
		w := b.queue.pop()
		if b.cancelledLocked() {
			b.skipLocked(w)
			continue
		}
		b.running++
		if b.queue.n > 0 {
			b.ensureWorkerLocked()
		}
		return w
	}
}

// execute runs w with the batch as its context, turning a panic into a
// *PanicError. The drain w feeds learns that w finished whatever happens.
func (b *batch) execute(w Worker) (err error) {
	t, isTask := asTask(w)
	returned := false
	defer func() {
		if isTask {
			if f := t.feed(); f != nil {
				f.done()
			}
		}
		if !returned {
			// A panic; or runtime.Goexit, which recover does not stop and
			// work accounts for.
			err = &PanicError{Value: recover(), Stack: debug.Stack()}
		}
	}()
	if isTask {
		err = t.run(b, b.pool.retry)
	} else if err = w.Execute(); err != nil {
		err = b.pool.retry.retry(b, err, func(int) error { return w.Execute() })
	}
	returned = true
	return err
}

// finishLocked records the end of a running task, which returned err after
// the batch's context was done if late. The failure is recorded, and under
// fail-fast the batch cancelled, before the task's slot is released, so that
// the first failure is well defined.
func (b *batch) finishLocked(err error, late bool) {
	b.running--
	if err != nil {
		b.recordLocked(err, late)
	}
	b.releaseSlotLocked()
	b.doneLocked()
}

func (b *batch) exitLocked() {
	b.workers--
	if b.workers == 0 {
		b.done.Broadcast()
	}
}

// releaseSlotLocked hands a freed slot to the oldest blocked Go, if any.
func (b *batch) releaseSlotLocked() {
	if b.waiting.n > 0 {
		b.queue.push(b.waiting.pop())
		b.admitted++
		if b.blocked == 1 {
			b.space.Signal()
		} else {
			b.space.Broadcast() // the one admitted is among them
		}
	}
}

// doneLocked records that a registered task finished or was skipped.
func (b *batch) doneLocked() {
	b.pending--
	if b.pending == 0 {
		b.done.Broadcast()
		b.idle = 0
		b.hasWork.Broadcast() // idle workers exit
	}
}

func (b *batch) skipLocked(w Worker) {
	if t, ok := asTask(w); ok {
		if f := t.feed(); f != nil {
			f.done()
		}
	}
	b.skipped++
	b.doneLocked()
}

// recordLocked records a task's failure, unless it is an echo: an error that
// is the batch context's Err, returned once the context was done.
func (b *batch) recordLocked(err error, late bool) {
	if _, panicked := err.(*PanicError); !panicked && late && b.cancelledLocked() && errors.Is(err, b.contextErr()) {
		return
	}
	b.errs = append(b.errs, err)
	if b.pool.failFast {
		b.cancelLocked(err, context.Canceled)
	}
}

// cancelledLocked reports whether the batch is cancelled, noticing first
// whether the pool's parent context is done.
func (b *batch) cancelledLocked() bool {
	if b.cause == nil && b.parentDone != nil {
		select {
		case <-b.parentDone:
			b.byParent = true
			b.setCancelledLocked(context.Cause(b.pool.parent), b.pool.parent.Err())
		default:
		}
	}
	return b.cause != nil
}

// contextErr returns the Err of the batch's cancelled context. It is the
// batch's own, unless a task made the context from the parent just as the
// parent was cancelled too: then the two cancellations raced for it, and
// tasks saw the winner.
func (b *batch) contextErr() error {
	if c := b.ctx.Load(); c != nil {
		return c.ctx.Err()
	}
	return b.ctxErr
}

// contextDone reports, without the lock, whether the batch's context is
// done, as a task that just returned would see it.
func (b *batch) contextDone() bool {
	if b.cancelled.Load() {
		return true
	}
	select {
	case <-b.parentDone: // nil, and never ready, without a parent
		return true
	default:
		return false
	}
}

// cancelLocked cancels the batch with cause, unless it is already cancelled,
// or the parent context turns out to be done: the earlier cause wins.
func (b *batch) cancelLocked(cause, ctxErr error) {
	if !b.cancelledLocked() {
		b.setCancelledLocked(cause, ctxErr)
	}
}

// setCancelledLocked cancels the batch: its context is done, tasks waiting
// for admission are skipped, and their Go calls woken. Queued tasks are
// skipped by the workers as they reach them.
func (b *batch) setCancelledLocked(cause, ctxErr error) {
	b.cause, b.ctxErr = cause, ctxErr
	b.cancelled.Store(true)
	if c := b.ctx.Load(); c != nil {
		c.cancel(cause)
	}
	for b.waiting.n > 0 {
		b.skipLocked(b.waiting.pop())
	}
	b.space.Broadcast()
}

// waitLocked waits for every registered task, ends the batch, and waits for
// its workers to exit and its watch on the parent to stop.
func (b *batch) waitLocked() {
	for b.pending > 0 {
		b.done.Wait()
	}
	if !b.ended {
		b.endLocked()
	}
	for b.workers > 0 || b.watching {
		b.done.Wait()
	}
}

// endLocked ends the batch for Wait: it cancels its context, lets the
// workers exit and stops watching the parent. The next Go starts a new batch.
func (b *batch) endLocked() {
	b.ended = true
	b.cancelLocked(context.Canceled, context.Canceled)
	b.queue.release()
	b.waiting.release()
	b.idle = 0
	b.hasWork.Broadcast()
	if b.watching && b.stopWatching() {
		b.watching = false
	}
}

// parentCancelled runs when the pool's parent context is done.
func (b *batch) parentCancelled() {
	b.pool.mu.Lock()
	defer b.pool.mu.Unlock()
	b.cancelledLocked()
	b.watching = false
	b.done.Broadcast()
}

// cancelable is a batch's context, made when a task first uses it.
type cancelable struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// context returns the batch's context, making it on first use: most tasks
// never look at theirs, and a batch whose tasks do not costs no allocation.
func (b *batch) context() context.Context {
	if c := b.ctx.Load(); c != nil {
		return c.ctx
	}
	p := b.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := b.ctx.Load(); c != nil {
		return c.ctx
	}
	parent := p.parent
	if parent == nil {
		parent = context.Background()
	}
	// The context must report the batch's own cancellation, even if the
	// parent is done by now too: only a batch cancelled by its parent
	// derives from the parent's state.
	if b.cancelledLocked() && !b.byParent {
		parent = context.WithoutCancel(parent)
	}
	ctx, cancel := context.WithCancelCause(parent)
	if b.cause != nil {
		cancel(b.cause)
	}
	b.ctx.Store(&cancelable{ctx, cancel})
	return ctx
}

// Deadline, Done, Err and Value make a batch the context.Context of its
// tasks. They delegate to the context made on first use; Value also answers
// the context package's own key, so context.Cause and derived contexts work.

func (b *batch) Deadline() (time.Time, bool) {
	if b.pool.parent == nil {
		return time.Time{}, false
	}
	return b.pool.parent.Deadline()
}

func (b *batch) Done() <-chan struct{} { return b.context().Done() }
func (b *batch) Err() error            { return b.context().Err() }
func (b *batch) Value(key any) any     { return b.context().Value(key) }
func (b *batch) String() string        { return "gopool batch context" }

// fifo is a queue of tasks in chunks recycled across batches, so that
// queueing allocates nothing once the program has warmed up.
type fifo struct {
	head, tail *chunk
	r, w       int // next index to read in head, to write in tail
	n          int
}

const chunkSize = 64

type chunk struct {
	items [chunkSize]Worker
	next  *chunk
}

var chunks = sync.Pool{New: func() any { return new(chunk) }}

func (q *fifo) push(w Worker) {
	if q.tail == nil || q.w == chunkSize {
		c := chunks.Get().(*chunk)
		if q.tail == nil {
			q.head, q.r = c, 0
		} else {
			q.tail.next = c
		}
		q.tail, q.w = c, 0
	}
	q.tail.items[q.w] = w
	q.w++
	q.n++
}

func (q *fifo) pop() Worker {
	c := q.head
	w := c.items[q.r]
	c.items[q.r] = nil
	q.r++
	q.n--
	switch {
	case q.n == 0: // head == tail: rewind it
		q.r, q.w = 0, 0
	case q.r == chunkSize:
		q.head, q.r = c.next, 0
		c.next = nil
		chunks.Put(c)
	}
	return w
}

// release returns the storage of an empty queue.
func (q *fifo) release() {
	if q.head != nil {
		chunks.Put(q.head)
		*q = fifo{}
	}
}
