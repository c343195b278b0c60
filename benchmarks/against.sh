#!/usr/bin/env bash
# against.sh compares gopool's own rows with those of an earlier commit (by
# default v0.1.0), at GOMAXPROCS=1: the rows of the root module's
# bench_test.go that both have, run by both test binaries in turn, then
# benchstat.
#
# Each round builds both from scratch with the round's function layout
# (-ldflags=-randlayout=<round>), since where the linker puts a hot function
# moves a row by a few percent from one build to the next. The earlier
# commit's bench_test.go gets today's one fix to the harness if it lacks it:
# sumTo is not inlined, so that both binaries run the same loop for the tiny
# task (an inlined copy lands at another alignment in each caller).
#
# Environment (defaults in brackets):
#   BASE       the commit to compare with [87c453a, v0.1.0]
#   COUNT      rounds, each with its own layout [10]
#   BENCHTIME  -benchtime of each sample [300ms]
#   BENCH      -bench regexp
#              ['^Benchmark(Fanout|FanoutDrain|Limited|LimitedSlow|Batch|Retry)$/^GoPool(|TaskRetry|PoolRetry)$']
set -euo pipefail

BASE=${BASE:-87c453a}
COUNT=${COUNT:-10}
BENCHTIME=${BENCHTIME:-300ms}
BENCH=${BENCH:-'^Benchmark(Fanout|FanoutDrain|Limited|LimitedSlow|Batch|Retry)$/^GoPool(|TaskRetry|PoolRetry)$'}
BENCHSTAT_VERSION=v0.0.0-20260908200009-22c9c6c9d4da

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

git -C "$root" worktree add --detach "$tmp/base" "$BASE" >/dev/null 2>&1
if ! grep -B1 '^func sumTo' "$tmp/base/bench_test.go" | grep -q 'go:noinline'; then
	sed -i 's|^func sumTo(n int) int {|//go:noinline\nfunc sumTo(n int) int {|' "$tmp/base/bench_test.go"
fi
head=$(git -C "$root" rev-parse --short HEAD)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
	head="$head+changes"
fi
echo "base $BASE (sumTo not inlined) against $head, $COUNT rounds of -test.bench '$BENCH' -test.benchtime $BENCHTIME -test.cpu 1" >&2

: >"$tmp/base.txt"
: >"$tmp/head.txt"
for i in $(seq "$COUNT"); do
	echo "round $i/$COUNT" >&2
	(cd "$tmp/base" && go test -c -ldflags="-randlayout=$i" -o "$tmp/base.test" .)
	(cd "$root" && go test -c -ldflags="-randlayout=$i" -o "$tmp/head.test" .)
	for set in base head; do
		"$tmp/$set.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$BENCHTIME" \
			-test.count 1 -test.cpu 1 -test.benchmem | grep '^Benchmark' >>"$tmp/$set.txt"
	done
done
(cd "$here" && go run "golang.org/x/perf/cmd/benchstat@$BENCHSTAT_VERSION" \
	"$BASE=$tmp/base.txt" "$head=$tmp/head.txt")
