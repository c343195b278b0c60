package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// raceEnabled is set by race_test.go when the race detector is on.
var raceEnabled bool

// seq returns the inputs 0, 1, ..., n-1.
func seq(n int) []int {
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	return in
}

// inputError is the failure of one input of one Map call.
type inputError struct{ call, in int }

func (e *inputError) Error() string { return fmt.Sprintf("call %d: input %d failed", e.call, e.in) }

// expectJoinedSet fails t unless err joins exactly want, in any order.
func expectJoinedSet(t *testing.T, err error, want []error) {
	t.Helper()
	if err == nil {
		t.Fatalf("error is nil, want one that joins %d failures", len(want))
	}
	got := joinedErrors(err)
	if len(got) != len(want) {
		t.Fatalf("error %q joins %d errors, want %d", err, len(got), len(want))
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("error %q does not join %q", err, w)
		}
	}
}

func TestMap(t *testing.T) {
	t.Run("outputs are in input order while the inputs finish out of order under a limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n, limit = 64, 4
			p := gopool.NewPool().WithLimit(limit)
			var c concurrency
			var mu sync.Mutex
			var finished []int
			out, err := gopool.Map(p, seq(n), func(_ context.Context, i int) (string, error) {
				c.enter()
				defer c.leave()
				// Later inputs sleep less, so that of the inputs running
				// together the last started finishes first.
				time.Sleep(time.Duration(n-i) * time.Millisecond)
				mu.Lock()
				finished = append(finished, i)
				mu.Unlock()
				return fmt.Sprint("v", i), nil
			})
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if len(out) != n {
				t.Fatalf("len(out) = %d, want %d", len(out), n)
			}
			for i, v := range out {
				if want := fmt.Sprint("v", i); v != want {
					t.Errorf("out[%d] = %q, want %q", i, v, want)
				}
			}
			if len(finished) != n {
				t.Fatalf("%d inputs finished, want %d", len(finished), n)
			}
			if slices.IsSorted(finished) {
				t.Errorf("the inputs finished in input order %v: the test proves nothing", finished)
			}
			if finished[0] != limit-1 {
				t.Errorf("the first input to finish is %d, want %d", finished[0], limit-1)
			}
			if got := c.peak.Load(); got != limit {
				t.Errorf("peak of concurrent inputs = %d, want exactly %d", got, limit)
			}
		})
	})

	t.Run("on failures the outputs are returned, failed slots are zero and the error joins exactly the failures", func(t *testing.T) {
		const n = 10
		errs := make([]error, n)
		var want []error
		for i := 0; i < n; i += 3 {
			errs[i] = &inputError{call: 0, in: i}
			want = append(want, errs[i])
		}
		out, err := gopool.Map(gopool.NewPool(), seq(n), func(_ context.Context, i int) (int, error) {
			// A failing input also returns a value, which Map must drop.
			return 100 + i, errs[i]
		})
		if len(out) != n {
			t.Fatalf("len(out) = %d, want %d", len(out), n)
		}
		for i, v := range out {
			want := 100 + i
			if errs[i] != nil {
				want = 0
			}
			if v != want {
				t.Errorf("out[%d] = %d, want %d", i, v, want)
			}
		}
		expectJoinedSet(t, err, want)
		var ie *inputError
		if !errors.As(err, &ie) {
			t.Errorf("errors.As(%q, *inputError) is false", err)
		}
	})

	t.Run("with fail-fast the inputs not yet started are skipped and their slots stay zero", func(t *testing.T) {
		const n = 8
		errBoom := errors.New("boom")
		p := gopool.NewPool().WithLimit(1).WithFailFast()
		calls := make([]atomic.Int32, n)
		out, err := gopool.Map(p, seq(n), func(_ context.Context, i int) (int, error) {
			calls[i].Add(1)
			if i == 1 {
				return 99, errBoom
			}
			return 100 + i, nil
		})
		if err != errBoom {
			t.Errorf("Map's error = %v, want %v itself", err, errBoom)
		}
		if want := []int{100, 0, 0, 0, 0, 0, 0, 0}; !slices.Equal(out, want) {
			t.Errorf("out = %v, want %v", out, want)
		}
		for i := range calls {
			want := int32(0)
			if i <= 1 {
				want = 1
			}
			if got := calls[i].Load(); got != want {
				t.Errorf("input %d ran %d times, want %d", i, got, want)
			}
		}
		st := p.Stats()
		if st.Submitted != n || st.Succeeded != 1 || st.Failed != 1 || st.Skipped != n-2 {
			t.Errorf("Stats = %+v, want Submitted %d, Succeeded 1, Failed 1, Skipped %d", st, n, n-2)
		}
	})

	t.Run("with p's retry policy an input that fails twice then succeeds yields its value", func(t *testing.T) {
		const n = 5
		errTransient := errors.New("transient")
		p := gopool.NewPool().WithRetry(3, 0)
		tries := make([]atomic.Int32, n)
		out, err := gopool.Map(p, seq(n), func(_ context.Context, i int) (int, error) {
			if tries[i].Add(1) < 3 {
				return -1, errTransient
			}
			return 100 + i, nil
		})
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		for i, v := range out {
			if v != 100+i {
				t.Errorf("out[%d] = %d, want %d", i, v, 100+i)
			}
			if got := tries[i].Load(); got != 3 {
				t.Errorf("input %d was tried %d times, want 3", i, got)
			}
		}
		if got := p.Stats().Retries; got != 2*n {
			t.Errorf("Stats().Retries = %d, want %d", got, 2*n)
		}
	})

	t.Run("with p's retry policy an input that always fails is tried attempts times and its slot stays zero", func(t *testing.T) {
		errAlways := errors.New("always")
		p := gopool.NewPool().WithRetry(3, 0)
		var tries atomic.Int32
		out, err := gopool.Map(p, []int{0, 1}, func(_ context.Context, i int) (int, error) {
			if i == 1 {
				tries.Add(1)
				return 7, errAlways
			}
			return 5, nil
		})
		if err != errAlways {
			t.Errorf("Map's error = %v, want %v itself", err, errAlways)
		}
		if want := []int{5, 0}; !slices.Equal(out, want) {
			t.Errorf("out = %v, want %v", out, want)
		}
		if got := tries.Load(); got != 3 {
			t.Errorf("the failing input was tried %d times, want 3", got)
		}
	})

	t.Run("a panic in fn becomes a *PanicError with its value, is not retried, and the other slots hold values", func(t *testing.T) {
		p := gopool.NewPool().WithRetry(3, 0)
		var tries atomic.Int32
		out, err := gopool.Map(p, seq(5), func(_ context.Context, i int) (int, error) {
			if i == 3 {
				tries.Add(1)
				panic("input 3 exploded")
			}
			return 100 + i, nil
		})
		var pe *gopool.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("errors.As(%v, *PanicError) is false", err)
		}
		if pe.Value != "input 3 exploded" {
			t.Errorf("PanicError.Value = %#v, want %q", pe.Value, "input 3 exploded")
		}
		if len(pe.Stack) == 0 {
			t.Error("PanicError.Stack is empty")
		}
		if want := []int{100, 101, 102, 0, 104}; !slices.Equal(out, want) {
			t.Errorf("out = %v, want %v", out, want)
		}
		if got := tries.Load(); got != 1 {
			t.Errorf("the panicking input was tried %d times, want 1", got)
		}
		if st := p.Stats(); st.Panicked != 1 || st.Failed != 1 {
			t.Errorf("Stats = %+v, want Panicked 1, Failed 1", st)
		}
	})

	t.Run("empty or nil inputs return an empty non-nil slice and a nil error without running fn", func(t *testing.T) {
		var calls atomic.Int32
		fn := func(context.Context, int) (int, error) { calls.Add(1); return 1, nil }
		p := gopool.NewPool().WithLimit(1)
		for _, in := range [][]int{nil, {}} {
			for _, pool := range []*gopool.Pool{p, nil} {
				out, err := gopool.Map(pool, in, fn)
				if out == nil || len(out) != 0 {
					t.Errorf("Map(%v, %#v) = %#v, want an empty non-nil slice", pool, in, out)
				}
				if err != nil {
					t.Errorf("Map(%v, %#v): %v", pool, in, err)
				}
			}
		}
		if got := calls.Load(); got != 0 {
			t.Errorf("fn ran %d times", got)
		}
		if got := p.Stats().Submitted; got != 0 {
			t.Errorf("Stats().Submitted = %d, want 0", got)
		}
	})

	t.Run("a nil pool is a new pool with no limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n = 50
			var started atomic.Int32
			all := make(chan struct{})
			errLimited := errors.New("not every input could run at once")
			out, err := gopool.Map(nil, seq(n), func(ctx context.Context, i int) (int, error) {
				if started.Add(1) == n {
					close(all)
				}
				// In the bubble, the timer fires only if every goroutine
				// is blocked: some input could not start.
				select {
				case <-all:
					return 100 + i, nil
				case <-time.After(time.Hour):
					return 0, errLimited
				}
			})
			if err != nil {
				t.Fatalf("Map(nil, ...): %v", err)
			}
			for i, v := range out {
				if v != 100+i {
					t.Errorf("out[%d] = %d, want %d", i, v, 100+i)
				}
			}
		})
	})

	t.Run("on a closed pool nothing runs, the slots are zero and the error is ErrClosed", func(t *testing.T) {
		p := gopool.NewPool()
		if err := p.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		var calls atomic.Int32
		out, err := gopool.Map(p, seq(3), func(context.Context, int) (int, error) { calls.Add(1); return 1, nil })
		if !errors.Is(err, gopool.ErrClosed) {
			t.Errorf("Map's error = %v, want ErrClosed", err)
		}
		if want := []int{0, 0, 0}; !slices.Equal(out, want) {
			t.Errorf("out = %v, want %v", out, want)
		}
		if got := calls.Load(); got != 0 {
			t.Errorf("fn ran %d times", got)
		}
	})

	t.Run("Stats().Submitted of p grows by len(inputs) per call", func(t *testing.T) {
		p := gopool.NewPool().WithLimit(2)
		errOdd := errors.New("odd")
		fn := func(_ context.Context, i int) (int, error) {
			if i%2 == 1 {
				return 0, errOdd
			}
			return i, nil
		}
		for call, n := range []int{7, 4} {
			before := p.Stats()
			if _, err := gopool.Map(p, seq(n), fn); !errors.Is(err, errOdd) {
				t.Fatalf("call %d: Map's error = %v, want %v", call, err, errOdd)
			}
			after := p.Stats()
			if got := after.Submitted - before.Submitted; got != uint64(n) {
				t.Errorf("call %d: Submitted grew by %d, want %d", call, got, n)
			}
			if got, want := after.Succeeded-before.Succeeded, uint64((n+1)/2); got != want {
				t.Errorf("call %d: Succeeded grew by %d, want %d", call, got, want)
			}
			if got, want := after.Failed-before.Failed, uint64(n/2); got != want {
				t.Errorf("call %d: Failed grew by %d, want %d", call, got, want)
			}
			if after.Running != 0 || after.Pending != 0 {
				t.Errorf("call %d: after Map, Running %d and Pending %d, want 0", call, after.Running, after.Pending)
			}
		}
	})
}

func TestMapContext(t *testing.T) {
	t.Run("fn's context is the sub-pool's batch context, cancelled by a failure under fail-fast with it as cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errBoom := errors.New("boom")
			p := gopool.NewPool().WithFailFast()
			var cause error
			out, err := gopool.Map(p, seq(2), func(ctx context.Context, i int) (int, error) {
				if i == 1 {
					return 0, errBoom
				}
				<-ctx.Done()
				cause = context.Cause(ctx)
				return 0, ctx.Err() // an echo: not a failure
			})
			if err != errBoom {
				t.Errorf("Map's error = %v, want %v itself", err, errBoom)
			}
			if cause != errBoom {
				t.Errorf("context.Cause of input 0's context = %v, want %v", cause, errBoom)
			}
			if want := []int{0, 0}; !slices.Equal(out, want) {
				t.Errorf("out = %v, want %v", out, want)
			}
			if st := p.Stats(); st.Canceled != 1 || st.Failed != 1 {
				t.Errorf("Stats = %+v, want Canceled 1, Failed 1", st)
			}
		})
	})

	t.Run("fn's context is done once Map returns", func(t *testing.T) {
		var seen context.Context
		if _, err := gopool.Map(nil, seq(1), func(ctx context.Context, _ int) (int, error) {
			seen = ctx
			return 0, ctx.Err()
		}); err != nil {
			t.Fatalf("Map: %v", err)
		}
		if seen.Err() == nil {
			t.Error("fn's context is not done after Map returned")
		}
	})

	t.Run("fn's context carries the values of p's context and is not cancelled by p's own batch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			type key struct{}
			p := gopool.NewPoolWithContext(context.WithValue(context.Background(), key{}, "v")).WithFailFast()
			errP := errors.New("p's own failure")
			release := make(chan struct{})
			var value any
			var errAfter error
			done := make(chan struct{})
			var out []int
			var err error
			go func() {
				defer close(done)
				out, err = gopool.Map(p, seq(1), func(ctx context.Context, _ int) (int, error) {
					value = ctx.Value(key{})
					<-release
					errAfter = ctx.Err()
					return 1, nil
				})
			}()
			synctest.Wait() // the input is running
			if got := p.Go(failWith(errP)).Wait(); got != errP {
				t.Errorf("p.Wait() = %v, want %v itself", got, errP)
			}
			close(release)
			<-done
			if err != nil {
				t.Errorf("Map: %v", err)
			}
			if !slices.Equal(out, []int{1}) {
				t.Errorf("out = %v, want [1]", out)
			}
			if value != "v" {
				t.Errorf("fn's context has value %v, want %q", value, "v")
			}
			if errAfter != nil {
				t.Errorf("fn's context was cancelled (%v) by p's own fail-fast batch", errAfter)
			}
		})
	})

	t.Run("Close of p from another goroutine cancels fn's context with ErrClosed and Map reports the skipped inputs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool().WithLimit(1)
			var calls atomic.Int32
			var cause error
			done := make(chan struct{})
			var out []int
			var err error
			go func() {
				defer close(done)
				out, err = gopool.Map(p, seq(3), func(ctx context.Context, _ int) (int, error) {
					calls.Add(1)
					<-ctx.Done()
					cause = context.Cause(ctx)
					return 1, ctx.Err() // an echo: not a failure
				})
			}()
			synctest.Wait() // input 0 runs; Map's Go of input 1 waits at the limit
			if err := p.Close(); err != nil {
				t.Errorf("Close = %v, want nil: p's own batch had no tasks", err)
			}
			<-done
			if err != gopool.ErrClosed {
				t.Errorf("Map's error = %v, want ErrClosed itself", err)
			}
			if cause != gopool.ErrClosed {
				t.Errorf("context.Cause of fn's context = %v, want ErrClosed", cause)
			}
			if want := []int{0, 0, 0}; !slices.Equal(out, want) {
				t.Errorf("out = %v, want %v", out, want)
			}
			if got := calls.Load(); got != 1 {
				t.Errorf("fn ran %d times, want 1", got)
			}
			if st := p.Stats(); st.Submitted != 3 || st.Canceled != 1 || st.Skipped != 2 {
				t.Errorf("Stats = %+v, want Submitted 3, Canceled 1, Skipped 2", st)
			}
		})
	})

	// What Pool.Close and Pool.Wait document: an echo of the cancellation
	// is not a failure, and ErrClosed is reported only if Close skipped a
	// task. So when every input was running, Map's error is nil although
	// the slots of the inputs that echoed hold Out's zero value.
	t.Run("Close of p while every input runs and echoes the cancellation leaves Map's error nil", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := gopool.NewPool()
			done := make(chan struct{})
			var out []int
			err := errors.New("Map did not return")
			go func() {
				defer close(done)
				out, err = gopool.Map(p, seq(2), func(ctx context.Context, _ int) (int, error) {
					<-ctx.Done()
					return 1, fmt.Errorf("stopping: %w", ctx.Err())
				})
			}()
			synctest.Wait() // both inputs run
			if err := p.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			<-done
			if err != nil {
				t.Errorf("Map's error = %v, want nil: echoes are not failures and Close skipped nothing", err)
			}
			if want := []int{0, 0}; !slices.Equal(out, want) {
				t.Errorf("out = %v, want %v", out, want)
			}
			if st := p.Stats(); st.Canceled != 2 || st.Skipped != 0 {
				t.Errorf("Stats = %+v, want Canceled 2, Skipped 0", st)
			}
		})
	})
}

func TestMapConcurrentCallsOnASharedLimitedPoolStayIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const calls, n, limit = 8, 20, 3
		p := gopool.NewPool().WithLimit(limit)
		var c concurrency
		outs := make([][]int, calls)
		errs := make([]error, calls)
		var wg sync.WaitGroup
		for call := range calls {
			wg.Go(func() {
				outs[call], errs[call] = gopool.Map(p, seq(n), func(_ context.Context, i int) (int, error) {
					c.enter()
					defer c.leave()
					time.Sleep(time.Millisecond)
					if (i+call)%5 == 0 {
						return 0, &inputError{call: call, in: i}
					}
					return call*1000 + i, nil
				})
			})
		}
		wg.Wait()
		for call := range calls {
			var want []error
			for i := range n {
				wantV := call*1000 + i
				if (i+call)%5 == 0 {
					wantV = 0
				}
				if got := outs[call][i]; got != wantV {
					t.Errorf("call %d: out[%d] = %d, want %d", call, i, got, wantV)
				}
			}
			for _, e := range joinedErrors(errs[call]) {
				var ie *inputError
				if !errors.As(e, &ie) || ie.call != call {
					t.Errorf("call %d's error holds %v, a failure not its own", call, e)
					continue
				}
				want = append(want, e)
			}
			if len(want) != n/5 {
				t.Errorf("call %d's error %q joins %d failures, want %d", call, errs[call], len(want), n/5)
			}
		}
		if got := c.peak.Load(); got > limit {
			t.Errorf("peak of concurrent inputs across all calls = %d, want at most %d", got, limit)
		} else if got != limit {
			t.Errorf("peak of concurrent inputs across all calls = %d, want the limit %d to be reached", got, limit)
		}
		if st := p.Stats(); st.Submitted != calls*n || st.Failed != calls*n/5 {
			t.Errorf("Stats = %+v, want Submitted %d, Failed %d", st, calls*n, calls*n/5)
		}
	})
}

func TestMapAllocationsDoNotGrowWithTheInputs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop values, so allocations are not counted faithfully")
	}
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	fn := func(_ context.Context, i int) (int, error) { return i + 1, nil }
	allocs := func(p *gopool.Pool, n int) float64 {
		in := seq(n)
		return testing.AllocsPerRun(100, func() {
			if _, err := gopool.Map(p, in, fn); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The output slice is one allocation, whatever n: the count may
	// differ only by what scheduling adds, a worker started now and then.
	const slack = 2
	t.Run("on a shared pool with no limit", func(t *testing.T) {
		p := gopool.NewPool()
		small, large := allocs(p, 16), allocs(p, 1024)
		t.Logf("allocations per Map: %v for 16 inputs, %v for 1024", small, large)
		if large > small+slack {
			t.Errorf("Map allocates %v times for 1024 inputs but %v for 16: it allocates per input", large, small)
		}
	})
	t.Run("on a shared pool with a limit", func(t *testing.T) {
		p := gopool.NewPool().WithLimit(2)
		small, large := allocs(p, 16), allocs(p, 1024)
		t.Logf("allocations per Map: %v for 16 inputs, %v for 1024", small, large)
		if large > small+slack {
			t.Errorf("Map allocates %v times for 1024 inputs but %v for 16: it allocates per input", large, small)
		}
	})
}
