// Package deadletter defines the one dead-letter record shape that every
// trialflow transform uses: the reason (human and machine readable), the stage
// that rejected the record, where the record came from (topic, partition,
// offset), the schema id if one was seen, and the raw payload or a reference
// to it. The Avro contract is schemas/dead_letter.avsc.
//
// Nothing is silently dropped: a transform either emits a record on its main
// output or a Record on its dead-letter output, and tests assert
// in = out + dead letters.
//
// Reasons never carry PHI: they name what was wrong and where (field paths,
// offsets, byte positions), never field values. A payload that may carry PHI
// is kept by reference (its Kafka position or object URI, and its SHA-256;
// WithPayloadRef), not inline. Inline payloads (WithPayload, avroio's
// InlinePayload, columnar's KeepPayload) are opt-in, set by no trialflow
// command, and carry whatever the record carries: for patient_facts that is
// PHI, the birth date included (docs/security.md).
package deadletter
