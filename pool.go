package gopool

import (
	"context"
	"errors"
	"reflect"
	"time"
)

// Pool runs each [Worker] it is given concurrently, in batches. A batch
// starts with the first [Pool.Go] after the pool is created or waited for,
// and ends when [Pool.Wait] (or [Pool.Close]) returns. Each batch has its own
// context, given to tasks as [Args].Context, and its own failures.
//
// A pool may have sub-pools ([Pool.Sub]), which share its limit and its
// workers but have batches, failures and configuration of their own: one
// long-lived pool can bound the work of a whole service while each request
// waits for its own tasks.
//
// The zero Pool is ready to use: no limit, no retry, no timeout, no
// fail-fast. A Pool is safe for concurrent use, except that it must not be
// copied after first use and its configuration (WithLimit, WithRetry,
// WithTimeout, WithFailFast) may change only while neither it nor any pool
// below it has tasks not yet waited for.
//
// Running a task costs no allocation beyond the [Task] itself: the workers
// of a pool and its sub-pools are goroutines that run one task after
// another, and a new one starts only when every worker is busy.
type Pool struct {
	own    tree  // the tree's state, if p is a root
	tr     *tree // the tree's state, if p is a sub-pool
	parent *Pool // nil for a root

	ctx    context.Context // from NewPoolWithContext or SubWithContext; nil if none
	done   <-chan struct{} // ctx.Done(), taken when p was made
	hasCtx bool            // some pool on p's path has a done channel

	limit    int // 0 means none
	queue    int // tasks that may wait for a slot at the limit; 0 means none
	retry    retryPolicy
	timeout  time.Duration // of each try of a task without its own; 0 means none
	failFast bool
	closed   bool // Close was called: tasks handed to Go never run
	lateSkip bool // tasks were handed to Go after a Close; the next Wait reports ErrClosed

	st counts // p's and its sub-pools' counters, and slots taken at p's limit

	cur   *batch // the batch taking tasks, or being ended; nil until the next Go
	first batch  // storage for the first batch, saving an allocation
}

// NewPool returns a new, empty [Pool].
func NewPool() *Pool {
	p := new(Pool)
	p.own.bubble.Store(bubbleNow())
	return p
}

// NewPoolWithContext returns a new [Pool] whose batches derive their context
// from ctx. Once ctx is done, running tasks see it through [Args].Context,
// tasks not yet started are skipped, and every [Pool.Wait] from then on
// returns an error that wraps context.Cause(ctx). It panics if ctx is nil.
func NewPoolWithContext(ctx context.Context) *Pool {
	if ctx == nil {
		panic("gopool: NewPoolWithContext called with a nil context")
	}
	p := &Pool{ctx: ctx, done: ctx.Done()}
	p.hasCtx = p.done != nil
	p.own.bubble.Store(bubbleNow())
	return p
}

// Go runs tasks on a new [Pool] and returns it: NewPool().Go(tasks...). It
// panics if a task is nil.
func Go(tasks ...Worker) *Pool { return NewPool().Go(tasks...) }

// tree returns the state p shares with its tree.
func (p *Pool) tree() *tree {
	if p.tr != nil {
		return p.tr
	}
	return &p.own
}

// WithLimit sets how many tasks of p and of its sub-pools may run at once;
// limit <= 0 means no limit. It returns p. It panics if p, or a pool below
// it, has tasks not yet waited for.
func (p *Pool) WithLimit(limit int) *Pool {
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	p.mustBeIdleLocked("WithLimit")
	p.limit = max(limit, 0)
	return p
}

// WithRetry sets the retry policy of every task of p that has none of its
// own, including each [Worker] of a type other than [Task]; see
// [Task.WithRetry] for what attempts and sleep mean. Sub-pools do not
// inherit it. It returns p. It panics if p, or a pool below it, has tasks
// not yet waited for.
func (p *Pool) WithRetry(attempts uint, sleep time.Duration) *Pool {
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	p.mustBeIdleLocked("WithRetry")
	p.retry = newRetryPolicy(attempts, sleep)
	return p
}

// WithFailFast makes the first failure in a batch of p cancel the batch's
// context, with that failure as its context.Cause, so that tasks not yet
// started are skipped. Sub-pools do not inherit it. It returns p. It panics
// if p, or a pool below it, has tasks not yet waited for.
func (p *Pool) WithFailFast() *Pool {
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	p.mustBeIdleLocked("WithFailFast")
	p.failFast = true
	return p
}

func (p *Pool) mustBeIdleLocked(method string) {
	if b := p.cur; b != nil && !b.ended {
		panic("gopool: " + method + " called while tasks are not yet waited for")
	}
	if p.st.pending()+p.st.running() > 0 {
		panic("gopool: " + method + " called while a sub-pool has tasks not yet finished")
	}
	for b := p.tree().live.head; b != nil; b = b.links[liveList].next {
		if b.pending > 0 && b.pool.below(p) {
			panic("gopool: " + method + " called while a sub-pool has tasks not yet finished")
		}
	}
}

// Go registers tasks with p's current batch and starts them, each on a
// goroutine of the pool, never on the caller's. Under a limit n, on p or on
// a pool above it, Go blocks while n tasks below that limit are running,
// until a slot is free or the batch is cancelled, in which case its
// remaining tasks are skipped; slots go to blocked Go calls in the order
// they blocked. Tasks handed to Go after [Pool.Close] (of p or of a pool
// above it) never run. Go returns p. It panics if a task is nil.
//
// A task may call Go on its own pool, unless the pool or one above it has a
// limit: it could then wait for a slot held by itself.
func (p *Pool) Go(tasks ...Worker) *Pool {
	if len(tasks) == 1 {
		// The common Go(w), apart: with no loop, little is kept across
		// the calls below.
		w := tasks[0]
		f := mustBeWorker(w)
		t := p.tree()
		t.mu.Lock()
		if b := p.takingLocked(1); b != nil {
			b.registerLocked(f)
			p.countLocked(1)
			if !b.goLocked(w) {
				b.skipLocked(entry{w: w, b: b}, isBlocked)
			}
		}
		t.mu.Unlock()
		return p
	}
	for _, w := range tasks {
		mustBeWorker(w)
	}
	if len(tasks) == 0 {
		return p
	}
	t := p.tree()
	t.mu.Lock()
	if b := p.takingLocked(len(tasks)); b != nil {
		for _, w := range tasks {
			b.registerLocked(mustBeWorker(w))
		}
		p.countLocked(len(tasks))
		for i, w := range tasks {
			if !b.goLocked(w) {
				for _, w := range tasks[i:] {
					b.skipLocked(entry{w: w, b: b}, isBlocked)
				}
				break
			}
		}
	}
	t.mu.Unlock()
	return p
}

// takingLocked returns the batch that n tasks handed to Go join, starting
// one if there is none; or nil if p or a pool above it is closed, in which
// case they are counted as submitted and skipped.
func (p *Pool) takingLocked(n int) *batch {
	if !p.closedLocked() {
		b := p.openBatchLocked()
		// Opening a batch with contexts to watch unlocks the tree.
		if !p.hasCtx || !p.closedLocked() {
			return b
		}
	}
	p.lateSkip = true
	for a := p; a != nil; a = a.parent {
		a.st.submitted += uint64(n)
		a.st.skipped += uint64(n)
	}
	return nil
}

// goLocked admits w, a task registered with b, blocking while the limits
// let it wait; it returns false, and admits nothing, if b is cancelled.
func (b *batch) goLocked(w Worker) bool {
	if b.cancelledLocked() {
		return false
	}
	if e := (entry{w: w, b: b}); !b.t.placeLocked(&e) {
		b.blockLocked(e, nil)
	}
	return true
}

// mustBeWorker panics if w is nil, or a nil *Task, so that the mistake is
// caught where it is made rather than in a worker, and returns the drain
// that w feeds if it is a *Task that has one.
func mustBeWorker(w Worker) *feed {
	if w == nil {
		panic("gopool: Go called with a nil Worker")
	}
	if t, ok := asTask(w); ok {
		return t.feed() // panics on a nil *Task
	}
	return nil
}

// openBatchLocked returns p's current batch, starting one if there is
// none. Starting one with contexts to watch unlocks the tree meanwhile.
func (p *Pool) openBatchLocked() *batch {
	if b := p.cur; b != nil && !b.ended {
		return b
	}
	return p.startBatchLocked()
}

// startBatchLocked starts a batch of p and returns it, watching the
// contexts on p's path if it has any; or returns the one another Go started
// while that unlocked the tree.
func (p *Pool) startBatchLocked() *batch {
	for {
		if b := p.cur; b != nil && !b.ended {
			return b // started while the tree was unlocked
		}
		b := p.newBatchLocked()
		if !p.hasCtx {
			return b
		}
		if b.startWatchLocked(); !b.ended {
			return b
		}
	}
}

// countLocked counts n tasks registered with p in Stats.
func (p *Pool) countLocked(n int) {
	for a := p; a != nil; a = a.parent {
		a.st.submitted += uint64(n)
	}
}

// closedLocked reports whether p or a pool above it is closed.
func (p *Pool) closedLocked() bool {
	for a := p; a != nil; a = a.parent {
		if a.closed {
			return true
		}
	}
	return false
}

// Wait blocks until every task registered in p's current batch has finished
// or been skipped, ends the batch, and returns its failures: nil if there
// were none, the failure itself if there was one, and otherwise an error
// whose message leads with the first failure and that wraps them all, in the
// order the tasks finished. It waits for p's own tasks only, not for those
// of its sub-pools or of the pool above it.
//
// A task's error is not a failure when it only echoes the batch's
// cancellation: the batch's context was done when the task returned, and
// every error at the leaves of the error's tree (through Unwrap) is that
// context's Err, as with ctx.Err() or fmt.Errorf("stopping: %w", ctx.Err()).
// An error that carries another failure beside the echo, as
// errors.Join(err, ctx.Err()) does, is a failure. A panic is always one.
//
// When Wait returns, every task of the batch has returned, no worker will
// touch the batch again, and its context is cancelled; the next [Pool.Go]
// starts a new batch with a fresh context. As with errgroup, the goroutines
// that ran the tasks may take a moment more to exit, and a producer that
// keeps calling Go keeps Wait waiting. A task must not call Wait on its own
// pool.
func (p *Pool) Wait() error {
	t := p.tree()
	t.mu.Lock()
	errs := p.endLocked()
	if p.lateSkip {
		p.lateSkip = false
		if !contains(errs, ErrClosed) {
			errs = append(errs, ErrClosed)
		}
	}
	t.mu.Unlock()
	return p.result(errs)
}

// Close closes p and every pool below it: it cancels their batches' contexts
// with cause [ErrClosed], skips their tasks not yet started (also those of
// Go calls blocked at a limit), and waits for their running tasks to return.
// Tasks handed to Go after Close, on p or below it, never run. Close returns
// what [Pool.Wait] would for p's batch, joined with ErrClosed if Close
// skipped any of its tasks; each sub-pool's Wait reports its own batch, with
// ErrClosed if the Close skipped any of its tasks. The next Wait on a pool
// that was handed tasks after the Close returns ErrClosed. Later calls to
// Close return nil, once the batch the first one ends is over.
//
// A task must not call Close on its own pool, or on a pool above it: it
// would wait for itself.
func (p *Pool) Close() error {
	t := p.tree()
	t.mu.Lock()
	if p.closed {
		if b := p.cur; b != nil {
			b.waits++
			b.waitLocked()
			b.waits--
		}
		t.mu.Unlock()
		return nil
	}
	p.closed = true
	for b := t.live.head; b != nil; b = b.links[liveList].next {
		if b.pool.below(p) {
			b.closeLocked()
		}
	}
	for {
		var running *batch
		for b := t.live.head; b != nil; b = b.links[liveList].next {
			if b.pending > 0 && b.pool.below(p) {
				running = b
				break
			}
		}
		if running == nil {
			break
		}
		running.done.Wait()
	}
	errs := p.endLocked()
	t.mu.Unlock()
	return p.result(errs)
}

// below reports whether p is a or a pool below a.
func (p *Pool) below(a *Pool) bool {
	for ; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

// endLocked waits for p's current batch, ends it, and returns its failures,
// with ErrClosed if a Close cut it short. The slice is the caller's.
func (p *Pool) endLocked() []error {
	b := p.cur
	if b == nil {
		return nil
	}
	b.waits++
	b.waitLocked()
	b.waits--
	if p.cur == b {
		p.cur = nil
	}
	errs := b.errs[:len(b.errs):len(b.errs)] // appending copies
	if b.cutByClose {
		errs = append(errs, ErrClosed)
	}
	if b.waits == 0 {
		// Nothing else will read them: let the failures and the
		// context go, even if b is p.first.
		b.errs = nil
		b.ctx.Store(nil)
	}
	return errs
}

// result makes Wait's error of errs and of the contexts on p's path that
// are done. It runs the contexts' code: call it without the lock.
func (p *Pool) result(errs []error) error {
	if p.hasCtx {
		for a := p; a != nil; a = a.parent {
			if a.done == nil {
				continue
			}
			select {
			case <-a.done:
				if cause := causeOf(a.ctx); !contains(errs, cause) {
					errs = append(errs, cause)
				}
			default:
			}
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// contains reports whether errs holds err itself. Errors of a type that
// cannot be compared with == (a struct with a slice, say) are never the same
// here: comparing two of them would panic.
func contains(errs []error, err error) bool {
	if err == nil || !reflect.TypeOf(err).Comparable() {
		return false
	}
	for _, e := range errs {
		if e == err {
			return true
		}
	}
	return false
}
