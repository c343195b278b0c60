package gopool

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Pool runs each [Worker] it is given concurrently, in batches. A batch
// starts with the first [Pool.Go] after the pool is created or waited for,
// and ends when [Pool.Wait] (or [Pool.Close]) returns. Each batch has its own
// context, given to tasks as [Args].Context, and its own failures.
//
// The zero Pool is ready to use: no limit, no retry, no fail-fast. A Pool is
// safe for concurrent use, except that it must not be copied after first use
// and its configuration (WithLimit, WithRetry, WithFailFast) may change only
// between batches.
//
// Running a task costs no allocation beyond the [Task] itself: the pool
// reuses its worker goroutines within a batch, and starts a new one only when
// every worker is busy.
type Pool struct {
	mu       sync.Mutex
	parent   context.Context // nil means context.Background
	limit    int             // 0 means none
	retry    retryPolicy
	failFast bool
	closed   bool
	lateSkip bool // Close skipped tasks; the next Wait reports ErrClosed

	cur   *batch // the batch taking tasks, or being ended; nil until the next Go
	first batch  // storage for the first batch, saving an allocation
}

// NewPool returns a new, empty [Pool].
func NewPool() *Pool { return new(Pool) }

// NewPoolWithContext returns a new [Pool] whose batches derive their context
// from ctx. Once ctx is done, running tasks see it through [Args].Context,
// tasks not yet started are skipped, and every [Pool.Wait] from then on
// returns an error that wraps context.Cause(ctx). It panics if ctx is nil.
func NewPoolWithContext(ctx context.Context) *Pool {
	if ctx == nil {
		panic("gopool: NewPoolWithContext called with a nil context")
	}
	return &Pool{parent: ctx}
}

// Go runs tasks on a new [Pool] and returns it: NewPool().Go(tasks...). It
// panics if a task is nil.
func Go(tasks ...Worker) *Pool { return NewPool().Go(tasks...) }

// WithLimit sets how many tasks may run at once; limit <= 0 means no limit.
// It returns p. It panics if p has tasks not yet waited for.
func (p *Pool) WithLimit(limit int) *Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustBeIdle("WithLimit")
	p.limit = max(limit, 0)
	return p
}

// WithRetry sets the retry policy of every task that has none of its own,
// including each [Worker] of a type other than [Task]; see [Task.WithRetry]
// for what attempts and sleep mean. It returns p. It panics if p has tasks not
// yet waited for.
func (p *Pool) WithRetry(attempts uint, sleep time.Duration) *Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustBeIdle("WithRetry")
	p.retry = newRetryPolicy(attempts, sleep)
	return p
}

// WithFailFast makes the first failure in a batch cancel the batch's context,
// with that failure as its context.Cause, so that tasks not yet started are
// skipped. It returns p. It panics if p has tasks not yet waited for.
func (p *Pool) WithFailFast() *Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustBeIdle("WithFailFast")
	p.failFast = true
	return p
}

func (p *Pool) mustBeIdle(method string) {
	if b := p.cur; b != nil && !b.ended {
		panic("gopool: " + method + " called while tasks are not yet waited for")
	}
}

// Go registers tasks with the current batch and starts them, each on a
// goroutine of the pool, never on the caller's. Under a limit n, Go blocks
// while n tasks are running, until a slot is free or the batch is cancelled,
// in which case its remaining tasks are skipped. Tasks handed to Go after
// [Pool.Close] never run. Go returns p. It panics if a task is nil.
//
// A task may call Go on its own pool, unless the pool has a limit: it could
// then wait for a slot held by itself.
func (p *Pool) Go(tasks ...Worker) *Pool {
	for _, w := range tasks {
		if w == nil {
			panic("gopool: Go called with a nil Worker")
		}
		if t, ok := asTask(w); ok {
			t.feed() // panics on a nil *Task
		}
	}
	if len(tasks) == 0 {
		return p
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.lateSkip = true
		return p
	}
	b := p.batchLocked()
	b.pending += len(tasks)
	for _, w := range tasks {
		if t, ok := asTask(w); ok {
			if f := t.feed(); f != nil {
				f.pending.Add(1)
			}
		}
	}
	for i, w := range tasks {
		if b.cancelledLocked() {
			for _, w := range tasks[i:] {
				b.skipLocked(w)
			}
			break
		}
		if p.limit > 0 && (b.queue.n+b.running >= p.limit || b.waiting.n > 0) {
			// Wait until a finishing task hands its slot to w.
			ticket := b.tickets
			b.tickets++
			b.waiting.push(w)
			b.blocked++
			for b.admitted <= ticket && !b.cancelledLocked() {
				b.space.Wait()
			}
			b.blocked--
			continue
		}
		b.queue.push(w)
		b.ensureWorkerLocked()
	}
	return p
}

// Wait blocks until every task registered in the current batch has finished
// or been skipped, ends the batch, and returns its failures: nil if there
// were none, the failure itself if there was one, and otherwise an error
// whose message leads with the first failure and that wraps them all, in the
// order the tasks finished. A task's error that merely echoes the batch's
// cancellation (errors.Is(err, ctx.Err()) once ctx is done) is not a failure.
//
// When Wait returns, the batch's context is cancelled and no goroutine that
// the pool started for it is still running; the next [Pool.Go] starts a new
// batch with a fresh context. As with errgroup, a producer that keeps calling
// Go keeps Wait waiting. A task must not call Wait on its own pool.
func (p *Pool) Wait() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitLocked()
}

// Close cancels the current batch's context with cause [ErrClosed], skips
// the tasks not yet started (also those of a Go blocked at the limit), waits
// for the running ones to return, and returns what [Pool.Wait] would, joined
// with ErrClosed if it skipped anything. Tasks handed to Go after Close never
// run, and the next Wait returns ErrClosed. Later calls to Close return nil,
// once the batch the first one ends is over. A task must not call Close on
// its own pool: it would wait for itself.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		if b := p.cur; b != nil {
			b.waitLocked() // the batch an earlier Close is ending
		}
		return nil
	}
	p.closed = true
	if b := p.cur; b != nil {
		b.cancelLocked(ErrClosed, context.Canceled)
	}
	return p.waitLocked()
}

func (p *Pool) waitLocked() error {
	var errs []error
	if b := p.cur; b != nil {
		b.waitLocked()
		if p.cur == b {
			p.cur = nil
		}
		errs = append(errs, b.errs...)
		p.lateSkip = p.lateSkip || b.skipped > 0 && b.cause == ErrClosed
	}
	if p.lateSkip {
		p.lateSkip = false
		errs = append(errs, ErrClosed)
	}
	if p.parent != nil && p.parent.Err() != nil {
		errs = append(errs, context.Cause(p.parent))
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// batchLocked returns the current batch, starting one if there is none.
func (p *Pool) batchLocked() *batch {
	if b := p.cur; b != nil && !b.ended {
		return b
	}
	b := &p.first
	if b.pool != nil {
		b = new(batch)
	}
	b.pool = p
	b.hasWork.L, b.space.L, b.done.L = &p.mu, &p.mu, &p.mu
	if p.parent != nil {
		if b.parentDone = p.parent.Done(); b.parentDone != nil {
			b.watching = true
			b.stopWatching = context.AfterFunc(p.parent, b.parentCancelled)
		}
	}
	p.cur = b
	return b
}
