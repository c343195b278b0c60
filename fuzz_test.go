package gopool

import (
	"fmt"
	"math"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backoffModel computes the wait before try k+1 with exact integers: d =
// sleep*2^(k-1), the draw picks floor(draw*d/2^64) uniformly in [0, d), the
// wait is d/2 plus that, capped at max(sleep, time.Minute).
func backoffModel(k uint, sleep time.Duration, draw uint64) time.Duration {
	if sleep <= 0 || k == 0 {
		return 0
	}
	limit := max(sleep, time.Minute)
	// Past 2^200 the base is beyond any cap; don't build a huge number.
	d := new(big.Int).Lsh(big.NewInt(int64(sleep)), uint(min(k-1, 200)))
	j := new(big.Int).Mul(d, new(big.Int).SetUint64(draw))
	j.Rsh(j, 64)
	r := new(big.Int).Rsh(d, 1)
	r.Add(r, j)
	if r.Cmp(big.NewInt(int64(limit))) >= 0 {
		return limit
	}
	return time.Duration(r.Int64())
}

// baseWait returns d = sleep*2^(k-1), and whether it fits below the cap.
func baseWait(k uint, sleep time.Duration) (time.Duration, bool) {
	limit := max(sleep, time.Minute)
	if k == 0 || k-1 >= 63 || sleep > limit>>(k-1) {
		return 0, false
	}
	d := sleep << (k - 1)
	return d, d < limit
}

// FuzzBackoff checks backoff against its contract for any attempt, base and
// draw: never negative, never above max(sleep, time.Minute), zero for a
// sleep <= 0, within [d/2, 3d/2) of d = sleep*2^(k-1) when d is below the
// cap, equal to the exact-integer model (so no overflow anywhere), monotone
// in the draw, and, at the middle draw, non-decreasing in the attempt.
func FuzzBackoff(f *testing.F) {
	f.Add(uint(1), int64(time.Millisecond), uint64(0))
	f.Add(uint(64), int64(1), uint64(math.MaxUint64))
	f.Add(uint(math.MaxUint), int64(math.MaxInt64), uint64(1)<<63)
	f.Fuzz(func(t *testing.T, k uint, base int64, draw uint64) {
		sleep := time.Duration(base)
		limit := max(sleep, time.Minute)
		got := backoff(k, sleep, draw)
		if got < 0 || got > limit {
			t.Fatalf("backoff(%d, %v, %#x) = %v, outside [0, %v]", k, sleep, draw, got, limit)
		}
		if k == 0 {
			return // not a wait the retry loop asks for
		}
		if sleep <= 0 && got != 0 {
			t.Fatalf("backoff(%d, %v, %#x) = %v, want 0 for a sleep <= 0", k, sleep, draw, got)
		}
		if want := backoffModel(k, sleep, draw); got != want {
			t.Fatalf("backoff(%d, %v, %#x) = %v, want %v", k, sleep, draw, got, want)
		}
		if d, below := baseWait(k, sleep); below && sleep > 0 {
			if got < d/2 || got-d/2 >= d {
				t.Fatalf("backoff(%d, %v, %#x) = %v, outside [d/2, 3d/2) of d = %v", k, sleep, draw, got, d)
			}
			// The middle draw lands on d (or one below it, for an odd d),
			// unless the cap cuts it.
			if mid := backoff(k, sleep, 1<<63); mid != min(d/2+d/2, limit) {
				t.Fatalf("backoff(%d, %v, 1<<63) = %v, want about d = %v", k, sleep, mid, d)
			}
		}
		// Monotone in the draw.
		if lo, hi := backoff(k, sleep, 0), backoff(k, sleep, math.MaxUint64); got < lo || got > hi {
			t.Fatalf("backoff(%d, %v, %#x) = %v, outside [%v, %v] spanned by the extreme draws", k, sleep, draw, got, lo, hi)
		}
		// Monotone in expectation: the middle draw never waits less
		// after more failures.
		if k < math.MaxUint {
			a, b := backoff(k, sleep, 1<<63), backoff(k+1, sleep, 1<<63)
			if b < a {
				t.Fatalf("middle wait after %d tries = %v, after %d = %v: it shrank", k, a, k+1, b)
			}
		}
	})
}

// drainOp is one step of a FuzzDrain program.
type drainOp uint8

const (
	opSend drainOp = iota
	opCount
	opDrain // a feeding task counts instead: Drain would wait for itself
	opYield
	// opAll ranges over All; a feeding task, which would wait for itself
	// at the end, ranges over the values Count reports, then breaks.
	opAll
)

// drainProgram is what FuzzDrain's bytes mean: plain goroutines and tasks
// feeding the drain through DrainTo (half in an unlimited pool, half in a
// limited one), each with its list of operations. In each byte after the
// first two, the top two bits are the operation (opDrain is opAll when bit
// 5 is set) and the byte modulo the number of actors is the actor.
type drainProgram struct {
	plain   int
	feeders int
	ops     [][]drainOp // plain goroutines first, then feeders
}

func parseDrainProgram(data []byte) drainProgram {
	var p drainProgram
	if len(data) < 2 {
		return drainProgram{plain: 1, ops: [][]drainOp{{opDrain}}}
	}
	p.plain = 1 + int(data[0]%4)
	p.feeders = int(data[1] % 5)
	p.ops = make([][]drainOp, p.plain+p.feeders)
	for _, b := range data[2:min(len(data), 2+1024)] {
		actor := int(b) % len(p.ops)
		op := drainOp(b >> 6)
		if op == opDrain && b&0x20 != 0 {
			op = opAll
		}
		p.ops[actor] = append(p.ops[actor], op)
	}
	return p
}

// value encodes who sent it and its place among that sender's sends.
func drainValue(actor, seq int) int { return actor<<20 | seq }

// FuzzDrain runs a fuzzed program of concurrent Send, Count, Drain and All
// calls and checks it against a model: the final Drain holds exactly the
// values sent, each sender's in its order; every Drain result and every
// sequence an All iteration yields is a prefix of the final one and holds
// everything its caller sent before, and, from a goroutine that feeds
// nothing, every value of every feeding task, none of which is still
// running; an iteration a feeding task breaks off after the values Count
// reported yields exactly that many; Count never decreases for a caller,
// never exceeds the sends, and never misses the caller's own.
func FuzzDrain(f *testing.F) {
	f.Add([]byte{0, 0, 0x00, 0x40, 0x80})
	f.Add([]byte{3, 4, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x80, 0x81, 0x82, 0x43, 0x44, 0xc5})
	f.Add([]byte{0x00, 0x02, 0xa2, 0x01, 0x02, 0x00, 0xa0, 0x02, 0xa2, 0x01, 0xa1}) // All from each actor
	f.Fuzz(func(t *testing.T, data []byte) {
		prog := parseDrainProgram(data)
		d := NewDrainer[int]()
		var feeding atomic.Int64
		var mu sync.Mutex
		var problems []string
		fail := func(format string, args ...any) {
			mu.Lock()
			problems = append(problems, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		type snapshot struct {
			vals   []int
			own    int  // the caller's sends before its Drain or All
			waited bool // it waited for every feeding task
		}
		snapshots := make([][]snapshot, len(prog.ops))
		var maxCount atomic.Int64
		sent := make([]int, len(prog.ops))
		start := make(chan struct{})

		run := func(actor int, feeder bool) {
			lastCount := 0
			count := func() int {
				n := d.Count()
				if n < lastCount || n < sent[actor] {
					fail("actor %d: Count = %d after %d, with %d of its own sends", actor, n, lastCount, sent[actor])
				}
				lastCount = n
				for m := maxCount.Load(); int64(n) > m && !maxCount.CompareAndSwap(m, int64(n)); m = maxCount.Load() {
				}
				return n
			}
			for _, op := range prog.ops[actor] {
				switch {
				case op == opSend:
					d.Send(drainValue(actor, sent[actor]))
					sent[actor]++
				case op == opCount || op == opDrain && feeder:
					count()
				case op == opDrain:
					s := d.Drain()
					if n := feeding.Load(); n != 0 {
						fail("actor %d: Drain returned while %d feeding tasks ran", actor, n)
					}
					if len(s) < lastCount {
						fail("actor %d: Drain returned %d values after Count said %d", actor, len(s), lastCount)
					}
					lastCount = len(s)
					snapshots[actor] = append(snapshots[actor], snapshot{s, sent[actor], true})
				case op == opAll && !feeder:
					var s []int
					for v := range d.All() {
						s = append(s, v)
					}
					if n := feeding.Load(); n != 0 {
						fail("actor %d: All ended while %d feeding tasks ran", actor, n)
					}
					if len(s) < lastCount {
						fail("actor %d: All yielded %d values after Count said %d", actor, len(s), lastCount)
					}
					lastCount = len(s)
					snapshots[actor] = append(snapshots[actor], snapshot{s, sent[actor], true})
				case op == opAll:
					n := count()
					var s []int
					if n > 0 {
						for v := range d.All() {
							if s = append(s, v); len(s) == n {
								break
							}
						}
					}
					if len(s) != n {
						fail("actor %d: All yielded %d values, want the %d Count reported", actor, len(s), n)
					}
					snapshots[actor] = append(snapshots[actor], snapshot{s, sent[actor], false})
				case op == opYield:
					runtime.Gosched()
				}
			}
		}

		pools := [2]*Pool{NewPool(), NewPool().WithLimit(4)}
		for i := range prog.feeders {
			actor := prog.plain + i
			pools[i%2].Go(NewTask(func(a Args[int]) error {
				feeding.Add(1)
				defer feeding.Add(-1)
				<-start
				run(actor, true)
				return nil
			}).DrainTo(d))
		}
		var wg sync.WaitGroup
		for actor := range prog.plain {
			wg.Go(func() { <-start; run(actor, false) })
		}
		close(start)
		wg.Wait()
		for _, p := range pools {
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait = %v", err)
			}
		}
		for _, p := range problems {
			t.Error(p)
		}

		final := d.Drain()
		total := 0
		for _, n := range sent {
			total += n
		}
		if len(final) != total || d.Count() != total {
			t.Fatalf("final Drain holds %d values (Count %d), want the %d sent", len(final), d.Count(), total)
		}
		if m := maxCount.Load(); m > int64(total) {
			t.Fatalf("Count said %d, but only %d values were ever sent", m, total)
		}
		next := make([]int, len(prog.ops)) // each sender's next expected seq
		for _, v := range final {
			actor, seq := v>>20, v&(1<<20-1)
			if actor >= len(next) || seq != next[actor] {
				t.Fatalf("final Drain %v: value %#x out of its sender's order or never sent", final, v)
			}
			next[actor]++
		}
		for actor, ss := range snapshots {
			for _, snap := range ss {
				s := snap.vals
				if len(s) > len(final) || !slices.Equal(s, final[:len(s)]) {
					t.Fatalf("actor %d: Drain or All result %v is not a prefix of the final %v", actor, s, final)
				}
				have := make([]int, len(prog.ops))
				for _, v := range s {
					have[v>>20]++
				}
				if have[actor] != snap.own {
					t.Fatalf("actor %d: Drain or All result holds %d of its values, want the %d it sent before", actor, have[actor], snap.own)
				}
				// A plain goroutine's Drain or All waited for every feeder.
				for f := prog.plain; f < len(prog.ops) && snap.waited; f++ {
					if have[f] != sent[f] {
						t.Fatalf("actor %d: Drain or All result holds %d of feeder %d's %d values", actor, have[f], f, sent[f])
					}
				}
				clear(s) // the caller owns its copy: the drain must not change
			}
		}
		if again := d.Drain(); !slices.Equal(again, final) {
			t.Fatalf("Drain after callers changed their copies = %v, want %v", again, final)
		}
	})
}
