package gopool_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// TestMapGivesWay checks, at random limits, queues and contenders, that the
// tasks of a Map go from input to input only while no other task waits for a
// slot: a task handed to the pool while a long Map holds every slot of the
// root's limit (by Go on the root or on a sub-pool, by GoContext, or as the
// input of another Map) starts as soon as the first of the Map's running
// inputs returns, not once the Map is done; by then at most limit-1 other
// inputs have started, by the Map's tasks that had not yet seen it wait.
// With a queue, the Map's spare task waits in it from the start, ahead of
// the contender: with a limit of 1 it runs one input first. The Map then
// finishes its inputs, each once, behind the contender. In a bubble, where
// each input sleeps 1ms, this is exact.
func TestMapGivesWay(t *testing.T) {
	for seed := range uint64(24) {
		rng := rand.New(rand.NewPCG(seed, 3))
		limit, queue, contender := 1+rng.IntN(3), rng.IntN(2), rng.IntN(4)
		name := fmt.Sprintf("seed=%d/limit%d-queue%d-%s", seed, limit, queue, []string{"go-root", "go-sub", "gocontext", "map"}[contender])
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mapGivesWay(t, limit, queue, contender)
			})
		})
	}
}

func mapGivesWay(t *testing.T, limit, queue, contender int) {
	const n = 40
	root := gopool.NewPool().WithLimit(limit).WithQueue(queue)
	var started atomic.Int32
	var out []int
	var err error
	mapped := make(chan struct{})
	go func() {
		defer close(mapped)
		out, err = gopool.Map(root, seq(n), func(_ context.Context, i int) (int, error) {
			started.Add(1)
			time.Sleep(time.Millisecond)
			return i + 1, nil
		})
	}()
	synctest.Wait() // limit inputs sleep, holding every slot
	if got := started.Load(); got != int32(limit) {
		t.Fatalf("%d inputs started, want the limit %d", got, limit)
	}

	t0 := time.Now()
	var at time.Time
	var before int32 // inputs of the Map started before the contender
	body := func() {
		at, before = time.Now(), started.Load()
	}
	task := gopool.NewTask(func(gopool.Args[int]) error { body(); return nil })
	var sub *gopool.Pool
	contended := make(chan error, 1)
	go func() {
		switch contender {
		case 0:
			contended <- root.Go(task).Wait()
		case 1:
			sub = root.Sub()
			contended <- sub.Go(task).Wait()
		case 2:
			sub = root.Sub()
			if err := sub.GoContext(context.Background(), task); err != nil {
				contended <- err
				return
			}
			contended <- sub.Wait()
		default:
			_, err := gopool.Map(root.Sub(), []int{0}, func(context.Context, int) (int, error) { body(); return 0, nil })
			contended <- err
		}
	}()
	if err := <-contended; err != nil {
		t.Errorf("the contender: %v", err)
	}
	<-mapped

	wait, max := time.Millisecond, int32(2*limit-1)
	if queue > 0 && limit == 1 {
		wait, max = 2*time.Millisecond, 2
	}
	if got := at.Sub(t0); got != wait {
		t.Errorf("the contender started %v after it was handed in, want %v: when the first input returned", got, wait)
	}
	if before > max {
		t.Errorf("%d inputs of the Map started before the contender, want at most %d", before, max)
	}
	if err != nil {
		t.Errorf("Map: %v", err)
	}
	for i, v := range out {
		if v != i+1 {
			t.Errorf("out[%d] = %d, want %d", i, v, i+1)
		}
	}
	if got := started.Load(); got != n {
		t.Errorf("%d inputs started, want %d", got, n)
	}
	st := root.Stats()
	if want := (gopool.Stats{Submitted: n + 1, Succeeded: n + 1}); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

// TestMapLeavesNoTaskWaiting checks that a Map leaves nothing waiting for a
// slot once it returns, which would make every later Map of the tree give
// way after each input. While other tasks hold all but one slot of the
// root's limit, a Map runs all its inputs on its caller, with its spare task
// waiting for a slot all along (in the root's queue, if it has one), no
// longer needed once the inputs are done. Once those tasks are done, a Map
// on a sub-pool with a limit of 1, alone in the tree, must run all its
// inputs on its caller too: it has a slot from the start, and nothing waits
// for one.
func TestMapLeavesNoTaskWaiting(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 4))
		limit, queue, n := 2+rng.IntN(3), rng.IntN(2), 2+rng.IntN(20)
		t.Run(fmt.Sprintf("seed=%d/limit%d-queue%d-inputs%d", seed, limit, queue, n), func(t *testing.T) {
			root := gopool.NewPool().WithLimit(limit).WithQueue(queue)
			others := root.Sub()
			release := make(chan struct{})
			for range limit - 1 {
				others.Go(gopool.NewTask(func(gopool.Args[int]) error { <-release; return nil }))
			}
			onCaller := func(p *gopool.Pool) (caller int) {
				g := goroutineID()
				if _, err := gopool.Map(p, seq(n), func(context.Context, int) (int, error) {
					if goroutineID() == g {
						caller++
					}
					return 0, nil
				}); err != nil {
					t.Fatalf("Map: %v", err)
				}
				return caller
			}
			if got := onCaller(root); got != n {
				t.Errorf("with one slot free, %d of %d inputs ran on Map's caller, want all", got, n)
			}
			close(release)
			if err := others.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := onCaller(root.Sub().WithLimit(1)); got != n {
				t.Errorf("alone in the tree, on a pool with a limit of 1, %d of %d inputs ran on Map's caller, want all: something still waits for a slot", got, n)
			}
			if st := root.Stats(); st != (gopool.Stats{Submitted: uint64(2*n + limit - 1), Succeeded: uint64(2*n + limit - 1)}) {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}
