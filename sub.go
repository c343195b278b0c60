package gopool

import (
	"context"
	"time"
)

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
//
// A pool tree must stay within one testing/synctest bubble, or outside all:
// Sub panics if it is called inside a bubble on a pool made outside it, or
// the other way round.
func (p *Pool) Sub() *Pool {
	s := new(Pool)
	p.initSub(s)
	return s
}

// initSub makes s, a zero Pool, a sub-pool of p.
func (p *Pool) initSub(s *Pool) {
	p.tree().mustShareBubble()
	s.tr, s.parent, s.hasCtx = p.tree(), p, p.hasCtx
}

// SubWithContext returns a new sub-pool of p, as [Pool.Sub] does, whose
// batches also derive their context from ctx: a batch is cancelled when ctx
// is done or when p's lifetime ends, and context.Cause reports whichever came
// first (or, for two contexts done at once, before the pool noticed either,
// the cause of the one nearer the sub-pool). Tasks see ctx's values through [Args].Context. Once ctx is done,
// tasks not yet started are skipped, and every Wait from then on returns an
// error that wraps context.Cause(ctx). It panics if ctx is nil.
func (p *Pool) SubWithContext(ctx context.Context) *Pool {
	if ctx == nil {
		panic("gopool: SubWithContext called with a nil context")
	}
	p.tree().mustShareBubble()
	s := &Pool{tr: p.tree(), parent: p, ctx: ctx, done: ctx.Done()}
	s.hasCtx = p.hasCtx || s.done != nil
	return s
}

// Whether a tree was made inside a testing/synctest bubble. Its workers and
// its lock are shared by all its pools, and a bubble's goroutines must not
// be woken from outside it, nor wait on what is outside: that is a fatal
// error, which ends the whole test binary. So Sub refuses to cross the
// bubble's edge, with a panic that names the mistake.
const (
	bubbleUnknown uint32 = iota
	bubbleOutside
	bubbleInside
)

// bubbleEpochEnd tells a bubble's clock from a real one. The testing/synctest
// API cannot say whether the caller is in a bubble, but a bubble's clock
// starts at midnight UTC 2000-01-01, and no real clock reads a time before
// 2010: a test would have to move its bubble's clock ten years on to fool it.
var bubbleEpochEnd = time.Date(2010, time.January, 1, 0, 0, 0, 0, time.UTC)

func bubbleNow() uint32 {
	if time.Now().Before(bubbleEpochEnd) {
		return bubbleInside
	}
	return bubbleOutside
}

// mustShareBubble panics unless the caller is in the bubble the tree was
// made in, or both are outside any; a tree made by NewPool or
// NewPoolWithContext knows where it was made, and the zero Pool's tree
// learns it at its first Sub.
func (t *tree) mustShareBubble() {
	here := bubbleNow()
	if t.bubble.CompareAndSwap(bubbleUnknown, here) {
		return
	}
	if t.bubble.Load() != here {
		panic("gopool: Sub called across the edge of a testing/synctest bubble: a pool and its sub-pools must all be made and used in one bubble, or outside all")
	}
}
