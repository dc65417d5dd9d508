// Package compat parses Avro schemas and decides whether one schema can
// read data written with another, by the schema-resolution rules of the
// Avro specification. It is the pure-Go core of trialflow's embedded
// Schema Registry and imports neither the server nor any runner.
//
// Parse builds a Schema graph (named types are shared nodes, so recursive
// schemas are cycles) and validates it: names, namespaces, references,
// unions, enum symbols, fixed sizes and every field default against its
// type. Schema.Canonical is the specification's Parsing Canonical Form;
// Schema.Normalized extends it with the attributes a reader relies on
// (defaults, aliases, logical types, properties) and is what the registry
// identifies schemas by.
//
// This package is trialflow's one Avro core: the only schema parser (with
// logical types: Schema.Logical, Precision, Scale) and the only copy of the
// specification's resolution rules. Resolve builds a Plan saying how each
// writer value becomes a reader value (which reader field a writer field
// feeds, which union branch, which enum symbol, which promotion, which
// fields take defaults); transforms/avroio's binary transcoder and
// transforms/columnar/avroarrow's Arrow builder execute plans and decide
// nothing themselves, so the registry, avroio and avroarrow cannot
// disagree on what resolves. equivalence_test.go asks all three about
// every schema pair of the tests and fuzz seeds and lists the
// disagreements this settled.
//
// The parser is ours rather than hamba/avro's: over the same pairs
// hamba/avro v2.31.0's checker, reused, answered 4 pairs wrongly (it caches
// verdicts by canonical fingerprint, which ignores defaults and aliases),
// and its parser accepted an out-of-range int default and a record named
// "int" and keeps no normalized form with defaults and properties; see the
// README, "Dependencies and why".
//
// Check lists the incompatibilities between a reader and a writer, each
// naming the field path and the problem, for example
//
//	field "variant.exon": reader type string cannot read writer type int
//
// CheckLevel applies a registry compatibility Level to a candidate and the
// subject's history: BACKWARD (the candidate reads the latest), FORWARD
// (the latest reads the candidate), FULL (both), their _TRANSITIVE variants
// (against every earlier version) and NONE.
package compat
