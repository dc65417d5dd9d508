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
// Avro: registration and lookup, subjects (?subjectPrefix=) and versions,
// schemas by id and listed (GET /schemas with subjectPrefix, deleted,
// latestOnly, offset and limit), compatibility checks (with ?verbose=true
// reasons), /config and /mode globally and per subject, and soft and
// permanent deletes. Errors are Confluent's JSON bodies ({"error_code":
// 40401, "message": ...}); a client mistake never gets a 500, and bodies
// over MaxBodyBytes get 413.
//
// Schema references are Confluent's: a registration's "references" array
// names, for each Avro named type it uses but does not define, the subject
// and version whose schema defines it (version -1: the latest, stored as
// the concrete version). They are resolved on register, on lookup and in
// compatibility checks; answers carry them as registered;
// .../referencedby lists the ids that refer to a version, and such a
// version cannot be deleted (42206). Client.SchemaByID resolves them, so
// decoders get a self-contained schema.
//
// Modes are Confluent's: READWRITE; READONLY refuses every change to its
// subject (or to all, globally) with 42205; IMPORT registers with the id
// (and version) the request gives and no compatibility check, and can be
// set only on an empty subject (or registry) unless ?force=true. A
// subject's own mode overrides the registry's; GET /mode/{subject} is 40409
// when it has none, unless ?defaultToGlobal=true.
//
// A compatibility check against a subject with no live version answers as
// Confluent's does: compatible for "latest" and for all versions (a first
// registration has nothing to be incompatible with), 40401 for a numbered
// version.
//
// Unlike srclient's mock and franz-go's srfake, it enforces compatibility:
// a registration is checked by package compat against the subject's live
// versions under the subject's level (or the global one, BACKWARD by
// default) and refused with 409 and the reasons, each naming the field.
// Schemas are identified by compat's normalized form, the Parsing Canonical
// Form plus the attributes readers rely on (defaults, aliases, logical
// types, properties such as "phi"): the same schema gets the same id in
// every subject, whatever its whitespace, key order or doc strings.
// A schema with references is identified by that form with the
// referenced types inline, together with its references. Non-Avro schema
// types are refused with 42201.
//
// # Persistence and consistency
//
// With a data directory, state lives in one append-only log, LogFile: one
// JSON line per acknowledged change (register, with its references;
// delete; config; mode). A
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
