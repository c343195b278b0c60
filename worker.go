package gopool

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// A launcher starts a worker for a tree without allocating: "go" needs a
// func value, and a method value bound to the tree would be allocated for
// every worker. A launcher carries its tree to exactly the goroutine it
// starts, and is recycled with the func value it is bound to.
type launcher struct {
	t     *tree
	start func()
	tries int // of the worker's current task; here, so that it costs no allocation
}

var launchers sync.Pool

func init() {
	launchers.New = func() any {
		l := new(launcher)
		l.start = l.run
		return l
	}
}

func (l *launcher) run() {
	t := l.t
	t.work(&l.tries)
	l.t = nil
	launchers.Put(l)
}

// work runs queued tasks, of any batch of the tree, until none is left to
// come, counting each one's tries in *tries.
func (t *tree) work(tries *int) {
	var (
		cur      job
		returned bool
	)
	defer func() {
		if !returned {
			// A task called runtime.Goexit, so this goroutine is ending:
			// finish the task and let another worker take the queue.
			t.mu.Lock()
			if r, ok := cur.w.(*mapRun); ok {
				r.finishLocked() // the input is recorded
			} else {
				cur.b.finishLocked(failed, errGoexit, *tries)
			}
			t.workerExitedLocked()
			if t.queue.n > 0 {
				t.ensureWorkerLocked()
			}
			t.mu.Unlock()
		}
	}()
	t.mu.Lock()
	for {
		cur = t.nextLocked()
		if cur.w == nil {
			break
		}
		t.mu.Unlock()
		if r, ok := cur.w.(*mapRun); ok {
			r.run(tries)
			t.mu.Lock()
			r.finishLocked()
		} else {
			o, err := succeeded, cur.b.execute(cur.w, tries)
			if err != nil {
				o, err = cur.b.judge(err)
			}
			t.mu.Lock()
			cur.b.finishLocked(o, err, *tries)
		}
		cur = job{} // hold on to nothing while idle
	}
	t.workerExitedLocked()
	t.mu.Unlock()
	returned = true
}

// nextLocked returns the next task to run, skipping tasks of cancelled
// batches. With the queue empty, it waits while registered tasks remain,
// and otherwise returns nothing, so that no worker outlives the tree's work
// even if Wait is never called; before that, it yields once if a batch
// that no Wait waits for is live, since its producer, which may just have
// got a slot, is likely to submit again. A worker that yields waits in the
// scheduler's global queue, so one that would yield in vain, for a batch
// about to end, exits at once instead: its goroutine is then free for the
// next pool's worker.
func (t *tree) nextLocked() job {
	yielded := false
	for {
		if t.queue.n == 0 {
			if t.registered == 0 {
				if yielded || !t.unwaitedLocked() {
					return job{}
				}
				yielded = true
				t.mu.Unlock()
				runtime.Gosched()
				t.mu.Lock()
				continue
			}
			t.idle++
			t.hasWork.L = &t.mu
			t.hasWork.Wait()
			continue
		}
		j := t.queue.pop()
		if j.b.cancelledLocked() {
			j.b.skipLocked(entry{w: j.w, b: j.b}, isQueued)
			continue
		}
		if r, ok := j.w.(*mapRun); !ok {
			j.b.startLocked()
		} else if !r.startLocked() {
			continue
		}
		if t.queue.n > 0 {
			t.ensureWorkerLocked()
		}
		return j
	}
}

// unwaitedLocked reports whether a live batch of the tree has no Wait
// waiting for it.
func (t *tree) unwaitedLocked() bool {
	for b := t.live.head; b != nil; b = b.links[liveList].next {
		if b.waits == 0 {
			return true
		}
	}
	return false
}

// execute runs w with the batch as its context, turning a panic into a
// *PanicError, and counts its tries. The drain w feeds learns that w
// finished whatever happens.
func (b *batch) execute(w Worker, tries *int) (err error) {
	t, isTask := asTask(w)
	returned := false
	defer func() {
		if !returned {
			// A panic; or runtime.Goexit, which recover does not stop and
			// work accounts for.
			if isTask {
				if f := t.feed(); f != nil {
					f.done()
				}
			}
			err = &PanicError{Value: recover(), Stack: debug.Stack()}
		}
	}()
	*tries = 1
	if isTask {
		err = t.run(b, policy{b.pool.retry, b.pool.timeout}, tries, true)
	} else {
		err = runWorker(b, w, b.pool.retry, tries)
	}
	returned = true
	return err
}

// judge classifies the error a task returned. It runs without the lock: an
// echo is recognised through the error's own methods, which are the
// caller's code, and a panic in one of them becomes the task's failure.
func (b *batch) judge(err error) (o outcome, failure error) {
	if err == nil {
		return succeeded, nil
	}
	if _, ok := err.(*PanicError); ok {
		return panicked, err
	}
	if !b.contextDone() {
		return failed, err
	}
	defer func() {
		if v := recover(); v != nil {
			o, failure = panicked, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if echoes(err, b.contextErr()) {
		return canceled, nil
	}
	return failed, err
}
