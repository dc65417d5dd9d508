// Package quickstart holds the toolkit's quick start as a runnable
// example (example_test.go, run by `go test` and so by `make test`): an
// orders ⋈ payments interval join read from Kafka and written back to
// Kafka with Avro values and a Schema Registry, on the local stack
// (runners/local), with every rejected record on the dead-letter topic.
//
// The pipeline is Read → Decode → KeyBy → join.Interval → Pairs → Encode
// → Write:
//
//	kafkaio.Read       PCollection<kafkaio.Record>   Confluent-framed Avro
//	avroio.Decode      PCollection<avroio.Decoded>   Avro of the reader schema
//	avroio.KeyBy       PCollection<KV<string, []byte>>, timestamped by a field
//	join.Interval      PCollection<join.Pair>, PCollection<join.Late>
//	avroio.Pairs       PCollection<kafkaio.Record>   Avro of PairConfig.Schema()
//	avroio.Encode      PCollection<kafkaio.Record>   framed, for the output topic
//	kafkaio.Write
//
// Every step but Read, the join and Write has a dead-letter output; the
// example flattens them (with the join's late rows, through
// join.LateToDeadLetters) into deadletter.Write. The README's "Writing
// your own pipeline" walks through it step by step.
package quickstart
