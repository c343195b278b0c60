package gopool

import "sync"

// entry is a task on its way to a worker, with the batch it belongs to.
// ticket orders the tasks blocked or held at a limit across the whole tree.
// A nil w marks a task that its GoContext took back.
type entry struct {
	w         Worker
	t         task // w as a task, if it is one
	b         *batch
	ticket    uint64
	at        *Pool // the pool whose queue holds the task, while it is held
	uncounted bool  // a task of GoContext: in Stats only once admitted
	runner    bool  // w is a *mapRun, which runs inputs of a Map
}

// fifo is a queue of entries in chunks recycled across batches and pools,
// so that queueing allocates nothing once the program has warmed up.
type fifo struct {
	head, tail *chunk
	r, w       int // next index to read in head, to write in tail
	n          int
}

const chunkSize = 64

type chunk struct {
	items [chunkSize]entry
	next  *chunk
}

var chunks = sync.Pool{New: func() any { return new(chunk) }}

func (q *fifo) push(e entry) {
	if q.tail == nil || q.w == chunkSize {
		c := chunks.Get().(*chunk)
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

// peek returns the oldest entry; the queue must not be empty.
func (q *fifo) peek() *entry { return &q.head.items[q.r] }

// find returns the entry with ticket, or nil.
func (q *fifo) find(ticket uint64) *entry {
	r := q.r
	for c, n := q.head, q.n; n > 0; c, r = c.next, 0 {
		for ; r < chunkSize && n > 0; r, n = r+1, n-1 {
			if c.items[r].ticket == ticket {
				return &c.items[r]
			}
		}
	}
	return nil
}

func (q *fifo) pop() entry {
	c := q.head
	e := c.items[q.r]
	c.items[q.r] = entry{}
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
	return e
}

// release returns the storage of an empty queue.
func (q *fifo) release() {
	if q.head != nil {
		chunks.Put(q.head)
		*q = fifo{}
	}
}
