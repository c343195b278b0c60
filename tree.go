package gopool

import (
	"sync"
	"sync/atomic"
)

// tree is the state that a root pool shares with every sub-pool below it:
// one lock, the queue of admitted tasks, the workers that run them, and the
// order in which tasks blocked at a limit are admitted. Every field, and
// every field of the pools and batches of the tree, is guarded by mu.
type tree struct {
	mu sync.Mutex

	queue   fifo[job] // admitted tasks of every batch, not yet started
	hasWork sync.Cond // idle workers wait for the queue
	exited  sync.Cond // Wait waits for the workers of an idle tree to exit

	registered int // tasks registered in the tree, not yet finished or skipped
	running    int // task bodies running in the tree
	workers    int // worker goroutines alive
	idle       int // workers waiting on hasWork, not yet signalled

	blocked batchList // batches with tasks blocked or held at a limit
	live    batchList // batches started and not yet ended
	tickets uint64    // tasks ever blocked or held at a limit: orders their admission

	mapRuns  int          // tasks of Map holding slots
	blockedN atomic.Int32 // blocked.n, kept while mapRuns > 0

	bubble atomic.Uint32 // whether the tree was made in a synctest bubble (see sub.go)
}

// ensureWorkerLocked makes sure some worker that is not running a task will
// look at the queue: if none is awake, it wakes an idle one or starts one.
// Called whenever the queue may hold a task, it keeps every queued task
// reachable even when all running tasks block.
func (t *tree) ensureWorkerLocked() {
	if t.workers-t.running-t.idle <= 0 {
		t.wakeWorkerLocked()
	}
}

// wakeWorkerLocked wakes an idle worker, or starts one if none is idle.
func (t *tree) wakeWorkerLocked() {
	if t.idle > 0 {
		t.idle--
		t.hasWork.Signal()
		return
	}
	t.workers++
	l := launchers.Get().(*launcher)
	l.t = t
	go l.start()
}

// workerExitedLocked records that a worker exits.
func (t *tree) workerExitedLocked() {
	if t.workers--; t.workers == 0 {
		if t.queue.n == 0 {
			t.queue.release() // an idle tree keeps no storage
		}
		t.exited.Broadcast()
	}
}

// awaitWorkersLocked waits, once the tree has nothing left to do, until its
// workers have exited. A worker started to stand by for a task that might
// block, or one that yielded to a producer likely to submit again, may not
// have run since: at GOMAXPROCS=1 it waits behind the goroutines that the
// caller and the next pool's workers keep handing the processor to, and
// thousands of such workers, each holding its tree, pile up when a pool is
// made per batch. Waiting for the standby workers alone is not enough, and
// is slower: a yielded worker then waits in the scheduler's global queue.
// The wait ends as soon as another batch of the tree starts: the workers
// then serve it.
func (t *tree) awaitWorkersLocked() {
	for t.workers > 0 && t.registered == 0 && t.live.head == nil {
		t.exited.L = &t.mu
		t.exited.Wait()
	}
}

// unregisterLocked records that n registered tasks finished or were skipped;
// once none is left, idle workers exit.
func (t *tree) unregisterLocked(n int) {
	t.registered -= n
	if t.registered == 0 && t.idle > 0 {
		t.idle = 0
		t.hasWork.Broadcast()
	}
}

// batchList is an intrusive doubly linked list of batches, through the
// links[which] of each batch.
type batchList struct {
	head *batch
	n    int
}

const (
	blockedList = iota // tree.blocked
	liveList           // tree.live
)

type listLink struct {
	prev, next *batch
	in         bool
}

func (l *batchList) push(b *batch, which int) {
	lb := &b.links[which]
	if lb.in {
		return
	}
	lb.in, lb.prev, lb.next = true, nil, l.head
	if l.head != nil {
		l.head.links[which].prev = b
	}
	l.head = b
	l.n++
	if which == blockedList {
		b.t.blockedChangedLocked(b, true)
	}
}

func (l *batchList) remove(b *batch, which int) {
	lb := &b.links[which]
	if !lb.in {
		return
	}
	if lb.prev != nil {
		lb.prev.links[which].next = lb.next
	} else {
		l.head = lb.next
	}
	if lb.next != nil {
		lb.next.links[which].prev = lb.prev
	}
	*lb = listLink{}
	l.n--
	if which == blockedList {
		b.t.blockedChangedLocked(b, false)
	}
}

// blockedChangedLocked keeps what the tasks of Map read without the lock
// (see mapState.contended) in step with tree.blocked, which b just joined
// (in) or left; only while they need it, so that other tasks pay nothing.
func (t *tree) blockedChangedLocked(b *batch, in bool) {
	if b.mapped {
		b.atLimit.Store(in)
	}
	if t.mapRuns > 0 {
		t.blockedN.Store(int32(t.blocked.n))
	}
}
