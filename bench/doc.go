// Package bench holds trialflow's benchmarks. Each benchmark runs its
// baseline in the same run (goavro, a row-at-a-time matcher, a raw franz-go
// consumer, a naive Beam pipeline), so a figure is a ratio that survives a
// noisy machine. Throughput benchmarks set b.SetBytes and report allocations.
//
// Run them with `make bench` (BENCHTIME=5s for figures worth recording); the
// figures, with the exact commands that produced them, are in RESULTS.md.
package bench
