package gopool

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Map runs fn over inputs as tasks of a new sub-pool of p (so p's limit, and
// only the sub-pool's own failures, apply), and returns the outputs in input
// order, with the sub-pool's [Pool.Wait] error. The sub-pool takes p's retry
// policy, timeout and fail-fast setting. A failed input's slot holds Out's
// zero value, as does that of an input skipped by fail-fast; on error the
// outputs are still returned, so that partial results are usable. A panic in
// fn becomes a [*PanicError] in the error. A nil p means a new pool with no
// limit.
//
// Each input is a task to the pool: it takes a slot at every limit on the
// sub-pool's path while fn runs, is retried, timed out, counted in
// [Pool.Stats] and reported by itself. A task that finishes an input goes
// on to the next one while no other task waits for a slot, and the caller
// of Map runs inputs too while a slot is free, so that fn may run on the
// caller's goroutine; a runtime.Goexit there ends that goroutine, after
// the input is recorded as a failure, and Map does not return. More tasks join as each one starts, up to the limits, so that
// inputs that block still run side by side. Stats counts an input's outcome
// when the task that ran it gives up its slot.
//
// Beyond the output slice, Map allocates a few objects per call, none per
// input.
func Map[In, Out any](p *Pool, inputs []In, fn func(ctx context.Context, in In) (Out, error)) ([]Out, error) {
	if p == nil {
		p = NewPool()
	}
	out := make([]Out, len(inputs))
	if len(inputs) == 0 {
		return out, nil
	}
	m := &mapping[In, Out]{fn: fn, inputs: inputs, out: out}
	m.in = m
	p.initSub(&m.sub)
	if r := m.sub.startMap(&m.mapState, len(inputs)); r != nil {
		r.runOnCaller()
	}
	return out, m.sub.Wait()
}

// mapping is what the tasks of one Map share, and runs one input once.
type mapping[In, Out any] struct {
	mapState
	sub    Pool // the sub-pool, made with the mapping to save an allocation
	fn     func(context.Context, In) (Out, error)
	inputs []In
	out    []Out
}

func (m *mapping[In, Out]) try(ctx context.Context, i int) error {
	v, err := m.fn(ctx, m.inputs[i])
	if err == nil {
		m.out[i] = v
	}
	return err
}

// inputTrier runs the inputs of a Map.
type inputTrier interface {
	try(ctx context.Context, i int) error // runs input i once, with ctx
	runUntilPanic(r *mapRun, tries *int) (more bool)
}

// mapState is the state of one Map's batch: its inputs, claimed in order by
// the mapRuns that run them. Every field but next is guarded by the tree's
// lock.
type mapState struct {
	in    inputTrier
	b     *batch
	t     *tree // b's
	n     int64
	next  atomic.Int64 // the next input to claim; n or more once none is left
	spare *mapRun      // a mapRun handed to the tree and not yet started
	slots int          // mapRuns that hold slots
	runs  [2]mapRun    // the first two mapRuns: most Maps need no more
	made  int          // mapRuns made
}

// newRunLocked returns a new mapRun of s.
func (s *mapState) newRunLocked() *mapRun {
	var r *mapRun
	if s.made < len(s.runs) {
		r = &s.runs[s.made]
	} else {
		r = new(mapRun)
	}
	s.made++
	r.s = s
	return r
}

// A mapRun is one task of a Map to the pool: it takes a slot like any task,
// and runs input after input with it while no other task waits for one. It
// reports what it ran when it gives its slot back; its inputs are
// registered tasks of the batch, while it is none itself.
type mapRun struct {
	s        *mapState
	cur      int64 // the input being run
	onWorker bool  // run by a worker, which counts in tree.running
	tries    int   // of the input being run, if run by Map's caller

	// What it ran, not yet reported: ran inputs (the first of them
	// counted as running since the start), and how they ended.
	ran   int
	ended tally
}

// startMap configures p, a new sub-pool, as its parent is, registers the n
// inputs of s with p's batch and arranges for them to run: it returns a
// mapRun for the caller to run if every limit on p's path has a free slot,
// and hands one to the tree otherwise, or too, if more inputs are left. It
// returns nil if the caller has nothing to run.
func (p *Pool) startMap(s *mapState, n int) *mapRun {
	t := p.tree()
	t.mu.Lock()
	defer t.mu.Unlock()
	p.retry, p.timeout, p.failFast = p.parent.retry, p.parent.timeout, p.parent.failFast
	b := p.openBatchLocked()
	if p.closedLocked() {
		p.lateSkip = true
		for a := p; a != nil; a = a.parent {
			a.st.submitted += uint64(n)
			a.st.skipped += uint64(n)
		}
		return nil
	}
	s.b, s.t, s.n = b, t, int64(n)
	b.mapped = true
	b.pending += n
	t.registered += n
	p.countLocked(n)
	if b.cancelledLocked() {
		s.skipRestLocked()
		return nil
	}
	if run, _ := p.admissionLocked(); !run {
		s.spawnLocked()
		return nil
	}
	for a := p; a != nil; a = a.parent {
		a.st.active++
	}
	r := s.newRunLocked()
	r.claimFirstLocked()
	return r
}

// spawnLocked hands a new mapRun to the tree: to a worker, to a queue, or to
// the batch's blocked tasks, where it waits for a slot in turn, though no
// Go call waits with it. It spawns none where only mapRuns of s hold the
// slots it would wait for: one of them gives its slot back only when it is
// done, and then spawns a mapRun if inputs are left.
func (s *mapState) spawnLocked() {
	b := s.b
	t := b.t
	run, hold := b.pool.admissionLocked()
	if !run && hold == nil && s.slots > 0 && s.fullLimitLocked().st.active <= s.slots {
		return
	}
	r := s.newRunLocked()
	s.spare = r
	e := entry{w: r, b: b}
	if !t.placeLocked(&e) {
		e.ticket = t.tickets
		t.tickets++
		b.waiting.push(e)
		b.tickets++
		t.blocked.push(b, blockedList)
	}
}

// fullLimitLocked returns the nearest pool on the path whose limit has no
// free slot.
func (s *mapState) fullLimitLocked() *Pool {
	a := s.b.pool
	for a.limit == 0 || a.st.active < a.limit {
		a = a.parent
	}
	return a
}

// claimFirstLocked makes r, which holds a slot, run the next input, counts
// it as running, and spawns another mapRun if more inputs are left. It
// reports false if none is left.
func (r *mapRun) claimFirstLocked() bool {
	s := r.s
	i := s.next.Add(1) - 1
	if i >= s.n {
		return false
	}
	r.cur, r.ran = i, 1
	s.slots++
	if s.t.mapRuns++; s.t.mapRuns == 1 {
		s.t.blockedN.Store(int32(s.t.blocked.n))
	}
	for a := s.b.pool; a != nil; a = a.parent {
		a.st.started++
	}
	if i+1 < s.n && s.spare == nil {
		s.spawnLocked()
	}
	return true
}

// startLocked starts r, popped from the tree's queue by a worker, with its
// slots taken. If no input is left, it gives the slots back and reports
// false.
func (r *mapRun) startLocked() bool {
	s := r.s
	if s.spare == r {
		s.spare = nil
	}
	if !r.claimFirstLocked() {
		s.b.t.releaseLocked(s.b.pool)
		return false
	}
	r.onWorker = true
	s.b.t.running++
	return true
}

// skipLocked drops r, handed to the tree but never started, from a batch
// that is cancelled: the inputs no task has claimed are skipped.
func (r *mapRun) skipLocked() {
	if r.s.spare == r {
		r.s.spare = nil
	}
	r.s.skipRestLocked()
}

// skipRestLocked skips the inputs that no task has claimed.
func (s *mapState) skipRestLocked() {
	i := s.next.Swap(s.n)
	if i >= s.n {
		return
	}
	k := int(s.n - i)
	b := s.b
	for a := b.pool; a != nil; a = a.parent {
		a.st.skipped += uint64(k)
	}
	if b.closing {
		b.cutByClose = true
	}
	b.doneLocked(k)
}

// contended reports, without the lock, whether a task of another batch
// waits for a slot or in a queue: r then gives its slot back after the
// input it runs.
func (s *mapState) contended() bool {
	n := s.t.blockedN.Load()
	return n > 1 || n == 1 && !s.b.atLimit.Load()
}

// run runs r's inputs, one after another, until none is left, its batch
// is cancelled or another task waits for a slot. It takes the lock only to
// record a failure.
func (r *mapRun) run(tries *int) {
	for r.s.in.runUntilPanic(r, tries) {
	}
}

// runUntilPanic runs inputs as run does, and reports whether it stopped
// because one panicked, which it records, with more inputs to run. A
// runtime.Goexit is recorded as the input's failure, and goes on. Inputs
// are not run one call each, so that one that returns costs no defer.
func (m *mapping[In, Out]) runUntilPanic(r *mapRun, tries *int) (more bool) {
	returned := false
	defer func() {
		if !returned {
			more = r.stopped(recover(), *tries)
		}
	}()
	b := m.b
	*tries = 1
	if pol := (policy{b.pool.retry, b.pool.timeout}); pol != (policy{}) {
		for {
			r.record(r.tryWith(int(r.cur), pol, tries), *tries)
			if !r.next() {
				returned = true
				return false
			}
		}
	}
	for {
		i := r.cur
		if v, err := m.fn(b, m.inputs[i]); err == nil {
			m.out[i] = v
			r.ended.succeeded++
		} else {
			_, err = unmark(err) // as retrying would: the marks stop here
			r.record(err, 1)
		}
		if !r.next() {
			returned = true
			return false
		}
	}
}

// stopped records how the input r ran ended when it did not return: with
// a panic of v, or, if v is nil, runtime.Goexit. It reports whether r
// should go on with another input.
func (r *mapRun) stopped(v any, tries int) bool {
	if v == nil {
		r.ended.add(failed, tries)
		r.recordFailure(errGoexit)
		return false
	}
	r.ended.add(panicked, tries)
	r.recordFailure(&PanicError{Value: v, Stack: debug.Stack()})
	return r.next()
}

// record records how the input r ran ended, after tries, with err.
func (r *mapRun) record(err error, tries int) {
	if err == nil && tries == 1 {
		r.ended.succeeded++
		return
	}
	o, err := r.s.b.judge(err)
	r.ended.add(o, tries)
	if o == failed || o == panicked {
		r.recordFailure(err)
	}
}

// next claims the next input for r, unless none is left, the batch is
// cancelled or another task waits for a slot, and reports whether it did.
func (r *mapRun) next() bool {
	s := r.s
	if s.b.contextDone() || s.contended() {
		return false
	}
	i := s.next.Add(1) - 1
	if i >= s.n {
		return false
	}
	r.cur = i
	r.ran++
	return true
}

// tryWith runs input i with retries and timeouts by pol.
func (r *mapRun) tryWith(i int, pol policy, tries *int) error {
	s := r.s
	try := func(attempt int) error {
		*tries = attempt
		if pol.timeout > 0 {
			return timedTry(s.b, pol.timeout, func(ctx context.Context) error { return s.in.try(ctx, i) })
		}
		return s.in.try(s.b, i)
	}
	err := try(1)
	if err == nil {
		return nil
	}
	return pol.retry.retry(s.b, err, try)
}

// runOnCaller runs r on the goroutine of Map's caller, and gives its slot
// back, also if an input calls runtime.Goexit.
func (r *mapRun) runOnCaller() {
	t := r.s.b.t
	defer func() {
		t.mu.Lock()
		r.finishLocked()
		t.mu.Unlock()
	}()
	r.run(&r.tries)
}

// recordFailure records the failure of the input r ran, in the order tasks
// finish, and under fail-fast cancels the batch, before r's slot is
// given back.
func (r *mapRun) recordFailure(err error) {
	b := r.s.b
	t := b.t
	t.mu.Lock()
	b.errs = append(b.errs, err)
	if b.pool.failFast {
		b.cancelLocked(err)
	}
	t.mu.Unlock()
}

// finishLocked reports what r ran, gives its slot back, and makes sure the
// inputs left will run: skipped if the batch is cancelled, else by a spare
// mapRun, which is dropped if none is left.
func (r *mapRun) finishLocked() {
	s, b := r.s, r.s.b
	t := b.t
	if r.onWorker {
		t.running--
	}
	s.slots--
	t.mapRuns--
	for a := b.pool; a != nil; a = a.parent {
		a.st.active--
		a.st.started += uint64(r.ran - 1)
		a.st.addLocked(r.ended)
	}
	exhausted := s.next.Load() >= s.n
	if exhausted && s.spare != nil && b.waiting.n > 0 {
		// The spare waits for a slot it no longer needs: drop it
		// before the slot goes to it.
		s.spare = nil
		b.dropWaitingLocked()
		if b.held.n == 0 {
			t.blocked.remove(b, blockedList)
		}
	}
	t.advanceLocked()
	if b.cancelledLocked() {
		s.skipRestLocked()
	} else if !exhausted && s.spare == nil {
		s.spawnLocked() // behind the tasks it gave way to
	}
	b.doneLocked(r.ran)
}

// Execute and WithRetry make a mapRun a Worker, so that it can wait in the
// tree's queues; a mapRun is never handed to a user, who alone calls them.
func (r *mapRun) Execute() error                       { return nil }
func (r *mapRun) WithRetry(uint, time.Duration) Worker { return r }
