// Package ingest is the claim-check ingest pipeline: claim checks from the
// emr_bundles topic -> sealed bundles from object storage -> decrypt
// (envelope AES-256-GCM, KMS-wrapped data keys) -> decompress (capped) ->
// FHIR R4 / mCODE -> patient facts (Avro, patient_facts) with every rejected
// bundle on dead_letter.
//
// This package is the thin Beam layer. The work is done by pure-Go cores
// that never import Beam: envelope (seal/open, decompression), pseudonym
// (per-tenant HMAC pseudonyms, sealed MRNs), fhir (bundle -> facts) and
// bundle (claim checks, object store, the Ingester, Seal).
//
//   - Ingest: PCollection<bundle.ClaimCheck> -> facts, dead letters and one
//     Receipt per claim check (conservation: every claim check yields
//     exactly one receipt, either OK with its fact count or dead with its
//     reason code).
//   - ParseClaims: Kafka records of emr_bundles -> claim checks (+ dead
//     letters for records that are not claim checks).
//   - EncodeFacts: facts -> Confluent-framed Avro Kafka records for
//     patient_facts, keyed by pseudonymous patient id.
//   - Pipeline: the whole Kafka-to-Kafka ingest, what `trialflow ingest`
//     runs.
//
// PHI never leaves in clear: facts carry pseudonyms and the sealed MRN
// only; dead letters keep the object URI and its SHA-256, never the payload;
// reasons and log lines carry stage, reason code, tenant and URI only.
package ingest
