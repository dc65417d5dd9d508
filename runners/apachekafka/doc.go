// Package apachekafka starts a real Apache Kafka 4.x broker in KRaft mode
// (one node that is both broker and controller) on free loopback ports, from
// the org.apache.kafka:kafka_2.13 Maven artifact and its dependencies
// fetched with mvn (see internal/jvm). Tests use it to check that what runs
// against the embedded kfake also runs against the broker users run; kfake
// stays the embedded default.
//
// The storage is formatted with kafka.tools.StorageTool and the broker runs
// as kafka.Kafka with a generated server.properties, as Kafka's own scripts
// do.
package apachekafka
