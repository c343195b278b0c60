package gopool

import "sync"

// entry is a task on its way to a worker, with the batch it belongs to.
// ticket orders the tasks blocked or held at a limit across the whole tree.
// A nil w marks a task that its GoContext took back.
type entry struct {
	w         Worker
	b         *batch
	ticket    uint64
	at        *Pool // the pool whose queue holds the task, while it is held
	uncounted bool  // a task of GoContext: in Stats only once admitted
}

// job is what the tree's run queue holds of an entry: a task that holds its
// slots and waits for a worker. It is small, since a producer without a
// limit may queue many.
type job struct {
	w Worker
	b *batch
}

// fifo is a queue in chunks recycled across batches and pools, so that
// queueing allocates nothing once the program has warmed up. An item pushed
// to an empty queue is kept in it, not in a chunk: most queues of a pool
// under a limit hold one item at a time.
type fifo[T any] struct {
	one        T    // the oldest item, if inline
	inline     bool // one holds an item; the chunks hold the n-1 newer ones
	head, tail *chunk[T]
	r, w       int // next index to read in head, to write in tail
	n          int
}

const chunkSize = 64

type chunk[T any] struct {
	items [chunkSize]T
	next  *chunk[T]
}

var entryChunks = sync.Pool{New: func() any { return new(chunk[entry]) }}
var jobChunks = sync.Pool{New: func() any { return new(chunk[job]) }}

// chunks returns the pool of q's chunks.
func (q *fifo[T]) chunks() *sync.Pool {
	if _, ok := any(q).(*fifo[job]); ok {
		return &jobChunks
	}
	return &entryChunks
}

func (q *fifo[T]) push(e T) {
	if q.n == 0 {
		q.one, q.inline, q.n = e, true, 1
		return
	}
	q.pushChunk(e)
}

// pushChunk pushes e, behind the item kept inline, to the chunks.
func (q *fifo[T]) pushChunk(e T) {
	if q.tail == nil || q.w == chunkSize {
		c := q.chunks().Get().(*chunk[T])
		if q.tail == nil {
			q.head, q.r = c, 0
		} else {
			q.tail.next = c
		}
		q.tail, q.w = c, 0
	}
	q.tail.items[q.w] = e
	q.w++
	q.n++
}

// peek returns the oldest item; the queue must not be empty.
func (q *fifo[T]) peek() *T {
	if q.inline {
		return &q.one
	}
	return &q.head.items[q.r]
}

func (q *fifo[T]) pop() T {
	e := *q.peek()
	q.drop()
	return e
}

// drop removes the oldest item; the queue must not be empty. Reading it
// through peek first, rather than copying it out with pop, is cheaper for
// large items.
func (q *fifo[T]) drop() {
	if q.inline {
		var zero T
		q.one, q.inline = zero, false
		q.n--
		return
	}
	q.dropChunk()
}

// dropChunk removes the oldest item, which is in a chunk.
func (q *fifo[T]) dropChunk() {
	var zero T
	c := q.head
	c.items[q.r] = zero
	q.r++
	q.n--
	switch {
	case q.n == 0: // head == tail: rewind it
		q.r, q.w = 0, 0
	case q.r == chunkSize:
		q.head, q.r = c.next, 0
		c.next = nil
		q.chunks().Put(c)
	}
}

// release returns the storage of an empty queue.
func (q *fifo[T]) release() {
	if q.head != nil {
		q.chunks().Put(q.head)
		*q = fifo[T]{}
	}
}

// find returns the entry with ticket, or nil.
func find(q *fifo[entry], ticket uint64) *entry {
	n := q.n
	if q.inline {
		if q.one.ticket == ticket {
			return &q.one
		}
		n--
	}
	r := q.r
	for c := q.head; n > 0; c, r = c.next, 0 {
		for ; r < chunkSize && n > 0; r, n = r+1, n-1 {
			if c.items[r].ticket == ticket {
				return &c.items[r]
			}
		}
	}
	return nil
}
