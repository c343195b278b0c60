package gopool

import (
	"math/rand/v2"
	"testing"
)

// TestFifoKeepsOrder drives a fifo of entries through random pushes, pops,
// drops and finds, against a slice: the item kept inline and those in
// chunks must come out in the order they went in, across chunk boundaries
// and across the queue emptying and filling again.
func TestFifoKeepsOrder(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 0))
		var (
			q     fifo[entry]
			model []uint64
			next  uint64
		)
		for step := range 5000 {
			// Phases that mostly grow, then mostly shrink, so that the
			// queue spans several chunks and empties again.
			growing := step/500%2 == 0
			switch r := rng.IntN(10); {
			case r < 6 == growing || len(model) == 0:
				q.push(entry{ticket: next})
				model = append(model, next)
				next++
			case r%2 == 0:
				if got := q.pop().ticket; got != model[0] {
					t.Fatalf("seed %d step %d: pop = %d, want %d", seed, step, got, model[0])
				}
				model = model[1:]
			default:
				if got := q.peek().ticket; got != model[0] {
					t.Fatalf("seed %d step %d: peek = %d, want %d", seed, step, got, model[0])
				}
				q.drop()
				model = model[1:]
			}
			if q.n != len(model) {
				t.Fatalf("seed %d step %d: n = %d, want %d", seed, step, q.n, len(model))
			}
			if len(model) > 0 {
				want := model[rng.IntN(len(model))]
				if e := find(&q, want); e == nil || e.ticket != want {
					t.Fatalf("seed %d step %d: find(%d) = %v", seed, step, want, e)
				}
			}
			if find(&q, next) != nil {
				t.Fatalf("seed %d step %d: found %d, which was never pushed", seed, step, next)
			}
		}
		for len(model) > 0 {
			q.drop()
			model = model[1:]
		}
		q.release()
		if q != (fifo[entry]{}) {
			t.Fatalf("seed %d: an emptied, released fifo is not the zero fifo", seed)
		}
	}
}
