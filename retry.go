package gopool

import (
	"context"
	"math/bits"
	"math/rand/v2"
	"time"
)

// maxWait caps the wait between two tries of a task, unless the task's sleep
// is longer, in which case sleep itself is the cap.
const maxWait = time.Minute

// retryPolicy says how often and how patiently a task is tried.
type retryPolicy struct {
	attempts uint          // total tries; 0 and 1 both mean one
	sleep    time.Duration // base wait before the second try; never negative
}

func newRetryPolicy(attempts uint, sleep time.Duration) retryPolicy {
	return retryPolicy{attempts: attempts, sleep: max(sleep, 0)}
}

// randUint64 draws the jitter; tests replace it to prove when it is not used.
var randUint64 = rand.Uint64

// backoff returns the wait before try k+1, after k >= 1 failed tries: a
// duration drawn uniformly from [d/2, 3d/2) by draw, where d = sleep*2^(k-1),
// then capped at max(sleep, maxWait). It cannot overflow: d is computed only
// while d/2 is below the cap.
func backoff(k uint, sleep time.Duration, draw uint64) time.Duration {
	if sleep <= 0 || k == 0 {
		return 0
	}
	limit := uint64(max(sleep, maxWait))
	if k-1 >= 63 || uint64(sleep) > 2*limit>>(k-1) {
		return time.Duration(limit) // d/2 >= limit: every draw is capped
	}
	d := uint64(sleep) << (k - 1)
	if d/2 >= limit {
		return time.Duration(limit)
	}
	// The high word of draw*d is uniform in [0, d).
	if j, _ := bits.Mul64(draw, d); j < limit-d/2 {
		return time.Duration(d/2 + j)
	}
	return time.Duration(limit)
}

// retry finishes a task whose first try failed with err: it tries again with
// try(2), try(3), ... as the policy allows, waiting between tries, and
// returns the last error, without its marks. A [Permanent] error, or ctx
// being done, ends it; a [RetryAfter] error sets the next wait instead of
// the backoff, and draws no random number.
func (p retryPolicy) retry(ctx context.Context, err error, try func(attempt int) error) error {
	for k := uint(1); ; k++ {
		var m marks
		m, err = unmark(err)
		if m.permanent || k >= p.attempts {
			return err
		}
		wait := m.after
		if !m.retryAfter {
			wait = backoff(k, p.sleep, randUint64())
		}
		if !sleep(ctx, wait) {
			return err
		}
		if err = try(int(k + 1)); err == nil {
			return nil
		}
	}
}

// sleep waits for d or until ctx is done, and reports whether ctx is live.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
