// Package avroarrow decodes Avro records straight into Arrow columns.
//
// A Decoder is built once from a reader schema and a projection (dotted
// paths such as "variant.hugo_symbol"); it lays out the Arrow columns, as
// nested Struct columns or, WithFlatten, as flattened top-level columns. For
// each writer schema (found by Confluent schema id through a SchemaSource,
// or given to Compile) it compiles a small program of decode operations
// from the resolution plan of compat.Resolve (package
// github.com/trialflow/trialflow/schemas/registry/compat, whose parser and
// resolution rules are the only ones in trialflow, shared with avroio and
// the registry): type promotions, defaults for fields the writer lacks,
// skipped writer fields, enum symbols by name, union branches by type and
// name. A plan problem in a writer union branch, or outside the
// projection, fails only the records that meet it. Unprojected fields are
// skipped without allocating.
//
// Values are appended to plain Go slices that keep their capacity from batch
// to batch, so steady-state decoding allocates nothing per record; Flush
// copies them into Arrow buffers from the configured allocator and returns an
// arrow.RecordBatch. With the Go allocator Flush copies nothing: the slices
// become the batch's buffers, and when the batch is released they come back
// to the decoder for a later batch (a batch that is never released is
// garbage collected). As with any Arrow allocator, values read from a batch
// (strings included, which alias the buffers) are valid until it is
// released. A record that fails to decode appends nothing: every column is
// cut back to the last whole row.
//
// Type mapping: boolean, int, long, float, double, bytes, string and fixed map
// to their Arrow counterparts; date to Date32, time-millis to Time32(ms),
// time-micros to Time64(us), timestamp-millis/micros to Timestamp(ms/us, UTC),
// decimal (bytes or fixed, precision up to 38) to Decimal128, uuid to String;
// enums to Dictionary(Int32, String) with the reader's symbols; records to
// Struct; arrays to List; maps to Map(String, V); the unions ["null", T] to a
// nullable T and other unions to a DenseUnion with one child per branch.
//
// Hostile input never panics and never allocates more than it holds: every
// length and item count is checked against the bytes left before use, and an
// item limit (WithMaxItems) bounds arrays of zero-byte items. Recursive
// schemas are rejected. Strings are not validated as UTF-8.
//
// The package never imports Beam; transforms/columnar wraps it for pipelines.
package avroarrow
