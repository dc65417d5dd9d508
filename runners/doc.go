// Package runners chooses and starts the Beam runner a trialflow pipeline runs
// on. The choice is Beam's own --runner flag: prism (the default, in process),
// direct, universal (any portable Job API endpoint given by --endpoint, such
// as a standalone Prism or the Beam Flink job server), flink and dataflow.
//
// For in-process Prism, Run starts Prism's job server and its web UI on free
// loopback ports and reports the UI address, so a long run can be watched.
// Everything else is handed to beam.Run unchanged: distribution is the
// runner's job.
//
// The local stack (embedded Kafka and Schema Registry) is in runners/local.
package runners
