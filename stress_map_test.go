package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	gopool "github.com/rubengp99/go-pool"
)

const (
	stressMapCallers    = 8   // goroutines calling Map, one call after another
	stressMapCalls      = 500 // by each; stressMapCallsShort with -short, stressMapCallsRace under -race
	stressMapCallsShort = 15
	stressMapCallsRace  = 60
	stressMapMaxInputs  = 48
	stressMapGoers      = 4 // goroutines making sub-pools, handing them tasks with Go and waiting for them
)

// TestStressMap has many goroutines call Map at once on one shared root with
// WithLimit(2), directly or on sub-pools of it (fail-fast, with a retry
// policy, with a limit of 1 and a queue of their own), while other
// goroutines make sub-pools of the root, hand them tasks with Go (some also
// call Map on the sub-pool before its Wait) and wait for them; once with no
// queue at the root, once with WithQueue(3). Each Map's outputs and error
// must be its own: the value of each input whose try succeeded, the zero
// value for one that failed or was skipped, and exactly the failures of its
// own inputs; each Wait reports exactly its own tasks' failures. At most 2
// inputs and tasks run at once, at most 1 input of a Map on a pool with
// limit 1, the root's Stats account for every input and task once all have
// returned, and no goroutine is left. With -short, and under -race, it
// makes fewer calls.
func TestStressMap(t *testing.T) {
	calls := stressMapCalls
	switch {
	case testing.Short():
		calls = stressMapCallsShort
	case raceEnabled:
		calls = stressMapCallsRace
	}
	for _, queue := range []int{0, 3} {
		t.Run(fmt.Sprintf("limit2-queue%d", queue), func(t *testing.T) { stressMap(t, queue, calls) })
	}
}

// What an input of TestStressMap's Maps, or a task of its sub-pools, does.
const (
	smOK    = iota
	smFail  // returns its own *stressMapError
	smPanic // panics with its own stressMapPanic
	smFlaky // fails its first try, then succeeds (only under a retry policy)
	smLook  // returns an echo of its context if it is done, else succeeds
)

// stressMapError is the failure of input (or task) in of call (or round)
// call of goroutine g.
type stressMapError struct{ g, call, in int }

func (e *stressMapError) Error() string {
	return fmt.Sprintf("goroutine %d call %d input %d failed", e.g, e.call, e.in)
}

type stressMapPanic struct{ g, call, in int }

// stressMapLedger adds up what the inputs and tasks did, for the root's Stats.
type stressMapLedger struct {
	submitted, succeeded, failed, panicked, canceled, skipped, retries atomic.Uint64
}

func stressMap(t *testing.T, queue, calls int) {
	goroutines := runtime.NumGoroutine()
	const limit = 2
	root := gopool.NewPool().WithLimit(limit)
	if queue > 0 {
		root.WithQueue(queue)
	}
	var active, peak atomic.Int64
	enter := func() {
		k := active.Add(1)
		for p := peak.Load(); k > p && !peak.CompareAndSwap(p, k); p = peak.Load() {
		}
	}
	var ledger stressMapLedger
	var mu sync.Mutex
	var problems []string
	failf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}

	// run is an input's or a task's try: it counts at the root's limit, and
	// at the limit of 1 of its own pool if it has one.
	run := func(kind int, calls *atomic.Int32, own *atomic.Int32, ctx context.Context, id stressMapError) error {
		enter()
		defer active.Add(-1)
		if own != nil {
			if own.Add(1) > 1 {
				failf("goroutine %d call %d: two inputs of a Map on a pool with limit 1 ran at once", id.g, id.call)
			}
			defer own.Add(-1)
		}
		try := calls.Add(1)
		runtime.Gosched()
		switch kind {
		case smFail:
			return &id
		case smPanic:
			panic(stressMapPanic(id))
		case smFlaky:
			if try == 1 {
				return fmt.Errorf("transient: %w", &id)
			}
		case smLook:
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("stopping: %w", err)
			}
		}
		return nil
	}

	var wg sync.WaitGroup
	for g := range stressMapCallers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for call := range calls {
				stressMapCall(rng, root, g, call, run, &ledger, failf)
			}
		})
	}
	for g := stressMapCallers; g < stressMapCallers+stressMapGoers; g++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for round := range 2 * calls {
				stressMapGoRound(rng, root, g, round, run, &ledger, failf)
			}
		})
	}
	wg.Wait()
	if err := root.Wait(); err != nil {
		t.Errorf("the root's Wait = %v, want nil: its own batch had no tasks", err)
	}

	for _, p := range problems {
		t.Error(p)
	}
	if got := peak.Load(); got > limit {
		t.Errorf("peak of %d inputs and tasks running at once, the root's limit %d", got, limit)
	}
	want := gopool.Stats{
		Submitted: ledger.submitted.Load(),
		Succeeded: ledger.succeeded.Load(),
		Failed:    ledger.failed.Load(),
		Panicked:  ledger.panicked.Load(),
		Canceled:  ledger.canceled.Load(),
		Skipped:   ledger.skipped.Load(),
		Retries:   ledger.retries.Load(),
	}
	st := root.Stats()
	if st != want {
		t.Errorf("the root's Stats once every Map and Wait returned =\n\t%+v\nwant, from the ledger,\n\t%+v", st, want)
	}
	if st.Running != 0 || st.Pending != 0 || st.Submitted != uint64(st.Running+st.Pending)+st.Succeeded+st.Failed+st.Canceled+st.Skipped {
		t.Errorf("the root's Stats do not balance: %+v", st)
	}
	t.Logf("peak %d; %+v", peak.Load(), st)
	chaosVerifyNone(t, goroutines)
}

// stressMapCall makes one Map call of goroutine g, on the root or on a new
// sub-pool of it, and checks what it returned.
func stressMapCall(rng *rand.Rand, root *gopool.Pool, g, call int,
	run func(int, *atomic.Int32, *atomic.Int32, context.Context, stressMapError) error,
	ledger *stressMapLedger, failf func(string, ...any)) {
	p, failFast, retry, limited := root, false, false, false
	switch rng.IntN(6) {
	case 1:
		p = root.Sub()
	case 2:
		p, failFast = root.Sub().WithFailFast(), true
	case 3:
		p, retry = root.Sub().WithRetry(3, 0), true
	case 4:
		p, limited = root.Sub().WithLimit(1), true
	case 5:
		p, limited = root.Sub().WithLimit(1).WithQueue(2), true
	}
	n := rng.IntN(stressMapMaxInputs + 1)
	kinds := make([]int, n)
	for i := range kinds {
		switch x := rng.IntN(20); {
		case x < 2:
			kinds[i] = smFail
		case x < 3:
			kinds[i] = smPanic
		case x < 5 && retry:
			kinds[i] = smFlaky
		case x < 6:
			kinds[i] = smLook
		}
	}
	tries := make([]atomic.Int32, n)
	echoed := make([]atomic.Bool, n) // an smLook input's last try returned an echo
	var own *atomic.Int32
	if limited {
		own = new(atomic.Int32)
	}
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	value := func(i int) int { return (g*100_000+call)*100 + i + 1 }
	out, err := gopool.Map(p, in, func(ctx context.Context, i int) (int, error) {
		err := run(kinds[i], &tries[i], own, ctx, stressMapError{g, call, i})
		if kinds[i] == smLook {
			echoed[i].Store(err != nil)
		}
		return value(i), err
	})
	if len(out) != n {
		failf("goroutine %d call %d: %d outputs, want %d", g, call, len(out), n)
		return
	}

	// What each input did: a try that returned nil leaves its value; an
	// input that never ran was skipped, which only fail-fast does here.
	var want []any // the failures Map must report: *stressMapError and panic values
	failures := 0
	for i, k := range kinds {
		c := int(tries[i].Load())
		ledger.submitted.Add(1)
		wantOut := 0
		switch {
		case c == 0:
			ledger.skipped.Add(1)
			if !failFast {
				failf("goroutine %d call %d: input %d skipped, though nothing cancels the Map", g, call, i)
			}
		case k == smFail:
			ledger.failed.Add(1)
			want = append(want, stressMapError{g, call, i})
			failures++
		case k == smPanic:
			ledger.failed.Add(1)
			ledger.panicked.Add(1)
			want = append(want, stressMapPanic{g, call, i})
			failures++
		case echoed[i].Load():
			// Its context was done, which only fail-fast does here: an
			// echo of the cancellation, which is no failure.
			ledger.canceled.Add(1)
			if !failFast {
				failf("goroutine %d call %d: input %d saw its context done, though nothing cancels the Map", g, call, i)
			}
		default:
			ledger.succeeded.Add(1)
			wantOut = value(i)
		}
		if c > 1 {
			ledger.retries.Add(uint64(c - 1))
		}
		wantTries := 1
		switch {
		case k == smFail && retry:
			wantTries = 3
		case k == smFlaky:
			wantTries = 2
		}
		if c != 0 && c != wantTries {
			failf("goroutine %d call %d: input %d (kind %d) tried %d times, want %d", g, call, i, k, c, wantTries)
		}
		if out[i] != wantOut {
			failf("goroutine %d call %d: out[%d] = %d, want %d (kind %d, %d tries)", g, call, i, out[i], wantOut, k, c)
		}
	}
	if failFast && failures == 0 {
		for i := range kinds {
			if tries[i].Load() == 0 {
				failf("goroutine %d call %d: input %d skipped, though no input failed", g, call, i)
			}
		}
	}
	checkOwnFailures(fmt.Sprintf("goroutine %d call %d: Map", g, call), err, want, failf)
}

// stressMapGoRound makes a sub-pool of the root, hands it tasks with Go,
// maybe calls Map on it too, and waits for it.
func stressMapGoRound(rng *rand.Rand, root *gopool.Pool, g, round int,
	run func(int, *atomic.Int32, *atomic.Int32, context.Context, stressMapError) error,
	ledger *stressMapLedger, failf func(string, ...any)) {
	s := root.Sub()
	n := 1 + rng.IntN(4)
	kinds := make([]int, n)
	tries := make([]atomic.Int32, n)
	var want []any
	for j := range kinds {
		if rng.IntN(4) == 0 {
			kinds[j] = smFail
			want = append(want, stressMapError{g, round, j})
		}
		s.Go(gopool.NewTask(func(a gopool.Args[int]) error {
			return run(kinds[j], &tries[j], nil, a.Context, stressMapError{g, round, j})
		}))
	}
	if rng.IntN(3) == 0 {
		// A Map on s while s's own batch runs: its failures are its own.
		stressMapCall(rng, s, g, 1_000_000+round, run, ledger, failf)
	}
	err := s.Wait()
	for j, k := range kinds {
		ledger.submitted.Add(1)
		if c := tries[j].Load(); c != 1 {
			failf("goroutine %d round %d: task %d tried %d times, want 1", g, round, j, c)
		}
		if k == smFail {
			ledger.failed.Add(1)
		} else {
			ledger.succeeded.Add(1)
		}
	}
	checkOwnFailures(fmt.Sprintf("goroutine %d round %d: Wait", g, round), err, want, failf)
}

// checkOwnFailures checks that err joins exactly want, in any order: each a
// stressMapError, or the value of a *PanicError.
func checkOwnFailures(what string, err error, want []any, failf func(string, ...any)) {
	var got []any
	if err != nil {
		for _, x := range joinedErrors(err) {
			var se *stressMapError
			var pe *gopool.PanicError
			switch {
			case errors.As(x, &pe) && error(pe) == x:
				got = append(got, pe.Value)
			case errors.As(x, &se) && error(se) == x:
				got = append(got, *se)
			default:
				failf("%s reported %v, which is no failure of its own", what, x)
			}
		}
	}
	seen := map[any]int{}
	for _, x := range got {
		seen[x]++
	}
	for _, w := range want {
		if seen[w] != 1 {
			failf("%s reported failure %v %d times, want once (error: %v)", what, w, seen[w], err)
		}
		delete(seen, w)
	}
	for x := range seen {
		failf("%s reported %v, which is not one of its failures (error: %v)", what, x, err)
	}
}
