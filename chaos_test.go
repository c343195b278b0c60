package gopool_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	gopool "github.com/rubengp99/go-pool"
	"go.uber.org/goleak"
)

// Replay a failing TestChaos run with the shape and seed it printed:
//
//	go test -run 'TestChaos/close-limit2/' -chaos.seed=17
var (
	chaosSeed = flag.Uint64("chaos.seed", 0, "TestChaos: run only this seed (0: seeds 1..chaos.runs)")
	chaosRuns = flag.Int("chaos.runs", 0, "TestChaos: seeds per pool shape (0: 50, or 5 with -short)")
)

// stopKind is what, besides fail-fast, may cut a chaos batch short.
type stopKind int

const (
	stopNone     stopKind = iota
	stopClose             // Close from another goroutine once the trigger-th task started
	stopCancel            // cancel the pool's parent context once the trigger-th task started
	stopDeadline          // the pool's parent context has a deadline; runs in a synctest bubble
)

type chaosShape struct {
	name     string
	limit    int
	queue    int // WithQueue: tasks that may wait for a slot at the limit
	failFast bool
	stop     stopKind
	closeToo bool          // stopDeadline: Close from another goroutine right around the deadline
	timeout  time.Duration // WithTimeout: each try's timeout; runs in a synctest bubble
}

var chaosShapes = []chaosShape{
	{name: "unlimited"},
	{name: "limit1", limit: 1},
	{name: "limit4", limit: 4},
	{name: "failfast", failFast: true},
	{name: "failfast-limit4", limit: 4, failFast: true},
	{name: "deadline", stop: stopDeadline},
	{name: "deadline-limit3", limit: 3, stop: stopDeadline},
	{name: "deadline-failfast", stop: stopDeadline, failFast: true},
	{name: "deadline-close", stop: stopDeadline, closeToo: true},
	{name: "deadline-close-limit2", limit: 2, stop: stopDeadline, closeToo: true},
	{name: "cancel", stop: stopCancel},
	{name: "cancel-limit2", limit: 2, stop: stopCancel},
	{name: "close", stop: stopClose},
	{name: "close-limit2", limit: 2, stop: stopClose},
	{name: "limit2-queue3", limit: 2, queue: 3},
	{name: "failfast-limit2-queue4", limit: 2, queue: 4, failFast: true},
	{name: "close-limit2-queue3", limit: 2, queue: 3, stop: stopClose},
	{name: "deadline-limit1-queue2", limit: 1, queue: 2, stop: stopDeadline},
	{name: "timeout-limit2-queue2", limit: 2, queue: 2, timeout: 3 * time.Millisecond},
}

// A chaosTreeShape is a root pool with two to four sub-pools, and sometimes
// a grandchild under the first, each fed by producers of its own at once.
// Each pool of the tree is a unit with its own tasks, drains and ledger,
// checked as a chaosShape of its own; the root's Stats are checked against
// the ledgers of all units, and each sub-pool's against its subtree's. Half
// the units also have Map callers, and in units with no limit on the path
// some tasks call Map too (see chaos_map_test.go): each Map call is checked
// as a batch of its own, and its inputs count in the Stats of the pools.
type chaosTreeShape struct {
	name      string
	rootLimit int      // the root's limit; the sub-pools draw theirs
	rootQueue int      // the root's queue
	queues    bool     // the sub-pools draw queues too
	timeouts  bool     // some pools have a timeout for each try (stopDeadline only: runs in a bubble)
	stop      stopKind // stopClose: Close on the root, mid-batch; stopDeadline: the root's parent has a deadline; stopCancel: the second sub-pool's own ctx is cancelled mid-batch
	failFast  bool     // the first sub-pool is fail-fast
}

var chaosTreeShapes = []chaosTreeShape{
	{name: "tree"},
	{name: "tree-limit3", rootLimit: 3},
	{name: "tree-close", stop: stopClose},
	{name: "tree-close-limit4", rootLimit: 4, stop: stopClose},
	{name: "tree-failfast-limit4", rootLimit: 4, failFast: true},
	{name: "tree-deadline-limit3", rootLimit: 3, stop: stopDeadline},
	{name: "tree-cancel", stop: stopCancel},
	{name: "tree-close-limit3-queue1", rootLimit: 3, rootQueue: 1, queues: true, stop: stopClose},
	{name: "tree-deadline-limit3-queue2-timeout", rootLimit: 3, rootQueue: 2, queues: true, timeouts: true, stop: stopDeadline},
	// Shapes where Map's tasks most often wait their turn at a limit.
	{name: "tree-failfast-limit2-queue2", rootLimit: 2, rootQueue: 2, queues: true, failFast: true},
	{name: "tree-deadline-limit1-queue1", rootLimit: 1, rootQueue: 1, queues: true, stop: stopDeadline},
}

// TestChaos runs batches of randomly mixed tasks (succeed, fail, panic,
// Goexit, block until cancelled, retry then succeed, Permanent, send to
// drains, submit more tasks, return a typed-nil error whose methods panic,
// return joined failures and joined echoes, fail a few tries with
// RetryAfter then succeed, and, in synctest bubbles, time out on every try)
// from several goroutines at once, through Go, TryGo and GoContext (with a
// context never done, already done, or done while it may wait), on each
// pool shape and each tree of pools: limits, queues (WithQueue), fail-fast,
// Close, a cancelled or expiring parent context, and a pool's timeout for
// each try (WithTimeout). It checks the ledger of every batch exactly: what
// ran, what was skipped, what was reported (a timed-out try wrapped so that
// errors.Is finds ErrTimeout, RetryAfter's mark honoured), what each drain
// holds, that tasks TryGo refused or GoContext did not admit never run and
// are not counted, the peak concurrency at each limit, the bounds of each
// limit and its queues sampled with Stats, the timing of timeouts and
// RetryAfter waits (exact in a bubble), the pools' Stats, and that no
// goroutine survives. In the trees, gopool.Map runs beside the producers,
// from goroutines of its own and from tasks, with inputs of the same kinds:
// each call's outputs, its error (its own failures only, and ErrClosed and
// a context's cause exactly when Wait would report them) and its inputs'
// part of the Stats are checked too.
func TestChaos(t *testing.T) {
	seeds := chaosSeeds()
	for _, shape := range chaosShapes {
		t.Run(shape.name, func(t *testing.T) {
			for _, seed := range seeds {
				t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
					runChaos(t, shape, seed)
				})
			}
		})
	}
	for _, shape := range chaosTreeShapes {
		t.Run(shape.name, func(t *testing.T) {
			for _, seed := range seeds {
				t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
					runChaosTree(t, shape, seed)
				})
			}
		})
	}
}

func chaosSeeds() []uint64 {
	if *chaosSeed != 0 {
		return []uint64{*chaosSeed}
	}
	n := *chaosRuns
	if n <= 0 {
		n = 50
		if testing.Short() {
			n = 5
		}
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

type taskKind int

const (
	kOK         taskKind = iota
	kFail                // returns its unique error on every try
	kPanicErr            // panics with its unique error
	kPanicVal            // panics with a unique non-error value
	kPermanent           // returns Permanent(its unique error): tried once
	kRetry               // its own WithRetry; fails a few tries, then succeeds
	kGoexit              // calls runtime.Goexit
	kBlock               // (sleeps, then) waits for its context to be done, returns an echo of it
	kSleep               // sleeps (synctest only), then succeeds
	kSpawn               // submits its children to the pool (unlimited only), then succeeds
	kCustom              // a Worker that is not a Task: fails a few tries under the pool's retry
	kNilErr              // returns a typed-nil *chaosNilErr, whose Is and Error panic, on every try
	kJoinFail            // returns errors.Join(its unique error, ctx.Err()) on every try: a failure
	kEcho                // returns an echo of its context if it is done, else nil
	kRetryAfter          // fails a few tries with RetryAfter(after, ...), then succeeds
	kTimeout             // each try has a timeout, and waits for its context to be done
)

var kindNames = [...]string{"ok", "fail", "panic-error", "panic-value", "permanent", "retry", "goexit", "block", "sleep", "spawn", "custom",
	"nil-error", "join-fail", "echo", "retry-after", "timeout"}

// What a kTimeout task's try returns once its context is done: by its
// timeout (a failure), or by the batch's cancellation.
const (
	tmoWrap       = iota // fmt.Errorf("...: %w", ctx.Err()): once timed out, reported wrapped, with ErrTimeout; else an echo
	tmoRetryAfter        // RetryAfter(after, fmt.Errorf("...: %w", ctx.Err())): the same, and the next try comes after exactly after
	tmoJoin              // errors.Join(its unique error, ctx.Err()): a failure, wrapped with ErrTimeout if it timed out
	tmoFail              // its unique error: a failure, never wrapped
)

// What a kRetryAfter task's failing tries return.
const (
	raTop  = iota // RetryAfter(after, its unique error): reported as that error
	raDeep        // fmt.Errorf("...: %w", RetryAfter(after, its unique error)): reported with the same message, the mark honoured
)

// How a producer hands a call's tasks to the pool.
const (
	viaGo    = iota
	viaTryGo // one task; refused if it cannot be admitted at once
	viaGoCtx // one task, with a context that may be done before it is admitted
)

// The context of a GoContext call.
const (
	ctxNever = iota // never done: GoContext waits as Go does
	ctxDone         // done before the call: never admitted
	ctxLater        // done a little later, maybe while GoContext waits: in a bubble after a random short while, else once a try starts
)

// What a kBlock task returns once its context is done.
const (
	blockEcho       = iota // fmt.Errorf("...: %w", ctx.Err()): an echo
	blockJoinedEcho        // errors.Join(ctx.Err(), fmt.Errorf("...: %w", ctx.Err())): an echo
	blockJoinedFail        // errors.Join(its unique error, ctx.Err()): a failure
)

// chaosNilErr is a user's error type whose methods read the receiver before
// anything else, as such methods usually do: a typed-nil *chaosNilErr
// panics in Is and in Error. The pool calls Is only to judge whether the
// error echoes a done context, and then reports the panic as a
// *PanicError; otherwise it reports the typed nil itself.
type chaosNilErr struct{ code int }

func (e *chaosNilErr) Error() string { return "chaos code " + strconv.Itoa(e.code) }

func (e *chaosNilErr) Is(target error) bool {
	code := e.code
	t, ok := target.(*chaosNilErr)
	return ok && t != nil && t.code == code
}

// isNilDeref reports whether v is the runtime's panic value for a nil
// pointer dereference, as a typed-nil *chaosNilErr's methods raise.
func isNilDeref(v any) bool {
	err, ok := v.(runtime.Error)
	return ok && strings.Contains(err.Error(), "nil pointer dereference")
}

func (k taskKind) String() string { return kindNames[k] }

// chaosPanic is the value a kPanicVal task panics with: comparable and unique.
type chaosPanic struct{ id int }

// outcome is how a task's last try ended.
type outcome struct {
	how int // outNone, outReturned, outPanicked or outGoexit
	err error
	val any
}

const (
	outNone = iota
	outReturned
	outPanicked
	outGoexit
)

type chaosTask struct {
	id         int
	kind       taskKind
	top        bool // submitted by a producer; otherwise by its parent, a kSpawn task
	drain      int  // index into chaosRun.drains, or -1
	sends      int  // values sent per try
	fails      int  // kRetry, kCustom: tries that fail before one succeeds
	ownRetry   bool
	attempts   uint // its own policy, if ownRetry
	failErr    error
	panicVal   any
	sleep      time.Duration // kSleep
	lookCtx    bool          // checks its context on every try (which makes the pool create it)
	blockRet   int           // kBlock: what it returns, blockEcho, blockJoinedEcho or blockJoinedFail
	tmoRet     int           // kTimeout: what a try returns, tmoWrap, tmoRetryAfter, tmoJoin or tmoFail
	raRet      int           // kRetryAfter: what a failing try returns, raTop or raDeep
	after      time.Duration // kRetryAfter, kTimeout with tmoRetryAfter: the RetryAfter wait
	timeout    time.Duration // each try's timeout, its own or its pool's; 0 if none
	ownTimeout bool          // timeout is its own, set with WithTimeout
	yields     int           // runtime.Gosched calls per try, so that tasks overlap
	children   []*chaosTask  // kSpawn
	worker     gopool.Worker
	submitted  atomic.Bool   // children: the parent handed it to Go
	mustGo     bool          // a top-level task that must be handed to Go, or to GoContext with a context never done
	nested     *chaosMapCall // a kOK task of a tree's unit with no limit on its path: calls Map on its pool first

	// Set by its producer once TryGo or GoContext returned.
	refused      bool // not admitted, and not registered: it must never run, nor count in Stats
	admitSkipped bool // registered, then skipped before GoContext admitted it

	calls atomic.Int32
	mu    sync.Mutex
	ends  int
	last  outcome
	sent  []int
	cause error // kBlock: context.Cause of its context once done
	tries []chaosTry
}

// chaosTry is when a try of a kTimeout or kRetryAfter task started and
// ended, how its context ended, and what it returned without RetryAfter's
// mark on top.
type chaosTry struct {
	start, end time.Time
	timedOut   bool // its context was done by its timeout
	err        error
}

// chaosDrain hides the element type of a drain: values are ints encoded as T.
type chaosDrain struct {
	name     string
	feeding  atomic.Int64 // feeding tasks inside their function right now
	snapshot func() []int
	count    func() int
	worker   func(r *chaosRun, c *chaosTask) gopool.Worker
}

func newChaosDrain[T any](name string, to func(int) T, from func(T) int) *chaosDrain {
	d := gopool.NewDrainer[T]()
	return &chaosDrain{
		name: name,
		snapshot: func() []int {
			vs := d.Drain()
			out := make([]int, len(vs))
			for i, v := range vs {
				out[i] = from(v)
			}
			return out
		},
		count:  d.Count,
		worker: func(r *chaosRun, c *chaosTask) gopool.Worker { return chaosWorker(r, c, d, to, from) },
	}
}

type chaosRun struct {
	shape    chaosShape
	seed     uint64
	rng      *rand.Rand
	synctest bool
	name     string       // in a tree: the unit's name
	tree     *chaosTree   // in a tree: the tree; nil for a single pool
	parent   *chaosRun    // in a tree: the unit whose pool this unit's pool is a sub-pool of
	path     []*chaosNode // the limits on the pool's path: its own first, then its ancestors'
	mono     *monotonic   // samples the Stats of the pools, checking their counters never go down
	minTop   int          // how many top-level tasks: minTop + rng.IntN(spread)
	spread   int
	expected gopool.Stats      // what the pool's Stats must be once everything is waited for, for this unit alone
	maps     chaosMaps         // in a tree: the unit's Map calls, on goroutines of their own
	ctxs     []context.Context // the contexts on the pool's path that can be done

	parentCtx    context.Context // the pool's parent context, or its own (SubWithContext), if it has one
	cancelParent context.CancelCauseFunc
	parentCause  error
	stopped      atomic.Bool // Close was called up the tree, or a context on the path is done
	f            chaosFacts
	closeErr     error // what Close returned, if this unit's pool was the one closed

	pool        *gopool.Pool
	poolRetry   uint // attempts of the pool's policy; 0 if none
	retrySleep  time.Duration
	poolTimeout time.Duration // the pool's timeout for each try; 0 if none
	gaveUp      error         // the cause of GoContext's contexts
	nSure       int           // top-level tasks handed to Go, or to GoContext with a context never done
	refused     atomic.Int32  // tasks TryGo or GoContext did not admit
	admitSkip   atomic.Int32  // tasks GoContext registered, then skipped
	laterMu     sync.Mutex
	later       []context.CancelCauseFunc // outside a bubble: cancel GoContext's context once a try starts
	laterN      atomic.Int32              // len(later)
	deadline    time.Duration             // stopDeadline: the parent's timeout
	clean       bool                      // no task fails: the batch must succeed (unless cut short)
	blockers    int

	tasks  []*chaosTask
	top    []*chaosTask
	drains []*chaosDrain

	trigger   int32 // the trigger-th try to start closes triggered
	triggered chan struct{}
	started   atomic.Int32
	active    atomic.Int32
	peak      atomic.Int32

	closing   atomic.Bool // Close has been called
	closeDone atomic.Bool // Close has returned
	maybeLate atomic.Bool // a Go call returned after Close was called
	late      atomic.Bool // a Go call started after Close returned

	mu       sync.Mutex
	problems []string
	summary  string
}

func (r *chaosRun) failf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *chaosRun) cancellable() bool { return r.shape.failFast || r.shape.stop != stopNone }

// A chaosNode is a limit on a pool's path: how many blockers were made below
// it, and how many tasks below it run at once.
type chaosNode struct {
	name     string
	limit    int
	blockers int
	active   atomic.Int32
	peak     atomic.Int32

	// The admission bound, sampled with Stats: tasks of the pool's subtree
	// queued or running and held in queues are at most bound, the limit
	// plus the queues that may hold them.
	pool         *gopool.Pool
	queue        int // the pool's queue, if it has a limit; else 0
	bound        int
	goStarted    atomic.Int64 // tasks of Go calls, on the pool or below it, begun
	goFinished   atomic.Int64 // and returned
	mapStarted   atomic.Int64 // inputs of Map calls, on the pool or below it, begun
	mapFinished  atomic.Int64 // and returned
	peakAdmitted atomic.Int64
}

func (n *chaosNode) enter() {
	k := n.active.Add(1)
	for p := n.peak.Load(); k > p && !n.peak.CompareAndSwap(p, k); p = n.peak.Load() {
	}
}

func (n *chaosNode) leave() { n.active.Add(-1) }

// pathUnlimited reports whether no limit is on the pool's path, so that a
// task may submit to its own pool.
func (r *chaosRun) pathUnlimited() bool {
	for _, n := range r.path {
		if n.limit > 0 {
			return false
		}
	}
	return true
}

// mayBlock reports whether a new task may be a blocker, which waits until
// its batch is cancelled: only where something is bound to cancel it, and,
// under a limit, fewer than the limit unless the deadline frees them, so
// that a slot stays free at every limit on the path for the tasks that
// trigger the cancellation.
func (r *chaosRun) mayBlock() bool { return r.mayBlockIfClean(r.clean) }

// mayBlockIfClean is mayBlock for work of r's batch in which no task, if
// clean, fails.
func (r *chaosRun) mayBlockIfClean(clean bool) bool {
	if !r.cancellable() || (r.shape.failFast && clean) {
		return false
	}
	if r.shape.stop == stopDeadline {
		return true
	}
	for _, n := range r.path {
		if n.limit > 0 && n.blockers >= n.limit-1 {
			return false
		}
	}
	return true
}

func runChaos(t *testing.T, shape chaosShape, seed uint64) {
	goroutines := runtime.NumGoroutine()
	h := fnv.New64a()
	h.Write([]byte(shape.name))
	r := &chaosRun{
		shape:       shape,
		seed:        seed,
		rng:         rand.New(rand.NewPCG(seed, h.Sum64())),
		synctest:    shape.stop == stopDeadline || shape.timeout > 0,
		triggered:   make(chan struct{}),
		path:        []*chaosNode{{name: "pool", limit: shape.limit}},
		mono:        newMonotonic(),
		minTop:      5,
		spread:      40,
		poolTimeout: shape.timeout,
	}
	// A hung batch is a failure too: dump every goroutine with the seed.
	watchdog := time.AfterFunc(3*time.Minute, func() {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "TestChaos/%s seed=%d hung; goroutines:\n%s\n", shape.name, seed, buf)
		panic(fmt.Sprintf("TestChaos/%s seed=%d hung", shape.name, seed))
	})
	if r.synctest {
		synctest.Test(t, r.run)
	} else {
		r.run(t)
	}
	watchdog.Stop()
	t.Logf("seed=%d: %s", seed, r.summary)
	for i, p := range r.problems {
		if i == 20 {
			t.Errorf("seed=%d: ... and %d more", seed, len(r.problems)-i)
			break
		}
		t.Errorf("seed=%d: %s", seed, p)
	}
	if r.mono.broken != "" {
		t.Errorf("seed=%d: a counter of Stats went down: %s", seed, r.mono.broken)
	}
	if t.Failed() {
		t.Logf("replay: go test -run 'TestChaos/%s/' -chaos.seed=%d", shape.name, seed)
	}
	chaosVerifyNone(t, goroutines)
}

// chaosVerifyNone checks with goleak that no goroutine survives the batch.
// The pool's workers may take a moment more to exit once Wait returns, and
// goleak, finding them, would retry after sleeps, which took most of
// TestChaos's time: first let them run, while there are more goroutines
// than when the run began, for a bounded while.
func chaosVerifyNone(t *testing.T, goroutines int) {
	t.Helper()
	for i := 0; i < 10000 && runtime.NumGoroutine() > goroutines; i++ {
		runtime.Gosched()
	}
	goleak.VerifyNone(t)
}

// chaosTree is what the units of a tree run share: the root, and the
// trigger of the root's Close, counted over every unit's tries.
type chaosTree struct {
	root      *gopool.Pool
	started   atomic.Int32
	trigger   int32
	triggered chan struct{}
	units     []*chaosRun
	nodes     []*chaosNode
	maps      []*chaosMapCall // every unit's, in the order they were made
}

type chaosValueKey struct{}

func runChaosTree(t *testing.T, shape chaosTreeShape, seed uint64) {
	goroutines := runtime.NumGoroutine()
	tr := &chaosTree{triggered: make(chan struct{})}
	watchdog := time.AfterFunc(3*time.Minute, func() {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		fmt.Fprintf(os.Stderr, "TestChaos/%s seed=%d hung; goroutines:\n%s\n", shape.name, seed, buf)
		panic(fmt.Sprintf("TestChaos/%s seed=%d hung", shape.name, seed))
	})
	if shape.stop == stopDeadline {
		synctest.Test(t, func(t *testing.T) { tr.run(shape, seed) })
	} else {
		tr.run(shape, seed)
	}
	watchdog.Stop()
	reported := 0
	for _, u := range tr.units {
		t.Logf("seed=%d: %s: %s", seed, u.name, u.summary)
		for _, p := range u.problems {
			if reported++; reported <= 20 {
				t.Errorf("seed=%d: %s: %s", seed, u.name, p)
			}
		}
	}
	if reported > 20 {
		t.Errorf("seed=%d: ... and %d more", seed, reported-20)
	}
	if m := tr.units[0].mono; m.broken != "" {
		t.Errorf("seed=%d: a counter of Stats went down: %s", seed, m.broken)
	}
	if t.Failed() {
		t.Logf("replay: go test -run 'TestChaos/%s/' -chaos.seed=%d", shape.name, seed)
	}
	chaosVerifyNone(t, goroutines)
}

// run builds the tree, runs every unit's producers at once, stops the tree
// as the shape says, and checks each unit's ledger, each limit's peak, and
// each pool's Stats against the ledgers of the units below it.
func (tr *chaosTree) run(shape chaosTreeShape, seed uint64) {
	h := fnv.New64a()
	h.Write([]byte(shape.name))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	mono := newMonotonic()
	inBubble := shape.stop == stopDeadline

	// The units: the root, its sub-pools, and maybe a grandchild under the
	// first sub-pool. Each has a limit of its own (the root's from the
	// shape) and generates its tasks against the limits on its path.
	subs := 2 + rng.IntN(3)
	grandchild := rng.IntN(2) == 0
	unit := func(name string, parent *chaosRun, limit, queue int) *chaosRun {
		u := &chaosRun{
			name:      name,
			seed:      seed,
			rng:       rand.New(rand.NewPCG(seed, rng.Uint64())),
			synctest:  inBubble,
			triggered: make(chan struct{}),
			tree:      tr,
			parent:    parent,
			mono:      mono,
			minTop:    2,
			spread:    14,
		}
		u.shape = chaosShape{name: shape.name + "/" + name, limit: limit, queue: queue}
		if shape.timeouts && rng.IntN(2) == 0 {
			u.poolTimeout = time.Duration(1+rng.IntN(4)) * time.Millisecond
		}
		node := &chaosNode{name: name, limit: limit}
		tr.nodes = append(tr.nodes, node)
		u.path = []*chaosNode{node}
		if parent != nil {
			u.path = append(u.path, parent.path...)
		}
		switch shape.stop {
		case stopClose, stopDeadline:
			u.shape.stop = shape.stop
		}
		tr.units = append(tr.units, u)
		return u
	}
	queue := func() int {
		if !shape.queues {
			return 0
		}
		return rng.IntN(3)
	}
	root := unit("root", nil, shape.rootLimit, shape.rootQueue)
	for i := 1; i <= subs; i++ {
		unit(fmt.Sprintf("sub%d", i), root, []int{0, 0, 1, 2, 3}[rng.IntN(5)], queue())
	}
	if grandchild {
		unit("sub1/grandchild", tr.units[1], []int{0, 1, 2}[rng.IntN(3)], queue())
	}
	if shape.failFast {
		tr.units[1].shape.failFast = true
	}
	if shape.stop == stopCancel {
		tr.units[2].shape.stop = stopCancel // a leaf: the grandchild is under sub1
	}
	for _, u := range tr.units {
		u.generate()
	}
	// Map calls next, from random streams of their own, so that each
	// unit's tasks are what they were without them.
	for _, u := range tr.units {
		tr.generateMaps(u, shape.name)
	}

	// The pools.
	var rootCtx context.Context
	if inBubble {
		deadline := time.Duration(1+rng.IntN(20)) * time.Millisecond
		parent, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		root.pool = gopool.NewPoolWithContext(parent)
		root.ctxs = []context.Context{parent}
		root.maps.ownCtx, rootCtx = true, parent
	} else if rng.IntN(2) == 0 {
		root.pool = new(gopool.Pool)
	} else {
		root.pool = gopool.NewPool()
	}
	tr.root = root.pool
	for _, u := range tr.units[1:] {
		u.ctxs = u.parent.ctxs
		switch {
		case u.shape.stop == stopCancel:
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			u.parentCtx, u.cancelParent = ctx, cancel
			u.parentCause = fmt.Errorf("chaos seed %d: %s's context cancelled", seed, u.name)
			u.pool = u.parent.pool.SubWithContext(ctx)
			u.ctxs = append([]context.Context{ctx}, u.ctxs...)
			u.maps.ownCtx = true
		case inBubble && rng.IntN(3) == 0:
			// A deadline of its own, before or after the root's: the cause
			// is DeadlineExceeded either way.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rng.IntN(30))*time.Millisecond)
			defer cancel()
			u.pool = u.parent.pool.SubWithContext(ctx)
			u.ctxs = append([]context.Context{ctx}, u.ctxs...)
			u.maps.ownCtx = true
		case rng.IntN(3) == 0:
			u.pool = u.parent.pool.SubWithContext(context.WithValue(context.Background(), chaosValueKey{}, u.name))
			u.maps.ownCtx, u.maps.ctxValue = true, u.name
		default:
			u.pool = u.parent.pool.Sub()
		}
		u.ctxs = slices.Clip(u.ctxs)
	}
	for _, u := range tr.units {
		if len(u.ctxs) > 0 && u.parentCause == nil {
			u.parentCause = context.DeadlineExceeded
		}
		u.configure()
	}
	// A task held in a queue is held at the nearest limit on its path
	// without a free slot: at or below a pool, or above it.
	for _, u := range tr.units {
		n := u.path[0]
		n.bound = n.limit
		for _, v := range tr.units {
			if v.below(u) || u.below(v) && v != u {
				n.bound += v.path[0].queue
			}
		}
	}

	// Every unit's producers and Map callers at once; the root's Close,
	// if the shape has one, once the trigger-th try of any unit has
	// started. The tries of Map's inputs count too, but only the tasks
	// sure to be tried are drawn from: a Map may wait for the trigger.
	start := make(chan struct{})
	launches := make([]*chaosLaunch, len(tr.units))
	total := 0
	var mappers sync.WaitGroup
	for i, u := range tr.units {
		launches[i] = u.launch(start)
		u.stopper(launches[i])
		u.launchMaps(start, &mappers)
		total += u.nSure
	}
	tr.trigger = int32(1 + rng.IntN(total))
	var closer sync.WaitGroup
	if shape.stop == stopClose {
		closer.Go(func() {
			<-tr.triggered
			for _, u := range tr.units {
				u.stopped.Store(true)
				u.f.closed = true
				u.closing.Store(true)
			}
			root.closeErr = root.pool.Close()
			for _, u := range tr.units {
				u.closeDone.Store(true)
			}
		})
	}
	close(start)
	for i, u := range tr.units {
		u.raceWait(launches[i])
	}
	for _, l := range launches {
		<-l.producersDone
	}
	closer.Wait()
	mappers.Wait()
	for i, u := range tr.units {
		u.finish(launches[i])
	}
	tr.checkMaps(inBubble, rootCtx)

	// Each limit held, and each pool's Stats are the sum of the ledgers of
	// the units at or below it.
	for _, n := range tr.nodes {
		if n.limit > 0 && n.peak.Load() > int32(n.limit) {
			root.failf("peak of %d tasks at or below %s running at once, its limit %d", n.peak.Load(), n.name, n.limit)
		}
	}
	for _, u := range tr.units {
		var want gopool.Stats
		for _, v := range tr.units {
			if v.below(u) {
				want = addStats(addStats(want, v.expected), v.maps.expected)
			}
		}
		if got := u.pool.Stats(); got != want {
			u.failf("Stats once every task of the tree is waited for =\n\t%+v\nwant, from the ledgers of the units at or below it,\n\t%+v", got, want)
		}
	}
}

// below reports whether u is a or a unit below a.
func (u *chaosRun) below(a *chaosRun) bool {
	for ; u != nil; u = u.parent {
		if u == a {
			return true
		}
	}
	return false
}

func addStats(a, b gopool.Stats) gopool.Stats {
	return gopool.Stats{
		Running:   a.Running + b.Running,
		Pending:   a.Pending + b.Pending,
		Submitted: a.Submitted + b.Submitted,
		Succeeded: a.Succeeded + b.Succeeded,
		Failed:    a.Failed + b.Failed,
		Panicked:  a.Panicked + b.Panicked,
		Canceled:  a.Canceled + b.Canceled,
		Skipped:   a.Skipped + b.Skipped,
		Retries:   a.Retries + b.Retries,
	}
}

// generate builds the batch: drains, tasks and their workers.
func (r *chaosRun) generate() {
	rng := r.rng
	r.drains = []*chaosDrain{
		newChaosDrain("ints-a", func(v int) int { return v }, func(v int) int { return v }),
		newChaosDrain("ints-b", func(v int) int { return v }, func(v int) int { return v }),
		newChaosDrain("strings", strconv.Itoa, func(s string) int {
			v, err := strconv.Atoi(s)
			if err != nil {
				panic(err)
			}
			return v
		}),
	}
	r.clean = rng.IntN(5) == 0
	r.gaveUp = fmt.Errorf("chaos seed %d: %s: GoContext gave up", r.seed, r.shape.name)
	if r.synctest {
		r.retrySleep = time.Duration(1+rng.IntN(3)) * time.Millisecond
	}
	if rng.IntN(3) == 0 {
		r.poolRetry = rng.UintN(4)
	}
	n := r.minTop + rng.IntN(r.spread)
	for range n {
		r.top = append(r.top, r.newTask(0, -2))
	}
	// Under fail-fast a blocker waits for a failure: make sure one comes.
	if r.shape.failFast && r.blockers > 0 {
		c := r.newTaskOfKind(kFail, 0, -1)
		c.mustGo = true
		r.top = append(r.top, c)
	}
	rng.Shuffle(len(r.top), func(i, j int) { r.top[i], r.top[j] = r.top[j], r.top[i] })
	for _, c := range r.top {
		c.top = true
	}
}

// newTask makes a random task; parentDrain is -2 for a top-level task, else
// the drain of the parent, which is the only one a child may feed: a drain
// must not go idle while a running task may still register a feeder.
func (r *chaosRun) newTask(depth, parentDrain int) *chaosTask {
	choices := []weighted{{kOK, 4}, {kRetry, 2}, {kCustom, 1}, {kEcho, 1}, {kRetryAfter, 2}}
	if !r.clean {
		choices = append(choices, weighted{kFail, 2}, weighted{kPanicErr, 1}, weighted{kPanicVal, 1},
			weighted{kPermanent, 1}, weighted{kGoexit, 1}, weighted{kNilErr, 1}, weighted{kJoinFail, 1})
		if r.synctest {
			choices = append(choices, weighted{kTimeout, 2}) // outside a bubble, each try would take real time
		}
	}
	if r.synctest {
		choices = append(choices, weighted{kSleep, 3})
	}
	if r.pathUnlimited() && depth < 2 {
		choices = append(choices, weighted{kSpawn, 2})
	}
	if r.mayBlock() {
		choices = append(choices, weighted{kBlock, 2})
	}
	return r.newTaskOfKind(pickKind(r.rng, choices), depth, parentDrain)
}

// weighted is a kind of task that pickKind chooses w times in sum(w).
type weighted struct {
	k taskKind
	w int
}

// pickKind chooses one of choices at random, by weight.
func pickKind(rng *rand.Rand, choices []weighted) taskKind {
	total := 0
	for _, c := range choices {
		total += c.w
	}
	x := rng.IntN(total)
	for _, c := range choices {
		if x < c.w {
			return c.k
		}
		x -= c.w
	}
	panic("unreachable")
}

func (r *chaosRun) newTaskOfKind(k taskKind, depth, parentDrain int) *chaosTask {
	rng := r.rng
	c := &chaosTask{id: len(r.tasks), kind: k, drain: -1}
	r.tasks = append(r.tasks, c)
	c.failErr = fmt.Errorf("chaos task %d (%v) failed", c.id, k)
	c.panicVal = chaosPanic{c.id}
	c.lookCtx = rng.IntN(3) == 0
	if rng.IntN(2) == 0 {
		c.yields = rng.IntN(200)
	}
	if k == kBlock {
		r.blockers++
		for _, n := range r.path {
			n.blockers++
		}
		c.blockRet = rng.IntN(2)
		if !r.clean && rng.IntN(3) == 0 {
			c.blockRet = blockJoinedFail
		}
	}
	if k != kCustom && rng.IntN(2) == 0 {
		switch {
		case parentDrain == -2:
			c.drain = rng.IntN(len(r.drains))
		case parentDrain >= 0:
			c.drain = parentDrain
		}
		if c.drain >= 0 {
			c.sends = rng.IntN(4)
		}
	}
	switch k {
	case kRetry:
		c.fails = 1 + rng.IntN(3)
		c.ownRetry, c.attempts = true, uint(c.fails+1+rng.IntN(2))
	case kCustom:
		if !r.clean {
			c.fails = rng.IntN(3)
		}
	case kSleep, kBlock:
		if r.synctest {
			// A blocker may first look at its context only after the
			// batch was cancelled, and the deadline passed.
			c.sleep = time.Duration(rng.IntN(25)) * time.Millisecond
		}
	case kSpawn:
		for range 1 + rng.IntN(3) {
			c.children = append(c.children, r.newTask(depth+1, c.drain))
		}
	case kRetryAfter:
		c.fails = 1 + rng.IntN(3)
		c.raRet = rng.IntN(2)
		c.after = r.shortWait()
		switch {
		case r.clean:
			c.ownRetry, c.attempts = true, uint(c.fails+1+rng.IntN(2))
		case rng.IntN(3) != 0:
			c.ownRetry, c.attempts = true, uint(1+rng.IntN(c.fails+2)) // may end it failing
		}
	default:
		if k == kTimeout {
			c.tmoRet = rng.IntN(4)
			if c.tmoRet == tmoRetryAfter {
				c.after = r.shortWait()
			}
		}
		if rng.IntN(4) == 0 {
			c.ownRetry, c.attempts = true, rng.UintN(4)
		}
	}
	// Each try's timeout: the pool's, which a kCustom task cannot see, or
	// its own, which wins. A blocker never times out: it waits for its
	// batch's cancellation.
	c.timeout = r.poolTimeout
	switch {
	case k == kCustom:
		c.timeout = 0
	case k == kTimeout && (r.poolTimeout == 0 || rng.IntN(2) == 0):
		c.ownTimeout, c.timeout = true, r.tryTimeout()
	case k == kBlock && (r.poolTimeout > 0 || rng.IntN(8) == 0):
		c.ownTimeout, c.timeout = true, 0 // WithTimeout(0): none, whatever the pool's
	case k != kTimeout && rng.IntN(8) == 0:
		c.ownTimeout, c.timeout = true, time.Hour // a timer never reached
	}
	if k == kCustom {
		c.worker = &chaosCustom{r, c}
	} else if c.drain >= 0 {
		c.worker = r.drains[c.drain].worker(r, c)
	} else {
		c.worker = chaosWorker[int](r, c, nil, func(v int) int { return v }, func(v int) int { return v })
	}
	return c
}

// chaosWorker makes the Task for c, feeding d if d is not nil.
func chaosWorker[T any](r *chaosRun, c *chaosTask, d *gopool.Drain[T], to func(int) T, from func(T) int) gopool.Worker {
	t := gopool.NewTask(func(a gopool.Args[T]) error {
		if a.Input == nil || from(*a.Input) != c.id {
			r.failf("task %d: wrong Args.Input %v", c.id, a.Input)
		}
		if a.Drainer != d {
			r.failf("task %d: Args.Drainer is %p, want %p", c.id, a.Drainer, d)
		}
		if a.Context == nil {
			r.failf("task %d: nil Args.Context", c.id)
		}
		var send func(int)
		if d != nil {
			send = func(v int) { a.Drainer.Send(to(v)) }
		}
		return r.body(c, a.Context, a.Attempt, send)
	})
	if d != nil {
		t.DrainTo(d)
	}
	retryFirst, timeoutFirst := r.rng.IntN(2) == 0, r.rng.IntN(2) == 0
	if c.ownTimeout && timeoutFirst {
		t.WithTimeout(c.timeout)
	}
	if c.ownRetry && retryFirst {
		t.WithRetry(c.attempts, r.retrySleep)
	}
	in := to(c.id)
	t.WithInput(&in)
	if c.ownRetry && !retryFirst {
		t.WithRetry(c.attempts, r.retrySleep)
	}
	if c.ownTimeout && !timeoutFirst {
		t.WithTimeout(c.timeout)
	}
	return t
}

// tryTimeout draws a task's own timeout for each try, in a bubble (kTimeout
// tasks run only there): a few milliseconds of its clock.
func (r *chaosRun) tryTimeout() time.Duration {
	return time.Duration(1+r.rng.IntN(4)) * time.Millisecond
}

// shortWait draws a RetryAfter wait, or how long a GoContext waits: 0 to a
// few milliseconds of a bubble's clock. Outside a bubble it is 0, as real
// waits would add up to most of the test's time.
func (r *chaosRun) shortWait() time.Duration {
	if !r.synctest {
		return 0
	}
	return time.Duration(r.rng.IntN(4)) * time.Millisecond
}

// chaosCustom is a Worker of the user's own type: the pool can only call
// Execute, under its own retry policy.
type chaosCustom struct {
	r *chaosRun
	c *chaosTask
}

func (w *chaosCustom) Execute() error { return w.r.body(w.c, nil, -1, nil) }

func (w *chaosCustom) WithRetry(uint, time.Duration) gopool.Worker { return w }

// body is every try of every task: it keeps the ledger, then acts out the
// task's kind.
func (r *chaosRun) body(c *chaosTask, ctx context.Context, attempt int, send func(int)) (err error) {
	call := int(c.calls.Add(1))
	if attempt >= 0 && attempt != call {
		r.failf("task %d (%v): Args.Attempt=%d on try %d", c.id, c.kind, attempt, call)
	}
	if r.started.Add(1) == r.trigger {
		close(r.triggered)
	}
	if tr := r.tree; tr != nil && tr.started.Add(1) == tr.trigger {
		close(tr.triggered)
	}
	n := r.active.Add(1)
	for p := r.peak.Load(); n > p && !r.peak.CompareAndSwap(p, n); p = r.peak.Load() {
	}
	for _, nd := range r.path {
		nd.enter()
	}
	// Stats from inside a task: safe, and never going down.
	r.mono.sample(r.pool)
	if r.tree != nil {
		r.mono.sample(r.tree.root)
	}
	r.sampleBounds()
	if r.laterN.Load() > 0 {
		r.cancelLater()
	}
	if c.kind == kTimeout || c.kind == kRetryAfter {
		c.mu.Lock()
		c.tries = append(c.tries, chaosTry{start: time.Now()})
		c.mu.Unlock()
	}
	var dr *chaosDrain
	if c.drain >= 0 {
		dr = r.drains[c.drain]
		dr.feeding.Add(1)
	}
	out := outcome{how: outGoexit} // unless it returns or panics
	defer func() {
		if dr != nil {
			dr.feeding.Add(-1)
		}
		for _, nd := range r.path {
			nd.leave()
		}
		r.active.Add(-1)
		c.mu.Lock()
		c.ends++
		c.last = out
		c.mu.Unlock()
	}()
	if c.lookCtx && ctx != nil && ctx.Err() != nil && !r.cancellable() &&
		!(c.timeout > 0 && context.Cause(ctx) == gopool.ErrTimeout) {
		r.failf("task %d: context done (%v) in a batch nothing cancels", c.id, context.Cause(ctx))
	}
	for range c.yields {
		runtime.Gosched()
	}
	for i := range c.sends {
		v := (c.id*64+call)*8 + i
		send(v)
		c.mu.Lock()
		c.sent = append(c.sent, v)
		c.mu.Unlock()
	}
	switch c.kind {
	case kPanicErr:
		out = outcome{how: outPanicked, val: c.failErr}
		panic(c.failErr)
	case kPanicVal:
		out = outcome{how: outPanicked, val: c.panicVal}
		panic(c.panicVal)
	case kGoexit:
		runtime.Goexit()
	}
	if c.nested != nil && call == 1 {
		c.nested.call() // a Goexit on this goroutine ends the task too
	}
	err = r.act(c, ctx, call)
	out = outcome{how: outReturned, err: err}
	return err
}

func (r *chaosRun) act(c *chaosTask, ctx context.Context, call int) error {
	switch c.kind {
	case kFail:
		return c.failErr
	case kPermanent:
		return gopool.Permanent(c.failErr)
	case kRetry, kCustom:
		if call <= c.fails {
			return c.failErr
		}
	case kRetryAfter:
		if call > c.fails {
			r.endTry(c, false, nil)
			return nil
		}
		if c.raRet == raDeep {
			err := fmt.Errorf("chaos task %d try %d: %w", c.id, call, gopool.RetryAfter(c.after, c.failErr))
			r.endTry(c, false, err)
			return err
		}
		r.endTry(c, false, c.failErr)
		return gopool.RetryAfter(c.after, c.failErr)
	case kTimeout:
		<-ctx.Done()
		timedOut := context.Cause(ctx) == gopool.ErrTimeout
		if timedOut && ctx.Err() != context.DeadlineExceeded {
			r.failf("task %d: try timed out, but its context's Err is %v", c.id, ctx.Err())
		}
		var err error
		switch c.tmoRet {
		case tmoWrap, tmoRetryAfter:
			err = fmt.Errorf("chaos task %d try %d: %w", c.id, call, ctx.Err())
		case tmoJoin:
			err = errors.Join(c.failErr, ctx.Err())
		default:
			err = c.failErr
		}
		r.endTry(c, timedOut, err)
		if c.tmoRet == tmoRetryAfter {
			return gopool.RetryAfter(c.after, err)
		}
		return err
	case kBlock:
		time.Sleep(c.sleep)
		<-ctx.Done()
		c.mu.Lock()
		c.cause = context.Cause(ctx)
		c.mu.Unlock()
		switch c.blockRet {
		case blockJoinedEcho:
			return errors.Join(ctx.Err(), fmt.Errorf("chaos task %d: %w", c.id, ctx.Err()))
		case blockJoinedFail:
			return errors.Join(c.failErr, ctx.Err())
		}
		return fmt.Errorf("chaos task %d: %w", c.id, ctx.Err())
	case kNilErr:
		var e *chaosNilErr
		return e
	case kJoinFail:
		return errors.Join(c.failErr, ctx.Err())
	case kEcho:
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("chaos task %d stops: %w", c.id, err)
		}
	case kSleep:
		time.Sleep(c.sleep)
	case kSpawn:
		ws := make([]gopool.Worker, len(c.children))
		for i, ch := range c.children {
			ch.submitted.Store(true)
			ws[i] = ch.worker
		}
		r.goTasks(ws)
	}
	return nil
}

// goTasks hands ws to the pool, noting whether the call may be late: after
// Close was called, its tasks may never run, and ErrClosed says so.
func (r *chaosRun) goTasks(ws []gopool.Worker) {
	if r.closeDone.Load() {
		r.late.Store(true)
	}
	for _, n := range r.path {
		n.goStarted.Add(int64(len(ws)))
	}
	r.pool.Go(ws...)
	for _, n := range r.path {
		n.goFinished.Add(int64(len(ws)))
	}
	if r.closing.Load() {
		r.maybeLate.Store(true)
	}
	r.mono.sample(r.pool)
	r.sampleBounds()
}

// sampleBounds checks, by Stats, the bounds of each limit on the pool's
// path: at most its limit of the tasks at or below it run, and at most its
// limit plus the queues that may hold them are admitted (queued, running,
// or held in a queue). Stats count the tasks of Go calls in progress too,
// also those still waiting: they are taken off, counted conservatively,
// the calls that returned before Stats and those begun after.
func (r *chaosRun) sampleBounds() {
	for _, n := range r.path {
		if n.limit == 0 {
			continue
		}
		finished, mapFinished := n.goFinished.Load(), n.mapFinished.Load()
		st := n.pool.Stats()
		inGo := n.goStarted.Load() - finished
		// A Map registers all its inputs at once, and reports those a task
		// of it ran only when it gives its slot back: its inputs are taken
		// off as a Go call's are, even those that run.
		inGo += n.mapStarted.Load() - mapFinished
		if st.Running > n.limit {
			r.failf("Stats of %s: %d tasks running, its limit %d", n.name, st.Running, n.limit)
		}
		admitted := int64(st.Pending+st.Running) - inGo
		if admitted > int64(n.bound) {
			r.failf("Stats of %s: %d tasks admitted (%+v, %d in Go calls), more than its limit %d plus the queues that may hold them, %d",
				n.name, admitted, st, inGo, n.limit, n.bound-n.limit)
		}
		for p := n.peakAdmitted.Load(); admitted > p && !n.peakAdmitted.CompareAndSwap(p, admitted); p = n.peakAdmitted.Load() {
		}
	}
}

// cancelLater cancels the contexts of GoContext calls waiting for a try to
// start.
func (r *chaosRun) cancelLater() {
	r.laterMu.Lock()
	later := r.later
	r.later = nil
	r.laterN.Store(0)
	r.laterMu.Unlock()
	for _, cancel := range later {
		cancel(r.gaveUp)
	}
}

// chaosCall is one call of a producer: Go with one to four tasks, or
// TryGo or GoContext with one.
type chaosCall struct {
	tasks []*chaosTask
	ws    []gopool.Worker
	via   int           // viaGo, viaTryGo or viaGoCtx
	ctx   int           // viaGoCtx: ctxNever, ctxDone or ctxLater
	wait  time.Duration // ctxLater: when the context is done
}

// submit makes a producer's call, and records what TryGo and GoContext
// did with the task: admitted, refused (never to run, not in Stats), or
// registered and skipped.
func (r *chaosRun) submit(call *chaosCall) {
	if call.via == viaGo {
		r.goTasks(call.ws)
		return
	}
	c, w := call.tasks[0], call.ws[0]
	if call.via == viaTryGo {
		if !r.pool.TryGo(w) {
			c.refused = true
			r.refused.Add(1)
			if !r.cancellable() && r.pathUnlimited() {
				r.failf("task %d: TryGo refused it, with no limit on the path and nothing to cancel the batch", c.id)
			}
		}
	} else {
		r.goContext(call)
	}
	r.mono.sample(r.pool)
	r.sampleBounds()
}

func (r *chaosRun) goContext(call *chaosCall) {
	c, w := call.tasks[0], call.ws[0]
	ctx := context.Background()
	switch call.ctx {
	case ctxDone:
		cctx, cancel := context.WithCancelCause(ctx)
		cancel(r.gaveUp)
		ctx = cctx
	case ctxLater:
		if r.synctest {
			cctx, cancel := context.WithTimeoutCause(ctx, call.wait, r.gaveUp)
			defer cancel()
			ctx = cctx
			break
		}
		// The next try to start, of any task, cancels it: while the
		// slots are taken, GoContext is then most likely waiting.
		cctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		ctx = cctx
		r.laterMu.Lock()
		r.later = append(r.later, cancel)
		r.laterN.Store(int32(len(r.later)))
		r.laterMu.Unlock()
	}
	err := r.pool.GoContext(ctx, w)
	switch {
	case err == nil:
		if call.ctx == ctxDone {
			r.failf("task %d: GoContext admitted it with a done context", c.id)
		}
		return
	case err == gopool.ErrClosed:
		if !r.closing.Load() {
			r.failf("task %d: GoContext = ErrClosed, though nothing closed the pool", c.id)
		}
	case strings.HasPrefix(err.Error(), "gopool: task not admitted: ") && chaosIs(err, r.gaveUp):
		if ctx.Err() == nil {
			r.failf("task %d: GoContext = %v, though its context is live", c.id, err)
		}
	case strings.HasPrefix(err.Error(), "gopool: task skipped: "):
		c.admitSkipped = true
		r.admitSkip.Add(1)
		closed := r.closing.Load() && chaosIs(err, gopool.ErrClosed)
		parent := r.parentCause != nil && chaosIs(err, r.parentCause)
		if call.ctx == ctxDone || !(closed || parent || r.shape.failFast) {
			r.failf("task %d: GoContext = %v: skipped, but not by a cancellation of the batch", c.id, err)
		}
		return
	default:
		r.failf("task %d: GoContext = %v: neither nil, ErrClosed, its context's cause nor its batch's", c.id, err)
	}
	c.refused = true
	r.refused.Add(1)
}

func (r *chaosRun) close() error {
	r.closing.Store(true)
	err := r.pool.Close()
	r.closeDone.Store(true)
	return err
}

// expectedTries is how often c is tried when nothing cancels its batch.
func (r *chaosRun) expectedTries(c *chaosTask) int {
	a := r.poolRetry
	if c.ownRetry {
		a = c.attempts
	}
	a = max(a, 1)
	switch c.kind {
	case kFail, kNilErr, kJoinFail:
		return int(a)
	case kRetry, kCustom, kRetryAfter:
		return min(c.fails+1, int(a))
	case kTimeout:
		return int(a) // every try fails, by its timeout or not
	}
	return 1
}

// endTry records the end of a try of a kTimeout or kRetryAfter task: whether
// its timeout ended it, and its error without RetryAfter's mark on top.
func (r *chaosRun) endTry(c *chaosTask, timedOut bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &c.tries[len(c.tries)-1]
	t.end, t.timedOut, t.err = time.Now(), timedOut, err
}

func (r *chaosRun) run(t *testing.T) {
	r.generate()
	r.makePool()
	r.configure()
	l := r.launch(make(chan struct{}))
	r.stopper(l)
	close(l.start)
	r.raceWait(l)
	r.finish(l)
	if got := r.pool.Stats(); got != r.expected {
		r.failf("Stats once every task is waited for =\n\t%+v\nwant, from the ledger,\n\t%+v", got, r.expected)
	}
}

// makePool makes the pool of a single-pool run, with its parent context if
// the shape has one.
func (r *chaosRun) makePool() {
	rng := r.rng
	switch r.shape.stop {
	case stopCancel:
		r.parentCtx, r.cancelParent = context.WithCancelCause(context.Background())
		r.parentCause = fmt.Errorf("chaos seed %d: parent cancelled", r.seed)
	case stopDeadline:
		r.deadline = time.Duration(1+rng.IntN(20)) * time.Millisecond
		var cancel context.CancelFunc
		r.parentCtx, cancel = context.WithTimeout(context.Background(), r.deadline)
		r.cancelParent = func(error) { cancel() }
		r.parentCause = context.DeadlineExceeded
	}
	switch {
	case r.parentCtx != nil:
		r.pool = gopool.NewPoolWithContext(r.parentCtx)
		r.ctxs = []context.Context{r.parentCtx}
	case rng.IntN(2) == 0:
		r.pool = new(gopool.Pool) // the zero Pool is ready to use
	default:
		r.pool = gopool.NewPool()
	}
}

// configure gives the pool its limit, queue, fail-fast, retry policy and
// timeout, and its node the pool and its queue.
func (r *chaosRun) configure() {
	rng, p := r.rng, r.pool
	if r.shape.limit > 0 {
		p.WithLimit(r.shape.limit)
	} else if rng.IntN(3) == 0 {
		p.WithLimit(-rng.IntN(2)) // <= 0: no limit
	}
	switch {
	case r.shape.queue > 0:
		p.WithQueue(r.shape.queue)
	case r.shape.limit == 0 && rng.IntN(4) == 0:
		p.WithQueue(rng.IntN(3) - 1) // without a limit, a queue has no effect
	}
	if r.shape.failFast {
		p.WithFailFast()
	}
	if r.poolRetry > 0 || rng.IntN(4) == 0 {
		p.WithRetry(r.poolRetry, r.retrySleep)
	}
	if r.poolTimeout > 0 || rng.IntN(4) == 0 {
		p.WithTimeout(r.poolTimeout)
	}
	n := r.path[0]
	n.pool = p
	if n.limit > 0 {
		n.queue = r.shape.queue
	}
	n.bound = n.limit + n.queue
}

// chaosLaunch is a run under way: its producers and the goroutines that
// watch it.
type chaosLaunch struct {
	start         chan struct{} // closing it releases the producers
	producersDone chan struct{}
	others        sync.WaitGroup // the drain watchers and what stops the batch early
	watches       []chaosWatch
	waitRace      bool    // a Wait races with the producers
	errs          []error // what that Wait returned
}

type chaosWatch struct {
	early  [][]int
	counts []int
	after  []int
}

// launch starts the producers, which wait for start: several goroutines
// hand the top-level tasks to Go in calls of one to four tasks. It also
// starts the drain watchers: snapshots while producers run must be
// prefixes of the final values; once producers are done, Drain returns only
// when no feeder runs, and no feeder runs after it.
func (r *chaosRun) launch(start chan struct{}) *chaosLaunch {
	rng := r.rng
	l := &chaosLaunch{start: start, producersDone: make(chan struct{})}
	nprod := 1 + rng.IntN(4)
	calls := make([][]*chaosCall, nprod)
	var first *chaosCall
	for i := 0; i < len(r.top); {
		call := &chaosCall{}
		m := min(1+rng.IntN(4), len(r.top)-i)
		if x := rng.IntN(8); x < 3 && !r.top[i].mustGo {
			m, call.via = 1, viaGoCtx
			if x == 0 {
				call.via = viaTryGo
			}
			call.ctx = []int{ctxNever, ctxDone, ctxLater, ctxLater}[rng.IntN(4)]
			call.wait = r.shortWait()
		}
		call.tasks = r.top[i : i+m]
		call.ws = make([]gopool.Worker, m)
		for j, c := range call.tasks {
			call.ws[j] = c.worker
		}
		k := rng.IntN(nprod)
		calls[k] = append(calls[k], call)
		i += m
		if call.via == viaGo || call.via == viaGoCtx && call.ctx == ctxNever {
			r.nSure += m
		}
		if first == nil {
			first = call
		}
	}
	if r.nSure == 0 {
		// Some try must start, to trigger what stops the batch.
		first.via = viaGo
		r.nSure = len(first.tasks)
	}
	r.trigger = int32(1 + rng.IntN(r.nSure))
	l.waitRace = !r.cancellable() && rng.IntN(3) == 0

	var producers sync.WaitGroup
	for _, list := range calls {
		producers.Go(func() {
			<-start
			for _, call := range list {
				r.submit(call)
			}
		})
	}
	go func() { producers.Wait(); close(l.producersDone) }()

	l.watches = make([]chaosWatch, len(r.drains))
	for i, d := range r.drains {
		early := rng.IntN(3)
		l.others.Go(func() {
			w := &l.watches[i]
			<-start
			for range early {
				w.counts = append(w.counts, d.count())
				w.early = append(w.early, d.snapshot())
				w.counts = append(w.counts, d.count())
				runtime.Gosched()
			}
			<-l.producersDone
			w.after = d.snapshot()
			if n := d.feeding.Load(); n != 0 {
				r.failf("drain %s: Drain returned while %d of its feeders were running", d.name, n)
			}
		})
	}
	return l
}

// stopper starts what may stop the batch early, as the shape says. In a
// tree, the root's Close is the tree's to call, not a unit's.
func (r *chaosRun) stopper(l *chaosLaunch) {
	switch {
	case r.shape.stop == stopClose && r.tree == nil:
		l.others.Go(func() {
			<-r.triggered
			r.stopped.Store(true)
			r.f.closed = true
			r.closeErr = r.close()
		})
	case r.shape.closeToo:
		// Close just before, at, or just after the deadline: at the same
		// instant, the deadline's cancellation and Close race.
		closeAt := r.deadline + time.Duration(r.rng.IntN(3)-1)*time.Millisecond
		l.others.Go(func() {
			time.Sleep(closeAt)
			// The parent counts as first once its Done is closed: its Err
			// is set a moment before, and its children cancelled after.
			select {
			case <-r.parentCtx.Done():
				r.f.parentFirst = true
			default:
			}
			r.stopped.Store(true)
			r.f.closed = true
			r.closeErr = r.close()
		})
	case r.shape.stop == stopCancel:
		l.others.Go(func() {
			<-r.triggered
			r.stopped.Store(true)
			r.cancelParent(r.parentCause)
		})
	}
}

// raceWait is the Wait that races with the producers, if the run has one:
// later tasks land in a second batch. Call it right after closing start.
func (r *chaosRun) raceWait(l *chaosLaunch) {
	if l.waitRace {
		l.errs = append(l.errs, r.pool.Wait())
	}
}

// finish waits for the producers and for the batch, and checks the ledger
// and the drains.
func (r *chaosRun) finish(l *chaosLaunch) {
	<-l.producersDone
	l.others.Wait()
	errs := l.errs
	if r.f.closed && r.closeErr != nil {
		errs = append(errs, r.closeErr)
	}
	p := r.pool
	mainErr := p.Wait()
	errs = append(errs, mainErr)
	parentDone, parentAtReturn := false, false
	for _, ctx := range r.ctxs {
		parentDone = parentDone || ctx.Err() != nil
		// In a bubble, a deadline that falls on the very instant Wait
		// returned (a task's last wait ending with it) may be seen by
		// Wait or not: both happened at once.
		if d, ok := ctx.Deadline(); ok && r.synctest && d.Equal(time.Now()) {
			parentAtReturn = true
		}
	}
	if parentDone {
		r.stopped.Store(true)
	}
	// Nothing registered: nil, or the parent's cause; a deadline that
	// falls on this very instant may be seen by the idle Wait though ctx.Err
	// did not report it a moment before (the timer's cancel had not run).
	switch again := p.Wait(); {
	case parentDone && again != r.parentCause:
		r.failf("idle Wait after the parent is done = %v, want its cause %v", again, r.parentCause)
	case !parentDone && again != nil && !(parentAtReturn && again == r.parentCause):
		r.failf("idle Wait = %v, want nil", again)
	}
	if r.cancelParent != nil {
		r.cancelParent(nil)
	}
	f := &r.f
	f.errs, f.mainErr, f.parentCause, f.parentDone, f.stopped = errs, mainErr, r.parentCause, parentDone, r.stopped.Load()
	f.parentAtReturn = parentAtReturn
	r.check(f)
	for i, d := range r.drains {
		r.checkDrain(d, i, l.watches[i].early, l.watches[i].counts, l.watches[i].after)
	}
}

var goexitMsg = "gopool: task called runtime.Goexit"

func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// chaosFacts is what happened to a batch, besides what its tasks did.
type chaosFacts struct {
	errs        []error // every error Wait and Close returned
	mainErr     error   // the Wait after the producers are done (and after Close)
	parentCause error   // the cause of the pool's parent, if it has one
	parentDone  bool    // the parent was done when mainErr was returned
	// parentAtReturn: the parent's deadline fell on the instant Wait
	// returned, so Wait's error may or may not report it.
	parentAtReturn bool
	stopped        bool // Close was called or the parent cancelled
	closed         bool // Close was called
	parentFirst    bool // the parent's Done was closed before Close was called
}

// check compares what the pool reported with what the tasks did.
func (r *chaosRun) check(f *chaosFacts) {
	errs, mainErr, parentCause, parentDone, stopped := f.errs, f.mainErr, f.parentCause, f.parentDone, f.stopped
	byErr := map[error]*chaosTask{}
	byPanic := map[any]*chaosTask{}
	// The errors the pool reports wrapped, by what the wrapper unwraps to:
	// a timed-out try's, with ErrTimeout, and a RetryAfter mark's under
	// another error, with the mark honoured.
	byInner := map[error]*chaosTask{}
	for _, c := range r.tasks {
		byErr[c.failErr] = c
		byPanic[c.panicVal] = c
		byPanic[c.failErr] = c
		c.mu.Lock()
		if c.kind == kJoinFail || (c.kind == kBlock && c.blockRet == blockJoinedFail) {
			if c.last.how == outReturned && c.last.err != nil {
				byErr[c.last.err] = c // a new error on every try: the last one is reported
			}
		}
		if n := len(c.tries); n > 0 && c.tries[n-1].err != nil {
			last := c.tries[n-1]
			switch {
			case c.kind == kRetryAfter && c.raRet == raDeep:
				byInner[last.err] = c
			case c.kind == kTimeout && last.timedOut && c.tmoRet != tmoFail:
				byInner[last.err] = c
			case c.kind == kTimeout && c.tmoRet == tmoJoin:
				byErr[last.err] = c
			}
		}
		c.mu.Unlock()
	}
	reported := map[*chaosTask]int{}
	var nClosed, nCause, nGoexit, nFailures, nPanics, nNil, nNilPanics, nTimedOut int
	var first error
	// The errors Wait joined, or the one it returned: a task's own joined
	// error, which Wait returns as is when it is the only one, is one leaf.
	taskLeaves := func(err error) []error {
		if c := byErr[err]; c != nil {
			return []error{err}
		}
		return leaves(err)
	}
	for _, err := range errs {
		for _, x := range taskLeaves(err) {
			if first == nil && x != gopool.ErrClosed && x != parentCause {
				first = x
			}
			var pe *gopool.PanicError
			_, typedNil := x.(*chaosNilErr)
			switch {
			case typedNil:
				// A kNilErr task's error, judged without its methods:
				// the batch's context was not done when it returned.
				nNil++
				nFailures++
			case errors.As(x, &pe) && error(pe) == x && byPanic[pe.Value] == nil && isNilDeref(pe.Value):
				// A kNilErr task's error, whose Is method panicked when
				// the pool asked whether it echoed the done context.
				if !bytes.Contains(pe.Stack, []byte("chaosNilErr")) {
					r.failf("the panic of a typed-nil error's method: PanicError.Stack lacks its frames:\n%s", pe.Stack)
				}
				nNilPanics++
				nPanics++
				nFailures++
			case x == gopool.ErrClosed:
				nClosed++
			case parentCause != nil && x == parentCause:
				nCause++
			case errors.As(x, &pe) && error(pe) == x:
				c := byPanic[pe.Value]
				if c == nil || (c.kind != kPanicErr && c.kind != kPanicVal) {
					r.failf("reported a panic no task raised: %v", x)
					continue
				}
				if !bytes.Contains(pe.Stack, []byte("chaosRun")) {
					r.failf("task %d: PanicError.Stack lacks the panicking frames:\n%s", c.id, pe.Stack)
				}
				reported[c]++
				nPanics++
				nFailures++
			case x.Error() == goexitMsg:
				nGoexit++
				nFailures++
			default:
				c, inner := byErr[x], error(nil)
				if u, ok := x.(interface{ Unwrap() error }); c == nil && ok {
					inner = u.Unwrap()
					c = byInner[inner]
				}
				if c == nil {
					r.failf("reported an error no task returned: %v", x)
					continue
				}
				if r.checkReported(c, x, inner) {
					nTimedOut++
				}
				reported[c]++
				nFailures++
			}
		}
	}

	// Did anything cut the batch short, so that skips are allowed?
	cutShort := stopped || parentDone || (r.shape.failFast && nFailures > 0)

	var skipped, goexits, nilErrs, submittedN, succeeded, canceled int
	var retries uint64
	for _, c := range r.tasks {
		submitted := c.top && !c.refused || c.submitted.Load()
		calls := int(c.calls.Load())
		c.mu.Lock()
		ends, last, cause := c.ends, c.last, c.cause
		c.mu.Unlock()
		if !submitted {
			if calls > 0 && c.refused {
				r.failf("task %d (%v) ran, though TryGo or GoContext did not admit it", c.id, c.kind)
			} else if calls > 0 {
				r.failf("task %d ran without being submitted", c.id)
			}
			continue
		}
		if c.admitSkipped && calls > 0 {
			r.failf("task %d (%v) ran, though GoContext reported it skipped", c.id, c.kind)
		}
		submittedN++
		if calls > 0 {
			retries += uint64(calls - 1)
			if last.how == outReturned && last.err == nil {
				succeeded++
			}
		}
		if ends != calls {
			r.failf("task %d (%v): started %d tries, ended %d", c.id, c.kind, calls, ends)
		}
		want := r.expectedTries(c)
		switch {
		case calls == 0:
			skipped++
			if !cutShort {
				r.failf("task %d (%v) skipped, though nothing cut the batch short", c.id, c.kind)
			}
		case calls > want:
			r.failf("task %d (%v): tried %d times, want at most %d", c.id, c.kind, calls, want)
		case calls < want && !cutShort:
			r.failf("task %d (%v): tried %d times, want %d", c.id, c.kind, calls, want)
		}
		if calls == 0 {
			if reported[c] > 0 {
				r.failf("task %d never ran but its failure was reported", c.id)
			}
			continue
		}
		r.checkTries(c)
		// What must be reported for this task, exactly once.
		var wantErr error
		switch last.how {
		case outReturned:
			if c.kind == kTimeout || c.kind == kRetryAfter {
				c.mu.Lock()
				lt := c.tries[len(c.tries)-1]
				c.mu.Unlock()
				if c.kind == kTimeout && !lt.timedOut && (c.tmoRet == tmoWrap || c.tmoRet == tmoRetryAfter) {
					canceled++ // an echo of the batch's cancellation
					break
				}
				wantErr = lt.err // without RetryAfter's mark
				if (wantErr == nil) != (last.err == nil) {
					r.failf("task %d (%v): returned %v, recorded %v", c.id, c.kind, last.err, wantErr)
				}
				break
			}
			if c.kind == kBlock && last.err == nil {
				r.failf("blocker %d returned nil", c.id)
			}
			if (c.kind == kBlock && c.blockRet != blockJoinedFail) || c.kind == kEcho {
				if last.err != nil {
					canceled++
				}
				break // an echo of the cancellation: never reported
			}
			if c.kind == kNilErr {
				nilErrs++ // reported as itself, or as the panic of its method: counted below
				continue
			}
			wantErr = last.err
			if c.kind == kPermanent {
				if last.err == nil {
					r.failf("task %d: Permanent returned nil", c.id)
				}
				wantErr = c.failErr // reported without the mark
			}
		case outPanicked:
			wantErr = c.failErr
		case outGoexit:
			goexits++
			continue
		default:
			r.failf("task %d: no outcome recorded after %d tries", c.id, calls)
		}
		if wantErr == nil {
			if reported[c] > 0 {
				r.failf("task %d (%v) succeeded (or echoed the cancellation) but is reported", c.id, c.kind)
			}
			continue
		}
		if reported[c] != 1 {
			r.failf("task %d (%v) failed with %q, reported %d times, want once", c.id, c.kind, wantErr, reported[c])
		}
		reachable := false
		for _, err := range errs {
			if last.how == outPanicked && c.kind == kPanicVal {
				var pe *gopool.PanicError
				reachable = reachable || errors.As(err, &pe) && findPanic(err, c.panicVal)
			} else {
				reachable = reachable || chaosIs(err, wantErr)
			}
		}
		if !reachable {
			r.failf("task %d (%v): failure %q not reachable with errors.Is/As", c.id, c.kind, wantErr)
		}
		if c.kind == kBlock && cause == nil {
			r.failf("blocker %d: no cause recorded", c.id)
		}
	}
	if goexits != nGoexit {
		r.failf("%d tasks called Goexit, %d Goexit failures reported", goexits, nGoexit)
	}
	if nilErrs != nNil+nNilPanics {
		r.failf("%d tasks returned a typed-nil error, %d reported as themselves and %d as the panic of their Is method",
			nilErrs, nNil, nNilPanics)
	}
	if nNilPanics > 0 && !r.cancellable() {
		r.failf("%d typed-nil errors had their methods called, though nothing cancelled the batch before they returned", nNilPanics)
	}
	if r.clean && !cutShort && nFailures > 0 {
		r.failf("no task failed, yet Wait reported %v", errors.Join(errs...))
	}

	// Cancellation bookkeeping: ErrClosed is reported exactly when Close
	// skipped tasks, the parent's cause exactly when the parent is done.
	switch {
	case !f.closed && nClosed > 0:
		r.failf("ErrClosed reported, though nothing closed the pool: %v", errors.Join(errs...))
	case nClosed > 0 && skipped == 0:
		r.failf("ErrClosed reported though every task ran: %v", errors.Join(errs...))
	case nClosed > 0 && f.parentFirst && !r.maybeLate.Load():
		r.failf("ErrClosed reported, though the parent was done before Close: the deadline skipped those tasks: %v", errors.Join(errs...))
	case f.closed && skipped > 0 && nClosed == 0 && !parentDone:
		r.failf("Close skipped %d tasks but no ErrClosed was reported: %v", skipped, errors.Join(errs...))
	case r.late.Load() && nClosed == 0:
		r.failf("tasks handed to Go after Close returned, but no ErrClosed was reported: %v", errors.Join(errs...))
	}
	if parentCause == nil {
		if nCause > 0 {
			r.failf("a parent's cause reported, with no parent: %v", errors.Join(errs...))
		}
	} else if got := slices.Contains(taskLeaves(mainErr), parentCause); parentDone != got && !f.parentAtReturn {
		r.failf("parent done=%v, but Wait's error %v wraps its cause: %v", parentDone, mainErr, got)
	}

	// Every blocker saw why its context ended.
	var wantCauses []error
	switch {
	case r.shape.stop == stopClose:
		wantCauses = []error{gopool.ErrClosed}
	case r.shape.closeToo && !f.parentFirst:
		wantCauses = []error{parentCause, gopool.ErrClosed} // whichever came first
	case r.shape.failFast && r.shape.stop == stopDeadline:
		wantCauses = []error{parentCause, first}
	case r.shape.stop != stopNone:
		wantCauses = []error{parentCause}
	case r.shape.failFast:
		wantCauses = []error{first} // the first failure, which Wait's message leads with
		msg, ok1 := chaosMsg(mainErr)
		firstMsg, ok2 := chaosMsg(first)
		if first != nil && ok1 && ok2 && !strings.HasPrefix(msg, firstMsg) {
			r.failf("Wait's message does not lead with the first failure %q", first)
		}
	}
	for _, c := range r.tasks {
		c.mu.Lock()
		cause := c.cause
		c.mu.Unlock()
		if c.kind == kBlock && cause != nil && !slices.Contains(wantCauses, cause) {
			r.failf("blocker %d: context.Cause = %v, want one of %v", c.id, cause, wantCauses)
		}
	}

	r.expected = gopool.Stats{
		Submitted: uint64(submittedN),
		Succeeded: uint64(succeeded),
		Failed:    uint64(nFailures),
		Panicked:  uint64(nPanics),
		Canceled:  uint64(canceled),
		Skipped:   uint64(skipped),
		Retries:   retries,
	}
	if submittedN != succeeded+nFailures+canceled+skipped {
		r.failf("the ledger does not balance: %d submitted, %d succeeded + %d failed + %d echoed + %d skipped",
			submittedN, succeeded, nFailures, canceled, skipped)
	}
	r.summary = fmt.Sprintf("%d tasks (%d blockers), %d skipped (%d by GoContext), %d not admitted, %d failures reported (%d typed-nil, %d of them as panics; %d timed out), %d ErrClosed, %d causes, peak %d, peak admitted %d",
		len(r.tasks), r.blockers, skipped, r.admitSkip.Load(), r.refused.Load(), nFailures, nNil+nNilPanics, nNilPanics, nTimedOut,
		nClosed, nCause, r.peak.Load(), r.path[0].peakAdmitted.Load())
	if l := int32(r.shape.limit); l > 0 && r.peak.Load() > l {
		r.failf("peak of %d tasks running at once, limit %d", r.peak.Load(), l)
	}
}

// checkReported checks x, a failure reported for c: one that the pool
// wraps (inner is what it unwraps to) keeps its message, and errors.Is
// finds ErrTimeout in it exactly when a try of c's timed out; no RetryAfter
// mark survives in it. It reports whether x is a timed-out failure.
func (r *chaosRun) checkReported(c *chaosTask, x, inner error) bool {
	timedOut := chaosIs(x, gopool.ErrTimeout)
	if inner == nil {
		if timedOut {
			r.failf("task %d (%v): reported %q, in which errors.Is finds ErrTimeout, though it is the task's own error", c.id, c.kind, x)
		}
		return false
	}
	if x.Error() != inner.Error() {
		r.failf("task %d (%v): reported %q, wrapping the task's %q", c.id, c.kind, x, inner)
	}
	if want := c.kind == kTimeout; timedOut != want {
		r.failf("task %d (%v): errors.Is(%q, ErrTimeout) = %v, want %v", c.id, c.kind, x, timedOut, want)
	}
	if r.synctest && c.after > 0 && (c.kind == kRetryAfter || c.tmoRet == tmoRetryAfter) {
		// In another pool, an error without marks is retried at once
		// under a policy without sleep: a RetryAfter mark would wait.
		start, tries := time.Now(), 0
		_ = gopool.NewTask(func(gopool.Args[int]) error { tries++; return x }).WithRetry(2, 0).Execute()
		if d := time.Since(start); tries != 2 || d != 0 {
			r.failf("task %d (%v): reported %q still carries a mark: retried %d times, after %v", c.id, c.kind, x, tries, d)
		}
	}
	return timedOut
}

// checkTries checks the recorded tries of a kTimeout or kRetryAfter task:
// a try that timed out took exactly its timeout (in a bubble), and a try
// after one that returned RetryAfter(after, ...) started exactly after
// later (in a bubble; at least after it, outside).
func (r *chaosRun) checkTries(c *chaosTask) {
	if c.kind != kTimeout && c.kind != kRetryAfter {
		return
	}
	c.mu.Lock()
	tries := slices.Clone(c.tries)
	c.mu.Unlock()
	if len(tries) != int(c.calls.Load()) {
		r.failf("task %d (%v): %d tries recorded of %d", c.id, c.kind, len(tries), c.calls.Load())
	}
	for k, t := range tries {
		if t.end.IsZero() {
			r.failf("task %d (%v): try %d never ended", c.id, c.kind, k+1)
			continue
		}
		if d := t.end.Sub(t.start); r.synctest && t.timedOut && d != c.timeout {
			r.failf("task %d (%v): try %d timed out after %v, its timeout %v", c.id, c.kind, k+1, d, c.timeout)
		}
		if k == 0 || (c.kind == kTimeout && c.tmoRet != tmoRetryAfter) {
			continue
		}
		if gap := t.start.Sub(tries[k-1].end); gap < c.after || r.synctest && gap != c.after {
			r.failf("task %d (%v): try %d started %v after try %d returned RetryAfter(%v, ...)", c.id, c.kind, k+1, gap, k, c.after)
		}
	}
}

// findPanic reports whether a *PanicError with value v is in err's tree.
func findPanic(err error, v any) bool {
	var pe *gopool.PanicError
	if errors.As(err, &pe) && pe.Value == v {
		return true
	}
	for _, x := range leaves(err) {
		if x != err && findPanic(x, v) {
			return true
		}
	}
	return false
}

// chaosIs is errors.Is for the errors of a chaos run: a typed-nil
// *chaosNilErr in err's tree is compared with target, never asked, since its
// Is method panics.
func chaosIs(err, target error) bool {
	for err != nil {
		if reflect.TypeOf(err).Comparable() && err == target {
			return true
		}
		if _, ok := err.(*chaosNilErr); ok {
			return false
		}
		if x, ok := err.(interface{ Is(error) bool }); ok && x.Is(target) {
			return true
		}
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				if chaosIs(x, target) {
					return true
				}
			}
			return false
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		default:
			return false
		}
	}
	return false
}

// chaosMsg returns err's message, and false if asking for it panicked, as it
// does for an error that holds a typed-nil *chaosNilErr.
func chaosMsg(err error) (msg string, ok bool) {
	defer func() {
		if recover() != nil {
			msg, ok = "", false
		}
	}()
	return err.Error(), true
}

// checkDrain compares d's values with what its feeders sent.
func (r *chaosRun) checkDrain(d *chaosDrain, idx int, early [][]int, counts []int, after []int) {
	final := d.snapshot()
	var want []int
	for _, c := range r.tasks {
		if c.drain == idx {
			want = append(want, c.sent...)
		}
	}
	got := slices.Clone(final)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		r.failf("drain %s holds %v, want (in any order) %v", d.name, got, want)
	}
	// Each task's values arrive in the order it sent them.
	lastOf := map[int]int{}
	for _, v := range final {
		id := v / 8 / 64
		if prev, ok := lastOf[id]; ok && v <= prev {
			r.failf("drain %s: task %d's value %d arrived after %d", d.name, id, v, prev)
		}
		lastOf[id] = v
	}
	if !slices.Equal(after, final) {
		r.failf("drain %s: Drain after the producers = %v, but the final one = %v", d.name, after, final)
	}
	for _, e := range early {
		if len(e) > len(final) || !slices.Equal(e, final[:len(e)]) {
			r.failf("drain %s: early snapshot %v is not a prefix of %v", d.name, e, final)
		}
	}
	for i, n := range counts {
		if n > len(final) || (i > 0 && n < counts[i-1]) {
			r.failf("drain %s: Count sequence %v not monotone within [0, %d]", d.name, counts, len(final))
		}
	}
}

// TestChaosLateContext pins down, deterministically, what the deadline
// shapes of TestChaos find at random: a task that first looks at its
// context after the batch was cancelled (by fail-fast or Close) and after
// the pool's parent reached its deadline must see the batch's own
// cancellation, and its echo of it must not be reported as a failure.
func TestChaosLateContext(t *testing.T) {
	errA := errors.New("A failed")
	for _, tc := range []struct {
		name      string
		failFast  bool
		wantCause error
		wantErr   string // what Wait (or Close) returns
	}{
		{"failfast", true, errA, errors.Join(errA, context.DeadlineExceeded).Error()},
		{"close", false, gopool.ErrClosed, context.DeadlineExceeded.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				parent, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				p := gopool.NewPoolWithContext(parent)
				if tc.failFast {
					p.WithFailFast()
				}
				started := make(chan struct{})
				var cause, echo error
				p.Go(gopool.NewTask(func(a gopool.Args[int]) error {
					close(started)
					time.Sleep(2 * time.Second) // the batch is cancelled, then the deadline passes
					<-a.Context.Done()          // the first use of the context
					cause, echo = context.Cause(a.Context), a.Context.Err()
					return echo
				}))
				<-started
				var err error
				if tc.failFast {
					p.Go(gopool.NewTask(func(gopool.Args[int]) error { return errA }))
					synctest.Wait() // errA has cancelled the batch
					err = p.Wait()
				} else {
					err = p.Close()
				}
				if cause != tc.wantCause {
					t.Errorf("the task's context.Cause = %v, want %v (its Err: %v)", cause, tc.wantCause, echo)
				}
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("result = %q, want %q: the task's echo of its context is not a failure", err, tc.wantErr)
				}
			})
		})
	}
}

// TestChaosSynctestBubbles uses a pool inside a synctest bubble while another
// pool runs outside it, as parallel tests of a user's package would. The
// pool must keep each batch's goroutines on its own side: a worker started
// in the bubble must not run a batch from outside, nor the reverse. A fault
// here is a fatal error that kills the process, so it runs in a child
// process.
func TestChaosSynctestBubbles(t *testing.T) {
	if os.Getenv("GOPOOL_CHAOS_HELPER") == "bubbles" {
		bubblesHelper(t)
		return
	}
	out, err := runHelper(t, "TestChaosSynctestBubbles", "GOPOOL_CHAOS_HELPER=bubbles")
	if err != nil {
		t.Errorf("pools inside and outside a synctest bubble: %v\n%s", err, out)
	}
}

func bubblesHelper(t *testing.T) {
	batch := func() {
		ws := make([]gopool.Worker, 8)
		for i := range ws {
			ws[i] = gopool.NewTask(func(gopool.Args[int]) error { return nil })
		}
		if err := gopool.Go(ws...).Wait(); err != nil {
			t.Error(err)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				batch()
			}
		}
	}()
	synctest.Test(t, func(t *testing.T) {
		for range 2000 {
			batch()
		}
	})
	close(stop)
	<-done
}

// helperEnv is the environment of a child test binary: this one's, with env
// added. Under -race a child would sleep a second before it exits (GORACE's
// atexit_sleep_ms), a second of every run of the suite per helper; it is
// told not to.
func helperEnv(env ...string) []string {
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	return append(append(os.Environ(), "GORACE="+gorace), env...)
}

// runHelper runs the test binary again with only test name, the environment
// variable env set, and returns its output, shortened to the part that says
// what went wrong.
func runHelper(t *testing.T, name string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = helperEnv(env...)
	out, err := cmd.CombinedOutput()
	s := string(out)
	if len(s) > 3000 {
		s = s[:3000] + "\n..."
	}
	return s, err
}
