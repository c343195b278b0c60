// Package benchmarks holds no code: its tests compare gopool with errgroup
// and the peer pools alitto/pond/v2, panjf2000/ants/v2, sourcegraph/conc and
// gammazero/workerpool, in the shapes of the root module's bench_test.go.
// run.sh runs both sets and prints benchstat tables and the ratios of
// issue 3's targets.
package benchmarks
