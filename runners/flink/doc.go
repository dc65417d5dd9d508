// Package flink starts Apache Beam's Flink job server with an embedded Flink
// (--flink-master=[local]) on free loopback ports, for tests and for
// `trialflow flink up`. A pipeline is then submitted to its Job API with
// --runner=universal (or flink) --endpoint=<Server.Endpoint>
// --environment_type=LOOPBACK.
//
// The job server comes from Maven Central through mvn (see internal/jvm):
// Beam's shaded job-server jar is not served to this project, so the plain
// runner artifact beam-runners-flink-<flink> and its dependencies make the
// classpath of org.apache.beam.runners.flink.FlinkJobServerDriver.
// DefaultBeamVersion and DefaultFlinkVersion say which; docs/runners.md
// lists what was tried.
package flink
