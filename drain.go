package gopool

import (
	"iter"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Drain collects the values that tasks send to it, in arrival order. Tasks
// reach it through [Args].Drainer once configured with [Task.DrainTo].
//
// The zero Drain is empty and ready to use; [NewDrainer] returns one. A Drain
// is safe for concurrent use and must not be copied after first use.
type Drain[T any] struct {
	feed
	// The storage is a sequence of nodes, numbered from 0, in chunks that
	// are never copied, so a node never moves. A Send claims the next
	// slot, writes its value to that node's v, then publishes the slot at
	// the first free place in arrival order, by a compare-and-swap from 0
	// on that place's node's slot field: so Send never waits for another
	// goroutine, and a published place never changes, so readers follow
	// the places without a lock. The places before tail are all published
	// and place tail may be too: a Send moves tail past a published place
	// before it publishes its own.
	//
	// For a T of size 0 every value is the same: d keeps only their count,
	// in slots, and no nodes, so such a drain does not grow.
	slots  atomic.Int64 // slots claimed so far
	tail   atomic.Int64 // every place before it is published
	chunks [drainChunks]atomic.Pointer[[]drainNode[T]]
}

// drainNode is a node of a [Drain]'s storage: the value sent into slot i,
// and which slot arrived in place i.
type drainNode[T any] struct {
	slot atomic.Int64 // the slot that arrived in place i, plus 1; 0 for none yet
	v    T            // written before its slot is published, never after
}

// A drain's chunks double from drainFirstChunk nodes, so that a small drain
// stays small and a large one allocates rarely; chunk k holds the nodes from
// drainStart(k), and drainChunks of them hold every node an int64 numbers.
const (
	drainFirstShift = 3
	drainFirstChunk = 1 << drainFirstShift
	drainChunks     = 64 - drainFirstShift
)

// drainChunkOf returns the chunk that holds node i.
func drainChunkOf(i int64) int {
	return bits.Len64(uint64(i>>drainFirstShift+1)) - 1
}

// drainStart returns the first node of chunk k.
func drainStart(k int) int64 { return drainFirstChunk<<k - drainFirstChunk }

// feed is the part of a [Drain] that does not depend on T: the lock that
// only waiting readers and their wakers take, and the count of tasks
// registered with a pool that may still send to it.
type feed struct {
	mu      sync.Mutex
	idle    sync.Cond    // signalled when pending drops to 0
	more    sync.Cond    // signalled when a value arrives or pending drops to 0
	waiting atomic.Int64 // iterations waiting on more; changed under mu
	pending atomic.Int64
}

// NewDrainer returns an empty [Drain].
func NewDrainer[T any]() *Drain[T] { return new(Drain[T]) }

// Send appends v to d. It is safe from any goroutine, takes no lock, and
// never waits for another Send: a goroutine paused in the middle of a Send
// holds up no other. It never copies earlier values and costs O(1), except
// that the first Send to need a new chunk of storage allocates it, each
// chunk twice as large as the one before. While an iteration of [Drain.All]
// waits for a new value, Send also takes d's lock, briefly, to wake it.
func (d *Drain[T]) Send(v T) {
	s := d.slots.Add(1) - 1
	if unsafe.Sizeof(v) == 0 {
		d.wake()
		return
	}
	k := drainChunkOf(s)
	chunk := d.chunk(k)
	i := s - drainStart(k)
	if n := int64(len(chunk)); i == n-n/8 && k+1 < drainChunks {
		d.chunk(k + 1) // ahead of need, so that Sends rarely race to make it
	}
	chunk[i].v = v
	for {
		p := d.tail.Load()
		var n *drainNode[T]
		if j := p - drainStart(k); uint64(j) < uint64(len(chunk)) {
			n = &chunk[j]
		} else { // another chunk, maybe not made yet
			kp := drainChunkOf(p)
			n = &d.chunk(kp)[p-drainStart(kp)]
		}
		if n.slot.Load() == 0 && n.slot.CompareAndSwap(0, s+1) {
			d.tail.CompareAndSwap(p, p+1)
			break
		}
		d.tail.CompareAndSwap(p, p+1) // help the Send that took place p
	}
	d.wake()
}

// wake wakes the iterations waiting for a value, if any. The publication
// before it and the increment of waiting in wait are both sequentially
// consistent: either wake sees the waiter, or the waiter sees the value.
func (f *feed) wake() {
	if f.waiting.Load() > 0 {
		f.mu.Lock()
		f.more.Broadcast()
		f.mu.Unlock()
	}
}

// chunk returns chunk k, making it if no one has.
func (d *Drain[T]) chunk(k int) []drainNode[T] {
	if c := d.chunks[k].Load(); c != nil {
		return *c
	}
	c := make([]drainNode[T], drainFirstChunk<<k)
	d.chunks[k].CompareAndSwap(nil, &c) // another Send may have made it first
	return *d.chunks[k].Load()
}

// drainCursor finds a drain's nodes, at once for one in the chunk of the
// node found last.
type drainCursor[T any] struct {
	d     *Drain[T]
	chunk []drainNode[T]
	base  int64 // the number of chunk[0]
}

// at returns node i, or nil if its chunk is not made yet: then no slot in
// it is published.
func (c *drainCursor[T]) at(i int64) *drainNode[T] {
	j := i - c.base
	if uint64(j) >= uint64(len(c.chunk)) {
		k := drainChunkOf(i)
		p := c.d.chunks[k].Load()
		if p == nil {
			return nil
		}
		c.chunk, c.base = *p, drainStart(k)
		j = i - c.base
	}
	return &c.chunk[j]
}

// slotAt returns the slot that arrived in place p, plus 1, or 0 if none has.
func (c *drainCursor[T]) slotAt(p int64) int64 {
	if unitSize[T]() {
		if p < c.d.slots.Load() {
			return p + 1
		}
		return 0
	}
	if n := c.at(p); n != nil {
		return n.slot.Load()
	}
	return 0
}

// value returns the value sent into slot s-1.
func (c *drainCursor[T]) value(s int64) T {
	if unitSize[T]() {
		var zero T
		return zero
	}
	return c.at(s - 1).v
}

// unitSize reports whether T has size 0.
func unitSize[T any]() bool {
	var v T
	return unsafe.Sizeof(v) == 0
}

// end returns the number of places published, all in a row from place 0.
// It steps at most once for each Send in progress.
func (d *Drain[T]) end(c *drainCursor[T]) int64 {
	p := d.tail.Load()
	for c.slotAt(p) != 0 {
		p++
	}
	return p
}

// Drain waits until every task that feeds d, registered with any [Pool], has
// finished or been skipped, and returns every value sent so far, in arrival
// order, as a new slice that the caller owns. Values stay in d: a later Drain
// returns them again, followed by any sent since. It costs O(n) for n
// values, and Send never waits for it.
//
// A task must not call Drain on a drain it feeds: it would wait for itself.
func (d *Drain[T]) Drain() []T {
	d.mu.Lock()
	if d.idle.L == nil { // set here, not in a constructor, so the zero Drain works
		d.idle.L = &d.mu
	}
	for d.pending.Load() > 0 {
		d.idle.Wait()
	}
	d.mu.Unlock()
	c := drainCursor[T]{d: d}
	n := d.end(&c)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	if unitSize[T]() {
		return out
	}
	other := drainCursor[T]{d: d} // for values sent into a slot other than their place
	for p := int64(0); p < n; {
		k := drainChunkOf(p)
		run := *d.chunks[k].Load() // made: place p is published
		for j := p - drainStart(k); j < int64(len(run)) && p < n; j++ {
			if s := run[j].slot.Load(); s == p+1 {
				out[p] = run[j].v // the common case: the value is in the same node
			} else {
				out[p] = other.at(s - 1).v
			}
			p++
		}
	}
	return out
}

// All returns an iterator over d's values in arrival order, yielding each as
// soon as it is sent, and ending once no task that feeds d is pending and
// every value has been yielded.
//
// All does not consume: values stay in d, as with [Drain.Drain], and any
// number of iterations may run at once, each seeing every value in the same
// order. An iteration blocks only while no new value has arrived and a task
// feeding d, registered with any [Pool], has not finished or been skipped;
// for a drain with no such task it yields the values already there and ends
// at once. Breaking out of the loop early is safe: it leaves the tasks
// running and nothing behind. The loop body runs without d's lock held, so it
// may call Send, Count, Drain or All on d, but a loop in a task that feeds d
// waits for itself once it has seen every value, as Drain would.
//
// Each value costs O(1), and an iteration allocates nothing.
func (d *Drain[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		places, values := drainCursor[T]{d: d}, drainCursor[T]{d: d}
		for p := int64(0); ; p++ {
			s := places.slotAt(p)
			if s == 0 {
				// Load pending first: a feeding task sends before it
				// is done, so once pending is 0 its values are here.
				if d.pending.Load() > 0 {
					s = d.wait(&places, p)
				}
				if s == 0 {
					if s = places.slotAt(p); s == 0 {
						return
					}
				}
			}
			if !yield(values.value(s)) {
				return
			}
		}
	}
}

// wait blocks while no slot has arrived in place p and a task feeding d is
// pending, and returns the slot that arrived in place p, plus 1, or 0 if
// none has.
func (d *Drain[T]) wait(c *drainCursor[T], p int64) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.more.L == nil { // set here, not in a constructor, so the zero Drain works
		d.more.L = &d.mu
	}
	d.waiting.Add(1)
	defer d.waiting.Add(-1)
	for {
		if s := c.slotAt(p); s != 0 || d.pending.Load() == 0 {
			return s
		}
		d.more.Wait()
	}
}

// Count returns the number of values sent so far. It never waits, and costs
// O(1): it steps at most once for each Send in progress.
func (d *Drain[T]) Count() int {
	c := drainCursor[T]{d: d}
	return int(d.end(&c))
}

// done records that a task feeding the drain finished or was skipped.
func (f *feed) done() {
	if f.pending.Add(-1) == 0 {
		// Taking the lock orders this wake-up after a Drain or an
		// iteration that saw pending > 0 has started waiting.
		f.mu.Lock()
		f.idle.Broadcast()
		if f.waiting.Load() > 0 {
			f.more.Broadcast()
		}
		f.mu.Unlock()
	}
}
