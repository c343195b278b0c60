package gopool

import (
	"context"
	"time"
)

// Map runs fn over inputs as tasks of a new sub-pool of p (so p's limit, and
// only the sub-pool's own failures, apply), and returns the outputs in input
// order, with the sub-pool's [Pool.Wait] error. The sub-pool takes p's retry
// policy, timeout and fail-fast setting. A failed input's slot holds Out's
// zero value, as does that of an input skipped by fail-fast; on error the
// outputs are still returned, so that partial results are usable. A panic in
// fn becomes a [*PanicError] in the error. A nil p means a new pool with no
// limit.
//
// Beyond the output slice, Map allocates a few slices for all inputs, not an
// object per input.
func Map[In, Out any](p *Pool, inputs []In, fn func(ctx context.Context, in In) (Out, error)) ([]Out, error) {
	if p == nil {
		p = NewPool()
	}
	out := make([]Out, len(inputs))
	if len(inputs) == 0 {
		return out, nil
	}
	s := p.Sub()
	t := p.tree()
	t.mu.Lock()
	s.retry, s.timeout, s.failFast = p.retry, p.timeout, p.failFast
	t.mu.Unlock()
	m := &mapping[In, Out]{fn: fn, inputs: inputs, out: out}
	items := make([]mapItem[In, Out], len(inputs))
	ws := make([]Worker, len(inputs))
	for i := range items {
		items[i] = mapItem[In, Out]{m: m, i: i}
		ws[i] = &items[i]
	}
	return out, s.Go(ws...).Wait()
}

// mapping is what the tasks of one Map share.
type mapping[In, Out any] struct {
	fn     func(context.Context, In) (Out, error)
	inputs []In
	out    []Out
}

// mapItem is the task of one input of a Map. It is a task to the pool, so
// that it sees its batch's context and the retry policy.
type mapItem[In, Out any] struct {
	m *mapping[In, Out]
	i int
}

func (it *mapItem[In, Out]) run(ctx context.Context, fallback policy, tries *int) error {
	try := func(attempt int) error {
		*tries = attempt
		if fallback.timeout > 0 {
			return timedTry(ctx, fallback.timeout, it.try)
		}
		return it.try(ctx)
	}
	err := try(1)
	if err == nil {
		return nil
	}
	return fallback.retry.retry(ctx, err, try)
}

// try runs fn once over the item's input, with ctx.
func (it *mapItem[In, Out]) try(ctx context.Context) error {
	v, err := it.m.fn(ctx, it.m.inputs[it.i])
	if err == nil {
		it.m.out[it.i] = v
	}
	return err
}

func (it *mapItem[In, Out]) Execute() error {
	var tries int
	return it.run(context.Background(), policy{}, &tries)
}

func (it *mapItem[In, Out]) WithRetry(uint, time.Duration) Worker { return it }
func (it *mapItem[In, Out]) ownsRetry() bool                      { return false }
func (it *mapItem[In, Out]) feed() *feed                          { return nil }
func (it *mapItem[In, Out]) self() Worker                         { return it }
