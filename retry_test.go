package gopool

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// These tests replace randUint64, so none of them may run in parallel.

// replaceDraw makes randUint64 return draw, and counts its calls, until t ends.
func replaceDraw(t *testing.T, draw func() uint64) *atomic.Int64 {
	t.Helper()
	var calls atomic.Int64
	saved := randUint64
	randUint64 = func() uint64 {
		calls.Add(1)
		return draw()
	}
	t.Cleanup(func() { randUint64 = saved })
	return &calls
}

// specBounds returns, computed without overflow, the bounds the
// specification gives the wait before try k+1: with d = sleep*2^(k-1), the
// wait is drawn from [lo, hi) = [d/2, 3d/2), and then capped at limit =
// max(sleep, 1m).
func specBounds(k uint, sleep time.Duration) (lo, hi *big.Int, limit time.Duration) {
	d := new(big.Int).Lsh(big.NewInt(int64(sleep)), k-1)
	lo = new(big.Int).Rsh(d, 1)
	hi = new(big.Int).Add(lo, d) // exclusive
	return lo, hi, max(sleep, time.Minute)
}

// bigDuration formats n nanoseconds.
func bigDuration(n *big.Int) string {
	if n.IsInt64() {
		return time.Duration(n.Int64()).String()
	}
	return n.String() + "ns"
}

func TestBackoff(t *testing.T) {
	t.Run("there is no wait without a sleep, or before the first try", func(t *testing.T) {
		for _, tc := range []struct {
			k     uint
			sleep time.Duration
		}{{0, time.Second}, {1, 0}, {5, 0}, {1, -time.Second}, {200, math.MinInt64}} {
			if got := backoff(tc.k, tc.sleep, math.MaxUint64); got != 0 {
				t.Errorf("backoff(%d, %v) = %v, want 0", tc.k, tc.sleep, got)
			}
		}
	})

	t.Run("a zero draw gives d/2 and the middle draw gives d", func(t *testing.T) {
		for _, tc := range []struct {
			k     uint
			sleep time.Duration
			draw  uint64
			want  time.Duration
		}{
			{1, 100 * time.Millisecond, 0, 50 * time.Millisecond},
			{1, 100 * time.Millisecond, 1 << 63, 100 * time.Millisecond},
			{2, 100 * time.Millisecond, 0, 100 * time.Millisecond},
			{2, 100 * time.Millisecond, 1 << 63, 200 * time.Millisecond},
			{4, time.Second, 0, 4 * time.Second},
			{4, time.Second, 1 << 63, 8 * time.Second},
			{1, 2 * time.Minute, 0, time.Minute},
		} {
			if got := backoff(tc.k, tc.sleep, tc.draw); got != tc.want {
				t.Errorf("backoff(%d, %v, %#x) = %v, want %v", tc.k, tc.sleep, tc.draw, got, tc.want)
			}
		}
	})

	t.Run("the largest draw stays below 3d/2", func(t *testing.T) {
		for k := uint(1); k <= 6; k++ {
			d := time.Second << (k - 1)
			if got := backoff(k, time.Second, math.MaxUint64); got < d || got >= d/2+d {
				t.Errorf("backoff(%d, 1s, max) = %v, want within [%v, %v)", k, got, d, d/2+d)
			}
		}
	})

	t.Run("the wait never shrinks as the draw grows", func(t *testing.T) {
		for _, sleep := range []time.Duration{time.Millisecond, 7 * time.Second, time.Hour} {
			for k := uint(1); k <= 70; k += 3 {
				prev := time.Duration(0)
				for i := range uint64(257) {
					draw := i << 56
					if i == 256 {
						draw = math.MaxUint64
					}
					got := backoff(k, sleep, draw)
					if got < prev {
						t.Fatalf("backoff(%d, %v) shrinks from %v to %v as the draw grows to %#x", k, sleep, prev, got, draw)
					}
					prev = got
				}
			}
		}
	})

	t.Run("the wait is never negative nor above max(sleep, 1m), for any attempt count", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		ks := []uint{1, 2, 62, 63, 64, 65, 127, 128, 1 << 20, math.MaxUint}
		sleeps := []time.Duration{1, time.Second, time.Minute, time.Hour, math.MaxInt64 / 3, math.MaxInt64}
		draws := []uint64{0, 1, 1 << 63, math.MaxUint64}
		check := func(k uint, sleep time.Duration, draw uint64) {
			if got, limit := backoff(k, sleep, draw), max(sleep, time.Minute); got < 0 || got > limit {
				t.Errorf("backoff(%d, %v, %#x) = %v, want within [0, %v]", k, sleep, draw, got, limit)
			}
		}
		for _, k := range ks {
			for _, s := range sleeps {
				for _, d := range draws {
					check(k, s, d)
				}
			}
		}
		for range 20000 {
			check(uint(r.Uint64N(300)), time.Duration(r.Int64N(math.MaxInt64)>>r.UintN(63)), r.Uint64())
		}
	})

	t.Run("the wait is within [d/2, 3d/2) of d, and the cap applies to the final wait", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		bad := 0
		for range 20000 {
			k := uint(1 + r.UintN(80))
			sleep := time.Duration(1 + r.Int64N(int64(10*time.Second)))
			draw := r.Uint64()
			got := backoff(k, sleep, draw)
			lo, hi, limit := specBounds(k, sleep)
			g := big.NewInt(int64(got))
			// min(lo, limit) <= got <= limit, and got < hi unless got is the cap.
			if (g.Cmp(lo) < 0 && got != limit) || got > limit || (g.Cmp(hi) >= 0 && got != limit) ||
				(lo.Cmp(big.NewInt(int64(limit))) >= 0 && got != limit) {
				if bad++; bad <= 5 {
					t.Errorf("backoff(%d, %v, %#x) = %v, want within [%s, %s) and at most %v",
						k, sleep, draw, got, bigDuration(lo), bigDuration(hi), limit)
				}
			}
		}
		if bad > 5 {
			t.Errorf("... %d out of bounds in all", bad)
		}
	})

	t.Run("once d/2 passes the cap, every draw gives exactly the cap", func(t *testing.T) {
		// sleep 1s: d = 64s before try 8, so [d/2, 3d/2) = [64s, 192s), capped: 60s.
		// sleep 2m: d = 4m before try 3, so [2m, 6m), capped: 2m.
		for _, tc := range []struct {
			k     uint
			sleep time.Duration
		}{{8, time.Second}, {20, time.Second}, {2, 2 * time.Minute}, {100, time.Hour}} {
			limit := max(tc.sleep, time.Minute)
			for _, draw := range []uint64{0, 1 << 62, 1 << 63, math.MaxUint64} {
				if got := backoff(tc.k, tc.sleep, draw); got != limit {
					t.Errorf("backoff(%d, %v, %#x) = %v, want the cap %v", tc.k, tc.sleep, draw, got, limit)
				}
			}
		}
	})
}

// failingTries returns a task that fails every try, recording its instants.
func failingTries(at *[]time.Time) *Task[int] {
	return NewTask(func(a Args[int]) error {
		*at = append(*at, time.Now())
		return fmt.Errorf("try %d", a.Attempt)
	})
}

func gapsOf(at []time.Time) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(at); i++ {
		g = append(g, at[i].Sub(at[i-1]))
	}
	return g
}

func TestRetryScheduleWithFixedDraw(t *testing.T) {
	for _, tc := range []struct {
		name     string
		draw     uint64
		attempts uint
		sleep    time.Duration
		want     []time.Duration
	}{
		{
			name: "with a zero draw every wait is exactly d/2", draw: 0, attempts: 8, sleep: 100 * time.Millisecond,
			want: []time.Duration{50, 100, 200, 400, 800, 1600, 3200},
		},
		{
			name: "with the middle draw every wait is exactly d, until the cap", draw: 1 << 63, attempts: 11, sleep: time.Second,
			want: []time.Duration{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000},
		},
		{
			name: "with a zero draw the waits past the cap are exactly min(d/2, cap)", draw: 0, attempts: 11, sleep: time.Second,
			want: []time.Duration{500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := replaceDraw(t, func() uint64 { return tc.draw })
			synctest.Test(t, func(t *testing.T) {
				var at []time.Time
				start := time.Now()
				err := NewPool().Go(failingTries(&at).WithRetry(tc.attempts, tc.sleep)).Wait()
				if want := fmt.Sprintf("try %d", tc.attempts); err == nil || err.Error() != want {
					t.Errorf("Wait = %v, want %q", err, want)
				}
				if len(at) != int(tc.attempts) || !at[0].Equal(start) {
					t.Fatalf("%d tries, the first %v after Go; want %d, the first at once", len(at), at[0].Sub(start), tc.attempts)
				}
				for i, gap := range gapsOf(at) {
					if want := tc.want[i] * time.Millisecond; gap != want {
						t.Errorf("wait before try %d = %v, want exactly %v", i+2, gap, want)
					}
				}
			})
			if got := calls.Load(); got != int64(tc.attempts-1) {
				t.Errorf("%d random draws, want one per wait: %d", got, tc.attempts-1)
			}
		})
	}
}

// plainWorker is a Worker of a type other than Task.
type plainWorker struct {
	calls atomic.Int64
	err   error
}

func (w *plainWorker) Execute() error                       { w.calls.Add(1); return w.err }
func (w *plainWorker) WithRetry(uint, time.Duration) Worker { return w }

func TestNoRetryTouchesNeitherTimeNorRandomNumbers(t *testing.T) {
	replaceDraw(t, func() uint64 {
		t.Error("a task without retry drew a random number")
		return 0
	})
	errF := errors.New("fails")
	fail := func(Args[int]) error { return errF }
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		for _, c := range []struct {
			name string
			run  func() error
		}{
			{"a failing task in a pool", func() error {
				return NewPool().Go(NewTask(fail)).Wait()
			}},
			{"a failing task run by Execute", func() error {
				return NewTask(fail).Execute()
			}},
			{"a failing user Worker in a pool", func() error {
				return NewPool().Go(&plainWorker{err: errF}).Wait()
			}},
			{"a task with WithRetry(0, 1h) in a pool", func() error {
				return NewPool().Go(NewTask(fail).WithRetry(0, time.Hour)).Wait()
			}},
			{"a task with WithRetry(1, 1h) in a pool", func() error {
				return NewPool().Go(NewTask(fail).WithRetry(1, time.Hour)).Wait()
			}},
			{"a task with WithRetry(1, 1h) run by Execute", func() error {
				return NewTask(fail).WithRetry(1, time.Hour).Execute()
			}},
			{"a task in a pool with WithRetry(1, 1h)", func() error {
				return NewPool().WithRetry(1, time.Hour).Go(NewTask(fail)).Wait()
			}},
			{"a user Worker in a pool with WithRetry(0, 1h)", func() error {
				return NewPool().WithRetry(0, time.Hour).Go(&plainWorker{err: errF}).Wait()
			}},
			{"a task with WithRetry(1, 0) in a pool with WithRetry(5, 1h)", func() error {
				return NewPool().WithRetry(5, time.Hour).Go(NewTask(fail).WithRetry(1, 0)).Wait()
			}},
			{"a task failing permanently, with WithRetry(5, 1h)", func() error {
				return NewPool().Go(NewTask(func(Args[int]) error { return Permanent(errF) }).WithRetry(5, time.Hour)).Wait()
			}},
			{"a panicking task in a pool with WithRetry(5, 1h)", func() error {
				return NewPool().WithRetry(5, time.Hour).Go(NewTask(func(Args[int]) error { panic("p") })).Wait()
			}},
			{"a feeding task in a limited, fail-fast pool", func() error {
				return NewPool().WithLimit(1).WithFailFast().Go(NewTask(fail).DrainTo(NewDrainer[int]()), NewTask(fail)).Wait()
			}},
		} {
			if err := c.run(); err == nil {
				t.Errorf("%s: no error", c.name)
			}
			if !time.Now().Equal(start) {
				t.Fatalf("%s: fake time moved by %v", c.name, time.Since(start))
			}
		}
		if err := NewPool().Go(NewTask(func(Args[int]) error { return nil }).WithRetry(5, time.Hour)).Wait(); err != nil {
			t.Errorf("a succeeding task with WithRetry(5, 1h): %v", err)
		}
		if !time.Now().Equal(start) {
			t.Errorf("a succeeding task with WithRetry(5, 1h): fake time moved by %v", time.Since(start))
		}
	})
}

func TestSleep(t *testing.T) {
	t.Run("sleep waits d on a live context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			if !sleep(context.Background(), 5*time.Second) || time.Since(start) != 5*time.Second {
				t.Errorf("sleep(5s) returned after %v", time.Since(start))
			}
			if !sleep(context.Background(), 0) || time.Since(start) != 5*time.Second {
				t.Error("sleep(0) waited or reported a done context")
			}
		})
	})

	t.Run("sleep ends at the instant its context is done", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(10*time.Second, cancel)
			if sleep(ctx, time.Hour) {
				t.Error("sleep reported a live context after cancellation")
			}
			if got := time.Since(start); got != 10*time.Second {
				t.Errorf("sleep ended after %v, want 10s", got)
			}
			if sleep(ctx, time.Hour) || sleep(ctx, 0) || time.Since(start) != 10*time.Second {
				t.Error("sleep on a done context waited or reported it live")
			}
		})
	})
}

func TestRetryAfterDrawsNoRandomNumber(t *testing.T) {
	calls := replaceDraw(t, func() uint64 { return 0 })
	synctest.Test(t, func(t *testing.T) {
		errA := errors.New("a")
		script := []error{RetryAfter(3*time.Second, errA), errA, RetryAfter(time.Hour, errA), errA, nil}
		var at []time.Time
		tk := NewTask(func(a Args[int]) error {
			at = append(at, time.Now())
			return script[a.Attempt-1]
		}).WithRetry(5, time.Second)
		if err := NewPool().Go(tk).Wait(); err != nil {
			t.Fatalf("Wait = %v", err)
		}
		// A zero draw makes each backoff d/2: after 2 failures d = 2s, after 4, 8s.
		want := []time.Duration{3 * time.Second, time.Second, time.Hour, 4 * time.Second}
		if got := gapsOf(at); !slices.Equal(got, want) {
			t.Errorf("waits %v, want exactly %v", got, want)
		}
	})
	if got := calls.Load(); got != 2 {
		t.Errorf("%d random draws, want 2: one per backoff, none for a RetryAfter wait", got)
	}
}
