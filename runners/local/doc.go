// Package local runs trialflow's local stack in-process: a Kafka cluster
// (franz-go's kfake, which speaks the real Kafka protocol over TCP on
// 127.0.0.1, so kcat, the Java clients or any other Kafka tool can use it)
// and the embedded Confluent-compatible Schema Registry, with the
// trialflow topics created and, optionally, the value subjects of every
// data contract registered. With Options.Brokers the stack uses a Kafka
// cluster that is already running (a real Apache Kafka broker in
// `make test-kafka`) instead of kfake, creating the topics on it, and
// embeds only the registry.
//
// Start returns a Stack for tests and pipelines; Run is what
// `trialflow stack up` calls: it starts the stack, prints the bootstrap
// address and registry URL, and runs until its context is cancelled.
package local
