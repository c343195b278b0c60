package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	gopool "github.com/rubengp99/go-pool"
)

// The tests of sub-pools (issue 9), one top-level test per point of the
// spec: TestSub1..., TestSub2..., and so on. Stats (point 7) is tested in
// stats_test.go, the bounded memory of point 5 in stress_test.go, and the
// tree shapes of TestChaos in chaos_test.go.

// lanes runs named tasks that each record their start and then hold their
// slot until released by name, so that a test can tell which task a freed
// slot went to.
type lanes struct {
	mu       sync.Mutex
	order    []string
	running  map[string]bool
	releases map[string]chan struct{}
}

func newLanes() *lanes {
	return &lanes{running: map[string]bool{}, releases: map[string]chan struct{}{}}
}

// task returns the task named name, which returns nil once released.
func (l *lanes) task(name string) *gopool.Task[int] {
	l.mu.Lock()
	release := make(chan struct{})
	l.releases[name] = release
	l.mu.Unlock()
	return gopool.NewTask(func(gopool.Args[int]) error {
		l.mu.Lock()
		l.order = append(l.order, name)
		l.running[name] = true
		l.mu.Unlock()
		<-release
		l.mu.Lock()
		delete(l.running, name)
		l.mu.Unlock()
		return nil
	})
}

// free releases the task named name.
func (l *lanes) free(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.releases[name])
}

// started returns the names of the tasks that started, in order.
func (l *lanes) started() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.order)
}

// now returns the names of the running tasks, sorted.
func (l *lanes) now() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for name := range l.running {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// goAsync calls p.Go(tasks...) on a new goroutine and returns a channel
// closed once it returns.
func goAsync(p *gopool.Pool, tasks ...gopool.Worker) <-chan struct{} {
	returned := make(chan struct{})
	go func() {
		p.Go(tasks...)
		close(returned)
	}()
	return returned
}

// untilDone is a task that closes started, waits for its context to be
// done, stores context.Cause in *cause, and returns an echo of its context.
func untilDone(started chan struct{}, cause *error) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		close(started)
		<-a.Context.Done()
		*cause = context.Cause(a.Context)
		return fmt.Errorf("stopping: %w", a.Context.Err())
	})
}

// ctxOf is a task that closes started, stores its context in *ctx, and
// waits for release.
func ctxOf(started, release chan struct{}, ctx *context.Context) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		*ctx = a.Context
		close(started)
		<-release
		return nil
	})
}

func TestSub1IsAPoolWithEverythingAPoolHas(t *testing.T) {
	t.Run("a sub-pool runs batches: Go, then Wait, then a new batch with a fresh context", func(t *testing.T) {
		root := gopool.NewPool()
		s := root.Sub()
		var n atomic.Int64
		var ctxs [2]context.Context
		for i := range ctxs {
			s.Go(counted(&n, nil), gopool.NewTask(func(a gopool.Args[int]) error {
				ctxs[i] = a.Context
				return nil
			}))
			if err := s.Wait(); err != nil {
				t.Fatalf("batch %d: Wait = %v", i+1, err)
			}
			if ctxs[i].Err() == nil {
				t.Errorf("batch %d: its context is not done once Wait returned", i+1)
			}
		}
		if n.Load() != 2 {
			t.Errorf("%d tasks ran, want 2", n.Load())
		}
		if ctxs[0] == ctxs[1] {
			t.Error("the second batch ran with the first batch's context")
		}
	})

	t.Run("the package-level Go and Go on a sub-pool return their receiver", func(t *testing.T) {
		s := gopool.NewPool().Sub()
		if s.Go(succeed()) != s {
			t.Error("Go on a sub-pool did not return the sub-pool")
		}
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a sub-pool reports every failure, and a panic as a *PanicError", func(t *testing.T) {
		errA, errB := errors.New("a"), errors.New("b")
		s := gopool.NewPool().Sub().WithLimit(1) // one at a time: the order is known
		s.Go(failWith(errA), gopool.NewTask(func(gopool.Args[int]) error { panic(errB) }), succeed())
		err := s.Wait()
		errs := joinedErrors(err)
		if len(errs) != 2 || errs[0] != errA {
			t.Fatalf("Wait = %v, want errA then a *PanicError", err)
		}
		var pe *gopool.PanicError
		if !errors.As(errs[1], &pe) || pe.Value != errB {
			t.Errorf("second failure = %#v, want a *PanicError with value errB", errs[1])
		}
	})

	t.Run("a sub-pool's tasks feed drains, and Drain waits for them", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		root := gopool.NewPool()
		a, b := root.Sub(), root.Sub()
		for i := range 10 {
			p := a
			if i%2 == 1 {
				p = b
			}
			p.Go(gopool.NewTask(func(t gopool.Args[int]) error {
				t.Drainer.Send(*t.Input)
				return nil
			}).WithInput(&i).DrainTo(d))
		}
		got := d.Drain()
		slices.Sort(got)
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
			t.Errorf("Drain = %v, want %v", got, want)
		}
		if err := errors.Join(a.Wait(), b.Wait()); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a sub-pool has its own WithRetry, and inherits none from its parent", func(t *testing.T) {
		errX := errors.New("x")
		var rootTries, plainTries, ownTries atomic.Int64
		root := gopool.NewPool().WithRetry(3, 0)
		plain := root.Sub()
		own := root.Sub().WithRetry(2, 0)
		root.Go(counted(&rootTries, errX))
		plain.Go(counted(&plainTries, errX))
		own.Go(counted(&ownTries, errX))
		for _, p := range []*gopool.Pool{root, plain, own} {
			if err := p.Wait(); err != errX {
				t.Errorf("Wait = %v, want %v", err, errX)
			}
		}
		if rootTries.Load() != 3 || plainTries.Load() != 1 || ownTries.Load() != 2 {
			t.Errorf("tries: root %d, plain sub-pool %d, sub-pool WithRetry(2) %d; want 3, 1 and 2",
				rootTries.Load(), plainTries.Load(), ownTries.Load())
		}
	})

	t.Run("a sub-pool has its own WithFailFast, and inherits none from its parent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errX := errors.New("x")
			root := gopool.NewPool().WithFailFast()
			plain := root.Sub()
			var plainCtx context.Context
			started, release := make(chan struct{}), make(chan struct{})
			plain.Go(ctxOf(started, release, &plainCtx))
			<-started
			plain.Go(failWith(errX))
			synctest.Wait()
			if plainCtx.Err() != nil {
				t.Error("a failure in a sub-pool of a fail-fast pool cancelled the sub-pool's batch: fail-fast was inherited")
			}
			close(release)
			if err := plain.Wait(); err != errX {
				t.Errorf("Wait = %v, want %v", err, errX)
			}

			own := gopool.NewPool().Sub().WithFailFast()
			var cause error
			started = make(chan struct{})
			own.Go(untilDone(started, &cause))
			<-started
			own.Go(failWith(errX))
			if err := own.Wait(); err != errX {
				t.Errorf("fail-fast sub-pool: Wait = %v, want %v alone (the other task echoed)", err, errX)
			}
			if cause != errX {
				t.Errorf("fail-fast sub-pool: context.Cause = %v, want %v", cause, errX)
			}
		})
	})

	t.Run("a sub-pool has its own limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var c concurrency
			s := gopool.NewPool().Sub().WithLimit(2)
			for range 10 {
				s.Go(gopool.NewTask(func(gopool.Args[int]) error {
					c.enter()
					defer c.leave()
					time.Sleep(time.Millisecond)
					return nil
				}))
			}
			if err := s.Wait(); err != nil {
				t.Fatal(err)
			}
			if c.peak.Load() != 2 {
				t.Errorf("peak of %d tasks at once under the sub-pool's WithLimit(2), want 2", c.peak.Load())
			}
		})
	})

	t.Run("a sub-pool has sub-pools of its own, and Close closes them", func(t *testing.T) {
		var ran atomic.Int64
		root := gopool.NewPool()
		s := root.Sub()
		g := s.Sub()
		g.Go(counted(&ran, nil))
		if err := g.Wait(); err != nil || ran.Load() != 1 {
			t.Fatalf("grandchild: Wait = %v after %d runs, want nil after 1", err, ran.Load())
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close of an idle sub-pool = %v", err)
		}
		g.Go(counted(&ran, nil))
		if err := g.Wait(); err != gopool.ErrClosed {
			t.Errorf("grandchild after its parent's Close: Wait = %v, want ErrClosed", err)
		}
		root.Go(counted(&ran, nil))
		if err := root.Wait(); err != nil {
			t.Errorf("root after its sub-pool's Close: Wait = %v, want nil", err)
		}
		if ran.Load() != 2 {
			t.Errorf("%d tasks ran, want 2: the grandchild's first and the root's", ran.Load())
		}
	})

	t.Run("Sub works on the zero Pool and on a sub-pool made by SubWithContext", func(t *testing.T) {
		var zero gopool.Pool
		var n atomic.Int64
		s := zero.Sub()
		s.Go(counted(&n, nil))
		g := zero.SubWithContext(context.Background()).Sub()
		g.Go(counted(&n, nil))
		if err := errors.Join(s.Wait(), g.Wait()); err != nil || n.Load() != 2 {
			t.Errorf("Wait = %v after %d runs, want nil after 2", err, n.Load())
		}
	})
}

func TestSub1LimitsCountAgainstEveryAncestor(t *testing.T) {
	t.Run("under p.WithLimit(n) at most n task bodies of p and all its descendants run at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var c concurrency
			task := gopool.NewTask(func(gopool.Args[int]) error {
				c.enter()
				defer c.leave()
				time.Sleep(time.Millisecond)
				return nil
			})
			root := gopool.NewPool().WithLimit(3)
			a := root.Sub()
			b := root.Sub().WithLimit(5) // a looser limit below does not loosen the root's
			g := a.Sub()
			pools := []*gopool.Pool{root, a, b, g}
			var producers sync.WaitGroup
			for _, p := range pools {
				producers.Go(func() {
					for range 20 {
						p.Go(task)
					}
				})
			}
			producers.Wait()
			for _, p := range pools {
				if err := p.Wait(); err != nil {
					t.Error(err)
				}
			}
			if c.peak.Load() != 3 {
				t.Errorf("peak of %d tasks at once in the tree under the root's WithLimit(3), want 3", c.peak.Load())
			}
		})
	})

	t.Run("a grandchild's tasks count against its own, its parent's and the root's limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLanes()
			root := gopool.NewPool().WithLimit(3)
			mid := root.Sub().WithLimit(2)
			leaf := mid.Sub().WithLimit(1)
			root.Go(l.task("root"))
			leaf.Go(l.task("leaf1"))
			synctest.Wait()
			// The leaf is at its limit: leaf2 blocks, though mid and root have room.
			leaf2 := goAsync(leaf, l.task("leaf2"))
			synctest.Wait()
			if hasClosed(leaf2) {
				t.Fatal("Go on a sub-pool at its own limit did not block")
			}
			mid.Go(l.task("mid")) // mid's second slot, the root's third
			synctest.Wait()
			// The root is full now: a new sub-pool's Go blocks too.
			other := goAsync(root.Sub(), l.task("other"))
			synctest.Wait()
			if hasClosed(other) {
				t.Fatal("Go on a sub-pool blocked only by its root's limit did not block")
			}
			if got, want := l.now(), []string{"leaf1", "mid", "root"}; !slices.Equal(got, want) {
				t.Fatalf("running %v, want %v", got, want)
			}
			if s := root.Stats(); s.Running != 3 || s.Pending != 2 {
				t.Errorf("root Stats: Running %d, Pending %d; want 3 and 2", s.Running, s.Pending)
			}
			l.free("leaf1") // frees a slot at leaf, mid and root: leaf2 is the oldest blocked
			synctest.Wait()
			if got, want := l.now(), []string{"leaf2", "mid", "root"}; !slices.Equal(got, want) {
				t.Fatalf("after leaf1 returned: running %v, want %v", got, want)
			}
			l.free("root")
			synctest.Wait()
			if got, want := l.now(), []string{"leaf2", "mid", "other"}; !slices.Equal(got, want) {
				t.Fatalf("after root returned: running %v, want %v", got, want)
			}
			l.free("leaf2")
			l.free("mid")
			l.free("other")
			<-leaf2
			<-other
			if err := errors.Join(root.Wait(), mid.Wait(), leaf.Wait()); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestSub2AdmissionIsFIFOAcrossTheTree(t *testing.T) {
	t.Run("a freed slot goes to the oldest blocked Go, whichever sub-pool it is on", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLanes()
			root := gopool.NewPool().WithLimit(1)
			a, b, c := root.Sub(), root.Sub(), root.Sub()
			root.Go(l.task("root"))
			synctest.Wait()
			var returned []<-chan struct{}
			for _, step := range []struct {
				p    *gopool.Pool
				name string
			}{{c, "c"}, {a, "a"}, {root, "root2"}, {b, "b"}} {
				returned = append(returned, goAsync(step.p, l.task(step.name)))
				synctest.Wait() // blocked before the next one
			}
			for _, name := range []string{"root", "c", "a", "root2"} {
				l.free(name)
				synctest.Wait()
			}
			l.free("b")
			for _, r := range returned {
				<-r
			}
			if got, want := l.started(), []string{"root", "c", "a", "root2", "b"}; !slices.Equal(got, want) {
				t.Errorf("tasks started in the order %v, want the order their Go blocked in, %v", got, want)
			}
			for _, p := range []*gopool.Pool{root, a, b, c} {
				if err := p.Wait(); err != nil {
					t.Error(err)
				}
			}
		})
	})

	t.Run("Go calls blocked at a sub-pool's own limit are admitted in the order they blocked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLanes()
			s := gopool.NewPool().Sub().WithLimit(1)
			g := s.Sub()
			s.Go(l.task("s0"))
			synctest.Wait()
			for _, step := range []struct {
				p    *gopool.Pool
				name string
			}{{g, "g1"}, {s, "s1"}, {g, "g2"}} {
				goAsync(step.p, l.task(step.name))
				synctest.Wait()
			}
			for _, name := range []string{"s0", "g1", "s1", "g2"} {
				l.free(name)
				synctest.Wait()
			}
			if got, want := l.started(), []string{"s0", "g1", "s1", "g2"}; !slices.Equal(got, want) {
				t.Errorf("tasks started in the order %v, want %v", got, want)
			}
			if err := errors.Join(s.Wait(), g.Wait()); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("a sub-pool at its own limit does not hold up others: the slot goes to the oldest Go that every limit on its path admits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLanes()
			root := gopool.NewPool().WithLimit(2)
			a := root.Sub().WithLimit(1)
			b := root.Sub()
			a.Go(l.task("a0")) // a's only slot, one of the root's two
			root.Go(l.task("r0"))
			synctest.Wait()
			a1 := goAsync(a, l.task("a1")) // blocked at a's limit and at the root's
			synctest.Wait()
			b1 := goAsync(b, l.task("b1")) // blocked at the root's limit only
			synctest.Wait()
			if hasClosed(a1) || hasClosed(b1) {
				t.Fatal("a Go did not block at a full limit")
			}
			l.free("r0") // a root slot frees; a1 is older, but a is at its own limit
			synctest.Wait()
			if got, want := l.now(), []string{"a0", "b1"}; !slices.Equal(got, want) {
				t.Fatalf("after r0 returned: running %v, want %v: the sub-pool at its own limit held up its sibling", got, want)
			}
			if !hasClosed(b1) || hasClosed(a1) {
				t.Errorf("b's Go returned: %v, a's: %v; want true and false", hasClosed(b1), hasClosed(a1))
			}
			l.free("a0")
			synctest.Wait()
			if got, want := l.now(), []string{"a1", "b1"}; !slices.Equal(got, want) {
				t.Fatalf("after a0 returned: running %v, want %v", got, want)
			}
			l.free("a1")
			l.free("b1")
			<-a1
			if err := errors.Join(root.Wait(), a.Wait(), b.Wait()); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("a busy sibling cannot starve another sub-pool", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const busy = 50
			root := gopool.NewPool().WithLimit(2)
			a, b := root.Sub(), root.Sub()
			var mu sync.Mutex
			var order []string
			step := make(chan struct{}) // each value lets one of a's tasks return
			aTask := gopool.NewTask(func(gopool.Args[int]) error {
				mu.Lock()
				order = append(order, "a")
				mu.Unlock()
				<-step
				return nil
			})
			// a's producer keeps both slots busy and always has a Go blocked.
			produced := make(chan struct{})
			go func() {
				defer close(produced)
				for range busy {
					a.Go(aTask)
				}
			}()
			synctest.Wait() // two of a's tasks run, a third Go is blocked
			bRan := make(chan struct{})
			bDone := goAsync(b, gopool.NewTask(func(gopool.Args[int]) error {
				mu.Lock()
				order = append(order, "b")
				mu.Unlock()
				close(bRan)
				return nil
			}))
			synctest.Wait()
			aBefore := 0
			for !hasClosed(bRan) {
				step <- struct{}{}
				synctest.Wait()
				if aBefore++; aBefore > 2 {
					t.Fatalf("b's task has not started after %d of a's tasks returned", aBefore)
				}
			}
			<-bDone
			for range busy - aBefore {
				step <- struct{}{}
			}
			<-produced
			if err := errors.Join(a.Wait(), b.Wait()); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			// a's two running tasks and the one whose Go blocked before b's.
			if i := slices.Index(order, "b"); i != 3 {
				t.Errorf("b's task started %dth, want 4th, behind the three of a's that were running or blocked before it: %v", i+1, order[:min(len(order), 8)])
			}
		})
	})
}

func TestSub3WaitWaitsForItsOwnTasksOnly(t *testing.T) {
	t.Run("a sub-pool's Wait returns while its parent's and a sibling's tasks still run, with its own failures only", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errRoot, errSib, errOwn := errors.New("root"), errors.New("sibling"), errors.New("own")
			release := make(chan struct{})
			root := gopool.NewPool()
			own, sib := root.Sub(), root.Sub()
			root.Go(blocking(nil, release, errRoot), failWith(errRoot))
			sib.Go(blocking(nil, release, errSib), failWith(errSib))
			own.Go(failWith(errOwn), succeed())
			synctest.Wait()
			if err := own.Wait(); err != errOwn {
				t.Errorf("Wait = %v, want its own failure %v alone", err, errOwn)
			}
			close(release)
			expectJoined(t, sib.Wait(), errSib, errSib)
			expectJoined(t, root.Wait(), errRoot, errRoot)
		})
	})

	t.Run("the root's Wait ignores its sub-pools' tasks and failures", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errSub := errors.New("sub")
			release := make(chan struct{})
			root := gopool.NewPool()
			s := root.Sub()
			s.Go(blocking(nil, release, errSub), failWith(errSub))
			synctest.Wait()
			if err := root.Wait(); err != nil {
				t.Errorf("root Wait with no tasks of its own = %v, want nil", err)
			}
			root.Go(succeed())
			if err := root.Wait(); err != nil {
				t.Errorf("root Wait = %v, want nil", err)
			}
			close(release)
			expectJoined(t, s.Wait(), errSub, errSub)
		})
	})

	t.Run("ending the root's batch does not cancel or end a sub-pool's batch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var subCtx, lateCtx context.Context
			started, release := make(chan struct{}), make(chan struct{})
			root := gopool.NewPool()
			s := root.Sub()
			s.Go(ctxOf(started, release, &subCtx))
			<-started
			root.Go(succeed())
			if err := root.Wait(); err != nil {
				t.Fatal(err)
			}
			if subCtx.Err() != nil {
				t.Errorf("the root's Wait cancelled the sub-pool's batch: %v", context.Cause(subCtx))
			}
			// A Go on the sub-pool still joins its running batch.
			lateStarted := make(chan struct{})
			s.Go(ctxOf(lateStarted, release, &lateCtx))
			<-lateStarted
			if lateCtx != subCtx {
				t.Error("a Go on the sub-pool after the root's Wait started another batch")
			}
			close(release)
			if err := s.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("fail-fast in a sub-pool cancels that sub-pool's batch only", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errX := errors.New("x")
			root := gopool.NewPool()
			ff := root.Sub().WithFailFast()
			sib := root.Sub()
			child := ff.Sub()
			var ctxs [3]context.Context
			release := make(chan struct{})
			for i, p := range []*gopool.Pool{root, sib, child} {
				started := make(chan struct{})
				p.Go(ctxOf(started, release, &ctxs[i]))
				<-started
			}
			var cause error
			started := make(chan struct{})
			ff.Go(untilDone(started, &cause))
			<-started
			var lateRuns atomic.Int64
			ff.Go(failWith(errX))
			synctest.Wait()
			ff.Go(counted(&lateRuns, nil)) // after the failure, in the cancelled batch: skipped
			if err := ff.Wait(); err != errX {
				t.Errorf("fail-fast sub-pool: Wait = %v, want %v", err, errX)
			}
			if cause != errX || lateRuns.Load() != 0 {
				t.Errorf("fail-fast sub-pool: context.Cause = %v, %d late tasks ran; want %v and 0", cause, lateRuns.Load(), errX)
			}
			for i, name := range []string{"the root's", "a sibling's", "the fail-fast sub-pool's own sub-pool's"} {
				if ctxs[i].Err() != nil {
					t.Errorf("%s batch was cancelled: %v", name, context.Cause(ctxs[i]))
				}
			}
			close(release)
			if err := errors.Join(root.Wait(), sib.Wait(), child.Wait()); err != nil {
				t.Error(err)
			}
		})
	})

	t.Run("a Wait that ends the tree's last batch does not wait for a worker that a sibling's batch, started meanwhile, keeps busy", func(t *testing.T) {
		// Such a Wait waits for the tree's workers to stop, so that a
		// pool per batch piles none up. Here a worker that stood by for
		// a's tasks has not run when a's Wait ends the last batch; b's
		// batch starts before it runs, and it runs b's task, which
		// waits for a's Wait to return.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		root := gopool.NewPool()
		for range 200 {
			a, b := root.Sub(), root.Sub()
			release := make(chan struct{})
			a.Go(succeed(), succeed())
			go b.Go(blocking(nil, release, nil))
			if err := regressWithin(t, "a's Wait", a.Wait); err != nil {
				t.Fatal(err)
			}
			close(release)
			if err := b.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSub4LifetimeCascadesDown(t *testing.T) {
	t.Run("Close on the root cancels every batch of its tree with cause ErrClosed and waits for their running tasks", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool()
			a := root.Sub()
			g := a.Sub()
			b := root.SubWithContext(context.Background())
			pools := []*gopool.Pool{root, a, g, b}
			causes := make([]error, len(pools))
			proceed := make(chan struct{})
			for i, p := range pools {
				started := make(chan struct{})
				p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					close(started)
					<-a.Context.Done()
					causes[i] = context.Cause(a.Context)
					<-proceed // keeps running after the cancellation
					return a.Context.Err()
				}))
				<-started
			}
			closed := make(chan error, 1)
			go func() { closed <- root.Close() }()
			synctest.Wait()
			if len(closed) > 0 {
				t.Fatal("Close returned while tasks of its sub-pools were running")
			}
			for i, c := range causes {
				if c != gopool.ErrClosed {
					t.Errorf("pool %d: context.Cause = %v, want ErrClosed", i, c)
				}
			}
			close(proceed)
			if err := <-closed; err != nil {
				t.Errorf("Close = %v, want nil: it skipped nothing, and the task echoed", err)
			}
			for i, p := range pools[1:] {
				if err := p.Wait(); err != nil {
					t.Errorf("sub-pool %d: Wait = %v, want nil: the Close cut nothing short", i+1, err)
				}
			}
		})
	})

	t.Run("Close on the root skips the queued and blocked tasks of its sub-pools, whose Waits report ErrClosed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var ran atomic.Int64
			root := gopool.NewPool().WithLimit(1)
			busy, blocked := root.Sub(), root.Sub().WithLimit(3)
			var cause error
			started := make(chan struct{})
			busy.Go(untilDone(started, &cause))
			<-started
			returned := goAsync(blocked, counted(&ran, nil), counted(&ran, nil))
			synctest.Wait()
			if hasClosed(returned) {
				t.Fatal("Go did not block at the root's limit")
			}
			if err := root.Close(); err != nil {
				t.Errorf("Close = %v, want nil: the root had no batch of its own", err)
			}
			<-returned
			if ran.Load() != 0 {
				t.Errorf("%d skipped tasks ran", ran.Load())
			}
			if err := blocked.Wait(); err != gopool.ErrClosed {
				t.Errorf("the sub-pool whose Go was blocked: Wait = %v, want ErrClosed", err)
			}
			if err := busy.Wait(); err != nil {
				t.Errorf("the sub-pool whose task ran and echoed: Wait = %v, want nil", err)
			}
		})
	})

	t.Run("after Close on the root, tasks handed to any pool of the tree never run, and that pool's next Wait reports ErrClosed", func(t *testing.T) {
		var ran atomic.Int64
		root := gopool.NewPool()
		old := root.Sub()
		deep := old.Sub()
		if err := root.Close(); err != nil {
			t.Fatal(err)
		}
		made := root.Sub() // a sub-pool made after the Close
		ctxSub := root.SubWithContext(context.Background())
		for i, p := range []*gopool.Pool{root, old, deep, made, made.Sub(), ctxSub} {
			p.Go(counted(&ran, nil))
			if err := p.Wait(); err != gopool.ErrClosed {
				t.Errorf("pool %d: Wait = %v, want ErrClosed", i, err)
			}
			if err := p.Wait(); err != nil {
				t.Errorf("pool %d: second Wait = %v, want nil", i, err)
			}
		}
		if ran.Load() != 0 {
			t.Errorf("%d tasks ran after Close", ran.Load())
		}
	})

	t.Run("Close on a sub-pool closes its own sub-pools, not its parent or its siblings", func(t *testing.T) {
		var ran atomic.Int64
		root := gopool.NewPool()
		s, sib := root.Sub(), root.Sub()
		g := s.Sub()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for i, p := range []*gopool.Pool{s, g} {
			p.Go(counted(&ran, nil))
			if err := p.Wait(); err != gopool.ErrClosed {
				t.Errorf("closed pool %d: Wait = %v, want ErrClosed", i, err)
			}
		}
		for i, p := range []*gopool.Pool{root, sib, root.Sub()} {
			p.Go(counted(&ran, nil))
			if err := p.Wait(); err != nil {
				t.Errorf("open pool %d: Wait = %v, want nil", i, err)
			}
		}
		if ran.Load() != 3 {
			t.Errorf("%d tasks ran, want the 3 of the open pools", ran.Load())
		}
	})

	t.Run("after a Close up the tree, a sub-pool's Wait joins ErrClosed exactly when that Close cut its work short", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errA := errors.New("a")
			root := gopool.NewPool().WithLimit(2)
			idle := root.Sub()     // no task: nothing to cut short
			echoing := root.Sub()  // a running task that echoes: not cut short
			failing := root.Sub()  // a running task that fails after the Close: its failure only
			skipping := root.Sub() // a task blocked at the limit: skipped
			late := root.Sub()     // a task handed to Go after the Close
			var cause error
			started := make(chan struct{})
			echoing.Go(untilDone(started, &cause))
			<-started
			started = make(chan struct{})
			failing.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				return errors.Join(errA, a.Context.Err()) // a failure beside the echo
			}))
			<-started
			var ran atomic.Int64
			returned := goAsync(skipping, counted(&ran, nil))
			synctest.Wait()
			if err := root.Close(); err != nil {
				t.Errorf("root Close = %v, want nil", err)
			}
			<-returned
			late.Go(counted(&ran, nil))
			for _, c := range []struct {
				name string
				p    *gopool.Pool
				want []error
			}{
				{"idle", idle, nil},
				{"echoing", echoing, nil},
				{"skipping", skipping, []error{gopool.ErrClosed}},
				{"late", late, []error{gopool.ErrClosed}},
			} {
				err := c.p.Wait()
				if c.want == nil && err != nil {
					t.Errorf("%s sub-pool: Wait = %v, want nil", c.name, err)
				} else if c.want != nil {
					expectJoined(t, err, c.want...)
				}
			}
			err := failing.Wait()
			if !errors.Is(err, errA) || errors.Is(err, gopool.ErrClosed) {
				t.Errorf("failing sub-pool: Wait = %v, want its failure without ErrClosed", err)
			}
			if ran.Load() != 0 {
				t.Errorf("%d skipped tasks ran", ran.Load())
			}
		})
	})

	t.Run("when the root's parent context is done, sub-pools' batches see its cause, skip what has not started, and every later Wait wraps the cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errStop := errors.New("shutting down")
			parent, cancel := context.WithCancelCause(context.Background())
			root := gopool.NewPoolWithContext(parent).WithLimit(1)
			s := root.Sub()
			g := s.SubWithContext(context.Background())
			var cause error
			started := make(chan struct{})
			s.Go(untilDone(started, &cause))
			<-started
			var ran atomic.Int64
			returned := goAsync(g, counted(&ran, nil))
			synctest.Wait()
			cancel(errStop)
			<-returned
			if err := s.Wait(); err != errStop {
				t.Errorf("sub-pool: Wait = %v, want the parent's cause %v", err, errStop)
			}
			if cause != errStop {
				t.Errorf("sub-pool: context.Cause = %v, want %v", cause, errStop)
			}
			if err := g.Wait(); err != errStop {
				t.Errorf("grandchild: Wait = %v, want %v", err, errStop)
			}
			if ran.Load() != 0 {
				t.Errorf("%d tasks ran after the parent was done", ran.Load())
			}
			for i, p := range []*gopool.Pool{s, g, root.Sub()} {
				if err := p.Wait(); err != errStop {
					t.Errorf("idle pool %d: Wait = %v, want %v", i, err, errStop)
				}
				p.Go(counted(&ran, nil))
				if err := p.Wait(); !errors.Is(err, errStop) || errors.Is(err, gopool.ErrClosed) {
					t.Errorf("pool %d, a batch after the parent was done: Wait = %v, want %v", i, err, errStop)
				}
			}
			if ran.Load() != 0 {
				t.Errorf("%d tasks ran after the parent was done", ran.Load())
			}
		})
	})

	t.Run("when a sub-pool's own ctx is done, its batch alone is cancelled, and every later Wait of it wraps ctx's cause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errReq := errors.New("request cancelled")
			ctx, cancel := context.WithCancelCause(context.Background())
			root := gopool.NewPool()
			s := root.SubWithContext(ctx)
			g := s.Sub()
			sib := root.Sub()
			var sibCtx, rootCtx context.Context
			release := make(chan struct{})
			for _, c := range []struct {
				p   *gopool.Pool
				ctx *context.Context
			}{{sib, &sibCtx}, {root, &rootCtx}} {
				started := make(chan struct{})
				c.p.Go(ctxOf(started, release, c.ctx))
				<-started
			}
			var causeS, causeG error
			started := make(chan struct{})
			s.Go(untilDone(started, &causeS))
			<-started
			started = make(chan struct{})
			g.Go(untilDone(started, &causeG))
			<-started
			cancel(errReq)
			for i, p := range []*gopool.Pool{s, g} {
				if err := p.Wait(); err != errReq {
					t.Errorf("pool %d below the cancelled ctx: Wait = %v, want %v", i, err, errReq)
				}
				if err := p.Wait(); err != errReq {
					t.Errorf("pool %d below the cancelled ctx: idle Wait = %v, want %v", i, err, errReq)
				}
			}
			if causeS != errReq || causeG != errReq {
				t.Errorf("context.Cause = %v and %v, want %v", causeS, causeG, errReq)
			}
			if sibCtx.Err() != nil || rootCtx.Err() != nil {
				t.Error("a sub-pool's ctx cancelled its parent's or its sibling's batch")
			}
			close(release)
			if err := errors.Join(root.Wait(), sib.Wait()); err != nil {
				t.Errorf("the parent and the sibling: %v, want nil", err)
			}
		})
	})

	t.Run("a sub-pool's Wait reports its done context as a root's would", func(t *testing.T) {
		for _, cancelled := range []string{"before the batch", "during the batch"} {
			errA := errors.New("a")
			var results [2]string
			for i, mk := range []func(context.Context) *gopool.Pool{
				gopool.NewPoolWithContext,
				func(ctx context.Context) *gopool.Pool { return gopool.NewPool().SubWithContext(ctx) },
			} {
				synctest.Test(t, func(t *testing.T) {
					errStop := errors.New("stop")
					ctx, cancel := context.WithCancelCause(context.Background())
					defer cancel(nil)
					p := mk(ctx)
					var ran atomic.Int64
					if cancelled == "before the batch" {
						cancel(errStop)
					}
					var cause error
					started := make(chan struct{})
					p.Go(failWith(errA), counted(&ran, nil))
					if cancelled == "during the batch" {
						p.Go(untilDone(started, &cause))
						<-started
						synctest.Wait() // the first two tasks have run
						cancel(errStop)
					}
					synctest.Wait()
					p.Go(counted(&ran, nil))
					err := p.Wait()
					again := p.Wait()
					if !errors.Is(err, errStop) || again != errStop {
						t.Errorf("Wait = %v, then %v; want both to wrap the ctx's cause %v", err, again, errStop)
					}
					results[i] = fmt.Sprintf("Wait: %v | again: %v | later tasks ran: %d", err, again, ran.Load())
				})
			}
			if results[0] != results[1] {
				t.Errorf("ctx cancelled %s:\n root: %s\n sub:  %s", cancelled, results[0], results[1])
			}
		}
	})

	t.Run("a sub-pool's context.Cause is whichever came first: its own ctx, then the parent's Close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errReq := errors.New("request cancelled")
			ctx, cancel := context.WithCancelCause(context.Background())
			root := gopool.NewPool()
			s := root.SubWithContext(ctx)
			var cause error
			started := make(chan struct{})
			s.Go(untilDone(started, &cause))
			<-started
			cancel(errReq)
			synctest.Wait()
			if err := root.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			if cause != errReq {
				t.Errorf("context.Cause = %v, want the sub-pool's ctx's cause %v", cause, errReq)
			}
			if err := s.Wait(); err != errReq {
				t.Errorf("Wait = %v, want %v without ErrClosed: the Close cut nothing short", err, errReq)
			}
		})
	})

	t.Run("a sub-pool's context.Cause is whichever came first: the parent's Close, then its own ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errReq := errors.New("request cancelled")
			ctx, cancel := context.WithCancelCause(context.Background())
			root := gopool.NewPool()
			s := root.SubWithContext(ctx)
			var cause error
			started, proceed := make(chan struct{}), make(chan struct{})
			s.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				close(started)
				<-a.Context.Done()
				cause = context.Cause(a.Context)
				<-proceed
				return a.Context.Err()
			}))
			<-started
			closed := make(chan error, 1)
			go func() { closed <- root.Close() }()
			synctest.Wait()
			cancel(errReq)
			synctest.Wait()
			close(proceed)
			<-closed
			if cause != gopool.ErrClosed {
				t.Errorf("context.Cause = %v, want ErrClosed", cause)
			}
			if err := s.Wait(); err != errReq {
				t.Errorf("Wait = %v, want %v: the ctx is done, and the Close cut nothing short", err, errReq)
			}
		})
	})

	t.Run("a sub-pool's context.Cause is whichever came first: the root's parent context, then its own ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errRoot, errReq := errors.New("root's parent"), errors.New("request")
			parent, cancelParent := context.WithCancelCause(context.Background())
			ctx, cancel := context.WithCancelCause(context.Background())
			s := gopool.NewPoolWithContext(parent).SubWithContext(ctx)
			var cause error
			started := make(chan struct{})
			s.Go(untilDone(started, &cause))
			<-started
			cancelParent(errRoot)
			synctest.Wait()
			cancel(errReq)
			err := s.Wait()
			if cause != errRoot {
				t.Errorf("context.Cause = %v, want %v", cause, errRoot)
			}
			if !errors.Is(err, errRoot) || !errors.Is(err, errReq) {
				t.Errorf("Wait = %v, want both done contexts' causes", err)
			}
		})
	})

	t.Run("a sub-pool's context.Cause is whichever came first, also when the two are cancelled back to back", func(t *testing.T) {
		errReq, errRoot := errors.New("request"), errors.New("root's parent")
		var causes []error
		for range 20 {
			parent, cancelParent := context.WithCancelCause(context.Background())
			ctx, cancel := context.WithCancelCause(context.Background())
			s := gopool.NewPoolWithContext(parent).SubWithContext(ctx)
			var cause error
			started := make(chan struct{})
			s.Go(untilDone(started, &cause))
			<-started
			cancel(errReq) // first
			cancelParent(errRoot)
			if err := s.Wait(); !errors.Is(err, errReq) || !errors.Is(err, errRoot) {
				t.Errorf("Wait = %v, want both causes", err)
			}
			if cause != errReq {
				causes = append(causes, cause)
			}
		}
		if len(causes) > 0 {
			t.Errorf("%d of 20 runs: the sub-pool's ctx was cancelled first (with %q), then the root's parent context (%q), "+
				"yet the task's context.Cause is %q. Reproduce: go test -run 'TestSub4LifetimeCascadesDown/.*back_to_back'",
				len(causes), errReq, errRoot, causes[0])
		}
	})

	t.Run("a sub-pool's tasks see the earliest deadline on its path, and its batch ends at it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			parent, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ctxLate, cancelLate := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancelLate()
			ctxEarly, cancelEarly := context.WithTimeout(context.Background(), time.Second)
			defer cancelEarly()
			root := gopool.NewPoolWithContext(parent)
			type result struct {
				deadline time.Time
				ok       bool
				cause    error
				ended    time.Time
				name     string
				want     time.Duration
				pool     *gopool.Pool
			}
			results := []*result{
				{name: "Sub()", pool: root.Sub(), want: 2 * time.Second},
				{name: "SubWithContext(a later deadline)", pool: root.SubWithContext(ctxLate), want: 2 * time.Second},
				{name: "SubWithContext(an earlier deadline)", pool: root.SubWithContext(ctxEarly), want: time.Second},
			}
			for _, r := range results {
				r.pool.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					r.deadline, r.ok = a.Context.Deadline()
					<-a.Context.Done()
					r.cause, r.ended = context.Cause(a.Context), time.Now()
					return a.Context.Err()
				}))
			}
			for _, r := range results {
				err := r.pool.Wait()
				if !r.ok || r.deadline.Sub(start) != r.want {
					t.Errorf("%s: Deadline = %v, %v; want %v after the start", r.name, r.deadline.Sub(start), r.ok, r.want)
				}
				if r.ended.Sub(start) != r.want || r.cause != context.DeadlineExceeded || err != context.DeadlineExceeded {
					t.Errorf("%s: batch ended after %v with cause %v, Wait = %v; want %v, DeadlineExceeded twice",
						r.name, r.ended.Sub(start), r.cause, err, r.want)
				}
			}
		})
	})

	t.Run("a sub-pool's tasks see its ctx's values", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, "request 7")
		var got any
		s := gopool.NewPool().SubWithContext(ctx)
		s.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			got = a.Context.Value(key{})
			return nil
		}))
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
		if got != "request 7" {
			t.Errorf("Value = %v, want the ctx's value", got)
		}
	})

	t.Run("SubWithContext panics on a nil context", func(t *testing.T) {
		expectGopoolPanic(t, "SubWithContext(nil)", func() {
			//lint:ignore SA1012 a nil context is what this test is about
			gopool.NewPool().SubWithContext(nil)
		})
	})
}

func TestSub5IsCheapAndLeavesNothingBehind(t *testing.T) {
	t.Run("creating a sub-pool costs at most one allocation", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx, cancelCtx := context.WithCancel(context.Background())
		defer cancelCtx()
		for _, c := range []struct {
			name string
			mk   func() *gopool.Pool
		}{
			{"Sub of a root", func() *gopool.Pool { return gopool.NewPool().Sub() }},
			{"Sub of a sub-pool", func() *gopool.Pool { return gopool.NewPool().Sub().Sub() }},
			{"SubWithContext", func() *gopool.Pool { return gopool.NewPool().SubWithContext(ctx) }},
			{"Sub of a root with a context", func() *gopool.Pool { return gopool.NewPoolWithContext(parent).Sub() }},
		} {
			p := c.mk()
			busy := make(chan struct{})
			p.Go(blocking(nil, busy, nil)) // the parent is busy: it still costs one
			var sink *gopool.Pool
			var avg float64
			switch c.name {
			case "SubWithContext":
				avg = testing.AllocsPerRun(1000, func() { sink = p.SubWithContext(ctx) })
			default:
				avg = testing.AllocsPerRun(1000, func() { sink = p.Sub() })
			}
			if avg > 1 {
				t.Errorf("%s: %v allocations per sub-pool, want at most 1", c.name, avg)
			}
			runtime.KeepAlive(sink)
			close(busy)
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("the parent keeps no reference to a sub-pool once its batch is waited for", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		root := gopool.NewPoolWithContext(parent).WithLimit(2)
		release := make(chan struct{})
		root.Go(blocking(nil, release, nil)) // the root's own batch stays in flight
		defer func() {
			close(release)
			if err := root.Wait(); err != nil {
				t.Error(err)
			}
		}()
		errX := errors.New("x")
		var kept []string
		for _, c := range []struct {
			name string
			use  func(s *gopool.Pool)
		}{
			{"a sub-pool whose tasks succeeded", func(s *gopool.Pool) {
				s.Go(succeed(), succeed())
				_ = s.Wait()
			}},
			{"a sub-pool whose tasks failed and looked at their context", func(s *gopool.Pool) {
				s.Go(gopool.NewTask(func(a gopool.Args[int]) error { return errors.Join(errX, a.Context.Err()) }))
				_ = s.Wait()
			}},
			{"a sub-pool whose Go blocked at the limit", func(s *gopool.Pool) {
				hold := make(chan struct{})
				s.Go(blocking(nil, hold, nil))
				returned := goAsync(s, succeed(), succeed())
				close(hold)
				<-returned
				_ = s.Wait()
			}},
			{"a sub-pool with a sub-pool of its own", func(s *gopool.Pool) {
				g := s.Sub()
				s.Go(succeed())
				g.Go(succeed())
				_ = errors.Join(g.Wait(), s.Wait())
			}},
			{"a sub-pool that was closed", func(s *gopool.Pool) {
				s.Go(succeed())
				_ = s.Close()
				s.Go(succeed())
				_ = s.Wait()
			}},
			{"a sub-pool with a context of its own, cancelled during its batch", func(s *gopool.Pool) {
				ctx, cancel := context.WithCancel(context.Background())
				g := s.SubWithContext(ctx)
				started := make(chan struct{})
				var cause error
				g.Go(untilDone(started, &cause))
				<-started
				cancel()
				_ = g.Wait()
			}},
		} {
			s := root.Sub()
			c.use(s)
			ws := weak.Make(s)
			s = nil
			if !collectedSoon(ws) {
				kept = append(kept, c.name)
			}
		}
		if len(kept) > 0 {
			t.Errorf("while the root has work in flight, these sub-pools stay reachable after their Wait: %s. "+
				"Diagnosis: tree.work (worker.go) keeps the entry of the last task it ran in its local cur while it waits, "+
				"idle, for the tree's next task; the entry holds the task (and what its closure captured) and its batch, "+
				"which holds the sub-pool. It is one per worker, so memory stays bounded, but the tree keeps the last "+
				"sub-pools and tasks alive as long as it is busy. Clearing cur after finishLocked makes this test pass. "+
				"Reproduce: go test -run 'TestSub5IsCheapAndLeavesNothingBehind/the_parent_keeps_no_reference'",
				strings.Join(kept, "; "))
		}
	})
}

// collectedSoon reports whether what wp points to is collected by the
// garbage collector within ten collections, letting goroutines that still
// hold it run in between.
func collectedSoon[T any](wp weak.Pointer[T]) bool {
	for range 10 {
		runtime.GC()
		if wp.Value() == nil {
			return true
		}
		runtime.Gosched()
	}
	return false
}

func TestSub6ConfigurationPanicsWhileTasksBelowAreUnfinished(t *testing.T) {
	configure := map[string]func(p *gopool.Pool){
		"WithLimit":    func(p *gopool.Pool) { p.WithLimit(2) },
		"WithRetry":    func(p *gopool.Pool) { p.WithRetry(2, 0) },
		"WithFailFast": func(p *gopool.Pool) { p.WithFailFast() },
	}
	methods := []string{"WithLimit", "WithRetry", "WithFailFast"}

	t.Run("configuring a sub-pool panics while it has tasks not yet waited for", func(t *testing.T) {
		s := gopool.NewPool().Sub()
		release := make(chan struct{})
		s.Go(blocking(nil, release, nil))
		for _, m := range methods {
			mustPanicGopool(t, m, func() { configure[m](s) })
		}
		close(release)
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
		for _, m := range methods {
			configure[m](s) // waited for: allowed
		}
	})

	// Each setup makes a tree below root, with tasks that hold until release
	// is closed, and returns the pool to configure and a cleanup that waits
	// for the tree.
	for _, c := range []struct {
		what  string
		setup func(root *gopool.Pool, release chan struct{}) (target *gopool.Pool, cleanup func())
	}{
		{"a sub-pool has a running task", func(root *gopool.Pool, release chan struct{}) (*gopool.Pool, func()) {
			s := root.Sub()
			s.Go(blocking(nil, release, nil))
			return root, func() { _ = s.Wait() }
		}},
		{"a grandchild has a running task", func(root *gopool.Pool, release chan struct{}) (*gopool.Pool, func()) {
			g := root.Sub().Sub()
			g.Go(blocking(nil, release, nil))
			return root, func() { _ = g.Wait() }
		}},
		{"a grandchild has a task blocked at its own limit", func(root *gopool.Pool, release chan struct{}) (*gopool.Pool, func()) {
			m := root.Sub()
			g := m.Sub().WithLimit(1)
			g.Go(blocking(nil, release, nil))
			returned := goAsync(g, succeed())
			return m, func() { <-returned; _ = g.Wait() }
		}},
		{"nothing below it runs, but a grandchild's Go is blocked at the root's limit", func(root *gopool.Pool, release chan struct{}) (*gopool.Pool, func()) {
			root.WithLimit(1)
			other := root.Sub()
			other.Go(blocking(nil, release, nil))
			m := root.Sub()
			g := m.Sub()
			returned := goAsync(g, succeed())
			return m, func() { <-returned; _ = errors.Join(other.Wait(), g.Wait()) }
		}},
	} {
		t.Run("configuring a pool panics while "+c.what, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				root := gopool.NewPool()
				release := make(chan struct{})
				target, cleanup := c.setup(root, release)
				synctest.Wait()
				for _, m := range methods {
					mustPanicGopool(t, m, func() { configure[m](target) })
				}
				close(release)
				cleanup()
				for _, m := range methods {
					configure[m](target) // every task below has finished: allowed
				}
			})
		})
	}

	t.Run("configuring a pool is allowed once every task below it has finished, even before its sub-pool's Wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool()
			s := root.Sub()
			s.Go(succeed())
			synctest.Wait() // the task has finished; s's batch is not waited for
			for _, m := range methods {
				configure[m](root)
			}
			if err := s.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("a new sub-pool may be configured at any time, also while its parent and siblings are busy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			release := make(chan struct{})
			root.Go(blocking(nil, release, nil))
			busy := root.Sub()
			returned := goAsync(busy, succeed()) // blocked at the root's limit
			synctest.Wait()
			fresh := root.Sub()
			for _, m := range methods {
				configure[m](fresh)
			}
			if hasClosed(returned) {
				t.Fatal("Go did not block at the root's limit")
			}
			close(release)
			<-returned
			if err := errors.Join(root.Wait(), busy.Wait()); err != nil {
				t.Fatal(err)
			}
			fresh.Go(succeed())
			if err := fresh.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// TestSub8InSynctestBubbleWithRootOutside runs a sub-pool inside a
// testing/synctest bubble whose root was made, and is used, outside it. The
// spec allows two outcomes: it works, or it panics with a gopool: message;
// gopool panics, in Sub, since a tree's workers and lock cannot be shared
// across the bubble's edge. A fault here may be a fatal error that ends the
// process, so each case runs in a child process.
func TestSub8InSynctestBubbleWithRootOutside(t *testing.T) {
	if c := os.Getenv("GOPOOL_SUB_BUBBLE"); c != "" {
		subBubbleHelper(t, c)
		return
	}
	for _, c := range []struct{ env, name string }{
		{"fresh", "the root is idle and has no worker"},
		{"busy", "the root has a task running outside the bubble"},
		{"idle-worker", "the root has a task running outside the bubble and an idle worker"},
	} {
		t.Run("Sub in a bubble on a root made outside it panics with a gopool: message when "+c.name, func(t *testing.T) {
			out, err := runHelperWithin(t, 30*time.Second, "TestSub8InSynctestBubbleWithRootOutside", "GOPOOL_SUB_BUBBLE="+c.env)
			if err == nil || !strings.Contains(out, "panic: gopool: Sub called across the edge of a testing/synctest bubble") {
				t.Errorf("want a panic with a gopool: message, got %v:\n%s\nReproduce: GOPOOL_SUB_BUBBLE=%s go test -run '^TestSub8InSynctestBubbleWithRootOutside$' -v",
					err, firstLines(out, 12), c.env)
			}
		})
	}
}

// runHelperWithin is runHelper for a child that may hang: a child that
// printed a fatal error, after which one may hang, is killed 100ms later,
// and any child once timeout has passed.
func runHelperWithin(t *testing.T, timeout time.Duration, name string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = helperEnv(env...)
	out := &fatalWatcher{fatal: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-out.fatal:
		grace := time.NewTimer(100 * time.Millisecond)
		defer grace.Stop()
		select {
		case err = <-exited:
		case <-grace.C:
			cancel()
			err = fmt.Errorf("hung after a fatal error, killed: %w", <-exited)
		}
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("killed after %v: %w", timeout, err)
	}
	return out.String(), err
}

// fatalWatcher collects a child's output and closes fatal once the output
// holds a fatal error.
type fatalWatcher struct {
	mu    sync.Mutex
	buf   strings.Builder
	fatal chan struct{}
	seen  bool
}

func (w *fatalWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), "fatal error:") {
		w.seen = true
		close(w.fatal)
	}
	return len(p), nil
}

func (w *fatalWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfterN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

func subBubbleHelper(t *testing.T, c string) {
	root := gopool.NewPool()
	hold := make(chan struct{})
	if c != "fresh" {
		started := make(chan struct{})
		root.Go(blocking(started, hold, nil)) // its worker stays busy outside the bubble
		<-started
	}
	if c == "idle-worker" {
		// A second worker runs a task of another sub-pool; once it is
		// waited for, that worker is idle, waiting for the root's work.
		s := root.Sub()
		s.Go(succeed())
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		s := root.Sub()
		ready := make(chan struct{}) // made in the bubble
		var ran atomic.Int64
		s.Go(gopool.NewTask(func(gopool.Args[int]) error {
			close(ready)
			time.Sleep(time.Millisecond) // the bubble's clock
			ran.Add(1)
			return nil
		}))
		<-ready
		if err := s.Wait(); err != nil {
			t.Errorf("Wait = %v", err)
		}
		if ran.Load() != 1 {
			t.Errorf("%d tasks ran, want 1", ran.Load())
		}
	})
	close(hold)
	if err := root.Wait(); err != nil {
		t.Fatal(err)
	}
}
