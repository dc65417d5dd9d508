// Package history is the trialmatch history sink: approved-patient records
// (schemas.ApprovedPatient, NEW and RETRACTED) written as Parquet files with
// arrow-go's pqarrow, partitioned Hive style by tenant and UTC event date:
//
//	DIR/tenant=practice-01/date=2026-01-05/part-<sha256 prefix>.parquet
//
// The pure-Go core is Writer (buffers rows per partition in Arrow builders,
// writes one file per partition on Flush), Read/ReadFile (for tests, the
// demo summary and audits) and Schema (the Arrow schema: one column per
// Avro field of approved_patient.avsc, reasons as List<Struct>, times as
// UTC microsecond timestamps). The Beam wrapper Write runs a Writer per
// bundle and flushes it in FinishBundle, so it works on bounded input and in
// streaming, where every finished bundle yields its files.
//
// Files are never clobbered: each is written under a hidden temporary name
// (.part-*.tmp, ignored by Read and by Hive-style readers) and renamed to a
// name derived from the SHA-256 of its bytes. Distinct bundles, workers or
// retries therefore never overwrite each other's rows, and a retried bundle
// with the same rows in the same order replaces its earlier file with an
// identical one. A retry that groups rows differently does leave a
// duplicate: the sink is at-least-once, and readers that need exactly-once
// deduplicate on (match_id, action).
//
// In streaming, Prism finishes bundles often, so a busy partition gets many
// small files; compacting them (rewriting a date's files into one) is not
// done yet.
//
// Tenant isolation: a file holds the rows of one tenant and one date only,
// partition values are escaped as Hive does (%XX for every byte outside
// [A-Za-z0-9._-]) so that no tenant name can leave its directory, and Read
// fails if any row is not in its file's partition.
//
// Records without a tenant or an event time, or with an action other than
// NEW or RETRACTED, are dead letters (deadletter.InvalidRecord) rather than
// files. I/O errors fail the bundle so that the runner retries it.
//
// dir is a local path (or a shared file system mounted on every worker).
// Object stores are not supported yet: they would go through gocloud.dev/blob
// (whose writers already commit atomically on Close) or Beam's filesystem
// package in place of os.CreateTemp and os.Rename.
package history
