// Command ratios reads the outputs of the root and peer benchmarks of one
// GOMAXPROCS setting and prints, for each shape, gopool's medians, its ratio
// to errgroup and to every peer, its per-task overhead over Inline next to
// the Workers floor's, and whether each target of issues 3, 9 and 12 holds.
//
//	go run ./ratios -label 'GOMAXPROCS=1' -root root-cpu1.txt -peers peers-cpu1.txt
//
// It compares medians within one file only: every ratio is between rows of
// the same interleaved run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// stats holds the samples of one sub-benchmark.
type stats struct{ ns, bytes, allocs []float64 }

// results maps shape, then implementation, to samples.
type results map[string]map[string]*stats

// line matches "BenchmarkShape/Impl-N  iters  x ns/op  y B/op  z allocs/op".
var line = regexp.MustCompile(`^Benchmark([^/\s]+)/(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		shape, impl := m[1], m[2]
		if res[shape] == nil {
			res[shape] = map[string]*stats{}
		}
		s := res[shape][impl]
		if s == nil {
			s = new(stats)
			res[shape][impl] = s
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.ns = append(s.ns, v)
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
	}
	return res, sc.Err()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// get returns the median ns/op, B/op and allocs/op of shape/impl, NaN if
// it is missing.
func (r results) get(shape, impl string) (ns, bytes, allocs float64) {
	s := r[shape][impl]
	if s == nil {
		return math.NaN(), math.NaN(), math.NaN()
	}
	return median(s.ns), median(s.bytes), median(s.allocs)
}

func (r results) ns(shape, impl string) float64 {
	ns, _, _ := r.get(shape, impl)
	return ns
}

// tasksPerOp is how many tasks one operation of a shape runs: a batch of
// 64 for Batch, SubBatch and Map, one task for the others.
func tasksPerOp(shape string) float64 {
	switch shape {
	case "Batch", "SubBatch", "Map":
		return 64
	}
	return 1
}

// baseline is the errgroup row that a shape's target compares gopool with.
var baseline = map[string]string{
	"Fanout":      "ErrGroup",
	"FanoutDrain": "ErrGroupMutexAppend",
	"Input":       "ErrGroupMutexAppend",
	"Limited":     "ErrGroup",
	"LimitedSlow": "ErrGroup",
	"Batch":       "ErrGroup",
	"SubBatch":    "ErrGroup",
	"Map":         "ErrGroupIndex",
	"Retry":       "GoPool",
}

var shapes = []string{"Fanout", "FanoutDrain", "Input", "Limited", "LimitedSlow", "Batch", "SubBatch", "Map", "Retry"}

// variants are the other gopool rows of a shape, printed under its GoPool
// row with their ratio to it.
var variants = map[string][]string{
	"Map":   {"GoPoolNil"},
	"Retry": {"GoPoolTaskRetry", "GoPoolPoolRetry"},
}

var peers = []string{"ErrGroup", "Pond", "PondNoQueue", "PondGroup", "PondGroupNoQueue", "PondSubpool", "PondSubpoolNoQueue", "Ants", "Conc", "WorkerPool"}

func num(x float64, format string) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf(format, x)
}

func main() {
	label := flag.String("label", "", "what the run is, e.g. GOMAXPROCS=1")
	rootFile := flag.String("root", "", "output of the root module's benchmarks")
	peersFile := flag.String("peers", "", "output of the benchmarks module's benchmarks")
	tolerance := flag.Float64("tolerance", 0, "slack on every ns/op target, e.g. 0.25 for +25%")
	flag.Parse()
	load := func(name string) results {
		if name == "" {
			return results{}
		}
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		r, err := parse(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return r
	}
	root, peer := load(*rootFile), load(*peersFile)

	fmt.Printf("## Ratios of medians, %s\n\n", *label)
	fmt.Println("Root module (overhead = (ns/op - Inline ns/op) per task; floor = Workers' overhead):")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "shape\tGoPool ns/op\tbaseline\tbaseline ns/op\tGoPool/baseline\tGoPool overhead\tfloor overhead\toverhead/floor\tallocs/op\tB/op\t")
	for _, shape := range shapes {
		if root[shape] == nil {
			continue
		}
		ns, bytes, allocs := root.get(shape, "GoPool")
		base := baseline[shape]
		bns := root.ns(shape, base)
		inline := root.ns(shape, "Inline")
		k := tasksPerOp(shape)
		over := (ns - inline) / k
		floor := (root.ns(shape, "Workers") - inline) / k
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", shape,
			num(ns, "%.0f"), base, num(bns, "%.0f"), num(ns/bns, "%.2fx"),
			num(over, "%+.0f ns"), num(floor, "%+.0f ns"), num(over/floor, "%.2fx"),
			num(allocs, "%.0f"), num(bytes, "%.0f"))
		for _, impl := range variants[shape] {
			rns, rbytes, rallocs := root.get(shape, impl)
			fmt.Fprintf(w, "  %s\t%s\tGoPool\t%s\t%s\t%s\t\t\t%s\t%s\t\n", impl,
				num(rns, "%.0f"), num(ns, "%.0f"), num(rns/ns, "%.2fx"),
				num((rns-inline)/k, "%+.0f ns"), num(rallocs, "%.0f"), num(rbytes, "%.0f"))
		}
	}
	w.Flush()

	if len(peer) > 0 {
		fmt.Println()
		fmt.Println("Benchmarks module (GoPool ns/op divided by each peer's, same run; < 1 means gopool is faster):")
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(w, "shape\tGoPool ns/op\tGoPool overhead\tfloor overhead\t")
		for _, p := range peers {
			fmt.Fprintf(w, "/%s\t", p)
		}
		fmt.Fprintln(w)
		for _, shape := range shapes {
			if peer[shape] == nil {
				continue
			}
			ns := peer.ns(shape, "GoPool")
			inline := peer.ns(shape, "Inline")
			k := tasksPerOp(shape)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t", shape, num(ns, "%.0f"),
				num((ns-inline)/k, "%+.0f ns"), num((peer.ns(shape, "Workers")-inline)/k, "%+.0f ns"))
			for _, p := range peers {
				fmt.Fprintf(w, "%s\t", num(ns/peer.ns(shape, p), "%.2fx"))
			}
			fmt.Fprintln(w)
		}
		w.Flush()
	}

	fmt.Println()
	if *tolerance > 0 {
		fmt.Printf("Targets of issues 3, 9 and 12 (ns/op limits loosened by %+.0f%%):\n", *tolerance*100)
	} else {
		fmt.Println("Targets of issues 3, 9 and 12:")
	}
	checks(root, peer, 1+*tolerance)
}

// checks prints each target of issue 3 with its measured value.
// slack multiplies the limits of the ns/op targets (those printed as
// ratios); allocation targets are exact.
func checks(root, peer results, slack float64) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	check := func(shape, what string, value, limit float64, format string) {
		if strings.HasSuffix(format, "x") {
			limit *= slack
		}
		verdict := "holds"
		switch {
		case math.IsNaN(value) || math.IsNaN(limit):
			verdict = "not measured"
		case value > limit:
			verdict = "MISSES"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t<= %s\t%s\n", shape, what,
			num(value, format), num(limit, format), verdict)
	}
	overhead := func(r results, shape, impl string) float64 {
		return (r.ns(shape, impl) - r.ns(shape, "Inline")) / tasksPerOp(shape)
	}
	allocs := func(r results, shape, impl string) float64 {
		_, _, a := r.get(shape, impl)
		return a
	}
	bytes := func(r results, shape, impl string) float64 {
		_, b, _ := r.get(shape, impl)
		return b
	}
	ratio := func(r results, shape, a, b string) float64 { return r.ns(shape, a) / r.ns(shape, b) }

	if floor := overhead(root, "Limited", "Workers"); floor > 0 {
		check("Limited", "GoPool overhead / Workers overhead", overhead(root, "Limited", "GoPool")/floor, 1.25, "%.2fx")
	} else {
		// With several threads the floor can beat Inline: the overheads
		// are then not overheads, and their ratio means nothing.
		fmt.Fprintf(w, "Limited\tGoPool overhead / Workers overhead\tn/a\t<= 1.25x\tnot meaningful: Workers beat Inline (%+.0f ns)\n", floor)
	}
	if floor := overhead(root, "Limited", "WorkersQueue"); floor > 0 {
		check("Limited", "GoPoolQueue overhead / WorkersQueue overhead", overhead(root, "Limited", "GoPoolQueue")/floor, 1.5, "%.2fx")
	} else {
		fmt.Fprintf(w, "Limited\tGoPoolQueue overhead / WorkersQueue overhead\tn/a\t<= 1.5x\tnot meaningful: WorkersQueue beat Inline (%+.0f ns)\n", floor)
	}
	check("Limited", "GoPoolQueue / Pond (benchmarks module)", ratio(peer, "Limited", "GoPoolQueue", "Pond"), 0.9, "%.2fx")
	// Whether that target can be met at all: any pool handed a new Task
	// per task costs at least InlineTask.
	check("Limited", "InlineTask / Pond (not a target: the least any pool here can reach)", ratio(peer, "Limited", "InlineTask", "Pond"), 0.9, "%.2fx")
	check("Limited", "GoPoolQueue allocs/op", allocs(root, "Limited", "GoPoolQueue"), 1, "%.0f")
	check("Fanout", "GoPoolTryGo / GoPool", ratio(root, "Fanout", "GoPoolTryGo", "GoPool"), 1.05, "%.2fx")
	check("Limited", "GoPool / Pond (benchmarks module)", ratio(peer, "Limited", "GoPool", "Pond"), 1, "%.2fx")
	check("Limited", "GoPool / PondNoQueue (not a target: pond without run-ahead)", ratio(peer, "Limited", "GoPool", "PondNoQueue"), 1, "%.2fx")
	check("Limited", "GoPool allocs/op", allocs(root, "Limited", "GoPool"), 1, "%.0f")
	check("Fanout", "GoPool / ErrGroup", ratio(root, "Fanout", "GoPool", "ErrGroup"), 0.5, "%.2fx")
	for _, impl := range []string{"GoWaitGroup", "ChannelsWithOutputAndErrChannel", "ChannelsWithWaitGroup", "ChannelsWithErrGroup", "MutexWithErrGroup"} {
		check("Fanout", "GoPool / "+impl, ratio(root, "Fanout", "GoPool", impl), 1, "%.2fx")
	}
	for _, p := range []string{"Pond", "Ants", "Conc", "WorkerPool"} {
		check("Fanout", "GoPool / "+p+" (benchmarks module)", ratio(peer, "Fanout", "GoPool", p), 1, "%.2fx")
	}
	check("Fanout", "GoPool allocs/op", allocs(root, "Fanout", "GoPool"), 1, "%.0f")
	check("FanoutDrain", "GoPool / ErrGroupMutexAppend", ratio(root, "FanoutDrain", "GoPool", "ErrGroupMutexAppend"), 0.6, "%.2fx")
	check("FanoutDrain", "GoPool allocs/op", allocs(root, "FanoutDrain", "GoPool"), 1, "%.0f")
	check("Input", "GoPool / ErrGroupMutexAppend", ratio(root, "Input", "GoPool", "ErrGroupMutexAppend"), 0.6, "%.2fx")
	check("Input", "GoPool allocs/op (1 is the input's)", allocs(root, "Input", "GoPool"), 2, "%.0f")
	check("LimitedSlow", "GoPool / ErrGroup", ratio(root, "LimitedSlow", "GoPool", "ErrGroup"), 0.8, "%.2fx")
	check("LimitedSlow", "GoPool allocs/op", allocs(root, "LimitedSlow", "GoPool"), 1, "%.0f")
	check("Batch", "GoPool / ErrGroup", ratio(root, "Batch", "GoPool", "ErrGroup"), 0.9, "%.2fx")
	check("Batch", "GoPool allocs/op", allocs(root, "Batch", "GoPool"), allocs(root, "Batch", "ErrGroup"), "%.0f")
	// 64 Tasks of 32 bytes and one Pool: WithInput's pointer made the Task
	// 32 bytes (issue 12), and a pool holds its tree's state.
	check("Batch", "GoPool B/op", bytes(root, "Batch", "GoPool"), 3072, "%.0f")
	check("SubBatch", "GoPool / ErrGroup (a limit per group, not shared)", ratio(root, "SubBatch", "GoPool", "ErrGroup"), 0.9, "%.2fx")
	// Against pond "on the same work": the same tasks, admitted the same
	// way. Pond's queue is unbounded, so its producer runs ahead of the
	// workers, as gopool's does under WithQueue(64); with pond's queue
	// disabled, its producer is held at the limit, as gopool's Go is.
	for _, p := range []string{"PondGroup", "PondSubpool"} {
		check("SubBatch", "GoPoolQueue / "+p+" (benchmarks module; both run ahead)", ratio(peer, "SubBatch", "GoPoolQueue", p), 1, "%.2fx")
		check("SubBatch", "GoPool / "+p+"NoQueue (benchmarks module; both held at the limit)", ratio(peer, "SubBatch", "GoPool", p+"NoQueue"), 1, "%.2fx")
	}
	// Not targets: the admission differs.
	for _, p := range []string{"PondGroup", "PondSubpool"} {
		check("SubBatch", "GoPool / "+p+" (not a target: only pond runs ahead)", ratio(peer, "SubBatch", "GoPool", p), 1, "%.2fx")
	}
	check("SubBatch", "GoPoolQueue / ErrGroup (not a target: only gopool runs ahead)", ratio(root, "SubBatch", "GoPoolQueue", "ErrGroup"), 0.9, "%.2fx")
	check("Map", "GoPool / ErrGroupIndex", ratio(root, "Map", "GoPool", "ErrGroupIndex"), 1, "%.2fx")
	check("Map", "GoPool / Conc iter.MapErr (benchmarks module)", ratio(peer, "Map", "GoPool", "Conc"), 1, "%.2fx")
	for _, impl := range []string{"GoPoolTaskRetry", "GoPoolPoolRetry"} {
		check("Retry", impl+" / GoPool", ratio(root, "Retry", impl, "GoPool"), 1.05, "%.2fx")
		check("Retry", impl+" allocs/op", allocs(root, "Retry", impl), allocs(root, "Retry", "GoPool"), "%.0f")
	}
	w.Flush()
}
