// Package avroio decodes and encodes Confluent-framed Avro (magic byte 0,
// 4-byte schema id, Avro binary) against a Schema Registry, with a dead
// letter for every record that cannot be handled.
//
// The pure-Go core is Decoder and Encoder. A Decoder fetches each writer
// schema by id once (through a SchemaSource such as the *registry.Client of
// github.com/trialflow/trialflow/schemas/registry),
// resolves it against the reader schema with compat.Resolve (the plan the
// registry's compatibility check is made of: a writer the registry would
// call incompatible is refused whole), and compiles the plan into a
// resolving transcoder: writer-order fields are
// rearranged into reader order, fields the reader lacks are skipped, reader
// fields the writer lacks get their defaults, numbers are promoted, enum
// symbols and union branches are remapped. Its output is always Avro binary
// of the reader schema, so a topic whose schema evolves mid-stream (v1 → v2
// with a defaulted field) reads as one shape downstream, and a decoder
// specialised to the reader schema (for example transforms/columnar) never
// sees a writer schema. When writer and reader are the same schema the
// payload is validated and passed on without a copy. DecodeNative goes one
// step further, to goavro native values of the reader schema, which the
// schemas package turns into typed values (schemas.PatientFactFromNative).
//
// Decode and Encode are the Beam transforms. Both emit dead letters
// (transforms/deadletter) with a reason code: wrong_magic_byte,
// short_buffer, unknown_schema_id, truncated_payload, invalid_payload,
// incompatible_schema, and record_too_large for a record over the size
// limit (DecodeConfig.MaxRecordBytes, 1 MiB by default), rejected before
// it is parsed; tests assert records in = decoded + dead letters.
//
// A dead letter is the record's fault, never the infrastructure's: when
// the registry cannot be reached (or answers other than "not found"),
// decoding returns an error naming the registry and its URL instead, and
// Decode fails the bundle, to be retried; Encode cannot start without its
// schema id. A record is thus never both dropped and its offset committed
// because a server was down.
//
// Hostile payloads (huge lengths or counts, deep nesting, truncation) are
// rejected with a reason, never a panic or an unbounded allocation.
package avroio
