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
