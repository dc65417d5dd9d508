// Package metrics is the trialmatch pipeline's observability: per-stage
// counts of records in and out, dead letters by reason, matches,
// retractions, and the event-to-match latency distribution.
//
// A stage counts through a Stage (NewStage("decode")) from its DoFn
// methods. Every count goes two ways:
//
//   - into Beam metrics (beam.NewCounter / beam.NewDistribution, namespace
//     "trialflow", names "<stage>/records_in", "<stage>/records_out",
//     "<stage>/matches", "<stage>/retractions",
//     "<stage>/dead_letters/<reason>", "<stage>/event_to_match_ms"), which the
//     runner aggregates over all workers and reports with the job result.
//     Summarize reads them from a finished job into a Summary, and
//     Summary.WriteTable prints the per-stage table shown at the end of
//     `trialflow demo`. Summarize also reports the counters of
//     transforms/deadletter (namespace "deadletter", one per reason code) as
//     dead letters of the step that emitted them, and lists any other
//     counters.
//   - into Registry, a process-global prometheus/client_golang registry
//     (trialflow_records_in_total, trialflow_records_out_total,
//     trialflow_dead_letters_total, trialflow_matches_total{action},
//     trialflow_event_to_match_latency_seconds histogram, all labelled by
//     stage; never by tenant or patient), which Serve exposes at /metrics.
//
// Why both: Beam metrics of a streaming job are only reported as the job
// runs through the runner's own channels, while Prometheus is scraped live.
// With Prism in-process or LOOPBACK workers (the default `trialflow demo`),
// the SDK workers run in the launching process, so an endpoint served by
// that process sees every stage's live values while a streaming pipeline
// runs. On remote runners (Flink, Dataflow, a Prism job server with
// EXTERNAL or DOCKER workers) each worker process has its own Registry:
// serve an endpoint in each worker and let Prometheus sum over them, or use
// the runner's Beam metrics (Flink metric reporters, Cloud Monitoring).
//
// Prometheus counters count attempts: a bundle the runner retries is
// counted again, where Beam's committed metrics count it once. Beam
// distributions keep count, sum, min and max; the Prometheus histogram
// (1 ms to about 18.6 h, exponential buckets) is where percentiles come from.
package metrics
