package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	gopool "github.com/rubengp99/go-pool"
)

// liveLine prints, each time it is asked, one line of what is going on: the
// requests answered, the downstream's load, and the pool's.
type liveLine struct {
	out      io.Writer
	start    time.Time
	pool     *gopool.Pool
	down     *downstream
	load     *load
	answered int64 // at the last line
}

func newLiveLine(out io.Writer, start time.Time, pool *gopool.Pool, down *downstream, ld *load) *liveLine {
	return &liveLine{out: out, start: start, pool: pool, down: down, load: ld}
}

func (l *liveLine) print() {
	answered := l.load.answered.Load()
	st := l.pool.Stats()
	fmt.Fprintf(l.out, "%6.1fs  answered %6d (+%5d) · downstream %3d in flight, peak %3d/%d · pool running %3d, pending %4d · retries %5d · failed %4d\n",
		time.Since(l.start).Seconds(), answered, answered-l.answered,
		l.down.inFlight.Load(), l.down.peak.Load(), l.down.limit,
		st.Running, st.Pending, st.Retries, st.Failed)
	l.answered = answered
}

// summary is what a run did.
type summary struct {
	tally
	Wall  time.Duration
	Stats gopool.Stats // of the global pool, and so of every request's sub-pool

	Limit     int
	Peak      int64 // most downstream calls in flight at once
	Calls     int64 // downstream calls, overloads included
	Overloads int64 // calls the downstream refused for being above the limit
	Flakes    int64 // 503 answers of flaky items
	Missing   int64 // 404 answers: items that do not exist
	GraceOver bool  // the shutdown's grace ran out, and the pool's Close cut requests
}

// print writes the final table.
func (s *summary) print(out io.Writer) {
	w := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	answered := s.OK + s.ItemErrors
	rate := 0.0
	if s.Wall > 0 {
		rate = float64(answered) / s.Wall.Seconds()
	}
	w("requests    %6d answered in %.2fs (%.0f/s): %d ok, %d with an item error (fail-fast cut the rest of them)",
		answered, s.Wall.Seconds(), rate, s.OK, s.ItemErrors)
	w("                   %d turned away or cut short by the shutdown, %d failed otherwise", s.Cut, s.Failed)
	if s.FirstFail != nil {
		w("                   the first failure: %v", s.FirstFail)
	}

	lat := slices.Clone(s.Latencies)
	slices.Sort(lat)
	pct := func(p int) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[(len(lat)-1)*p/100].Round(100 * time.Microsecond)
	}
	w("latency     p50 %v · p99 %v · max %v", pct(50), pct(99), pct(100))

	verdict := "never above"
	if s.Peak > int64(s.Limit) {
		verdict = "ABOVE THE LIMIT"
	}
	w("downstream  peak %d calls at once, limit %d: %s", s.Peak, s.Limit, verdict)
	w("            %d calls: %d refused as overload, %d flaky (503 on a first try), %d missing (404)",
		s.Calls, s.Overloads, s.Flakes, s.Missing)

	st := s.Stats
	w("pool        submitted %d = succeeded %d + failed %d + canceled %d + skipped %d + running %d + pending %d",
		st.Submitted, st.Succeeded, st.Failed, st.Canceled, st.Skipped, st.Running, st.Pending)
	w("            retries %d · panicked %d", st.Retries, st.Panicked)
	if s.GraceOver {
		w("shutdown    the grace ran out: the pool's Close cut the requests still running")
	} else {
		w("shutdown    graceful: every request in flight finished before the pool was closed")
	}
	if s.Mixups > 0 {
		w("isolation   %d answers held what was not theirs; the first: %v", s.Mixups, s.FirstMixup)
	} else {
		w("isolation   every answer held its own request's results and errors, and nothing else")
	}
}
