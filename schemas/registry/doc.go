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
//
// # Server
//
// Server is an embedded Schema Registry speaking Confluent's REST API for
// Avro: registration and lookup, subjects and versions, schemas by id,
// compatibility checks (with ?verbose=true reasons), /config globally and
// per subject, /mode, and soft and permanent deletes. Errors are Confluent's
// JSON bodies ({"error_code": 40401, "message": ...}); a client mistake
// never gets a 500, and bodies over MaxBodyBytes get 413.
//
// Unlike srclient's mock and franz-go's srfake, it enforces compatibility:
// a registration is checked by package compat against the subject's live
// versions under the subject's level (or the global one, BACKWARD by
// default) and refused with 409 and the reasons, each naming the field.
// Schemas are identified by compat's normalized form, the Parsing Canonical
// Form plus the attributes readers rely on (defaults, aliases, logical
// types, properties such as "phi"): the same schema gets the same id in
// every subject, whatever its whitespace, key order or doc strings.
// Schema references and non-Avro schema types are refused with 42201.
//
// # Persistence and consistency
//
// With a data directory, state lives in one append-only log, LogFile: one
// JSON line per acknowledged change (register, delete, config, mode). A
// change is validated under the server's lock, appended, fsynced, and only
// then applied in memory and answered, so every acknowledged change is on
// disk before the client hears of it, and the in-memory state is always
// the replay of the log. The lock serializes writers, so ids and version
// numbers are assigned in log order. If a write or fsync fails, the log is
// cut back to its last good length and the request fails (500: a server
// fault, not a client one). On start the log is replayed; a last line
// without its newline is a write torn by a crash before it was
// acknowledged, and is cut off; any other unreadable line stops the start
// with an error naming the line, rather than silently dropping data. One
// server process owns a data directory at a time.
package registry
