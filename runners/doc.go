// Package runners chooses and starts the Beam runner a trialflow pipeline runs
// on. The choice is Beam's own --runner flag: prism (the default, in process),
// direct, universal (any portable Job API endpoint given by --endpoint, such
// as a standalone Prism or the Beam Flink job server), flink and dataflow.
//
// Run is the way to run a trialflow pipeline, in place of beamx.Run:
//
//	p, s := beam.NewPipelineWithRoot()
//	// ... build the pipeline on s ...
//	if _, err := runners.Run(ctx, p); err != nil { ... }
//
// Before any work, Run calls Check, which refuses an unknown runner, a
// portable runner without --endpoint, and a pipeline with a transform that
// needs a feature the runner lacks (state or timers on the direct runner;
// map, set or ordered-list state, processing-time timers or bundle
// finalization on Flink), naming the transform and the feature. On Prism
// it sets --experiments=prism_disable_sdf_split, without which Prism
// v2.77.0 can lose state updates of a hot key; tests that run on Prism
// through ptest call DisablePrismSDFSplit in TestMain instead.
//
// For in-process Prism, Run starts Prism's job server and its web UI on free
// loopback ports and reports the UI address, so a long run can be watched.
// Everything else is handed to beam.Run unchanged: distribution is the
// runner's job.
//
// The local stack (embedded Kafka and Schema Registry) is in runners/local.
package runners
