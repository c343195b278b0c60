package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// TryGo hands a task over only if the pool can admit it now: when the
// limit's tasks are running (and the queue, if any, is full) it returns
// false at once, and the task is dropped, never run nor counted.
func ExamplePool_TryGo() {
	pool := gopool.NewPool().WithLimit(1)
	release := make(chan struct{})
	pool.Go(gopool.NewTask(func(gopool.Args[any]) error {
		<-release
		return nil
	}))

	admitted := pool.TryGo(gopool.NewTask(func(gopool.Args[any]) error {
		fmt.Println("never printed")
		return nil
	}))
	fmt.Println("TryGo with the limit's task running:", admitted)

	close(release)
	fmt.Println("Wait:", pool.Wait())
	admitted = pool.TryGo(gopool.NewTask(func(gopool.Args[any]) error {
		fmt.Println("ran")
		return nil
	}))
	fmt.Println("TryGo on an idle pool:", admitted)
	fmt.Println("Wait:", pool.Wait())
	fmt.Printf("%+v\n", pool.Stats())
	// Output:
	// TryGo with the limit's task running: false
	// Wait: <nil>
	// TryGo on an idle pool: true
	// ran
	// Wait: <nil>
	// {Running:0 Pending:0 Submitted:2 Succeeded:2 Failed:0 Panicked:0 Canceled:0 Skipped:0 Retries:0}
}

// GoContext waits for admission only as long as its context allows: here
// the limit's task outlasts the deadline, so GoContext takes its task back
// and returns the context's cause.
func ExamplePool_GoContext() {
	pool := gopool.NewPool().WithLimit(1)
	release := make(chan struct{})
	pool.Go(gopool.NewTask(func(gopool.Args[any]) error {
		<-release
		return nil
	}))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := pool.GoContext(ctx, gopool.NewTask(func(gopool.Args[any]) error {
		fmt.Println("never printed")
		return nil
	}))
	fmt.Println(err)
	fmt.Println("deadline exceeded:", errors.Is(err, context.DeadlineExceeded))

	close(release)
	fmt.Println("Wait:", pool.Wait())
	fmt.Println("submitted:", pool.Stats().Submitted)
	// Output:
	// gopool: task not admitted: context deadline exceeded
	// deadline exceeded: true
	// Wait: <nil>
	// submitted: 1
}

// WithQueue lets a producer run ahead of the workers: under WithLimit(1),
// WithQueue(2) admits two more tasks while one runs, and they start in the
// order they were queued. Go blocks, and TryGo refuses, only once the queue
// is full too.
func ExamplePool_WithQueue() {
	pool := gopool.NewPool().WithLimit(1).WithQueue(2)
	started, release := make(chan struct{}), make(chan struct{})
	pool.Go(gopool.NewTask(func(gopool.Args[any]) error {
		close(started)
		<-release
		fmt.Println("first")
		return nil
	}))
	<-started
	for _, name := range []string{"second", "third"} {
		pool.Go(gopool.NewTask(func(gopool.Args[any]) error { // returns at once: queued
			fmt.Println(name)
			return nil
		}))
	}
	s := pool.Stats()
	fmt.Println("running:", s.Running, "queued:", s.Pending)
	fmt.Println("TryGo with the queue full:", pool.TryGo(gopool.NewTask(func(gopool.Args[any]) error { return nil })))

	close(release)
	fmt.Println("Wait:", pool.Wait())
	// Output:
	// running: 1 queued: 2
	// TryGo with the queue full: false
	// first
	// second
	// third
	// Wait: <nil>
}
