// Package columnar carries Arrow record batches through Beam pipelines.
//
// Batch (and BatchRecords, for Kafka records) decodes Confluent-framed Avro
// messages into arrow.RecordBatch elements of thousands of rows with the
// schema-specialised decoder of package avroarrow, sending undecodable
// messages to a dead-letter output. The Arrow IPC coder registered for
// arrow.RecordBatch lets batches cross stage and runner boundaries (Prism,
// Flink, Dataflow) as Arrow buffers instead of per-row encodings: Prism pays
// about 8 µs per element per boundary, so elements must be batches.
//
// Ownership: whoever receives a batch owns it and should Release it when
// done. Batches decoded by the coder and built by Batch use the Go
// allocator, so an unreleased batch is reclaimed by the garbage collector.
package columnar
