package gopool_test

import (
	"slices"
	"sync"
	"sync/atomic"
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
	t.Run("Send allocates nothing per value beyond the storage's growth", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		if avg := testing.AllocsPerRun(10000, func() { d.Send(1) }); avg != 0 {
			t.Errorf("Send allocated %v times per value, want 0 amortised", avg)
		}
	})

	t.Run("values keep their arrival order across many chunks of storage", func(t *testing.T) {
		const n = 100_000
		d := gopool.NewDrainer[int]()
		for i := range n {
			d.Send(i)
			if i == 1000 {
				// A copy taken on the way is a prefix of the whole.
				if got := d.Drain(); len(got) != 1001 || got[1000] != 1000 {
					t.Fatalf("Drain after 1001 Sends has %d values, ending %v", len(got), got[len(got)-1:])
				}
			}
		}
		if got := d.Count(); got != n {
			t.Fatalf("Count = %d, want %d", got, n)
		}
		got := d.Drain()
		if len(got) != n {
			t.Fatalf("drained %d values, want %d", len(got), n)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("Drain: values[%d] = %d: arrival order lost", i, v)
			}
		}
		i := 0
		for v := range d.All() {
			if v != i {
				t.Fatalf("All: value %d is %d: arrival order lost", i, v)
			}
			i++
		}
		if i != n {
			t.Fatalf("All yielded %d values, want %d", i, n)
		}
	})

	t.Run("large values, a few to a chunk, keep their arrival order", func(t *testing.T) {
		type big [512]int // 4 KiB: more than a chunk's worth of bytes
		d := gopool.NewDrainer[big]()
		for i := range 100 {
			d.Send(big{i, 511: -i})
		}
		got := d.Drain()
		if len(got) != 100 || d.Count() != 100 {
			t.Fatalf("drained %d values, Count %d, want 100", len(got), d.Count())
		}
		i := 0
		for v := range d.All() {
			if v[0] != i || v[511] != -i || got[i] != v {
				t.Fatalf("value %d is [%d ... %d]: arrival order lost", i, v[0], v[511])
			}
			i++
		}
	})

	t.Run("a drain of zero-size values counts them", func(t *testing.T) {
		var d gopool.Drain[struct{}]
		for range 1000 {
			d.Send(struct{}{})
		}
		if got, n := len(d.Drain()), d.Count(); got != 1000 || n != 1000 {
			t.Errorf("Drain holds %d values, Count = %d, want 1000 and 1000", got, n)
		}
		if got := len(slices.Collect(d.All())); got != 1000 {
			t.Errorf("All yielded %d values, want 1000", got)
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

// collectAsync ranges over d.All on a new goroutine, sending each value to
// the channel it returns (buffered for n values), which it closes when the
// iteration ends.
func collectAsync(d *gopool.Drain[int], n int) <-chan int {
	out := make(chan int, n)
	go func() {
		for v := range d.All() {
			out <- v
		}
		close(out)
	}()
	return out
}

// received returns the values waiting in c, and whether c is closed.
func received(c <-chan int) (vals []int, closed bool) {
	for {
		select {
		case v, ok := <-c:
			if !ok {
				return vals, true
			}
			vals = append(vals, v)
		default:
			return vals, false
		}
	}
}

func TestDrainAll(t *testing.T) {
	t.Run("All yields each value as soon as it is sent, while its task still runs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			step := make(chan struct{})
			p := gopool.NewPool().Go(gopool.NewTask(func(a gopool.Args[int]) error {
				a.Drainer.Send(1)
				<-step
				a.Drainer.Send(2)
				<-step
				return nil
			}).DrainTo(d))
			out := collectAsync(d, 2)
			synctest.Wait()
			if got, closed := received(out); !slices.Equal(got, []int{1}) || closed {
				t.Fatalf("after the first Send, All yielded %v (ended: %v), want [1] and still waiting", got, closed)
			}
			step <- struct{}{}
			synctest.Wait()
			if got, closed := received(out); !slices.Equal(got, []int{2}) || closed {
				t.Fatalf("after the second Send, All yielded %v more (ended: %v), want [2] and still waiting", got, closed)
			}
			step <- struct{}{}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if got, closed := received(out); len(got) != 0 || !closed {
				t.Fatalf("after the task finished, All yielded %v more (ended: %v), want nothing and ended", got, closed)
			}
		})
	})

	t.Run("an iteration waiting for a value ends when the last feeding task finishes without sending", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			r1, r2 := make(chan struct{}), make(chan struct{})
			p := gopool.NewPool().Go(sender(d, 1, r1), gopool.NewTask(func(a gopool.Args[int]) error {
				<-r2
				return nil
			}).DrainTo(d))
			out := collectAsync(d, 1)
			close(r1)
			synctest.Wait()
			if got, closed := received(out); !slices.Equal(got, []int{1}) || closed {
				t.Fatalf("All yielded %v (ended: %v), want [1] and still waiting for the second task", got, closed)
			}
			close(r2)
			synctest.Wait()
			if got, closed := received(out); len(got) != 0 || !closed {
				t.Fatalf("All yielded %v more (ended: %v) after the last feeding task finished, want nothing and ended", got, closed)
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("an iteration ends when the pool is closed and the feeding tasks left are skipped", func(t *testing.T) {
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
			go p.Go(sender(d, 2, nil)) // blocks behind the limit
			<-started
			out := collectAsync(d, 2)
			synctest.Wait()
			if got, closed := received(out); !slices.Equal(got, []int{1}) || closed {
				t.Fatalf("All yielded %v (ended: %v), want [1] and still waiting", got, closed)
			}
			_ = p.Close()
			synctest.Wait()
			if got, closed := received(out); len(got) != 0 || !closed {
				t.Fatalf("All yielded %v more (ended: %v) after Close, want nothing and ended", got, closed)
			}
			_ = p.Wait()
		})
	})

	t.Run("breaking out early leaves the tasks running, and a later Drain sees every value", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			step := make(chan struct{})
			var finished atomic.Bool
			p := gopool.NewPool().Go(gopool.NewTask(func(a gopool.Args[int]) error {
				a.Drainer.Send(1)
				<-step
				a.Drainer.Send(2)
				finished.Store(true)
				return nil
			}).DrainTo(d))
			var seen []int
			for v := range d.All() {
				seen = append(seen, v)
				break
			}
			synctest.Wait() // nothing the iteration started is left running
			if !slices.Equal(seen, []int{1}) || finished.Load() {
				t.Fatalf("saw %v before breaking, task finished: %v; want [1] and the task still running", seen, finished.Load())
			}
			close(step)
			if got := d.Drain(); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("Drain after the early break = %v, want [1 2]", got)
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("two iterations at once both see every value, in the same order", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			step := make(chan struct{})
			p := gopool.NewPool()
			for i := range 3 {
				p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					a.Drainer.Send(2 * i)
					<-step
					a.Drainer.Send(2*i + 1)
					return nil
				}).DrainTo(d))
			}
			a, b := collectAsync(d, 6), collectAsync(d, 6)
			synctest.Wait()
			close(step)
			var got [2][]int
			for i, c := range []<-chan int{a, b} {
				for v := range c {
					got[i] = append(got[i], v)
				}
			}
			want := d.Drain()
			if len(want) != 6 || !slices.Equal(got[0], want) || !slices.Equal(got[1], want) {
				t.Errorf("iterations saw %v and %v, want both to see Drain's %v", got[0], got[1], want)
			}
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("the zero Drain is ready to iterate", func(t *testing.T) {
		var d gopool.Drain[string]
		if got := slices.Collect(d.All()); got != nil {
			t.Errorf("All over the zero Drain yielded %v, want nothing", got)
		}
		d.Send("a")
		d.Send("b")
		if got := slices.Collect(d.All()); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("All = %v, want [a b]", got)
		}
	})

	t.Run("All over a drain no task feeds yields the values there and ends at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := gopool.NewDrainer[int]()
			if err := gopool.NewPool().Go(sender(d, 1, nil), sender(d, 2, nil)).Wait(); err != nil {
				t.Fatal(err)
			}
			d.Send(3)
			out := collectAsync(d, 3)
			synctest.Wait()
			got, closed := received(out)
			slices.Sort(got)
			if !slices.Equal(got, []int{1, 2, 3}) || !closed {
				t.Errorf("All yielded %v (ended: %v), want [1 2 3] and ended", got, closed)
			}
		})
	})

	t.Run("All ends after the feeding tasks finish, having yielded every value", func(t *testing.T) {
		const tasks, each = 50, 20
		d := gopool.NewDrainer[int]()
		pools := []*gopool.Pool{gopool.NewPool(), gopool.NewPool().WithLimit(3)}
		for i := range tasks {
			pools[i%2].Go(gopool.NewTask(func(a gopool.Args[int]) error {
				for j := range each {
					a.Drainer.Send(i*each + j)
				}
				return nil
			}).DrainTo(d))
		}
		got := slices.Collect(d.All())
		for _, p := range pools {
			if err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if want := d.Drain(); !slices.Equal(got, want) || len(got) != tasks*each {
			t.Fatalf("All yielded %d values, Drain has %d, want the same %d", len(got), len(want), tasks*each)
		}
		slices.Sort(got)
		for i, v := range got {
			if v != i {
				t.Fatalf("sorted values[%d] = %d: a value was lost or doubled", i, v)
			}
		}
	})

	t.Run("the loop body runs without the drain's lock: it may call Send, Count, Drain and All", func(t *testing.T) {
		d := gopool.NewDrainer[int]()
		d.Send(0)
		var seen []int
		for v := range d.All() {
			seen = append(seen, v)
			if n := d.Count(); n != v+1 || len(d.Drain()) != n || len(slices.Collect(d.All())) != n {
				t.Fatalf("at value %d: Count = %d, Drain and All disagree", v, n)
			}
			if v < 9 {
				d.Send(v + 1) // seen by this very iteration
			}
		}
		if !slices.Equal(seen, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("All yielded %v, want 0 to 9", seen)
		}
	})
}

// TestDrainAllRace runs many senders, feeding tasks and plain goroutines,
// against iterations started before, during and after them, and checks each
// against a model: the final Drain holds each value sent exactly once, each
// sender's in its order; a complete iteration yields exactly the final
// Drain's sequence; an iteration broken off early yields a prefix of it.
func TestDrainAllRace(t *testing.T) {
	const feeders, plain, each, iterators = 8, 4, 500, 6
	d := gopool.NewDrainer[int]()
	start := make(chan struct{})
	var seqs [iterators][]int
	var iterations sync.WaitGroup
	iterate := func(i int) {
		limit := -1 // odd iterations break off after a few values
		if i%2 == 1 {
			limit = 7 * i
		}
		for v := range d.All() {
			if len(seqs[i]) == limit {
				break
			}
			seqs[i] = append(seqs[i], v)
		}
	}
	feeder := func(f int) *gopool.Task[int] {
		return gopool.NewTask(func(a gopool.Args[int]) error {
			<-start
			for j := range each {
				a.Drainer.Send(f*each + j)
			}
			return nil
		}).DrainTo(d)
	}
	// Half the feeding tasks go to a pool without a limit; the others, to
	// a pool with a limit of 2, whose Go blocks, so a sender goroutine
	// hands them over once the values start arriving.
	unlimited, limited := gopool.NewPool(), gopool.NewPool().WithLimit(2)
	var senders sync.WaitGroup
	senders.Go(func() {
		<-start
		for f := 1; f < feeders; f += 2 {
			limited.Go(feeder(f))
		}
		if err := limited.Wait(); err != nil {
			t.Error(err)
		}
	})
	for s := range plain {
		senders.Go(func() {
			<-start
			for j := range each {
				d.Send((feeders+s)*each + j)
			}
		})
	}
	// A last feeding task waits for the other senders, so that every
	// complete iteration ends after the last value.
	for f := 0; f < feeders; f += 2 {
		unlimited.Go(feeder(f))
	}
	unlimited.Go(gopool.NewTask(func(gopool.Args[int]) error {
		senders.Wait()
		return nil
	}).DrainTo(d))
	for i := range iterators / 2 { // started before any value is sent
		iterations.Go(func() { iterate(i) })
	}
	close(start)
	for i := iterators / 2; i < iterators; i++ { // started while values arrive
		iterations.Go(func() { iterate(i) })
	}
	iterations.Wait()
	if err := unlimited.Wait(); err != nil {
		t.Fatal(err)
	}

	final := d.Drain()
	if len(final) != (feeders+plain)*each || d.Count() != len(final) {
		t.Fatalf("final Drain holds %d values (Count %d), want %d", len(final), d.Count(), (feeders+plain)*each)
	}
	next := make([]int, feeders+plain) // each sender's next expected value
	for _, v := range final {
		if s := v / each; next[s] != v%each {
			t.Fatalf("value %d out of its sender's order, or doubled", v)
		}
		next[v/each]++
	}
	for i, seq := range seqs {
		if i%2 == 0 && !slices.Equal(seq, final) {
			t.Errorf("iteration %d yielded %d values, not the final Drain's %d in its order", i, len(seq), len(final))
		}
		if i%2 == 1 && (len(seq) != 7*i || !slices.Equal(seq, final[:len(seq)])) {
			t.Errorf("iteration %d, broken off after %d values, yielded %v, not a prefix of the final Drain", i, 7*i, seq)
		}
	}
}
