package gopool

import (
	"context"
	"sync/atomic"
	"time"
)

// Executable is work that can be run once, returning its failure.
type Executable interface{ Execute() error }

// Retryable is work that can be given a retry policy.
type Retryable interface {
	WithRetry(attempts uint, sleep time.Duration) Worker
}

// Worker is what a [Pool] runs. [*Task] is the Worker this package provides;
// a Worker of another type, even one that embeds a *Task, is run through
// Execute, under the pool's retry policy (see [Pool.WithRetry]): it cannot
// see the pool's context, so the pool's timeout does not reach it, and a
// [Drain] does not wait for it. If it embeds a *Task that has a retry policy
// of its own, that policy alone applies, inside Execute, with
// context.Background: tries never multiply, but Close and fail-fast do not
// cut its waits short. A timeout of the embedded *Task's own applies to each
// try inside Execute.
type Worker interface {
	Executable
	Retryable
}

// Args is what a [Task]'s function receives each time it is tried.
type Args[T any] struct {
	Input   *T              // set by WithInput; nil when none
	Drainer *Drain[T]       // set by DrainTo; nil when none
	Context context.Context // never nil; done when the task's pool is cancelled or closed, or the try times out
	Attempt int             // 1 on the first try, 2 on the first retry, ...
}

// Task is a unit of work whose function receives [Args] of type T. It is
// configured with WithInput, DrainTo, WithTimeout and WithRetry before it is
// handed to a [Pool]; after that it must not be reconfigured, but it may be
// handed to any number of pools, any number of times, also concurrently: a
// Task keeps no state of its own between runs.
//
// Create tasks with [NewTask]: the zero Task has no function to run. A Task
// is one 32-byte allocation, whatever it is configured with: WithInput and
// DrainTo store a pointer in it, and WithRetry and WithTimeout allocate only
// when they give t options other than those they last gave any task, since
// tasks built alike share their options.
type Task[T any] struct {
	fn    func(Args[T]) error
	input *T
	drain *Drain[T]
	opts  *taskOptions
}

// taskOptions holds what few tasks set, so that Task stays four words.
// It is immutable once a task points to it, and may be shared by tasks.
type taskOptions struct {
	retry      retryPolicy
	timeout    time.Duration // never negative; 0 means none
	hasRetry   bool
	hasTimeout bool
}

// lastRetry and lastTimeout remember the options that WithRetry and
// WithTimeout last gave a task, so that tasks built alike in a loop share
// them without allocating, whichever order they are configured in.
var lastRetry, lastTimeout atomic.Pointer[taskOptions]

// options returns t's options, or the zero options if it has none.
func (t *Task[T]) options() taskOptions {
	if t.opts == nil {
		return taskOptions{}
	}
	return *t.opts
}

// sharedOptions returns options equal to want: those that last holds if they
// are, and otherwise new ones, which it then holds.
func sharedOptions(last *atomic.Pointer[taskOptions], want taskOptions) *taskOptions {
	if o := last.Load(); o != nil && *o == want {
		return o
	}
	o := new(taskOptions)
	*o = want
	last.Store(o)
	return o
}

// NewTask returns a task that runs fn. It panics if fn is nil.
func NewTask[T any](fn func(Args[T]) error) *Task[T] {
	if fn == nil {
		panic("gopool: NewTask called with a nil function")
	}
	return &Task[T]{fn: fn}
}

// WithInput sets the value that fn receives as [Args].Input, and returns t.
// It allocates nothing: use it when a task's input and its result have the
// same type T; otherwise capture the input in fn's closure, or use [Map].
func (t *Task[T]) WithInput(input *T) *Task[T] {
	t.input = input
	return t
}

// DrainTo sets the drain that fn receives as [Args].Drainer, and returns t.
// Once t is handed to a [Pool], d's Drain waits for t to finish. It panics if
// d is nil.
func (t *Task[T]) DrainTo(d *Drain[T]) *Task[T] {
	if d == nil {
		panic("gopool: DrainTo called with a nil drain")
	}
	t.drain = d
	return t
}

// WithRetry gives t its own retry policy, which wins over any pool's, and
// returns t. attempts is the total number of tries: 0 and 1 both mean one.
// Before try k+1, t waits sleep*2^(k-1), jittered uniformly within [1/2, 3/2)
// of that, and never more than one minute, or sleep if sleep is longer; a
// negative sleep counts as 0. The wait ends at once when the task's context is
// done, and the task then fails with its last error. A [Permanent] error or a
// panic ends the tries at once; a [RetryAfter] error sets the next wait.
// WithRetry keeps t's timeout.
func (t *Task[T]) WithRetry(attempts uint, sleep time.Duration) Worker {
	o := t.options()
	o.retry, o.hasRetry = newRetryPolicy(attempts, sleep), true
	t.opts = sharedOptions(&lastRetry, o)
	return t
}

// Execute runs t on the calling goroutine with its own retry policy and
// timeout, and context.Background, and returns its last error. A panic in
// t's function propagates, as in any function call; only a [Pool] recovers
// panics.
func (t *Task[T]) Execute() error {
	var tries int
	return t.run(context.Background(), policy{}, &tries, false)
}

// run tries t with ctx, under its own retry policy and timeout, or else
// under fallback's, and counts its tries. For a pool (pooled), the drain t
// feeds learns that t finished once it returns; after a panic, the pool
// tells it.
func (t *Task[T]) run(ctx context.Context, fallback policy, tries *int, pooled bool) error {
	a := Args[T]{Input: t.input, Drainer: t.drain, Context: ctx, Attempt: 1}
	p := fallback
	if o := t.opts; o != nil {
		if o.hasRetry {
			p.retry = o.retry
		}
		if o.hasTimeout {
			p.timeout = o.timeout
		}
	}
	*tries = 1
	var err error
	if p.timeout > 0 {
		err = t.tryTimed(ctx, a, p.timeout)
	} else {
		err = t.fn(a)
	}
	if err != nil {
		err = t.retry(ctx, a, p, err, tries)
	}
	if pooled && t.drain != nil {
		t.drain.feed.done()
	}
	return err
}

// retry tries t again under p, with a for its first try, which failed with
// err. It is apart from run, and takes a by value, so that a task that
// succeeds at once builds no closure and keeps a in registers.
func (t *Task[T]) retry(ctx context.Context, a Args[T], p policy, err error, tries *int) error {
	return p.retry.retry(ctx, err, func(attempt int) error {
		a.Attempt, *tries = attempt, attempt
		if p.timeout > 0 {
			return t.tryTimed(ctx, a, p.timeout)
		}
		return t.fn(a)
	})
}

// tryTimed tries t with a, and a context derived from ctx that is done d
// after the try starts (see timedTry).
func (t *Task[T]) tryTimed(ctx context.Context, a Args[T], d time.Duration) error {
	return timedTry(ctx, d, func(ctx context.Context) error {
		a.Context = ctx
		return t.fn(a)
	})
}

// ownsRetry reports whether t has a retry policy of its own.
func (t *Task[T]) ownsRetry() bool { return t.opts != nil && t.opts.hasRetry }

// runWorker runs w, a Worker other than a *Task, through Execute under the
// pool's retry policy. A Worker that embeds a *Task with a policy of its own
// is retried by that policy alone, inside Execute, so that tries never
// multiply.
func runWorker(ctx context.Context, w Worker, fallback retryPolicy, tries *int) error {
	if t, ok := w.(task); ok && t.ownsRetry() {
		fallback = retryPolicy{}
	}
	*tries = 1
	err := w.Execute()
	if err == nil {
		return nil
	}
	return fallback.retry(ctx, err, func(attempt int) error {
		*tries = attempt
		return w.Execute()
	})
}

// feed returns the drain t feeds, or nil. It panics if t is nil, so that a
// nil *Task handed to [Pool.Go] is caught there rather than in a worker.
func (t *Task[T]) feed() *feed {
	if t == nil {
		panic("gopool: Go called with a nil *Task")
	}
	if t.drain == nil {
		return nil
	}
	return &t.drain.feed
}

// is reports whether w is t itself, not a Worker that embeds it.
func (t *Task[T]) is(w Worker) bool {
	u, ok := w.(*Task[T])
	return ok && u == t
}

// task is what the pool needs of a [*Task], whatever its T.
type task interface {
	Worker
	run(ctx context.Context, fallback policy, tries *int, pooled bool) error
	ownsRetry() bool
	feed() *feed
	is(w Worker) bool
}

// asTask returns w as a task if it is a *Task itself. A type that embeds a
// *Task has its methods too, but is a Worker of its own: the pool runs it
// through its Execute.
func asTask(w Worker) (task, bool) {
	t, ok := w.(task)
	return t, ok && t.is(w)
}
