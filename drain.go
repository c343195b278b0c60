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
// [Drain.Drain] returns the values once every task feeding the drain is
// done; [Drain.All] yields them as they arrive.
//
// The zero Drain is empty and ready to use; [NewDrainer] returns one. A Drain
// is safe for concurrent use and must not be copied after first use. It keeps
// each value with 8 bytes of bookkeeping, in chunks of about 2 KiB that are
// never copied.
type Drain[T any] struct {
	feed
	// The storage is a sequence of nodes, numbered from 0. A Send claims
	// the next slot, writes its value to that node's v, then publishes the
	// slot at the first free place in arrival order, by a compare-and-swap
	// from 0 on that place's node's slot field: so Send never waits for
	// another goroutine, and a published place never changes, so readers
	// follow the places without a lock. The places before tail are all
	// published and place tail may be too: a Send moves tail past a
	// published place before it publishes its own.
	//
	// For a T of size 0 every value is the same: d keeps only their count,
	// in slots, and no nodes, so such a drain does not grow.
	slots atomic.Int64 // slots claimed so far
	tail  atomic.Int64 // every place before it is published
	// The nodes are in chunks of 1<<drainShift[T]() nodes, each made by
	// the first Send to need it, so that a node never moves. dirs[j] lists
	// the 1<<j chunks from chunk 1<<j - 1.
	dirs [64]atomic.Pointer[[]atomic.Pointer[[]drainNode[T]]]
}

// drainNode is a node of a [Drain]'s storage: the value sent into slot i,
// and which slot arrived in place i.
type drainNode[T any] struct {
	slot atomic.Int64 // the slot that arrived in place i, plus 1; 0 for none yet
	v    T            // written before its slot is published, never after
}

// drainChunkBytes is about the size of a chunk of a [Drain]'s storage: small,
// so that a small drain stays small and that two Sends that race to make the
// same chunk waste little, but large enough to allocate rarely.
const drainChunkBytes = 2 << 10

// drainShift returns the log2 of the number of nodes in a chunk of a
// Drain[T]: about drainChunkBytes of them, and at least 8.
func drainShift[T any]() uint {
	per := drainChunkBytes / unsafe.Sizeof(drainNode[T]{})
	return uint(max(bits.Len64(uint64(per))-1, 3))
}

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

// Send appends v to d. It is safe from any goroutine and costs O(1): it
// never copies earlier values, and allocates only to make a chunk of
// storage, which the Send that half fills the chunk before makes ahead of
// need. Send takes no lock and never waits for another goroutine, so one
// paused in the middle of a Send holds up no other; only while an iteration
// of [Drain.All] waits for a new value does Send take d's lock, briefly, to
// wake it.
func (d *Drain[T]) Send(v T) {
	s := d.slots.Add(1) - 1
	if unsafe.Sizeof(v) == 0 {
		d.wake()
		return
	}
	shift := drainShift[T]()
	mask := int64(1)<<shift - 1
	c := s >> shift
	chunk := d.chunk(c, true)
	chunk[s&mask].v = v
	for {
		p := d.tail.Load()
		var n *drainNode[T]
		if p>>shift == c {
			n = &chunk[p&mask]
		} else {
			n = &d.chunk(p>>shift, true)[p&mask]
		}
		if n.slot.Load() == 0 && n.slot.CompareAndSwap(0, s+1) {
			d.tail.CompareAndSwap(p, p+1)
			break
		}
		d.tail.CompareAndSwap(p, p+1) // help the Send that took place p
	}
	d.wake()
	if s&mask == (mask+1)/2 {
		d.prepare(c + 1)
	}
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

// prepare makes chunk c ahead of need, and the next block of dirs once c is
// half way through its own, so that Sends rarely race to make either.
func (d *Drain[T]) prepare(c int64) {
	d.chunk(c, true)
	j := bits.Len64(uint64(c+1)) - 1
	if c+1-1<<j == 1<<j/2 && j+1 < len(d.dirs) {
		d.dir(j+1, true)
	}
}

// dir returns block j of d.dirs. If no one has made it, it makes it if
// create, and returns nil otherwise.
func (d *Drain[T]) dir(j int, create bool) []atomic.Pointer[[]drainNode[T]] {
	if b := d.dirs[j].Load(); b != nil {
		return *b
	}
	if !create {
		return nil
	}
	b := make([]atomic.Pointer[[]drainNode[T]], 1<<j)
	d.dirs[j].CompareAndSwap(nil, &b) // another Send may have made it first
	return *d.dirs[j].Load()
}

// chunk returns chunk c. If no one has made it, it makes it if create, and
// returns nil otherwise.
func (d *Drain[T]) chunk(c int64, create bool) []drainNode[T] {
	j := bits.Len64(uint64(c+1)) - 1
	b := d.dir(j, create)
	if b == nil {
		return nil
	}
	e := &b[c+1-1<<j]
	if p := e.Load(); p != nil {
		return *p
	}
	if !create {
		return nil
	}
	n := make([]drainNode[T], 1<<drainShift[T]())
	e.CompareAndSwap(nil, &n) // another Send may have made it first
	return *e.Load()
}

// drainCursor finds a drain's nodes, at once for one in the chunk of the
// node found last.
type drainCursor[T any] struct {
	d     *Drain[T]
	chunk []drainNode[T]
	c     int64 // the number of chunk
}

// at returns node i, or nil if its chunk is not made yet: then no slot in
// it is published.
func (c *drainCursor[T]) at(i int64) *drainNode[T] {
	shift := drainShift[T]()
	if i>>shift != c.c || c.chunk == nil {
		chunk := c.d.chunk(i>>shift, false)
		if chunk == nil {
			return nil
		}
		c.chunk, c.c = chunk, i>>shift
	}
	return &c.chunk[i&(1<<shift-1)]
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
	shift := drainShift[T]()
	for p := int64(0); p < n; {
		run := d.chunk(p>>shift, false) // made: place p is published
		for j := p & (1<<shift - 1); j < int64(len(run)) && p < n; j++ {
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
