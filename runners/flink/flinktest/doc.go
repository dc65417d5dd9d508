// Package flinktest runs a test pipeline on Beam's Flink job server and on
// Prism and compares what each produced. The job server (runners/flink) is
// started once per test binary on first use and stopped by Stop, which the
// package's TestMain calls after the tests; it also dies with the test
// binary.
//
// The tests that use it are behind the `flink` build tag (make test-flink).
// Without java or mvn they skip, except in CI (CI=true), where they fail.
// TRIALFLOW_FLINK_PARALLELISM sets Flink's parallelism (default 1).
package flinktest
