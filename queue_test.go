package gopool

import (
	"math/rand/v2"
	"testing"
	"time"
)

// raceEnabled is set by race_internal_test.go when the race detector is on.
var raceEnabled bool

// fifoKey is a Worker that is only a number, so that a job can carry one.
type fifoKey uint64

func (fifoKey) Execute() error                         { return nil }
func (k fifoKey) WithRetry(uint, time.Duration) Worker { return k }

// TestFifoKeepsOrder drives fifos of entries and of jobs through random
// pushes, pops, drops, finds and writes through peek and find, against a
// slice: the item kept inline and those in chunks must come out in the order
// they went in, across chunk boundaries and across the queue emptying and
// filling again; a dropped item's slot must be zeroed, so that the queue
// holds on to nothing it gave up.
func TestFifoKeepsOrder(t *testing.T) {
	t.Run("entries", func(t *testing.T) {
		checkFifo(t,
			func(k uint64) entry { return entry{ticket: k} },
			func(e entry) uint64 { return e.ticket },
			find)
	})
	t.Run("jobs", func(t *testing.T) {
		checkFifo(t,
			func(k uint64) job { return job{w: fifoKey(k)} },
			func(j job) uint64 { return uint64(j.w.(fifoKey)) },
			nil)
	})
}

// checkFifo runs TestFifoKeepsOrder on fifo[T]: mk makes the item of a key,
// and key reads it back; findKey, if not nil, finds the item of a key.
func checkFifo[T comparable](t *testing.T, mk func(uint64) T, key func(T) uint64, findKey func(*fifo[T], uint64) *T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 0))
		var (
			q     fifo[T]
			model []uint64
			next  = uint64(1) // 0 is a zeroed slot's key
			zero  T
		)
		push := func() {
			q.push(mk(next))
			model = append(model, next)
			next++
		}
		for step := range 5000 {
			// Phases that mostly grow, then mostly shrink, so that the
			// queue spans several chunks and empties again.
			growing := step/500%2 == 0
			switch r := rng.IntN(12); {
			case r < 7 == growing || len(model) == 0:
				push()
			case r == 7 || r == 8:
				if got := key(q.pop()); got != model[0] {
					t.Fatalf("seed %d step %d: pop = %d, want %d", seed, step, got, model[0])
				}
				model = model[1:]
			case r == 9:
				// A write through peek lands in the queue.
				*q.peek() = mk(next)
				model[0] = next
				next++
			default:
				if got := key(*q.peek()); got != model[0] {
					t.Fatalf("seed %d step %d: peek = %d, want %d", seed, step, got, model[0])
				}
				dropped := model[0]
				q.drop()
				model = model[1:]
				if findKey != nil && findKey(&q, dropped) != nil {
					t.Fatalf("seed %d step %d: found %d after it was dropped", seed, step, dropped)
				}
			}
			if q.n != len(model) {
				t.Fatalf("seed %d step %d: n = %d, want %d", seed, step, q.n, len(model))
			}
			if !q.inline && q.one != zero {
				t.Fatalf("seed %d step %d: the inline slot still holds %d after it was given up", seed, step, key(q.one))
			}
			if q.head != nil && q.r > 0 && q.head.items[q.r-1] != zero {
				t.Fatalf("seed %d step %d: a chunk slot still holds %d after it was given up", seed, step, key(q.head.items[q.r-1]))
			}
			if findKey == nil || len(model) == 0 {
				continue
			}
			i := rng.IntN(len(model))
			e := findKey(&q, model[i])
			if e == nil || key(*e) != model[i] {
				t.Fatalf("seed %d step %d: find(%d) = %v", seed, step, model[i], e)
			}
			if rng.IntN(4) == 0 {
				// A write through find lands in the queue.
				*e = mk(next)
				model[i] = next
				next++
			}
			if findKey(&q, next) != nil {
				t.Fatalf("seed %d step %d: found %d, which was never pushed", seed, step, next)
			}
		}
		for len(model) > 0 {
			if got := key(q.pop()); got != model[0] {
				t.Fatalf("seed %d: pop = %d, want %d", seed, got, model[0])
			}
			model = model[1:]
		}
		q.release()
		if q != (fifo[T]{}) {
			t.Fatalf("seed %d: an emptied, released fifo is not the zero fifo", seed)
		}
	}
}

// TestFifoReusesItsChunks checks that a queue that spans several chunks
// allocates none once it has warmed up: its chunks go back to their pool as
// it empties, and come out of it as it fills.
func TestFifoReusesItsChunks(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop values, so allocations are not counted faithfully")
	}
	const n = 3*chunkSize + 1
	var (
		entries fifo[entry]
		jobs    fifo[job]
	)
	cycle := func() {
		for i := range n {
			entries.push(entry{ticket: uint64(i)})
			jobs.push(job{})
		}
		for range n {
			entries.drop()
			jobs.pop()
		}
		entries.release()
		jobs.release()
	}
	cycle()
	if avg := testing.AllocsPerRun(100, cycle); avg != 0 {
		t.Errorf("filling and emptying queues of %d items allocated %v times per cycle, want 0", n, avg)
	}
}
