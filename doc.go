// Package gopool runs tasks concurrently with a limit, per-try timeouts,
// retries with exponential backoff and jitter, typed result collection, and
// a shutdown that leaves no goroutine behind.
//
// A [Task] wraps a function of [Args]; [Task.DrainTo] gives it a typed
// [Drain] to send results to, [Task.WithInput] an input,
// [Task.WithTimeout] a time limit per try, and [Task.WithRetry] a retry
// policy. A [Pool] runs tasks, and any other
// [Worker], on goroutines of its own:
//
//	results := gopool.NewDrainer[Page]()
//	pool := gopool.NewPool().WithLimit(8)
//	for _, url := range urls {
//		pool.Go(gopool.NewTask(func(a gopool.Args[Page]) error {
//			page, err := fetch(a.Context, url)
//			if err == nil {
//				a.Drainer.Send(page)
//			}
//			return err
//		}).DrainTo(results).WithRetry(3, 100*time.Millisecond))
//	}
//	err := pool.Wait()
//	pages := results.Drain()
//
// # Choosing gopool over errgroup
//
// golang.org/x/sync/errgroup is the baseline: gopool keeps its shape (Go,
// then Wait; a limit that makes Go block) and adds what errgroup leaves to
// its users: every failure is reported, not only the first; a panic becomes
// an error instead of a crash; tasks can be retried; results are collected
// in typed drains; [Pool.Close] stops a batch and reports what it cut short.
// It also costs less per task, because it reuses its goroutines within a
// batch; see the README for the benchmarks.
//
// # Semantics
//
// Batches. A pool's work comes in batches: the first [Pool.Go] starts one
// and [Pool.Wait] ends it, after every task registered in it has finished or
// been skipped. Each batch has its own context ([Args].Context), cancelled
// when it ends, and its own failures; the next Go starts a fresh batch. The
// pool's first batch is allocated with the pool, each later one costs one
// allocation, and the context costs more only once a task looks at it. Once
// Wait returns, the batch's failures and context are released.
//
// Limit. Under [Pool.WithLimit](n), at most n task bodies run at once, and Go
// blocks while n tasks are running, so memory stays bounded by n however many
// tasks a producer submits. [Pool.WithQueue](q) lets q more tasks wait in a
// queue, so that a producer runs ahead of the workers with memory bounded by
// n+q. [Pool.TryGo] refuses a task that cannot be admitted at once, and
// [Pool.GoContext] waits for admission only while its context is live.
// Without a limit every task may run at once.
//
// Sub-pools. [Pool.Sub] and [Pool.SubWithContext] make a pool that shares its
// parent's limit (and every limit above it) and workers, but has its own
// batches, failures and configuration: a service keeps one limited pool for
// a downstream and gives each request a sub-pool to wait on. A slot that
// frees goes to the oldest blocked Go that every limit on its path admits.
// [Pool.Close] closes the pool and every pool below it; a done context
// cancels the batches of its pool and of every pool below. [Pool.Stats]
// counts a pool's tasks and those of every pool below it.
//
// Failures. Wait returns nil, the one failure itself, or an error that joins
// every failure in the order the tasks finished (errors.Is and errors.As
// reach each). A task's error is not a failure when it only echoes the
// batch's cancellation: the batch's context was done when the task returned,
// and every error at the leaves of the error's tree (through Unwrap) is that
// context's Err, as with ctx.Err() or fmt.Errorf("stopping: %w", ctx.Err()).
// An error that carries another failure beside the echo, as
// errors.Join(err, ctx.Err()) does, is a failure, and so is a panic. The pool
// calls an error's methods only to judge an echo, never while holding its
// lock; a panic in one becomes the task's failure. By default a failure does
// not stop other tasks; under [Pool.WithFailFast] the first failure cancels
// the batch's context, with the failure as context.Cause, and tasks not yet
// started are skipped.
//
// Panics. A panic in a task run by a pool is recovered into a [*PanicError]
// carrying the value and the stack; it is that task's failure and is never
// retried. A task calling runtime.Goexit fails too.
//
// Retry. [Task.WithRetry] and [Pool.WithRetry] give the number of tries and
// a base wait that doubles after each failed try, jittered within [1/2, 3/2)
// and capped at a minute, or at the base wait if that is longer. A task's own
// policy wins over its pool's, also for a [Worker] that embeds the task, and
// tries never multiply; a [Permanent] error stops the tries at once, and a
// [RetryAfter] error makes the next wait exactly what it says, as a server's
// Retry-After header would, with no jitter and no cap but the context. A
// mark does not outlive the pool that honoured it. Tasks without a policy
// touch neither the clock nor the random source.
//
// Timeouts. Under [Task.WithTimeout] or [Pool.WithTimeout](d), each try's
// [Args].Context is done d after the try starts, with context.Cause
// [ErrTimeout]. The try that timed out has failed (the batch was not
// cancelled, so its error is no echo) and is retried like any failure;
// errors.Is(err, ErrTimeout) holds for its error if it returned the
// context's. The timeout is cooperative: a function that ignores its
// context runs on. A task's own timeout wins over its pool's; tasks without
// one touch neither the clock nor any timer.
//
// Results. [Drain.Send] is safe from any goroutine. [Drain.Drain] waits for
// every task registered with a pool that feeds the drain, and returns a copy
// of the values, in arrival order. [Task.WithInput] gives a task an input of
// its own type T at no cost; for an input of another type, capture it in the
// task's closure, or use [Map], which returns its outputs in input order.
//
// Close. [Pool.Close] cancels the batches of the pool and of every pool below
// it with cause [ErrClosed], skips what has not started, waits for what has,
// and makes later tasks never run; it reports ErrClosed when it cut the
// pool's batch short, and the next Wait does when tasks were handed to Go
// after it.
//
// Shutdown. When Wait or Close returns, every task of the batch has returned
// and no worker will touch the batch again; as with errgroup, the goroutines
// that ran the tasks may take a moment more to exit. Workers exit as soon as
// no task is registered in the pool's tree, so a pool that is drained but
// never waited for leaves no worker behind; still, only Wait ends the batch
// and cancels its context. A Wait that ends the last live batch of its tree
// also waits for the tree's workers to stop, so that a pool made per batch
// leaves none of them behind, waiting to be scheduled. A context of a type
// of your own (not made by the context package) costs up to two goroutines
// per batch while the batch is live, as context.AfterFunc and a derived
// context need for such a context; they exit when Wait ends the batch, or
// when the context is done.
//
// # Cost
//
// A [Task] is one 32-byte allocation; running it on a pool allocates nothing
// more, unless it has a timeout, which costs a context and a timer per try.
// Measured at GOMAXPROCS=1 on the machine of the README's benchmarks, a
// pool without a limit adds about 115 ns to a task of 0.3 µs called inline,
// where errgroup adds about 760 ns; under WithLimit(1) each task costs a
// hand-off between producer and worker, about 230 ns, where a channel
// feeding one goroutine costs about 150 ns and errgroup about 335 ns. [Map]
// hands off no input while a slot is free: under WithLimit(1) it adds under
// 10 ns an input. A sub-pool costs one allocation; [Pool.Stats] costs
// nothing per task beyond counters kept under the lock the task takes anyway.
package gopool
