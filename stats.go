package gopool

// Stats are the counters of a [Pool] and of every pool below it, since the
// pool was made. Each counter but Running and Pending only grows. Whenever
// the pools are quiescent (no Go in progress and no task running),
//
//	Submitted == Running + Pending + Succeeded + Failed + Canceled + Skipped
type Stats struct {
	Running   int    // task bodies running now
	Pending   int    // registered, not yet started: queued, or waiting at a limit
	Submitted uint64 // tasks ever registered (handed to Go)
	Succeeded uint64 // returned nil
	Failed    uint64 // failures, the ones Wait reports (panics and Goexit included)
	Panicked  uint64 // the part of Failed that panicked
	Canceled  uint64 // returned only an echo of their batch's cancellation
	Skipped   uint64 // never started: cut by fail-fast, Close or a done context
	Retries   uint64 // tries beyond the first
}

// counts is what Stats reports of a pool, kept under its tree's lock, and
// the slots taken at the pool's limit. Running and Pending are not kept but
// worked out, so that a task that starts or finishes updates one counter.
type counts struct {
	active    int // tasks queued or running: slots taken at the limit
	held      int // tasks held in the queue of p's limit
	submitted uint64
	started   uint64 // task bodies started
	succeeded uint64
	failed    uint64
	panicked  uint64
	canceled  uint64
	skipped   uint64
	retries   uint64
}

// tally is how some tasks that ran ended: failed includes panicked.
type tally struct {
	succeeded, failed, panicked, canceled, retries uint64
}

// add counts a task that ended with o after tries tries.
func (y *tally) add(o outcome, tries int) {
	y.retries += uint64(tries - 1)
	switch o {
	case succeeded:
		y.succeeded++
	case canceled:
		y.canceled++
	case panicked:
		y.panicked++
		y.failed++
	default:
		y.failed++
	}
}

// addLocked adds y to c.
func (c *counts) addLocked(y tally) {
	c.succeeded += y.succeeded
	c.failed += y.failed
	c.panicked += y.panicked
	c.canceled += y.canceled
	c.retries += y.retries
}

// running returns how many task bodies are running.
func (c *counts) running() uint64 { return c.started - c.succeeded - c.failed - c.canceled }

// pending returns how many registered tasks have not started.
func (c *counts) pending() uint64 { return c.submitted - c.started - c.skipped }

// Stats returns p's counters, which cover p and every pool below it. It
// allocates nothing and is safe to call at any time, also from a task.
// Tasks handed to Go after a Close count as Submitted and Skipped; a task
// counts as Pending from the moment it is registered, also while its Go
// waits at a limit, and a retried task's tries beyond the first count in
// Retries when it finishes. The inputs of a [Map] are counted by the task
// that runs them, input after input, when it gives its slot back: until
// then, those it ran after its first still count as Pending.
func (p *Pool) Stats() Stats {
	t := p.tree()
	t.mu.Lock()
	c := p.st
	t.mu.Unlock()
	return Stats{
		Running:   int(c.running()),
		Pending:   int(c.pending()),
		Submitted: c.submitted,
		Succeeded: c.succeeded,
		Failed:    c.failed,
		Panicked:  c.panicked,
		Canceled:  c.canceled,
		Skipped:   c.skipped,
		Retries:   c.retries,
	}
}
