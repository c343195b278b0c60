package gopool_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	gopool "github.com/rubengp99/go-pool"
)

// Tests of how Map runs its inputs: a task that holds a slot goes on from
// input to input, the caller runs inputs too, and both give their slot up to
// a task that waits for one.

func TestMapRuns(t *testing.T) {
	t.Run("a Map gives its slot to a task waiting at the limit after the input it runs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			var (
				mu    sync.Mutex
				order []string
			)
			log := func(s string) {
				mu.Lock()
				order = append(order, s)
				mu.Unlock()
			}
			other := root.Sub()
			var blocked sync.WaitGroup
			_, err := gopool.Map(root, []string{"a", "b", "c"}, func(_ context.Context, in string) (string, error) {
				if in == "a" {
					// Another request's task arrives while the Map
					// holds the only slot, and waits for it.
					blocked.Go(func() {
						other.Go(gopool.NewTask(func(gopool.Args[int]) error {
							log("other")
							return nil
						}))
					})
					synctest.Wait()
				}
				log(in)
				return in, nil
			})
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			blocked.Wait()
			if err := other.Wait(); err != nil {
				t.Fatalf("other.Wait: %v", err)
			}
			want := []string{"a", "other", "b", "c"}
			if !slices.Equal(order, want) {
				t.Errorf("order = %v, want %v: the waiting task must get the slot after the input that held it", order, want)
			}
		})
	})

	t.Run("after Map returns, it holds no slot: TryGo on the limited pool succeeds at once", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(1)
		for range 100 {
			if _, err := gopool.Map(root, seq(8), func(_ context.Context, i int) (int, error) { return i, nil }); err != nil {
				t.Fatalf("Map: %v", err)
			}
			if !root.TryGo(gopool.NewTask(func(gopool.Args[int]) error { return nil })) {
				t.Fatal("TryGo = false right after Map returned: a task of the Map still holds the slot")
			}
			if err := root.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
		}
	})

	t.Run("a panic in one input becomes its failure and the others still run", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(1)
		const n = 10
		out, err := gopool.Map(root, seq(n), func(_ context.Context, i int) (int, error) {
			if i == 3 {
				panic("input 3")
			}
			return i + 1, nil
		})
		var pe *gopool.PanicError
		if !errors.As(err, &pe) || pe.Value != "input 3" {
			t.Fatalf("Map error = %v, want a *PanicError with value \"input 3\"", err)
		}
		for i, v := range out {
			want := i + 1
			if i == 3 {
				want = 0
			}
			if v != want {
				t.Errorf("out[%d] = %d, want %d", i, v, want)
			}
		}
		if st := root.Stats(); st.Succeeded != n-1 || st.Panicked != 1 || st.Failed != 1 || st.Running+st.Pending != 0 {
			t.Errorf("Stats = %+v, want Succeeded %d, Panicked 1, Failed 1, nothing running or pending", st, n-1)
		}
	})

	t.Run("a runtime.Goexit on the caller's goroutine ends it and the pool stays sound", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(1)
		const n = 6
		done := make(chan struct{})
		returned := false
		go func() {
			defer close(done)
			gopool.Map(root, seq(n), func(_ context.Context, i int) (int, error) {
				if i == 0 {
					runtime.Goexit() // on the caller: the slot was free
				}
				return i, nil
			})
			returned = true
		}()
		<-done
		if returned {
			t.Fatal("Map returned after its caller's goroutine called runtime.Goexit")
		}
		// The inputs left run on the pool's workers; Close waits for them.
		if err := root.Close(); err != nil {
			t.Fatalf("Close = %v, want nil: the root's own batch is empty", err)
		}
		st := root.Stats()
		if st.Failed != 1 || st.Running+st.Pending != 0 || st.Submitted != st.Succeeded+st.Failed+st.Skipped {
			t.Errorf("Stats = %+v, want Failed 1, nothing running or pending, and every input accounted for", st)
		}
	})

	t.Run("inputs that block run side by side up to the limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const n, limit = 12, 4
			root := gopool.NewPool().WithLimit(limit)
			var c concurrency
			release := make(chan struct{})
			var started sync.WaitGroup
			started.Add(limit)
			go func() {
				started.Wait()
				close(release)
			}()
			var once [n]sync.Once
			_, err := gopool.Map(root, seq(n), func(_ context.Context, i int) (int, error) {
				c.enter()
				defer c.leave()
				if i < limit {
					once[i].Do(started.Done)
					<-release // held until limit inputs run at once
				}
				return i, nil
			})
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			if got := c.peak.Load(); got != limit {
				t.Errorf("peak of concurrent inputs = %d, want %d", got, limit)
			}
		})
	})

	t.Run("when every slot is taken, Map waits its turn and its inputs still all run", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(2)
			hold := make(chan struct{})
			busy := root.Sub()
			for range 2 {
				busy.Go(gopool.NewTask(func(gopool.Args[int]) error { <-hold; return nil }))
			}
			synctest.Wait()
			go func() {
				synctest.Wait() // the Map waits for a slot
				close(hold)
			}()
			out, err := gopool.Map(root, seq(5), func(_ context.Context, i int) (int, error) { return i * 2, nil })
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			for i, v := range out {
				if v != i*2 {
					t.Errorf("out[%d] = %d, want %d", i, v, i*2)
				}
			}
			if err := busy.Wait(); err != nil {
				t.Fatalf("busy.Wait: %v", err)
			}
		})
	})
}
