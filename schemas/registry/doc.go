// Package registry is trialflow's Schema Registry: a client for any
// Confluent-compatible registry and an embedded server that really enforces
// Avro compatibility.
//
// # Client
//
// Client wraps github.com/riferrei/srclient with a cache keyed by global id,
// by subject and version, and by (subject, schema): the lookups a decoder
// or encoder makes per record take a read lock and a map lookup and do not
// allocate. Subject computes subject names under Confluent's three
// strategies (TopicName, RecordName, TopicRecordName). IDFor registers
// missing schemas only with WithAutoRegister(true); the default is to refuse,
// so that schemas reach production through an explicit, checked Register.
package registry
