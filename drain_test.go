package gopool_test

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	gopool "github.com/rubengp99/go-pool"
)

// sender is a task that sends v to d, then waits for release (if not nil).
func sender(d *gopool.Drain[int], v int, release chan struct{}) *gopool.Task[int] {
	return gopool.NewTask(func(a gopool.Args[int]) error {
		a.Drainer.Send(v)
		if release != nil {
			<-release
		}
		return nil
	}).DrainTo(d)
}

// drainAsync runs d.Drain on a new goroutine and returns where its result
// arrives.
func drainAsync(d *gopool.Drain[int]) <-chan []int {
	out := make(chan []int, 1)
	go func() { out <- d.Drain() }()
	return out
}

func TestDrainSend(t *testing.T) {
	t.Run("Send allocates nothing per value beyond the slice's growth", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		if avg := testing.AllocsPerRun(10000, func() { d.Send(1) }); avg != 0 {
			t.Errorf("Send allocated %v times per value, want 0 amortised", avg)
		}
	})

	t.Run("Send is safe from many goroutines, and keeps every value", func(t *testing.T) {
		const senders, each = 32, 2000
		d := gopool.NewDrainer[int]()
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range each {
					d.Send(s*each + i)
				}
			})
		}
		wg.Wait()
		if got := d.Count(); got != senders*each {
			t.Fatalf("Count = %d, want %d", got, senders*each)
		}
		got := d.Drain()
		slices.Sort(got)
		for i, v := range got {
			if v != i {
				t.Fatalf("sorted values[%d] = %d: a value was lost or doubled", i, v)
			}
		}
	})

	t.Run("the values of a single sender keep their arrival order", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		const n = 5000
		tk := gopool.NewTask(func(a gopool.Args[int]) error {
			for i := range n {
				a.Drainer.Send(i)
			}
			return nil
		}).DrainTo(d)
		if err := gopool.NewPool().Go(tk).Wait(); err != nil {
			t.Fatal(err)
		}
		for i := n; i < 2*n; i++ {
			d.Send(i)
		}
		got := d.Drain()
		if len(got) != 2*n {
			t.Fatalf("drained %d values, want %d", len(got), 2*n)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("values[%d] = %d: arrival order lost", i, v)
			}
		}
	})

	t.Run("the zero Drain is ready to use", func(t *testing.T) {
		var d gopool.Drain[string]
		d.Send("a")
		d.Send("b")
		if got := d.Drain(); !slices.Equal(got, []string{"a", "b"}) || d.Count() != 2 {
			t.Errorf("Drain = %v, Count = %d, want [a b] and 2", got, d.Count())
		}
	})
}

func TestDrainWaits(t *testing.T) {
	t.Run("Drain on a drain nobody feeds returns at once, with a nil slice", func(t *testing.T) {
		if got := gopool.NewDrainer[int]().Drain(); got != nil {
			t.Errorf("Drain = %#v, want nil", got)
		}
	})

	t.Run("Drain waits for every registered feeding task", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			r1, r2 := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().Go(sender(d, 1, r1), sender(d, 2, r2))
			out := drainAsync(d)
			synctest.Wait()
			if len(out) != 0 {
				t.Fatal("Drain returned while two feeding tasks ran")
			}
			close(r1)
			synctest.Wait()
			if len(out) != 0 {
				t.Fatal("Drain returned while a feeding task ran")
			}
			close(r2)
			got := <-out
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2}) {
				t.Errorf("Drain = %v, want [1 2]", got)
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("Drain waits for a feeding task still blocked behind the limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			r1, r2 := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().WithLimit(1).Go(sender(d, 1, r1))
			go p.Go(sender(d, 2, r2))
			synctest.Wait() // the second Go has registered its task and blocks
			out := drainAsync(d)
			close(r1)
			synctest.Wait()
			if len(out) != 0 {
				t.Fatal("Drain returned before the task admitted after the limit finished")
			}
			close(r2)
			if got := <-out; !slices.Equal(got, []int{1, 2}) {
				t.Errorf("Drain = %v, want [1 2]", got)
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("Drain waits for feeding tasks in other pools", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			rA, rB := make(chan struct{}), make(chan struct{})
			pA := gopool.NewPool().Go(sender(d, 1, rA))
			pB := gopool.NewPool().WithLimit(1).Go(sender(d, 2, rB))
			out := drainAsync(d)
			close(rA)
			if err := pA.Wait(); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if len(out) != 0 {
				t.Fatal("Drain returned while a task of another pool still fed it")
			}
			close(rB)
			got := <-out
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2}) {
				t.Errorf("Drain = %v, want [1 2]", got)
			}
			if err := pB.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("Drain stops waiting for feeding tasks that are skipped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			started := make(chan struct{})
			p := gopool.NewPool().WithLimit(1)
			p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
				a.Drainer.Send(1)
				close(started)
				<-a.Context.Done()
				return nil
			}).DrainTo(d))
			go p.Go(sender(d, 2, nil), sender(d, 3, nil))
			<-started
			synctest.Wait()
			out := drainAsync(d)
			synctest.Wait()
			if len(out) != 0 {
				t.Fatal("Drain returned while feeding tasks were registered")
			}
			_ = p.Close() // skips the tasks of the blocked Go
			if got := <-out; !slices.Equal(got, []int{1}) {
				t.Errorf("Drain = %v, want [1]", got)
			}
			// Tasks handed to a closed pool never hold the drain either.
			p.Go(sender(d, 4, nil))
			out = drainAsync(d)
			synctest.Wait()
			if len(out) == 0 {
				t.Fatal("a task handed to Go after Close holds the drain")
			}
			if got := <-out; !slices.Equal(got, []int{1}) {
				t.Errorf("Drain = %v, want [1]", got)
			}
			_ = p.Wait()
		})
	})

	t.Run("Count never blocks, even while Drain waits for a feeding task", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			release := make(chan struct{})
			p := gopool.NewPool().Go(sender(d, 1, release))
			out := drainAsync(d)
			synctest.Wait()
			counted := make(chan int, 1)
			go func() { counted <- d.Count() }()
			synctest.Wait()
			select {
			case n := <-counted:
				if n != 1 {
					t.Errorf("Count = %d, want 1", n)
				}
			default:
				t.Error("Count blocked while a feeding task ran")
			}
			close(release)
			<-out
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestDrainResult(t *testing.T) {
	t.Run("Drain returns a copy the caller owns", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		for i := range 3 {
			d.Send(i)
		}
		got := d.Drain()
		got[0] = 99
		got = append(got, 100)
		if again := d.Drain(); !slices.Equal(again, []int{0, 1, 2}) {
			t.Errorf("after changing the result, Drain = %v, want [0 1 2]", again)
		}
		snapshot := d.Drain()
		for i := 3; i < 20; i++ {
			d.Send(i)
		}
		if !slices.Equal(snapshot, []int{0, 1, 2}) {
			t.Errorf("later Sends changed an earlier result to %v", snapshot)
		}
		if !slices.Equal(got, []int{99, 1, 2, 100}) {
			t.Errorf("the caller's slice changed to %v", got)
		}
		if n := d.Count(); n != 20 {
			t.Errorf("Count = %d, want 20", n)
		}
	})

	t.Run("values stay in the drain: a later Drain returns them again, then newer ones", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		if err := gopool.NewPool().Go(sender(d, 1, nil)).Wait(); err != nil {
			t.Fatal(err)
		}
		first := d.Drain()
		if err := gopool.NewPool().Go(sender(d, 2, nil)).Wait(); err != nil {
			t.Fatal(err)
		}
		if second := d.Drain(); !slices.Equal(first, []int{1}) || !slices.Equal(second, []int{1, 2}) {
			t.Errorf("Drains = %v then %v, want [1] then [1 2]", first, second)
		}
	})

	t.Run("100,000 tasks that each Send once leave exactly those 100,000 values", func(t *testing.T) {
		const n = 100_000
		for _, limit := range []int{0, 8} {
			d := gopool.NewDrainer[int]()
			inputs := make([]int, n)
			tasks := make([]gopool.Worker, n)
			for i := range n {
				inputs[i] = i
				tasks[i] = gopool.NewTask(func(a gopool.Args[int]) error {
					a.Drainer.Send(*a.Input)
					return nil
				}).WithInput(&inputs[i]).DrainTo(d)
			}
			p := gopool.NewPool().WithLimit(limit)
			var wg sync.WaitGroup
			const producers = 4
			for s := range producers {
				wg.Go(func() { p.Go(tasks[s*n/producers : (s+1)*n/producers]...) })
			}
			_ = d.Drain() // may run before, during or after the Go calls
			wg.Wait()
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			got := d.Drain()
			if len(got) != n || d.Count() != n {
				t.Fatalf("WithLimit(%d): drained %d values, Count %d, want %d", limit, len(got), d.Count(), n)
			}
			seen := make([]bool, n)
			for _, v := range got {
				if v < 0 || v >= n || seen[v] {
					t.Fatalf("WithLimit(%d): value %d out of range or doubled", limit, v)
				}
				seen[v] = true
			}
		}
	})
}
