// Package join provides Flink-style joins for the Apache Beam Go SDK built
// only from Beam primitives (GroupByKey, stateful DoFns with event-time
// timers): window joins, interval joins, temporal (as-of) joins, temporal
// tables and broadcast joins. Nothing in it depends on one runner; the stateful joins
// need a runner with state and timers (Prism, Flink, Dataflow), not the
// direct runner.
//
// # Rows
//
// Every input is a PCollection<KV<string, []byte>>: the join key and an
// encoded payload, with the element's event timestamp as the row's time.
// Keeping payloads as bytes lets one registered set of DoFns serve every
// row type (Beam Go needs DoFns registered per concrete type) and keeps
// shuffles on Beam's cheapest coder; callers encode and decode at the edges.
// Changelogs (the versioned side of a temporal join, the small side of a
// broadcast join) are PCollection<Change>, keyed by Change.Key.
//
// # Window join
//
// [Window] and [CoGroup] join 2 to [MaxInputs] inputs that share one
// windowing strategy (fixed, sliding or session windows; apply
// beam.WindowInto first). Rows meet when they have the same key and window.
// [Inner], [LeftOuter] and [FullOuter] choose which combinations are
// emitted. Results fire when the watermark passes the end of the window
// (Beam's default trigger), carry the window's maximum timestamp
// (end - 1 ms) and report the window in Start/End. Session windows merge
// across inputs as they would in a CoGroupByKey. Late data follows the
// windowing strategy: with the default zero allowed lateness the runner drops
// rows behind the watermark; with beam.AllowedLateness and a trigger set on
// WindowInto, late rows fire further panes. Window state is the runner's
// window state and is released at window end plus allowed lateness, so
// Window takes neither [StateTTL] nor [AllowedLateness].
//
// [Batched] selects the batched path for fixed and sliding windows: rows
// are grouped per bundle, window and key shard into one [RowBatch] before
// the shuffle and hash-joined per shard after it. The results are the same;
// the number of elements crossing the runner falls by the batch size. The
// batched path drops late data (it re-windows internally with zero
// lateness).
//
// # Interval join
//
// [Interval] joins left row a and right row b of the same key when
// a.ts + lower <= b.ts <= a.ts + upper. A pair is emitted as soon as its
// second row arrives, timestamped max(a.ts, b.ts). With [LeftOuter], a left
// row that met nothing is emitted (Matched false, LeftTS = a.ts) by the
// cleanup timer once the watermark passes a.ts + upper + allowed lateness,
// timestamped at that cleanup time. A left row is kept until the watermark
// passes a.ts + upper + lateness, a right row until b.ts - lower + lateness
// (both capped by [StateTTL]); one event-time timer per key, rounded up to
// [CleanupEvery] (default 1 s), releases them. A row whose key has already
// been cleaned past the point the row needs is late: it goes to the late
// output with a reason, never silently dropped.
//
// With [Batched] the interval join groups the rows of each bundle per input
// and key shard into one [IntervalBatch] before the shuffle; a stateful DoFn
// keyed by shard hash-joins each batch against the shard's stored rows of
// the other input. Pairs, their timestamps, unmatched rows and cleanup are
// the same as on the row path; lateness is judged against the shard's
// cleanup point (one timer per shard), which is at least as late as any of
// its keys', so a row the row path would join as "late but its key has no
// fired timer" may be reported late instead. A shard keeps its rows as one
// state value per input: a batch costs one read of each and one write of
// its own input's rows, so the path pays off with large bundles (bounded
// input: Nexmark Q3 runs about 4x faster than on the row path); with tiny
// streaming bundles and much state held, each batch rewrites the shard's
// rows and the row path may be cheaper.
//
// # Temporal join
//
// [Temporal] joins each left row with the version of the right side (a
// changelog keyed by primary key, versioned by event time) valid at the left
// row's event time: the latest version with ts <= left ts, none if that
// version is a deletion. Left rows wait (an event-time timer at their time)
// until the watermark reaches them, so every version that could apply has
// arrived; the result carries the left row's timestamp. Versions that no
// future row can meet are pruned as the watermark passes; with [StateTTL]
// a key's versions are dropped that long after its newest one. Late left
// rows go to the late output; late versions are reported there too and are
// still applied (results already emitted are not revised). [Latest] is the
// processing-time variant: a left row meets the newest version that has
// arrived, immediately, without waiting for the watermark.
//
// # Temporal table
//
// [TemporalTable] is the temporal join of versions valid over intervals
// ([Version]: From inclusive, To exclusive or [Forever]): for each key it
// calls a registered [TableFunc] at every change point (every From and
// finite To) with all the versions valid then, and emits the result as a
// [Change] at that event time whenever it differs from the last one. Where
// Temporal finds the one latest version of a key, the table function sees
// them all, so "open at t only if the trial version and the approvals valid
// at t say so" is one function, and an earlier approval shows again when a
// later suspension expires. The stateful form keeps a key's versions and
// sets a timer per change point; a version arriving behind the key's clock
// is evaluated at the latest time already evaluated, so the changelog never
// goes back in time. With [Bounded] it groups each key's versions instead
// (no state or timers; runs on the direct runner).
//
// # Running on Prism
//
// Prism v2.77.0 may split a slow bundle of a stateful stage so that rows of
// one key are processed by two bundles at once, each on its own copy of the
// key's state; the updates of one are lost (seen as missing pairs for a hot
// key). runners.Run (github.com/trialflow/trialflow/runners), the way to run
// a trialflow pipeline, sets --experiments=prism_disable_sdf_split for
// Prism; a test that runs on Prism through ptest calls
// runners.DisablePrismSDFSplit in TestMain, as this package's do. Run also
// refuses the stateful joins on the direct runner, which has no state or
// timers, naming the transform (Window, CoGroup and TemporalTable with
// Bounded run there).
//
// # Watermark holds
//
// The joins set no explicit timer output timestamps (watermark holds):
// re-setting a timer with a different hold trips Prism v2.77.0's hold
// accounting. What a timer emits is timestamped at or after its firing time,
// which the runner's own timer hold covers.
//
// # Broadcast join
//
// [Broadcast] replicates a small changelog (upserts and deletions) to a
// number of shards and routes each batch of the large side to one shard,
// where a registered [EvalFunc] receives the whole batch with the current
// broadcast table. With [StateTTL] the shard keeps the batches for that
// long (in event time) and re-evaluates them when the table changes,
// telling the function which keys changed. Results are emitted when the
// function emits them (processing order, not event-time complete).
//
// # Options
//
// Each transform takes its own option interface ([WindowOption],
// [IntervalOption], [TemporalOption], [TableOption], [BroadcastOption]), in
// the style of franz-go's kgo, and each option implements the interfaces of
// exactly the transforms that honour it, so a misapplied option is a
// compile error, not a silent no-op (join.Window(s, kind, in,
// join.Bounded()) fails with "TableOption does not implement
// WindowOption"):
//
//	option           Window, CoGroup  Interval  Temporal, Latest  TemporalTable  Broadcast
//	Name             yes              yes       yes               yes            yes
//	Batched          yes              yes       -                 -              -
//	AllowedLateness  -                yes       yes               -              -
//	StateTTL         -                yes       yes               -              yes
//	CleanupEvery     -                yes       -                 -              -
//	Bounded          -                -         -                 yes            -
//	Shards           -                -         -                 -              yes
//
// # State TTL and late data
//
// Interval, Temporal and Latest accept [StateTTL] and [AllowedLateness]
// (Broadcast only StateTTL: it judges nothing late). A key's
// "cleanup point" is the latest event-time timer that fired for it (the SDK
// does not expose the watermark to a DoFn, and a fired timer proves the
// watermark passed it); rows older than that by more than the allowed
// lateness are reported on the late output as [Late] values. Lateness is
// therefore judged per key: a late row of a key with no fired timer is still
// joined. [LateToDeadLetters] turns a late output into dead letters
// (deadletter.Record, reason code late_data) for the dead-letter topic.
package join
