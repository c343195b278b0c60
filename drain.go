package gopool

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Drain collects the values that tasks send to it, in arrival order. Tasks
// reach it through [Args].Drainer once configured with [Task.DrainTo].
//
// The zero Drain is empty and ready to use; [NewDrainer] returns one. A Drain
// is safe for concurrent use and must not be copied after first use.
type Drain[T any] struct {
	feed
	values []T
}

// feed is the part of a [Drain] that does not depend on T: its lock, and the
// count of tasks registered with a pool that may still send to it.
type feed struct {
	mu      sync.Mutex
	idle    sync.Cond // signalled when pending drops to 0
	pending atomic.Int64
}

// NewDrainer returns an empty [Drain].
func NewDrainer[T any]() *Drain[T] { return new(Drain[T]) }

// Send appends v to d. It is safe from any goroutine, amortised O(1), and
// allocates only when d's storage grows.
func (d *Drain[T]) Send(v T) {
	d.mu.Lock()
	d.values = append(d.values, v)
	d.mu.Unlock()
}

// Drain waits until every task that feeds d, registered with any [Pool], has
// finished or been skipped, and returns every value sent so far, in arrival
// order, as a new slice that the caller owns. Values stay in d: a later Drain
// returns them again, followed by any sent since.
//
// A task must not call Drain on a drain it feeds: it would wait for itself.
func (d *Drain[T]) Drain() []T {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.idle.L = &d.mu // set here, not in a constructor, so the zero Drain works
	for d.pending.Load() > 0 {
		d.idle.Wait()
	}
	return slices.Clone(d.values)
}

// Count returns the number of values sent so far. It never waits for tasks.
func (d *Drain[T]) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.values)
}

// done records that a task feeding the drain finished or was skipped.
func (f *feed) done() {
	if f.pending.Add(-1) == 0 {
		// Taking the lock orders this wake-up after a Drain that saw
		// pending > 0 has started waiting.
		f.mu.Lock()
		f.idle.Broadcast()
		f.mu.Unlock()
	}
}
