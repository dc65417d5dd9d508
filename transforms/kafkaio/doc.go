// Package kafkaio is a native Kafka source and sink for the Beam Go SDK,
// built on franz-go. Unlike Beam's cross-language KafkaIO it needs no Java
// expansion service and runs on Prism, the direct runner, Flink and
// Dataflow alike.
//
// Read is a splittable DoFn with one restriction per topic-partition offset
// range (the shape of Beam's io/natsio). In bounded mode (the default) the
// end offsets are taken when the pipeline starts reading and the read stops
// there. In unbounded mode (Unbounded) each partition is polled forever with
// sdf.ProcessContinuation, new partitions are discovered while the pipeline
// runs, and a per-partition watermark estimator follows record timestamps;
// a partition that stays idle (caught up, no new records) for the idle
// timeout advances its watermark with the wall clock so it does not hold
// the pipeline's watermark back forever.
//
// Start positions are StartEarliest (default), StartLatest, StartCommitted
// (the consumer group's committed offsets) and StartAt (the first offset at
// or after a timestamp). Read never commits offsets. Commit does, from a
// stage downstream of the pipeline's sinks: an offset is committed only
// once the watermark of every sink's output has passed the records before
// it, so that what they caused is durably written. Read with
// StartCommitted after a restart then loses nothing (at-least-once input;
// a sink that is idempotent or reconciles makes the output effectively
// once). Read asks for no bundle finalization, which Flink's portable
// runner does not offer for Go.
//
// Every element is a Record that keeps topic, partition, offset, timestamp,
// key, headers and value. ReadBatches emits a Batch of consecutive records
// of one partition per fetch instead, so runner per-element costs are paid
// per batch.
//
// Outside a transform, ListRanges lists a topic's partitions with their
// earliest and end offsets, and ReadRange reads one of them within a DoFn:
// for a stage fused around a partition of a topic already partitioned by
// the key it needs (trialmatch's co-partitioned execution).
//
// Bounded reads without a consumer group also run on the direct runner
// (which has no watermark estimators); unbounded reads and committing reads
// need a portable runner such as Prism, Flink or Dataflow.
//
// Write produces Records with franz-go's idempotent producer, with the key
// and headers of each element. ToTopic sends every record to one topic
// (records read from Kafka need no clearing of their Topic to be copied);
// without it each record goes to its own Topic. Partitions are chosen by
// key unless KeepPartition is given. It flushes in FinishBundle and fails the
// bundle on any produce error; Transactional makes every bundle one Kafka
// transaction.
//
// Producers do not compress by default (Conn.Compression, the Compression
// write option), because a codec a consumer lacks makes the whole topic
// unreadable to it, and franz-go's own default is snappy. Which clients read
// which codecs, without extra packages:
//
//	client                                    none gzip snappy lz4 zstd
//	Apache Kafka Java client (and Streams)    yes  yes  yes    yes yes (2.1+)
//	librdkafka: confluent-kafka-go/-python/   yes  yes  yes    yes yes
//	  -dotnet, node-rdkafka, @confluentinc/kafka-javascript
//	franz-go, Sarama, segmentio/kafka-go      yes  yes  yes    yes yes
//	kafkajs                                   yes  yes  plugin plugin plugin
//	kafka-python                              yes  yes  pkg    pkg pkg
//	ruby-kafka                                yes  yes  gem    gem gem
//
// kafkajs reads snappy, lz4 and zstd only once the application registers a
// codec package (kafkajs-snappy, kafkajs-lz4, @kafkajs/zstd); kafka-python
// needs python-snappy, lz4 and zstandard installed; ruby-kafka the snappy,
// extlz4 and zstd-ruby gems. none and gzip are read by every one of them.
//
// Connection settings (brokers, SASL PLAIN/SCRAM, TLS) are plain exported
// fields of Conn, because DoFns are serialized to workers; clients are
// built in Setup.
package kafkaio
