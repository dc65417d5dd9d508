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
// Other topics are created on first use by any client that asks the broker
// to create a missing topic: kafkaio.Write (and so deadletter.Write) and
// Kafka's Java producer do; a franz-go client does with
// kgo.AllowAutoTopicCreation. For clients that do not ask, name the topics
// in Options.Topics or Options.TopicPartitions (`trialflow stack up --topic
// name:partitions`).
//
// Start returns a Stack for tests and pipelines; Run is what
// `trialflow stack up` calls: it starts the stack, prints the bootstrap
// address and registry URL, and runs until its context is cancelled.
package local
