// Package bundle is the pure-Go core of the claim-check ingest: the claim
// check record of the emr_bundles topic, object access through
// gocloud.dev/blob, and the Ingester that turns one claim check into patient
// facts (fetch -> size and SHA-256 check -> envelope open -> decompress with
// a cap -> FHIR -> facts). Seal is the other direction, for `trialflow
// bundle seal`.
//
// Objects are read with gocloud.dev/blob rather than Beam's filesystem
// package: blob covers file://, mem://, s3://, gs:// and azblob:// with one
// API, gives typed not-found errors (gcerrors.NotFound) to tell a dead
// letter from a transient failure, and works the same in the pure-Go core,
// the tests and the benchmarks, none of which import Beam.
//
// A claim check may only name an object inside one of the configured bucket
// URLs (Buckets); the ingest never follows a claim check elsewhere. Object
// URIs must not carry PHI: Seal names objects with random ids by default.
//
// It never imports Beam; the Beam transform in pipelines/ingest wraps it.
package bundle
