package gopool

import "context"

// Sub returns a new sub-pool of p. A sub-pool is a [Pool] with everything a
// Pool has (batches, Go, Wait, Close, its own configuration and its own
// sub-pools) and inherits nothing from p but two things:
//
//   - the limits: its tasks count against its own limit and against every
//     limit above it, so under p.WithLimit(n) at most n tasks of p and of
//     all the pools below it run at once;
//   - the lifetime: [Pool.Close] on p closes it too, and once the context of
//     p (or of a pool above p) is done, its batches are cancelled with that
//     context's cause.
//
// Its Wait waits for its own tasks and reports its own failures only, and
// ending p's batch does not end or cancel its batches. It shares p's workers,
// so its tasks cost what p's cost. Creating one costs one allocation, and p
// keeps no reference to it once it has no batch in flight.
func (p *Pool) Sub() *Pool {
	return &Pool{tr: p.tree(), parent: p, hasCtx: p.hasCtx}
}

// SubWithContext returns a new sub-pool of p, as [Pool.Sub] does, whose
// batches also derive their context from ctx: a batch is cancelled when ctx
// is done or when p's lifetime ends, and context.Cause reports whichever came
// first. Tasks see ctx's values through [Args].Context. Once ctx is done,
// tasks not yet started are skipped, and every Wait from then on returns an
// error that wraps context.Cause(ctx). It panics if ctx is nil.
func (p *Pool) SubWithContext(ctx context.Context) *Pool {
	if ctx == nil {
		panic("gopool: SubWithContext called with a nil context")
	}
	s := &Pool{tr: p.tree(), parent: p, ctx: ctx, done: ctx.Done()}
	s.hasCtx = p.hasCtx || s.done != nil
	return s
}
