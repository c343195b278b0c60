#!/usr/bin/env bash
# run.sh runs issue 3's benchmarks: the root module's (gopool against
# errgroup, goroutines and the floors) and this module's (gopool against
# pond, ants, conc, workerpool), at GOMAXPROCS=1 and at the machine's
# default, interleaved: each of the COUNT rounds runs every set once, so that
# a slow spell of the machine hits every row alike. Each Benchmark function
# runs in a process of its own: a baseline that starts a goroutine per task
# leaves the runtime holding its dead goroutines (some 27 MB live after
# Fanout's errgroup row), and every later benchmark in the process would pay
# garbage collection for that heap in proportion to what it allocates. Each
# round runs test binaries built with a function layout of their own
# (-ldflags=-randlayout=<round>): where the linker puts a hot function
# decides a few percent of a row's time, so the medians of one build would
# measure that build's luck; within a round, every row shares the layout.
# It then prints the
# benchstat tables and, for each shape, gopool's ratios to errgroup, to the
# peers and to the floors, and whether each target holds.
#
# Environment (defaults in brackets):
#   COUNT      rounds, i.e. samples per benchmark [10]
#   BENCHTIME  -benchtime of each sample [1s]
#   BENCH      -bench regexp [.]
#   CPUS       GOMAXPROCS settings; "default" means the machine's [1 default]
#   PROFILE    if 1, also profile gopool's Limited and Fanout at GOMAXPROCS=1
#              and print `go tool pprof -top` [0]
#   LAYOUTS    if 0, every round runs the linker's default layout [1]
#
# Raw outputs go to benchmarks/results/<date>/, linked as results/latest.
# Quick run: COUNT=2 BENCHTIME=100ms benchmarks/run.sh
set -euo pipefail

COUNT=${COUNT:-10}
BENCHTIME=${BENCHTIME:-1s}
BENCH=${BENCH:-.}
CPUS=${CPUS:-1 default}
PROFILE=${PROFILE:-0}
LAYOUTS=${LAYOUTS:-1}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dir=$here/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$dir"
ln -sfn "$(basename "$dir")" "$here/results/latest"

# BENCH's first element selects the Benchmark functions, each run on its own;
# the rest, if any, selects their sub-benchmarks.
top=${BENCH%%/*}
sub=""
if [[ $BENCH == */* ]]; then
	sub=/${BENCH#*/}
fi

benchstat() { (cd "$here" && go run "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" "$@"); }

{
	echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "go:        $(go version)"
	echo "cpu:       $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "cores:     $(nproc)"
	echo "command:   COUNT=$COUNT BENCHTIME=$BENCHTIME BENCH='$BENCH' CPUS='$CPUS' LAYOUTS=$LAYOUTS benchmarks/run.sh"
	echo "each run:  <test binary> -test.run '^\$' -test.bench '^<Benchmark function>\$$sub' -test.benchtime $BENCHTIME -test.count 1 -test.benchmem [-test.cpu N], one process per function matching '$top'"
	if [ "$LAYOUTS" = 1 ]; then
		echo "layouts:   round i runs binaries built with go test -c -ldflags=-randlayout=i"
	fi
	echo "commit:    $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$dir/info.txt"

# build <round> builds the round's test binaries, or, with LAYOUTS=0 or
# round 0, the linker's default layout.
build() {
	local ldflags=()
	if [ "$LAYOUTS" = 1 ] && [ "$1" != 0 ]; then
		ldflags=(-ldflags="-randlayout=$1")
	fi
	(cd "$root" && go test -c "${ldflags[@]}" -o "$dir/root.test" .)
	(cd "$here" && go test -c "${ldflags[@]}" -o "$dir/peers.test" .)
}

if [ "$LAYOUTS" != 1 ]; then
	echo "building test binaries..." >&2
	build 0
fi
# Make sure benchstat is built before the runs, not between them.
benchstat -h >/dev/null 2>&1 || true

for cpu in $CPUS; do
	: >"$dir/root-cpu$cpu.txt"
	: >"$dir/peers-cpu$cpu.txt"
done
for i in $(seq "$COUNT"); do
	if [ "$LAYOUTS" = 1 ]; then
		echo "building test binaries with layout $i..." >&2
		build "$i"
	fi
	for cpu in $CPUS; do
		flags=(-test.run '^$' -test.benchtime "$BENCHTIME" -test.count 1 -test.benchmem)
		if [ "$cpu" != default ]; then
			flags+=(-test.cpu "$cpu")
		fi
		echo "round $i/$COUNT, GOMAXPROCS=$cpu" >&2
		for set in root peers; do
			wd=$root
			if [ "$set" = peers ]; then
				wd=$here
			fi
			for fn in $(cd "$wd" && "$dir/$set.test" -test.list "$top" | grep '^Benchmark'); do
				(cd "$wd" && "$dir/$set.test" "${flags[@]}" -test.bench "^$fn\$$sub") >>"$dir/$set-cpu$cpu.txt"
			done
		done
	done
done

for cpu in $CPUS; do
	echo
	echo "######## GOMAXPROCS=$cpu ########"
	echo
	echo "## Root module (gopool, errgroup, goroutines, floors)"
	benchstat "root-cpu$cpu=$dir/root-cpu$cpu.txt" | tee "$dir/benchstat-root-cpu$cpu.txt"
	echo
	echo "## Benchmarks module (gopool against peer pools)"
	benchstat "peers-cpu$cpu=$dir/peers-cpu$cpu.txt" | tee "$dir/benchstat-peers-cpu$cpu.txt"
	echo
	tolerance=0.25 # issue 3: at the default GOMAXPROCS, the machine is noisy
	if [ "$cpu" = 1 ]; then
		tolerance=0
	fi
	(cd "$here" && go run ./ratios -label "GOMAXPROCS=$cpu" -tolerance "$tolerance" -root "$dir/root-cpu$cpu.txt" -peers "$dir/peers-cpu$cpu.txt") |
		tee "$dir/ratios-cpu$cpu.txt"
done

if [ "$PROFILE" = 1 ]; then
	build 0
	for shape in Limited Fanout; do
		echo
		echo "## CPU profile of gopool's $shape at GOMAXPROCS=1"
		(cd "$root" && "$dir/root.test" -test.run '^$' -test.bench "^Benchmark$shape\$/^GoPool\$" \
			-test.benchtime "$BENCHTIME" -test.count 5 -test.cpu 1 -test.benchmem \
			-test.cpuprofile "$dir/$shape-gopool.cpu.prof") | grep '^Benchmark' || true
		go tool pprof -top -nodecount=30 "$dir/root.test" "$dir/$shape-gopool.cpu.prof" 2>/dev/null |
			tee "$dir/$shape-gopool.pprof.txt"
	done
fi

echo
echo "raw outputs: $dir" >&2
