// Package schemas holds trialflow's data contracts: the Avro schemas of every
// stream (patient facts, trials, regulatory events, approved patients and dead
// letters), embedded in the binary with go:embed.
//
// Each schema is namespaced, documents every field, uses logical types for
// times and dates, gives defaults to optional fields, and marks fields that
// carry protected health information with the schema property "phi" (true for
// clear PHI, "pseudonym" for pseudonymous identifiers), so transforms can
// encrypt or redact by schema rather than by hand-kept lists.
//
// The wire format lives in schemas/wire and the Schema Registry client and
// server in schemas/registry.
package schemas
