package gopool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// A tryStep is what one try of FuzzRetrySchedule's task does: it works for
// work (cut short if its context is done first, when it returns the
// context's error), then returns according to kind.
type tryStep struct {
	kind  stepKind
	after time.Duration // the RetryAfter delay, for kinds that carry one
	work  time.Duration
}

type stepKind uint8

const (
	stepFail              stepKind = iota // a plain failure
	stepRetryAfter                        // RetryAfter(after, err)
	stepRetryAfterWrapped                 // fmt.Errorf("wrapped: %w", RetryAfter(after, err))
	stepPermanent                         // Permanent(err)
	stepBoth                              // Permanent(RetryAfter(after, err))
	stepSucceed                           // nil
	stepHang                              // waits for its context, then returns its error
	stepKinds
)

// parseSteps reads three bytes per try: kind, RetryAfter delay (in 250ms
// steps from -2s, so that some are negative), and work (in 100ms steps).
func parseSteps(script []byte) []tryStep {
	var steps []tryStep
	for i := 0; i+3 <= len(script) && len(steps) < 16; i += 3 {
		steps = append(steps, tryStep{
			kind:  stepKind(script[i] % byte(stepKinds)),
			after: time.Duration(script[i+1])*250*time.Millisecond - 2*time.Second,
			work:  time.Duration(script[i+2]) * 100 * time.Millisecond,
		})
	}
	if len(steps) == 0 {
		steps = []tryStep{{kind: stepFail}}
	}
	return steps
}

// scheduleModel is what FuzzRetrySchedule expects of a run.
type scheduleModel struct {
	starts    []time.Duration // of each try, from the start of the run
	deadlines []time.Duration // each try's context's deadline; -1 if none
	end       time.Duration   // when the task ends and Wait returns
	outcome   outcome         // succeeded, failed, or canceled (an echo of the deadline)
	last      int             // the try whose error is the task's failure
	timedOut  bool            // that try timed out
	draws     int             // random draws: one per backoff wait
	ambiguous bool            // two events at one instant: the order is not defined
}

// model computes the schedule of a task with the given retry policy and
// timeout (0: none), in a pool whose context has the given deadline (0:
// none), trying steps in turn (cycling), with draw giving each backoff's
// random number. It uses backoff itself for the backoff waits, which
// FuzzBackoff checks against an exact-integer model.
func model(attempts uint, sleep, timeout, deadline time.Duration, steps []tryStep, draw func() uint64) scheduleModel {
	const never = time.Duration(1<<63 - 1)
	var m scheduleModel
	d := never
	if deadline > 0 {
		d = deadline
	}
	now := time.Duration(0)
	for k := 1; ; k++ {
		step := steps[(k-1)%len(steps)]
		m.starts = append(m.starts, now)
		ctxDone := d // when the try's context is done
		if timeout > 0 {
			if now+timeout == d {
				m.ambiguous = true
			}
			ctxDone = min(ctxDone, now+timeout)
		}
		if ctxDone == never {
			m.deadlines = append(m.deadlines, -1)
		} else {
			m.deadlines = append(m.deadlines, ctxDone)
		}
		work := step.work
		if step.kind == stepHang {
			work = never
		}
		if work != never && now+work == ctxDone {
			m.ambiguous = true
		}
		timedOut := false
		if work == never || now+work > ctxDone {
			if ctxDone == never {
				panic("a try that hangs with nothing to end it")
			}
			now = ctxDone
			if ctxDone == d { // the batch's deadline: the error is an echo
				m.end, m.outcome = now, canceled
				if uint(k) < attempts {
					// The retry loop draws the backoff before its wait
					// finds the context done.
					m.draws++
				}
				return m
			}
			timedOut = true
			step = tryStep{kind: stepFail} // a timeout fails like a plain error
		} else {
			now += work
		}
		if step.kind == stepSucceed {
			m.end, m.outcome = now, succeeded
			return m
		}
		m.last, m.timedOut = k, timedOut
		if step.kind == stepPermanent || step.kind == stepBoth || uint(k) >= attempts {
			m.end, m.outcome = now, failed
			return m
		}
		var wait time.Duration
		if step.kind == stepRetryAfter || step.kind == stepRetryAfterWrapped {
			wait = max(step.after, 0)
		} else {
			m.draws++
			wait = backoff(uint(k), sleep, draw())
		}
		if d != never && now+wait >= d {
			if now+wait == d {
				m.ambiguous = true
			}
			m.end, m.outcome = d, failed // the wait is cut at the deadline
			return m
		}
		now += wait
	}
}

// FuzzRetrySchedule runs one task through a pool in a synctest bubble, with
// a fuzzed retry policy, timeout, pool deadline, random draws and a script
// of tries that mixes RetryAfter delays (on top or wrapped, negative ones
// included), plain failures that back off, Permanent marks alone and with
// RetryAfter, successes, slow tries and hanging ones. It checks every
// instant against the model: when each try starts, the deadline its context
// reports, when Wait returns and with what (the last try's error itself,
// unmarked, or the same message without live marks when the mark was
// wrapped; ErrTimeout for a try that timed out; the deadline's error), the
// Stats, and that only backoff waits draw a random number.
func FuzzRetrySchedule(f *testing.F) {
	f.Add(uint8(5), uint16(1000), uint16(0), uint32(0), uint64(1), []byte{1, 20, 0, 0, 0, 0, 2, 40, 3, 5, 0, 0})
	f.Add(uint8(4), uint16(300), uint16(2000), uint32(0), uint64(2), []byte{6, 0, 0, 1, 8, 1, 6, 0, 0, 5, 0, 1})
	f.Add(uint8(8), uint16(60000), uint16(1500), uint32(9000), uint64(3), []byte{0, 0, 5, 1, 200, 2, 6, 0, 0})
	f.Add(uint8(3), uint16(10), uint16(0), uint32(2500), uint64(4), []byte{4, 30, 1, 3, 0, 0})
	f.Add(uint8(2), uint16(0), uint16(500), uint32(700), uint64(5), []byte{6, 0, 0})
	f.Fuzz(func(t *testing.T, attemptsB uint8, sleepMs, timeoutMs uint16, deadlineMs uint32, seed uint64, script []byte) {
		attempts := uint(attemptsB % 9)
		sleep := time.Duration(sleepMs) * time.Millisecond
		timeout := time.Duration(timeoutMs) * time.Millisecond
		deadline := time.Duration(deadlineMs%(1<<22)) * time.Millisecond
		steps := parseSteps(script)
		if timeout == 0 && deadline == 0 {
			for i := range steps {
				if steps[i].kind == stepHang { // nothing would end it
					steps[i].kind = stepFail
				}
			}
		}

		want := model(attempts, sleep, timeout, deadline, steps, rand.New(rand.NewPCG(seed, 0)).Uint64)
		if want.ambiguous {
			t.Skip("two events at one instant")
		}
		drawn := 0
		src := rand.New(rand.NewPCG(seed, 0))
		saved := randUint64
		randUint64 = func() uint64 { drawn++; return src.Uint64() }
		defer func() { randUint64 = saved }()

		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			ctx, p := context.Background(), (*Pool)(nil)
			if deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, deadline)
				defer cancel()
				p = NewPoolWithContext(ctx)
			} else {
				p = NewPool()
			}
			var starts, deadlines []time.Duration
			var bases []error // each try's own error, before marks
			tk := NewTask(func(a Args[int]) error {
				k := a.Attempt
				starts = append(starts, time.Since(start))
				if dl, ok := a.Context.Deadline(); ok {
					deadlines = append(deadlines, dl.Sub(start))
				} else {
					deadlines = append(deadlines, -1)
				}
				base := fmt.Errorf("try %d", k)
				bases = append(bases, base)
				step := steps[(k-1)%len(steps)]
				if step.kind == stepHang {
					<-a.Context.Done()
					return a.Context.Err()
				}
				timer := time.NewTimer(step.work)
				defer timer.Stop()
				select {
				case <-timer.C:
				case <-a.Context.Done():
					return a.Context.Err()
				}
				switch step.kind {
				case stepRetryAfter:
					return RetryAfter(step.after, base)
				case stepRetryAfterWrapped:
					return fmt.Errorf("wrapped: %w", RetryAfter(step.after, base))
				case stepPermanent:
					return Permanent(base)
				case stepBoth:
					return Permanent(RetryAfter(step.after, base))
				case stepSucceed:
					return nil
				}
				return base
			}).WithTimeout(timeout).WithRetry(attempts, sleep)
			err := p.Go(tk).Wait()
			end := time.Since(start)

			desc := fmt.Sprintf("attempts %d, sleep %v, timeout %v, deadline %v, steps %+v", attempts, sleep, timeout, deadline, steps)
			if !slices.Equal(starts, want.starts) {
				t.Fatalf("%s: tries started at %v, want %v", desc, starts, want.starts)
			}
			if !slices.Equal(deadlines, want.deadlines) {
				t.Fatalf("%s: tries' deadlines %v, want %v", desc, deadlines, want.deadlines)
			}
			if end != want.end {
				t.Fatalf("%s: Wait returned at %v, want %v", desc, end, want.end)
			}
			s := p.Stats()
			if s.Retries != uint64(len(want.starts)-1) {
				t.Fatalf("%s: Stats.Retries = %d, want %d", desc, s.Retries, len(want.starts)-1)
			}
			deadlinePassed := deadline > 0 && want.end >= deadline
			switch want.outcome {
			case succeeded:
				if err != nil || s.Succeeded != 1 {
					t.Fatalf("%s: Wait = %v, Stats %+v; want a success", desc, err, s)
				}
			case canceled:
				if err != context.DeadlineExceeded || s.Canceled != 1 {
					t.Fatalf("%s: Wait = %v, Stats %+v; want the deadline alone, the task canceled", desc, err, s)
				}
			case failed:
				if s.Failed != 1 {
					t.Fatalf("%s: Stats %+v, want 1 failure", desc, s)
				}
				failure := err
				if deadlinePassed {
					errs := joinedOf(err)
					if len(errs) != 2 || errs[1] != context.DeadlineExceeded {
						t.Fatalf("%s: Wait = %v, want the task's failure joined with the deadline", desc, err)
					}
					failure = errs[0]
				}
				checkFailure(t, desc, failure, want, bases, steps)
			}
			if drawn != want.draws {
				t.Fatalf("%s: %d random draws, want %d, one per backoff", desc, drawn, want.draws)
			}
		})
	})
}

// checkFailure checks the task's failure: the last try's error without its
// marks.
func checkFailure(t *testing.T, desc string, err error, want scheduleModel, bases []error, steps []tryStep) {
	t.Helper()
	if m, _ := unmark(err); m != (marks{}) {
		t.Fatalf("%s: Wait's error %q still carries marks %+v", desc, err, m)
	}
	if want.timedOut {
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || err.Error() != context.DeadlineExceeded.Error() {
			t.Fatalf("%s: Wait's error %q, want the context's error, with ErrTimeout", desc, err)
		}
		return
	}
	if errors.Is(err, ErrTimeout) {
		t.Fatalf("%s: Wait's error %q of a try that did not time out has ErrTimeout", desc, err)
	}
	base := bases[want.last-1]
	if steps[(want.last-1)%len(steps)].kind == stepRetryAfterWrapped {
		if err.Error() != "wrapped: "+base.Error() || !errors.Is(err, base) {
			t.Fatalf("%s: Wait's error %q, want %q wrapping the try's error", desc, err, "wrapped: "+base.Error())
		}
		return
	}
	if err != base {
		t.Fatalf("%s: Wait's error %#v, want the last try's error itself, %q", desc, err, base)
	}
}

// joinedOf returns the errors err joins, or err alone.
func joinedOf(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
