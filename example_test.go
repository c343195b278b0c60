package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

type User struct{ Name string }

type A struct{ Value string }

type B struct{ Value float64 }

// The README's "Basic Task": a task sends its result to a typed drain.
func Example() {
	output := gopool.NewDrainer[User]()
	task := gopool.NewTask(func(t gopool.Args[User]) error {
		t.Drainer.Send(User{Name: "Alice"})
		return nil
	}).DrainTo(output)

	pool := gopool.NewPool()

	pool.Go(task).Wait()
	results := output.Drain()
	fmt.Println(results[0].Name)
	// Output: Alice
}

// The README's "Task With Retry": the task fails twice, then succeeds on its
// third and last try.
func ExampleTask_WithRetry() {
	var numRetries int
	task := gopool.NewTask(func(t gopool.Args[any]) error {
		numRetries++
		if numRetries < 3 {
			return fmt.Errorf("transient error")
		}
		return nil
	}).WithRetry(3, 200*time.Millisecond)

	pool := gopool.NewPool()
	err := pool.Go(task).Wait()
	fmt.Println(numRetries, err)
	// Output: 3 <nil>
}

// The README's "Multiple Task Types": one pool runs tasks of different
// types, each feeding its own typed drain.
func Example_multipleTaskTypes() {
	outA := gopool.NewDrainer[A]()
	outB := gopool.NewDrainer[B]()

	// Task A
	t1 := gopool.NewTask(func(t gopool.Args[A]) error {
		t.Drainer.Send(A{Value: "Hello"})
		return nil
	}).DrainTo(outA)

	// Task B
	t2 := gopool.NewTask(func(t gopool.Args[B]) error {
		t.Drainer.Send(B{Value: 42.5})
		return nil
	}).DrainTo(outB)

	pool := gopool.NewPool()
	pool.Go(t1, t2).Wait()

	fmt.Println(outA.Drain())
	fmt.Println(outB.Drain())
	// Output:
	// [{Hello}]
	// [{42.5}]
}

// WithLimit bounds how many tasks run at once; Go blocks while the limit is
// reached, so a producer never runs ahead of the workers.
func ExamplePool_WithLimit() {
	var running, peak atomic.Int32
	squares := gopool.NewDrainer[int]()
	pool := gopool.NewPool().WithLimit(3)
	for i := 1; i <= 10; i++ {
		pool.Go(gopool.NewTask(func(t gopool.Args[int]) error {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			t.Drainer.Send(*t.Input * *t.Input)
			return nil
		}).WithInput(&i).DrainTo(squares))
	}
	err := pool.Wait()
	got := squares.Drain()
	slices.Sort(got)
	fmt.Println(got, err)
	fmt.Println("at most 3 at once:", peak.Load() <= 3)
	// Output:
	// [1 4 9 16 25 36 49 64 81 100] <nil>
	// at most 3 at once: true
}

// WithFailFast cancels the batch at the first failure: the other tasks see
// their context done, with the failure as its cause.
func ExamplePool_WithFailFast() {
	errBoom := errors.New("boom")
	pool := gopool.NewPool().WithFailFast()
	pool.Go(gopool.NewTask(func(t gopool.Args[any]) error {
		<-t.Context.Done() // waits for the failure below
		fmt.Println("cause seen by the other task:", context.Cause(t.Context))
		return t.Context.Err() // an echo of the cancellation: not reported
	}))
	pool.Go(gopool.NewTask(func(gopool.Args[any]) error { return errBoom }))
	fmt.Println("Wait:", pool.Wait())
	// Output:
	// cause seen by the other task: boom
	// Wait: boom
}

// Close cancels the running batch with cause ErrClosed and waits for it;
// tasks handed to the pool afterwards never run.
func ExamplePool_Close() {
	pool := gopool.NewPool()
	started := make(chan struct{})
	pool.Go(gopool.NewTask(func(t gopool.Args[any]) error {
		close(started)
		<-t.Context.Done()
		fmt.Println("task saw:", context.Cause(t.Context))
		return t.Context.Err()
	}))
	<-started
	fmt.Println("Close:", pool.Close())

	pool.Go(gopool.NewTask(func(gopool.Args[any]) error {
		fmt.Println("never printed")
		return nil
	}))
	fmt.Println("Wait:", pool.Wait())
	// Output:
	// task saw: gopool: pool closed
	// Close: <nil>
	// Wait: gopool: pool closed
}

// Permanent stops the retries of an error that trying again cannot fix.
func ExamplePermanent() {
	errNotFound := errors.New("not found")
	tries := 0
	task := gopool.NewTask(func(gopool.Args[any]) error {
		tries++
		return gopool.Permanent(errNotFound)
	}).WithRetry(5, time.Second)
	err := gopool.Go(task).Wait()
	fmt.Println(tries, err == errNotFound)
	// Output: 1 true
}

// A panicking task does not crash the program: Wait reports it as a
// *PanicError carrying the value and the stack.
func ExamplePanicError() {
	err := gopool.Go(gopool.NewTask(func(gopool.Args[any]) error {
		panic("oops")
	})).Wait()
	var pe *gopool.PanicError
	if errors.As(err, &pe) {
		fmt.Println("recovered:", pe.Value, "with a stack:", len(pe.Stack) > 0)
	}
	// Output: recovered: oops with a stack: true
}

// A pool made from a context stops when the context is done: running tasks
// see it, tasks not yet started are skipped, and Wait reports the cause.
func ExampleNewPoolWithContext() {
	errShutdown := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(context.Background())
	pool := gopool.NewPoolWithContext(ctx)
	started := make(chan struct{})
	pool.Go(gopool.NewTask(func(t gopool.Args[any]) error {
		close(started)
		<-t.Context.Done()
		return t.Context.Err()
	}))
	<-started
	cancel(errShutdown)
	err := pool.Wait()
	fmt.Println(err, errors.Is(err, errShutdown))
	// Output: shutting down true
}

// Drain waits for every task that feeds it, then returns a copy of the values
// sent, in arrival order.
func ExampleDrain_Drain() {
	words := gopool.NewDrainer[string]()
	pool := gopool.NewPool().WithLimit(1) // one at a time: arrival order is submission order
	for _, w := range []string{"tiny", "api", "exact", "semantics"} {
		pool.Go(gopool.NewTask(func(t gopool.Args[string]) error {
			t.Drainer.Send(w)
			return nil
		}).DrainTo(words))
	}
	fmt.Println(words.Drain(), words.Count()) // Drain waits for the four tasks
	if err := pool.Wait(); err != nil {
		fmt.Println(err)
	}
	// Output: [tiny api exact semantics] 4
}

// WithTimeout bounds each try: the try's context is done when its time is
// up, with cause ErrTimeout, and a try that timed out is retried like any
// failure. The function must watch its context: the pool cannot stop it.
func ExampleTask_WithTimeout() {
	task := gopool.NewTask(func(t gopool.Args[any]) error {
		if t.Attempt == 1 {
			<-t.Context.Done() // the first try hangs until its time is up
			fmt.Println("try 1:", context.Cause(t.Context))
			return fmt.Errorf("try 1: %w", t.Context.Err())
		}
		fmt.Println("try 2: done")
		return nil
	}).WithTimeout(10*time.Millisecond).WithRetry(2, time.Millisecond)
	fmt.Println("Wait:", gopool.Go(task).Wait())

	// The last try's timeout is what Wait reports; errors.Is finds ErrTimeout.
	hang := gopool.NewTask(func(t gopool.Args[any]) error {
		<-t.Context.Done()
		return fmt.Errorf("fetching: %w", t.Context.Err())
	}).WithTimeout(10 * time.Millisecond)
	err := gopool.Go(hang).Wait()
	fmt.Println("Wait:", err, errors.Is(err, gopool.ErrTimeout))
	// Output:
	// try 1: gopool: try timed out
	// try 2: done
	// Wait: <nil>
	// Wait: fetching: context deadline exceeded true
}

// RetryAfter makes the next try wait as long as the other side asked, say
// through an HTTP Retry-After header, instead of the backoff: here 20ms,
// where the task's policy would wait at least half an hour.
func ExampleRetryAfter() {
	errBusy := errors.New("503 Service Unavailable")
	start := time.Now()
	task := gopool.NewTask(func(t gopool.Args[any]) error {
		if t.Attempt == 1 {
			return gopool.RetryAfter(20*time.Millisecond, errBusy)
		}
		return nil
	}).WithRetry(3, time.Hour)
	pool := gopool.NewPool()
	err := pool.Go(task).Wait()
	waited := time.Since(start)
	fmt.Println(err, pool.Stats().Retries, waited >= 20*time.Millisecond && waited < time.Minute)

	// The last try's RetryAfter ends the tries like any failure, and Wait
	// reports the error itself, without the mark.
	err = gopool.Go(gopool.NewTask(func(gopool.Args[any]) error {
		return gopool.RetryAfter(time.Millisecond, errBusy)
	}).WithRetry(2, 0)).Wait()
	fmt.Println(err == errBusy)
	// Output:
	// <nil> 1 true
	// true
}

// Sub gives each request its own batch under one service-wide limit: the
// service's pool bounds how many tasks of all requests run at once, while
// each request's Wait waits for its own tasks and reports its own failures.
// Closing the service closes every request's pool too.
func ExamplePool_Sub() {
	service := gopool.NewPool().WithLimit(2) // at most 2 tasks of all requests at once
	handle := func(pages []string) string {
		req := service.Sub()
		sizes := gopool.NewDrainer[int]()
		for _, page := range pages {
			req.Go(gopool.NewTask(func(t gopool.Args[int]) error {
				if page == "" {
					return errors.New("empty page name")
				}
				t.Drainer.Send(len(page))
				return nil
			}).DrainTo(sizes))
		}
		err := req.Wait() // this request's tasks only
		got := sizes.Drain()
		slices.Sort(got)
		return fmt.Sprint(got, " ", err)
	}

	requests := [][]string{{"home", "about"}, {"faq", "", "blog"}, {"contact"}}
	results := make([]string, len(requests))
	var wg sync.WaitGroup
	for i, pages := range requests {
		wg.Go(func() { results[i] = handle(pages) })
	}
	wg.Wait()
	for i, r := range results {
		fmt.Printf("request %d: %s\n", i+1, r)
	}

	service.Close()
	fmt.Println("after Close:", handle([]string{"late"}))
	// Output:
	// request 1: [4 5] <nil>
	// request 2: [3 4] empty page name
	// request 3: [7] <nil>
	// after Close: [] gopool: pool closed
}

// Stats counts the tasks of a pool and of every pool below it. When nothing
// runs, Submitted is the sum of the counters of how tasks ended (and of
// those still pending or running).
func ExamplePool_Stats() {
	root := gopool.NewPool()
	req := root.Sub()
	tries := 0
	root.Go(
		gopool.NewTask(func(gopool.Args[any]) error { return nil }),
		gopool.NewTask(func(gopool.Args[any]) error { panic("oops") }),
	)
	req.Go(
		gopool.NewTask(func(gopool.Args[any]) error { return errors.New("not found") }),
		gopool.NewTask(func(gopool.Args[any]) error {
			if tries++; tries < 3 {
				return errors.New("busy")
			}
			return nil
		}).WithRetry(3, 0),
	)
	_ = root.Wait()
	_ = req.Wait()
	req.Close()
	req.Go(gopool.NewTask(func(gopool.Args[any]) error { return nil })) // never runs
	_ = req.Wait()

	s := root.Stats()
	fmt.Printf("submitted %d: succeeded %d, failed %d (panicked %d), skipped %d; retries %d\n",
		s.Submitted, s.Succeeded, s.Failed, s.Panicked, s.Skipped, s.Retries)
	r := req.Stats()
	fmt.Printf("the request alone: submitted %d, failed %d\n", r.Submitted, r.Failed)
	// Output:
	// submitted 5: succeeded 2, failed 2 (panicked 1), skipped 1; retries 2
	// the request alone: submitted 3, failed 1
}

// All yields each value as soon as a task sends it, in arrival order, and
// ends once every task feeding the drain has finished. Breaking out early
// stops only the loop: the values stay in the drain.
func ExampleDrain_All() {
	progress := gopool.NewDrainer[int]()
	pool := gopool.NewPool()
	pool.Go(gopool.NewTask(func(t gopool.Args[int]) error {
		for pct := 25; pct <= 100; pct += 25 {
			t.Drainer.Send(pct) // the loop below sees it at once
		}
		return nil
	}).DrainTo(progress))

	var seen []int
	for pct := range progress.All() { // ends when the task has finished
		seen = append(seen, pct)
	}
	fmt.Println(seen)

	for pct := range progress.All() {
		if pct >= 50 {
			fmt.Println("halfway at", pct)
			break
		}
	}
	fmt.Println(progress.Count(), pool.Wait())
	// Output:
	// [25 50 75 100]
	// halfway at 50
	// 4 <nil>
}
