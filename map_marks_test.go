package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// TestMapStripsMarksWithoutAPolicy: a Permanent or RetryAfter mark on an
// input's error is honoured once, by the pool, and does not leak out of it
// (see Permanent and RetryAfter): Wait reports the error itself, unmarked, or
// one that no longer counts as marked, whatever the pool's policy, as for
// Go. Map's loop for pools with neither a retry policy nor a timeout once
// recorded fn's error as returned, so that Map's error carried the marks,
// a mark inside the error still counted when the error was handed to
// another pool, and under fail-fast the cause the other inputs saw was the
// marked error. Found by TestChaos's Map callers.
func TestMapStripsMarksWithoutAPolicy(t *testing.T) {
	errA := errors.New("a")
	for _, tc := range []struct {
		name string
		pool func() *gopool.Pool
	}{
		{"no policy", gopool.NewPool},
		{"WithRetry(1, 0), which tries once too", func() *gopool.Pool { return gopool.NewPool().WithRetry(1, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, marked := range []error{gopool.Permanent(errA), gopool.RetryAfter(time.Hour, errA)} {
				task := gopool.NewTask(func(gopool.Args[int]) error { return marked })
				if err := tc.pool().Go(task).Wait(); err != errA {
					t.Errorf("Go: Wait = %#v, want %v itself", err, errA)
				}
				_, err := gopool.Map(tc.pool(), []int{0}, func(context.Context, int) (int, error) { return 0, marked })
				if err != errA {
					t.Errorf("Map's error = %#v, want %v itself, as Go's Wait reports it", err, errA)
				}
			}
		})
	}

	t.Run("under fail-fast, the batch's cause is the failure unmarked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var goCause, mapCause error
			p := gopool.NewPool().WithFailFast()
			p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				<-a.Context.Done()
				goCause = context.Cause(a.Context)
				return a.Context.Err()
			}))
			synctest.Wait()
			p.Go(gopool.NewTask(func(gopool.Args[int]) error { return gopool.Permanent(errA) }))
			if err := p.Wait(); err != errA || goCause != errA {
				t.Errorf("Go: Wait = %#v, the cause a task saw %#v; want %v itself for both", err, goCause, errA)
			}
			// Input 1 fails once input 0 waits for the cancellation.
			started := make(chan struct{})
			_, err := gopool.Map(gopool.NewPool().WithFailFast(), seq(2), func(ctx context.Context, i int) (int, error) {
				if i == 1 {
					<-started
					return 0, gopool.Permanent(errA)
				}
				close(started)
				<-ctx.Done()
				mapCause = context.Cause(ctx)
				return 0, ctx.Err()
			})
			if err != errA || mapCause != errA {
				t.Errorf("Map: error %#v, the cause input 0 saw %#v; want %v itself for both, as with Go", err, mapCause, errA)
			}
		})
	})

	t.Run("a mark inside the error no longer counts once Map reported it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			wrapped := fmt.Errorf("calling: %w", gopool.RetryAfter(time.Hour, errA))
			_, err := gopool.Map(gopool.NewPool(), []int{0}, func(context.Context, int) (int, error) { return 0, wrapped })
			if err == nil || err.Error() != wrapped.Error() || !errors.Is(err, errA) {
				t.Fatalf("Map's error = %v, want %q wrapping %v", err, wrapped, errA)
			}
			// Handed back to a task of another pool, with a retry policy
			// without sleep: an unmarked error is tried again at once.
			start, tries := time.Now(), 0
			_ = gopool.NewTask(func(gopool.Args[int]) error { tries++; return err }).WithRetry(2, 0).Execute()
			if d := time.Since(start); tries != 2 || d != 0 {
				t.Errorf("Map's error still carries its RetryAfter mark: tried %d times over %v, want 2 at once", tries, d)
			}
		})
	})
}
