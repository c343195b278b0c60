package gopool_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// Map in TestChaos's trees. Some units of a tree have Map callers: goroutines
// of their own that call gopool.Map on the unit's pool, one call after
// another, while the unit's producers hand tasks to Go, TryGo and GoContext.
// Each input of a Map is a chaosTask, run by fn through the unit's body, so
// that it keeps the same ledger as a task: it counts at every limit on the
// path, triggers the shape's Close or cancellation, samples Stats, and
// succeeds, fails, panics, calls Goexit, blocks until its batch is
// cancelled, echoes the cancellation, is retried under the pool's policy or
// times out by the pool's timeout, as its kind says. Once the tree is done,
// each Map call is checked as a batch of its own, with the checks of a
// unit's batch, and its outputs besides; what its inputs did adds to the
// Stats the unit's pool and those above must report.

// chaosMaps is what a unit knows of its Map calls.
type chaosMaps struct {
	callers  [][]*chaosMapCall // each list is called in turn by one goroutine
	ownCtx   bool              // the unit's pool has a context of its own
	ctxValue any               // that context's value for chaosValueKey{}, if any
	expected gopool.Stats      // what the inputs of the unit's Map calls add to its Stats
}

// chaosMapPanic is the value a kPanicVal input panics with: comparable, and
// unique across the tree, so that a panic reported by another Map call is
// not taken for one of this call's.
type chaosMapPanic struct{ call, in int }

// chaosMapIn is an input of a Map[chaosMapIn, string] call.
type chaosMapIn struct {
	i int
	c *chaosTask
}

// chaosMapCall is one Map call of a unit: its inputs, and what Map did.
type chaosMapCall struct {
	id       int
	u        *chaosRun
	inputs   []*chaosTask
	strs     bool // Map[chaosMapIn, string]; else Map[int, int]
	clean    bool // no input fails
	goexits  bool // inputs may call Goexit; none then returns a typed-nil error
	blockers int
	inTask   bool // called by a task or by an input of another call, on a worker or that call's caller

	callerGID uint64        // the goroutine that calls Map
	onCaller  []atomic.Bool // a kGoexit input, or one that calls Map, ran on the caller's goroutine

	// Per goroutine that ran inputs of the call: the last input that
	// started on it, and one after which its context was seen done (+1).
	mu             sync.Mutex
	lastOn, stopOn map[uint64]int

	// What happened, set by the calling goroutine.
	called, returned      bool
	outInts               []int
	outStrs               []string
	err                   error
	lateStart             bool         // began after the root's Close returned
	doneBefore, doneAfter bool         // a context on the path was done before the call, and after it returned
	closed, stopped       bool         // at its return: Close was called, or the unit was stopped
	deadlineNow           bool         // in a bubble, a deadline on the path fell on the instant Map returned
	expected              gopool.Stats // what its inputs add to Stats
	summary               string
}

func (mc *chaosMapCall) failf(format string, args ...any) {
	mc.u.failf("map %d: "+format, append([]any{mc.id}, args...)...)
}

// generateMaps draws u's Map calls: half the units have one or two
// callers, each making one or two calls of up to ten inputs, and in a unit
// with no limit on its path a task may call Map.
func (tr *chaosTree) generateMaps(u *chaosRun, shapeName string) {
	h := fnv.New64a()
	h.Write([]byte(shapeName + "/" + u.name + "/maps"))
	rng := rand.New(rand.NewPCG(u.seed, h.Sum64()))
	// With no limit on the path, a task may call Map on its own pool, as
	// it may call Go: some kOK tasks do, before they return.
	if u.pathUnlimited() {
		nested := 0
		for _, c := range u.tasks {
			if c.kind == kOK && nested < 1 && rng.IntN(4) == 0 {
				// A Goexit on the task's goroutine would end the
				// task with a failure, which a clean unit has none of.
				c.nested = tr.newMapCall(u, rng, !u.clean, 1)
				c.nested.inTask = true
				nested++
			}
		}
	}
	if rng.IntN(2) == 0 {
		return
	}
	u.maps.callers = make([][]*chaosMapCall, 1+rng.IntN(2))
	for k := range u.maps.callers {
		for range 1 + rng.IntN(2) {
			u.maps.callers[k] = append(u.maps.callers[k], tr.newMapCall(u, rng, true, 0))
		}
	}
}

// newMapCall draws a Map call of u, and its inputs. With no limit on the
// path, some kOK inputs of a call made by no task nor input call Map on u's
// pool in turn; a Goexit in one of those, on its caller's goroutine, ends
// that input of the outer call, which may then end its caller too.
func (tr *chaosTree) newMapCall(u *chaosRun, rng *rand.Rand, mayGoexit bool, depth int) *chaosMapCall {
	mc := &chaosMapCall{id: len(tr.maps), u: u, strs: rng.IntN(2) == 0}
	tr.maps = append(tr.maps, mc)
	mc.clean = rng.IntN(5) == 0
	mc.goexits = !mc.clean && rng.IntN(3) == 0 && mayGoexit
	n := rng.IntN(11)
	if rng.IntN(8) == 0 {
		n = rng.IntN(2) // none, or one
	}
	kinds := make([]taskKind, 0, n+1)
	for range n {
		kinds = append(kinds, mc.pickKind(rng))
	}
	// Under fail-fast a blocker waits for a failure of its own Map.
	if u.shape.failFast && mc.blockers > 0 {
		kinds = append(kinds, kFail)
		rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	}
	for i, k := range kinds {
		c := mc.newInput(rng, i, k)
		mc.inputs = append(mc.inputs, c)
		if k == kOK && depth == 0 && u.pathUnlimited() && rng.IntN(8) == 0 {
			// It may end with Goexit only if this call may: only then
			// has this one no typed-nil errors, and its Stats can be
			// told from its ledger if it does not return.
			c.nested = tr.newMapCall(u, rng, mc.goexits, 1)
			c.nested.inTask = true
		}
	}
	mc.onCaller = make([]atomic.Bool, len(mc.inputs))
	mc.lastOn, mc.stopOn = map[uint64]int{}, map[uint64]int{}
	return mc
}

// mayBlock reports whether a new input may be a blocker, as a unit's
// mayBlock does for a task: only where something is bound to cancel the
// Map's batch, and under a limit only while a slot stays free at every
// limit on the path, the blockers of the unit's tasks and of every Map
// counted. A blocker would time out under the pool's timeout.
func (mc *chaosMapCall) mayBlock() bool {
	return mc.u.poolTimeout == 0 && mc.u.mayBlockIfClean(mc.clean)
}

// pickKind draws an input's kind: those of a task that fn can act out, a
// Map having no task of its own to give a retry policy, a timeout, a drain
// or children.
func (mc *chaosMapCall) pickKind(rng *rand.Rand) taskKind {
	u := mc.u
	choices := []weighted{{kOK, 4}, {kEcho, 1}}
	if !mc.clean {
		choices = append(choices, weighted{kFail, 2}, weighted{kPanicErr, 1}, weighted{kPanicVal, 1},
			weighted{kRetry, 2}, weighted{kJoinFail, 1})
		choices = append(choices, weighted{kPermanent, 1}, weighted{kRetryAfter, 2})
		if mc.goexits {
			choices = append(choices, weighted{kGoexit, 1})
		} else {
			choices = append(choices, weighted{kNilErr, 1})
		}
		if u.poolTimeout > 0 {
			choices = append(choices, weighted{kTimeout, 2}) // without the pool's timeout, it would wait forever
		}
	}
	if u.synctest {
		choices = append(choices, weighted{kSleep, 3})
	}
	if mc.mayBlock() {
		choices = append(choices, weighted{kBlock, 2})
	}
	k := pickKind(rng, choices)
	if k == kBlock {
		mc.blockers++
		for _, n := range u.path {
			n.blockers++
		}
	}
	return k
}

func (mc *chaosMapCall) newInput(rng *rand.Rand, i int, k taskKind) *chaosTask {
	u := mc.u
	c := &chaosTask{id: 100_000 + mc.id*100 + i, kind: k, drain: -1, top: true}
	c.failErr = fmt.Errorf("chaos map %d input %d (%v) failed", mc.id, i, k)
	c.panicVal = chaosMapPanic{mc.id, i}
	c.lookCtx = rng.IntN(3) == 0
	if rng.IntN(2) == 0 {
		c.yields = rng.IntN(64) // fewer than a task's: Map's tasks overlap with the caller's
	}
	shortWait := func() time.Duration {
		if !u.synctest {
			return 0
		}
		return time.Duration(rng.IntN(4)) * time.Millisecond
	}
	switch k {
	case kBlock:
		c.blockRet = rng.IntN(2)
		if !mc.clean && rng.IntN(3) == 0 {
			c.blockRet = blockJoinedFail
		}
		if u.synctest {
			c.sleep = time.Duration(rng.IntN(25)) * time.Millisecond
		}
	case kSleep:
		c.sleep = time.Duration(rng.IntN(25)) * time.Millisecond
	case kRetry:
		c.fails = 1 + rng.IntN(3)
	case kRetryAfter:
		c.fails = 1 + rng.IntN(3)
		c.raRet = rng.IntN(2)
		c.after = shortWait()
	case kTimeout:
		c.tmoRet = rng.IntN(4)
		if c.tmoRet == tmoRetryAfter {
			c.after = shortWait()
		}
	}
	c.timeout = u.poolTimeout
	return c
}

// value is what fn returns for input i, on success and on failure alike:
// Map must keep it only on success.
func (mc *chaosMapCall) value(i int) int { return mc.id*1000 + i + 1 }

func (mc *chaosMapCall) str(i int) string {
	return "map " + strconv.Itoa(mc.id) + " input " + strconv.Itoa(i)
}

// launchMaps starts u's Map callers, which wait for start. Each call runs on
// a goroutine of its own, which Goexit in an input run by the caller ends.
func (u *chaosRun) launchMaps(start chan struct{}, mappers *sync.WaitGroup) {
	for _, list := range u.maps.callers {
		mappers.Go(func() {
			<-start
			for _, mc := range list {
				done := make(chan struct{})
				go func() {
					defer close(done)
					mc.call()
				}()
				<-done
			}
		})
	}
}

func anyDone(ctxs []context.Context) bool {
	for _, ctx := range ctxs {
		if ctx.Err() != nil {
			return true
		}
	}
	return false
}

// call makes the Map call, and records what it returned and what was known
// around it.
func (mc *chaosMapCall) call() {
	u := mc.u
	mc.callerGID = goroutineID()
	mc.called = true
	n := int64(len(mc.inputs))
	for _, nd := range u.path {
		nd.mapStarted.Add(n)
	}
	mc.lateStart = u.closeDone.Load()
	mc.doneBefore = anyDone(u.ctxs)
	if mc.strs {
		in := make([]chaosMapIn, len(mc.inputs))
		for i, c := range mc.inputs {
			in[i] = chaosMapIn{i, c}
		}
		mc.outStrs, mc.err = gopool.Map(u.pool, in, func(ctx context.Context, in chaosMapIn) (string, error) {
			return mc.str(in.i), mc.run(ctx, in.i)
		})
	} else {
		in := make([]int, len(mc.inputs))
		for i := range in {
			in[i] = i
		}
		mc.outInts, mc.err = gopool.Map(u.pool, in, func(ctx context.Context, i int) (int, error) {
			return mc.value(i), mc.run(ctx, i)
		})
	}
	mc.returned = true
	mc.doneAfter = anyDone(u.ctxs)
	mc.closed, mc.stopped = u.closing.Load(), u.stopped.Load()
	if u.synctest {
		for _, ctx := range u.ctxs {
			if d, ok := ctx.Deadline(); ok && d.Equal(time.Now()) {
				mc.deadlineNow = true
			}
		}
	}
	for _, nd := range u.path {
		nd.mapFinished.Add(n)
	}
	u.mono.sample(u.pool)
}

// run is input i's try, on whichever goroutine Map runs it.
func (mc *chaosMapCall) run(ctx context.Context, i int) error {
	c := mc.inputs[i]
	if ctx == nil {
		mc.failf("input %d: nil context", i)
		ctx = context.Background()
	}
	g := goroutineID()
	if (c.kind == kGoexit || c.nested != nil) && g == mc.callerGID {
		mc.onCaller[i].Store(true)
	}
	if c.calls.Load() == 0 {
		mc.starting(g, i)
	}
	if want := mc.u.ctxValueNearest(); c.lookCtx && want != nil {
		if got := ctx.Value(chaosValueKey{}); got != want {
			mc.failf("input %d: its context's value %v, want %v, the value of the context of the nearest pool on the path that has one", i, got, want)
		}
	}
	if c.lookCtx {
		// Done by the batch's cancellation, not by the try's timeout:
		// whatever the outcome, the task that ran this input claims no
		// other once it is back.
		defer func() {
			if ctx.Err() != nil && context.Cause(ctx) != gopool.ErrTimeout {
				mc.mu.Lock()
				mc.stopOn[g] = i + 1
				mc.mu.Unlock()
			}
		}()
	}
	return mc.u.body(c, ctx, -1, nil)
}

// starting checks, as input i's first try starts on goroutine g, that no
// input of the call before it on g ended once the call's batch was
// cancelled: then (see mapRun.next) the task running them must have stopped,
// and the inputs it had not claimed be skipped. A batch is cancelled when
// its context is seen done, and under fail-fast by a failure.
func (mc *chaosMapCall) starting(g uint64, i int) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if k := mc.stopOn[g]; k > 0 {
		mc.failf("input %d started on a goroutine where input %d had returned with its context done by the batch's cancellation", i, k-1)
	}
	if k, ok := mc.lastOn[g]; ok && mc.u.shape.failFast {
		if o := mapOutcome(mc.inputs[k]); o == mapFailed || o == mapPanicked {
			mc.failf("input %d started on the goroutine where input %d had just failed, under fail-fast", i, k)
		}
	}
	mc.lastOn[g] = i
}

// How an input ended, by its ledger.
const (
	mapSkipped = iota
	mapSucceeded
	mapCanceled // returned an echo of the batch's cancellation
	mapFailed
	mapPanicked // failed, with a panic
)

// mapOutcome is how c ended, by what it did: a typed-nil error counts as
// a failure, which it is whether reported as itself or as a panic.
func mapOutcome(c *chaosTask) int {
	calls := c.calls.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.last
	var lt chaosTry
	if len(c.tries) > 0 {
		lt = c.tries[len(c.tries)-1]
	}
	switch {
	case calls == 0:
		return mapSkipped
	case last.how == outPanicked:
		return mapPanicked
	case last.how == outGoexit:
		return mapFailed
	case last.err == nil:
		return mapSucceeded
	case c.kind == kEcho, c.kind == kBlock && c.blockRet != blockJoinedFail,
		c.kind == kTimeout && !lt.timedOut && (c.tmoRet == tmoWrap || c.tmoRet == tmoRetryAfter):
		return mapCanceled
	}
	return mapFailed
}

// ctxValueNearest is the value for chaosValueKey{} of the context of the
// nearest pool on u's path that has one, which the contexts of the batches
// below derive from; nil if it has none.
func (u *chaosRun) ctxValueNearest() any {
	for a := u; a != nil; a = a.parent {
		if a.maps.ownCtx {
			return a.maps.ctxValue
		}
	}
	return nil
}

// goroutineID returns the id of the calling goroutine, from its stack
// trace's header: only to tell whether fn runs on Map's caller.
func goroutineID() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	id, err := strconv.ParseUint(s[:strings.IndexByte(s, ' ')], 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// checkMaps checks every Map call once the tree is done. A call that did
// not return (an input called Goexit on its caller's goroutine) may still
// have inputs running on the pool's workers, which no Wait waits for: they
// are let finish first. In a bubble, once the root's deadline has cancelled
// every batch of the tree, the root's Close waits for them, and changes
// nothing else: a batch already cancelled is not closed again.
func (tr *chaosTree) checkMaps(inBubble bool, rootCtx context.Context) {
	orphans := false
	for _, mc := range tr.maps {
		orphans = orphans || mc.called && !mc.returned
	}
	if orphans {
		if inBubble {
			<-rootCtx.Done()
			if err := tr.root.Close(); err != context.DeadlineExceeded {
				tr.units[0].failf("the root's Close once the tree is done = %v, want only its context's cause %v", err, context.DeadlineExceeded)
			}
		} else {
			// Nothing to wait on: the inputs left are reported by the
			// tasks that run them, without any Wait. Let them run.
			for i := 0; i < 1_000_000; i++ {
				if st := tr.root.Stats(); st.Running == 0 && st.Pending == 0 {
					break
				}
				runtime.Gosched()
			}
		}
	}
	for _, mc := range tr.maps {
		mc.check()
		mc.u.maps.expected = addStats(mc.u.maps.expected, mc.expected)
		mc.u.summary += fmt.Sprintf("; map %d: %s", mc.id, mc.summary)
	}
}

func (mc *chaosMapCall) check() {
	u := mc.u
	n := len(mc.inputs)
	if !mc.called {
		// Nested in a task that never ran.
		for i, c := range mc.inputs {
			if c.calls.Load() > 0 {
				mc.failf("input %d ran, though Map was never called", i)
			}
		}
		mc.summary = "never called"
		return
	}
	// The inputs that ended with Goexit on the caller's goroutine.
	var onCaller []int
	for i, c := range mc.inputs {
		c.mu.Lock()
		goexit := c.last.how == outGoexit
		c.mu.Unlock()
		if mc.onCaller[i].Load() && goexit {
			onCaller = append(onCaller, i)
		}
	}
	if !mc.returned {
		if len(onCaller) != 1 {
			mc.failf("Map did not return, and %d inputs called Goexit on its caller's goroutine (%v), want 1", len(onCaller), onCaller)
		}
		mc.expected = mc.ledgerStats()
		mc.summary = fmt.Sprintf("%d inputs, ended by Goexit on its caller: %+v", n, mc.expected)
		if mc.inTask {
			mc.summary += " (in a task)"
		}
		return
	}
	if len(onCaller) > 0 {
		mc.failf("Map returned, though inputs %v called Goexit on its caller's goroutine", onCaller)
	}
	var outLen int
	var isNil bool
	if mc.strs {
		outLen, isNil = len(mc.outStrs), mc.outStrs == nil
	} else {
		outLen, isNil = len(mc.outInts), mc.outInts == nil
	}
	if outLen != n || isNil {
		mc.failf("Map returned %d outputs (nil: %v), want %d", outLen, isNil, n)
		return
	}
	if n == 0 {
		if mc.err != nil {
			mc.failf("Map of no inputs = %v, want nil", mc.err)
		}
		mc.summary = "no inputs"
		return
	}
	// Each output is fn's value exactly for the inputs whose last try
	// returned nil; else Out's zero value.
	for i, c := range mc.inputs {
		c.mu.Lock()
		ok := c.calls.Load() > 0 && c.last.how == outReturned && c.last.err == nil
		c.mu.Unlock()
		if mc.strs {
			want := ""
			if ok {
				want = mc.str(i)
			}
			if got := mc.outStrs[i]; got != want {
				mc.failf("out[%d] = %q, want %q (input %v, %d tries)", i, got, want, c.kind, c.calls.Load())
			}
		} else {
			want := 0
			if ok {
				want = mc.value(i)
			}
			if got := mc.outInts[i]; got != want {
				mc.failf("out[%d] = %d, want %d (input %v, %d tries)", i, got, want, c.kind, c.calls.Load())
			}
		}
	}

	// The error, as a batch's: the failures of this call's inputs only,
	// each once; ErrClosed exactly when Close skipped an input or the call
	// came after Close; the cause of a done context on the path exactly
	// when one was done as Map's Wait returned.
	v := &chaosRun{
		shape:       chaosShape{name: fmt.Sprintf("%s/map%d", u.shape.name, mc.id), failFast: u.shape.failFast, stop: u.shape.stop},
		seed:        u.seed,
		synctest:    u.synctest,
		tree:        u.tree,
		path:        u.path,
		mono:        u.mono,
		pool:        u.pool,
		poolRetry:   u.poolRetry,
		retrySleep:  u.retrySleep,
		poolTimeout: u.poolTimeout,
		parentCause: u.parentCause,
		ctxs:        u.ctxs,
		clean:       mc.clean,
		blockers:    mc.blockers,
		tasks:       mc.inputs,
	}
	v.late.Store(mc.lateStart)
	f := &chaosFacts{
		errs:        []error{mc.err},
		mainErr:     mc.err,
		parentCause: u.parentCause,
		parentDone:  mc.doneAfter,
		// A context on the path done while Map ran may have been done
		// before its Wait looked, or after.
		parentAtReturn: mc.doneBefore != mc.doneAfter || mc.deadlineNow,
		stopped:        mc.stopped || mc.doneAfter,
		closed:         mc.closed,
	}
	v.check(f)
	for _, p := range v.problems {
		mc.failf("%s", p)
	}
	// A blocker that saw the context's cause saw it done before Map's Wait
	// returned, which must then report it.
	if pc := u.parentCause; pc != nil && !slices.Contains(leaves(mc.err), pc) {
		for _, c := range mc.inputs {
			c.mu.Lock()
			cause := c.cause
			c.mu.Unlock()
			if c.kind == kBlock && cause == pc {
				mc.failf("input %d saw its context done with %v, but Map's error %v does not report it", c.id, pc, mc.err)
				break
			}
		}
	}
	mc.expected = v.expected
	mc.summary = v.summary
	if mc.lateStart {
		mc.summary += " (after Close)"
	}
	if mc.inTask {
		mc.summary += " (in a task)"
	}
	// ErrClosed and a context's cause, if reported, are reported once.
	nClosed, nCause := 0, 0
	for _, x := range leaves(mc.err) {
		if x == gopool.ErrClosed {
			nClosed++
		}
		if x == u.parentCause {
			nCause++
		}
	}
	if nClosed > 1 || nCause > 1 {
		mc.failf("Map's error %v reports ErrClosed %d times and its context's cause %d times, want at most once", mc.err, nClosed, nCause)
	}
	// The ledger alone gives the same counts, but for typed-nil errors,
	// which may be reported as themselves or as a panic of their method.
	for _, c := range mc.inputs {
		if c.kind == kNilErr {
			return
		}
	}
	if l := mc.ledgerStats(); l != mc.expected {
		mc.failf("Stats from the ledger of its inputs\n\t%+v\ndiffer from those from Map's error\n\t%+v", l, mc.expected)
	}
}

// ledgerStats is what the call's inputs add to Stats, from what they did
// alone: for a call that did not return, which has no error to go by.
// Typed-nil errors are not counted: calls that may not return have none.
func (mc *chaosMapCall) ledgerStats() gopool.Stats {
	var s gopool.Stats
	for _, c := range mc.inputs {
		s.Submitted++
		if calls := c.calls.Load(); calls > 1 {
			s.Retries += uint64(calls - 1)
		}
		switch mapOutcome(c) {
		case mapSkipped:
			s.Skipped++
		case mapSucceeded:
			s.Succeeded++
		case mapCanceled:
			s.Canceled++
		case mapPanicked:
			s.Failed++
			s.Panicked++
		default:
			s.Failed++
		}
	}
	return s
}
