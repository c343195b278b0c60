package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	gopool "github.com/rubengp99/go-pool"
)

// The tests of Pool.Stats, point 7 of issue 9's spec.

// balanced reports whether s satisfies the ledger that holds whenever its
// pools are quiescent.
func balanced(s gopool.Stats) bool {
	return s.Submitted == uint64(s.Running)+uint64(s.Pending)+s.Succeeded+s.Failed+s.Canceled+s.Skipped
}

// expectStats fails t unless got equals want, naming the pool.
func expectStats(t *testing.T, name string, got, want gopool.Stats) {
	t.Helper()
	if got != want {
		t.Errorf("%s: Stats =\n\t%+v\nwant\n\t%+v", name, got, want)
	}
	if got.Running == 0 && got.Pending == 0 && !balanced(got) {
		t.Errorf("%s: Stats %+v do not balance: Submitted != Running+Pending+Succeeded+Failed+Canceled+Skipped", name, got)
	}
}

// goexitTask calls runtime.Goexit.
func goexitTask() *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error {
		runtime.Goexit()
		return nil
	})
}

// panicTask panics with v.
func panicTask(v any) *gopool.Task[int] {
	return gopool.NewTask(func(gopool.Args[int]) error { panic(v) })
}

// flaky fails fails times, then succeeds, under its own WithRetry(tries, 0).
func flaky(fails int, tries uint) gopool.Worker {
	var calls atomic.Int64
	return gopool.NewTask(func(gopool.Args[int]) error {
		if calls.Add(1) <= int64(fails) {
			return errors.New("not yet")
		}
		return nil
	}).WithRetry(tries, 0)
}

func TestStats7CoverThePoolAndAllItsDescendants(t *testing.T) {
	t.Run("a pool's Stats count its own tasks and every pool's below it, none above or beside it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errX := errors.New("x")
			root := gopool.NewPool()
			a := root.Sub()
			g := a.SubWithContext(context.Background())
			b := root.Sub().WithFailFast()

			// root: two successes and a failure
			root.Go(succeed(), succeed(), failWith(errX))
			// a: a success after two retries, a panic
			a.Go(flaky(2, 3), panicTask("boom"))
			// g: a Goexit, an echo of the batch's cancellation by Close
			var cause error
			started := make(chan struct{})
			g.Go(goexitTask(), untilDone(started, &cause))
			<-started
			// b: a failure that skips the task blocked behind it
			hold := make(chan struct{})
			b.Go(blocking(nil, hold, errX))
			synctest.Wait()
			b.Go(failWith(errX))
			synctest.Wait() // b's batch is cancelled
			b.Go(succeed()) // skipped
			close(hold)
			_ = errors.Join(root.Wait(), a.Wait(), b.Wait())
			_ = g.Close() // cancels the echoing task; returns the Goexit failure

			expectStats(t, "grandchild", g.Stats(), gopool.Stats{Submitted: 2, Failed: 1, Canceled: 1})
			expectStats(t, "sub-pool a", a.Stats(), gopool.Stats{Submitted: 4, Succeeded: 1, Failed: 2, Panicked: 1, Canceled: 1, Retries: 2})
			expectStats(t, "sub-pool b", b.Stats(), gopool.Stats{Submitted: 3, Failed: 2, Skipped: 1})
			expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 10, Succeeded: 3, Failed: 5, Panicked: 1, Canceled: 1, Skipped: 1, Retries: 2})
		})
	})

	t.Run("Stats count since the pool was made: a new sub-pool starts at zero", func(t *testing.T) {
		root := gopool.NewPool()
		root.Go(succeed())
		old := root.Sub()
		old.Go(succeed())
		if err := errors.Join(root.Wait(), old.Wait()); err != nil {
			t.Fatal(err)
		}
		fresh := root.Sub()
		expectStats(t, "new sub-pool", fresh.Stats(), gopool.Stats{})
		fresh.Go(succeed())
		if err := fresh.Wait(); err != nil {
			t.Fatal(err)
		}
		expectStats(t, "new sub-pool", fresh.Stats(), gopool.Stats{Submitted: 1, Succeeded: 1})
		expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 3, Succeeded: 3})
		expectStats(t, "zero Pool", new(gopool.Pool).Stats(), gopool.Stats{})
	})

	t.Run("Stats count an error whose method panics while the pool judges it as Failed and Panicked", func(t *testing.T) {
		started := make(chan struct{})
		s := gopool.NewPool().Sub()
		s.Go(typedNilAfterCancel(started))
		<-started
		err := s.Close()
		var pe *gopool.PanicError
		if !errors.As(err, &pe) {
			t.Fatalf("Close = %v, want a *PanicError", err)
		}
		expectStats(t, "sub-pool", s.Stats(), gopool.Stats{Submitted: 1, Failed: 1, Panicked: 1})
	})

	t.Run("Stats count tasks skipped because a context on the path is done", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		root := gopool.NewPoolWithContext(parent)
		s := root.Sub()
		cancel()
		s.Go(succeed(), succeed())
		if err := s.Wait(); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
		expectStats(t, "sub-pool", s.Stats(), gopool.Stats{Submitted: 2, Skipped: 2})
		expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 2, Skipped: 2})
	})
}

func TestStats7AllocateNothingAndAreSafeAtAnyTime(t *testing.T) {
	t.Run("Stats allocates nothing, on a root or a sub-pool, idle or busy", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(1)
		s := root.Sub().Sub()
		var sink gopool.Stats
		for _, p := range []*gopool.Pool{root, s} {
			if avg := testing.AllocsPerRun(1000, func() { sink = p.Stats() }); avg != 0 {
				t.Errorf("idle: Stats allocated %v times per call, want 0", avg)
			}
		}
		release := make(chan struct{})
		s.Go(blocking(nil, release, nil))
		returned := goAsync(s, succeed())
		for _, p := range []*gopool.Pool{root, s} {
			if avg := testing.AllocsPerRun(1000, func() { sink = p.Stats() }); avg != 0 {
				t.Errorf("busy: Stats allocated %v times per call, want 0", avg)
			}
		}
		close(release)
		<-returned
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
		_ = sink
	})

	t.Run("Stats is safe to call from inside a task, which sees itself running", func(t *testing.T) {
		root := gopool.NewPool()
		s := root.Sub()
		var fromS, fromRoot gopool.Stats
		s.Go(gopool.NewTask(func(gopool.Args[int]) error {
			fromS, fromRoot = s.Stats(), root.Stats()
			return nil
		}))
		if err := s.Wait(); err != nil {
			t.Fatal(err)
		}
		want := gopool.Stats{Submitted: 1, Running: 1}
		if fromS != want || fromRoot != want {
			t.Errorf("inside the task: sub-pool Stats %+v, root Stats %+v; want %+v", fromS, fromRoot, want)
		}
	})

	t.Run("Stats is safe to call concurrently with Go, Wait and Close on every pool of the tree", func(t *testing.T) {
		root := gopool.NewPool().WithLimit(3)
		pools := []*gopool.Pool{root, root.Sub(), root.Sub().Sub(), root.Sub().WithLimit(1)}
		stop := make(chan struct{})
		var readers, producers sync.WaitGroup
		for _, p := range pools {
			readers.Go(func() {
				for !hasClosed(stop) {
					if s := p.Stats(); s.Panicked > s.Failed {
						t.Errorf("Panicked %d > Failed %d", s.Panicked, s.Failed)
						return
					}
					runtime.Gosched()
				}
			})
		}
		for i, p := range pools {
			producers.Go(func() {
				for j := range 50 {
					p.Go(succeed(), failWith(fmt.Errorf("%d.%d", i, j)))
					if j%10 == 9 {
						_ = p.Wait()
					}
				}
				_ = p.Wait()
			})
		}
		producers.Wait()
		_ = root.Close()
		close(stop)
		readers.Wait()
		s := root.Stats()
		expectStats(t, "root", s, gopool.Stats{Submitted: 400, Succeeded: 200, Failed: 200})
	})
}

// monotonic takes Stats of pools one at a time, in a total order, and
// records the first time a counter other than Running and Pending went down
// between two successive Stats of the same pool.
type monotonic struct {
	mu      sync.Mutex
	last    map[*gopool.Pool]gopool.Stats
	samples int
	broken  string
}

func newMonotonic() *monotonic { return &monotonic{last: map[*gopool.Pool]gopool.Stats{}} }

func (m *monotonic) sample(p *gopool.Pool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, last := p.Stats(), m.last[p]
	m.samples++
	if m.broken == "" && (s.Submitted < last.Submitted || s.Succeeded < last.Succeeded || s.Failed < last.Failed ||
		s.Panicked < last.Panicked || s.Canceled < last.Canceled || s.Skipped < last.Skipped || s.Retries < last.Retries) {
		m.broken = fmt.Sprintf("%+v, then %+v", last, s)
	}
	m.last[p] = s
}

func TestStats7CountersAreMonotonic(t *testing.T) {
	// Successive Stats of each pool, taken from producers, from a sampler
	// and from inside tasks while the tree runs a mix of tasks, never see a
	// counter other than Running and Pending go down.
	m := newMonotonic()
	root := gopool.NewPool().WithLimit(4)
	a, b := root.Sub().WithRetry(2, 0), root.Sub().WithFailFast()
	g := a.Sub()
	pools := []*gopool.Pool{root, a, b, g}
	stop := make(chan struct{})
	var sampler, producers sync.WaitGroup
	sampler.Go(func() {
		for !hasClosed(stop) {
			for _, p := range pools {
				m.sample(p)
			}
			runtime.Gosched()
		}
	})
	errX := errors.New("x")
	for _, p := range pools {
		sampling := gopool.NewTask(func(a gopool.Args[int]) error {
			m.sample(p)
			m.sample(root)
			return a.Context.Err()
		})
		producers.Go(func() {
			for j := range 40 {
				p.Go(succeed(), failWith(errX), panicTask(j), flaky(1, 2), goexitTask(), sampling)
				m.sample(p)
				if j%8 == 7 {
					_ = p.Wait()
				}
			}
			_ = p.Wait()
		})
	}
	producers.Wait()
	close(stop)
	sampler.Wait()
	if m.broken != "" {
		t.Errorf("a counter went down: %s", m.broken)
	}
	s := root.Stats()
	if s.Submitted != 4*40*6 || !balanced(s) || s.Running != 0 || s.Pending != 0 {
		t.Errorf("root Stats after every Wait = %+v: want 960 Submitted, balanced", s)
	}
	t.Logf("%d samples; root: %+v", m.samples, s)
}

func TestStats7LedgerBalancesWhenQuiescent(t *testing.T) {
	t.Run("when nothing runs and no Go is in progress, Submitted == Running + Pending + Succeeded + Failed + Canceled + Skipped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			errX := errors.New("x")
			root := gopool.NewPool().WithLimit(2)
			a := root.Sub().WithFailFast()
			b := root.Sub().WithRetry(3, 0)
			g := b.Sub()
			check := func(when string) {
				t.Helper()
				synctest.Wait()
				for i, p := range []*gopool.Pool{root, a, b, g} {
					if s := p.Stats(); s.Running != 0 || s.Pending != 0 || !balanced(s) {
						t.Errorf("%s: pool %d: Stats %+v, want nothing running or pending, and balanced", when, i, s)
					}
				}
			}
			check("before any task")
			root.Go(succeed(), failWith(errX))
			a.Go(failWith(errX), succeed(), succeed())
			b.Go(failWith(errX), flaky(2, 3))
			g.Go(goexitTask(), panicTask(1))
			check("every task has finished, before any Wait")
			_ = errors.Join(root.Wait(), a.Wait(), b.Wait(), g.Wait())
			check("after every Wait")
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			g.Go(succeed(), succeed())
			b.Go(succeed())
			check("after tasks handed to Go after a Close")
			_ = errors.Join(b.Wait(), g.Wait())
			check("after the Waits that report ErrClosed")
			if s := root.Stats(); s.Submitted != 12 || s.Skipped < 3 {
				t.Errorf("root Stats = %+v, want 12 Submitted, at least 3 Skipped", s)
			}
		})
	})

	t.Run("tasks handed to Go after Close count as Submitted and Skipped, on the pool and every pool above it", func(t *testing.T) {
		root := gopool.NewPool()
		s := root.Sub()
		g := s.Sub()
		if err := root.Close(); err != nil {
			t.Fatal(err)
		}
		g.Go(succeed(), succeed())
		s.Go(succeed())
		root.Go(succeed())
		expectStats(t, "grandchild", g.Stats(), gopool.Stats{Submitted: 2, Skipped: 2})
		expectStats(t, "sub-pool", s.Stats(), gopool.Stats{Submitted: 3, Skipped: 3})
		expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 4, Skipped: 4})
		for _, p := range []*gopool.Pool{root, s, g} {
			if err := p.Wait(); err != gopool.ErrClosed {
				t.Errorf("Wait = %v, want ErrClosed", err)
			}
		}
	})
}

func TestStats7PendingCountsTasksFromRegistration(t *testing.T) {
	t.Run("a task counts as Pending from the moment it is registered, also while its Go waits at a limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			s := root.Sub()
			g := s.Sub().WithLimit(1)
			release := make(chan struct{})
			root.Go(blocking(nil, release, nil))
			synctest.Wait()
			returned := goAsync(g, succeed(), succeed(), succeed())
			synctest.Wait()
			if hasClosed(returned) {
				t.Fatal("Go did not block at the limit")
			}
			expectStats(t, "grandchild, its Go blocked", g.Stats(), gopool.Stats{Submitted: 3, Pending: 3})
			expectStats(t, "sub-pool", s.Stats(), gopool.Stats{Submitted: 3, Pending: 3})
			expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 4, Running: 1, Pending: 3})
			close(release)
			<-returned
			if err := errors.Join(root.Wait(), g.Wait()); err != nil {
				t.Fatal(err)
			}
			expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 4, Succeeded: 4})
		})
	})

	t.Run("a task blocked at a limit and then skipped by Close moves from Pending to Skipped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			root := gopool.NewPool().WithLimit(1)
			s := root.Sub()
			var cause error
			started := make(chan struct{})
			root.Go(untilDone(started, &cause))
			<-started
			returned := goAsync(s, succeed(), succeed())
			synctest.Wait()
			expectStats(t, "sub-pool", s.Stats(), gopool.Stats{Submitted: 2, Pending: 2})
			if err := root.Close(); err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
			<-returned
			expectStats(t, "sub-pool", s.Stats(), gopool.Stats{Submitted: 2, Skipped: 2})
			expectStats(t, "root", root.Stats(), gopool.Stats{Submitted: 3, Canceled: 1, Skipped: 2})
			if err := s.Wait(); err != gopool.ErrClosed {
				t.Errorf("Wait = %v, want ErrClosed", err)
			}
		})
	})
}
