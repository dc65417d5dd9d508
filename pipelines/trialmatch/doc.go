// Package trialmatch is the flagship pipeline: patient facts, trial versions
// and regulatory events in; approved_patients (NEW / RETRACTED matches per
// tenant), per-tenant digests, Parquet history and dead letters out.
//
// The pipeline, stage by stage:
//
//  1. Sources: Kafka topics of Confluent-framed Avro (FromKafka), or any
//     PCollections of typed values (Build), each element stamped with its
//     event time. Every record is checked where it enters, in both
//     executions, for what no later stage could carry (edge.go): a record
//     over KafkaConfig.MaxRecordBytes (1 MiB by default) is a dead letter
//     record_too_large, a time outside schemas.MinTime..MaxTime one
//     event_time_out_of_range, a string that is not UTF-8 one invalid_utf8
//     (naming the field, never the value), a NaN or infinite number one
//     non_finite_number. So no single record can stop the pipeline later
//     (in its JSON state, Beam's timestamps or the tick arithmetic); what
//     still fails per record further on (a fact that does not fold, a match
//     approved_patients cannot encode) is a dead letter too. An unreachable
//     registry or broker fails the bundle instead, with a message naming
//     it, so that nothing is both dropped and committed.
//  2. Open-trial table (temporal join): trial versions ⋈ regulatory events,
//     keyed by protocol, as the toolkit's join.TemporalTable. A trial
//     version is valid from its event time on, a regulatory event over
//     [valid_from, valid_to). At every change point (a new version, an
//     approval taking effect or expiring, an arm closing) the trial's
//     decision (package opentrials) is recomputed from everything valid
//     then and, when it changed, emitted as a changelog entry. CTML that
//     does not parse, and a regulatory event whose valid_to is not after
//     its valid_from, are dead-lettered here, once.
//  3. Broadcast join of the open-trial changelog with patient facts: facts
//     are keyed by a shard of (tenant, patient) and cross the shuffle
//     batched per shard and tick; every changelog entry is sent to every
//     shard by the toolkit's join.Replicate. The evaluation half is the
//     pipeline's own, not join.Broadcast's: that one evaluates stateless
//     batches in processing order, while this one keeps every patient's
//     profile and ledger and must apply both sides in event-time order.
//     A stateful DoFn per shard buffers both sides by
//     event-time tick (Config.Tick, default one minute) and, when the
//     watermark passes a tick, applies them in event-time order through
//     package engine (Engine.Step), the pure core every execution drives,
//     with no Beam in it; its counts and rejected facts reach Beam metrics
//     and dead letters through an engine.Observer:
//     - single patient view: each fact is folded into its patient's profile
//     (package spv; latest event wins per attribute, idempotent on fact id);
//     - matching: changed profiles are evaluated as one Arrow batch against
//     the open-trial catalog (packages catalog, match): every trial version
//     compiled once per day, the table's decisions applied to the engine's
//     hits, so a change of the table compiles nothing; a change of
//     the open-trial table re-judges every stored profile of the shard,
//     against the trials whose decision changed only when the patient's
//     ledger was brought up to date the same day (its eligibility for the
//     other trials is then what the ledger holds), against every trial
//     otherwise;
//     - dedup and retraction: a ledger per patient (package decide) turns
//     verdicts into NEW once and RETRACTED with a reason. Reasons are built
//     for the NEW records only, each naming the facts behind it
//     (spv.State.Sources); a RETRACTED record made when new facts arrived
//     names what those facts set (spv.State.ChangeReasons).
//  4. Sinks: approved_patients to Kafka (key tenant/patient/protocol,
//     optionally a topic per tenant), a per-tenant tumbling-window digest,
//     Parquet history, and dead letters.
//
// Durability (FromKafka): approved_patients is the pipeline's ledger. The
// sources are replayed from the earliest offset, the records the pipeline
// makes are reconciled per match key with what the topic held when the
// pipeline was built (package reconcile; Snapshot), and only what changes
// what readers see is published, so a crash, a restart or a re-run never
// publishes a match twice, strands one or loses one. Source offsets are
// committed to KafkaConfig.Group with kafkaio.Commit, after the sinks
// wrote what they caused. KafkaConfig.Republish turns the ledger off.
//
// Output timestamps are the tick at which a decision was taken; the
// record's event_time field carries the event time of the fact or trial
// change that caused it.
//
// Execution: the above is the Streaming execution (Config.Execution), for
// bounded and unbounded input. For bounded input the Batch execution gives
// the same records without state or timers, as Flink's BATCH runtime mode
// does: the open-trial table is join.TemporalTable's Bounded form (each
// protocol's versions and events grouped, no timers), and each shard's
// facts arrive in one group with the
// open-trial changelog broadcast to every shard, replayed tick by tick
// through the same engine (engine.Replay), on GOMAXPROCS workers per
// shard. The replay
// folds tick by tick but judges in as few batches as it can: the changed
// patients of successive ticks wait, as copies of their profiles, until the
// catalog changes (a table change or a new day), are then evaluated in one
// vectorised batch and applied to their ledgers tick by tick, which
// publishes what judging each tick alone would. Batch over Kafka reads
// patient_facts with kafkaio.ReadBatches, decoding and keying a whole fetch
// in one stage (one runner element per fetch, not per record); every fact
// then crosses the runner once, in the GroupByKey by shard (the shuffle).
//
// FromKafka's default for bounded input is the CoPartitioned execution
// (copartition.go): patient_facts is keyed by patient id and produced with
// Kafka's default partitioner, so each partition holds every fact of its
// patients. Per partition, one step reads it (kafkaio.ReadRange), decodes
// it and checks placement record by record (key = patient id, murmur2 of
// the key = the partition); after a plan made of every partition's check,
// a second step replays the facts as Batch does (handed over in the
// worker's memory) and reconciles every match key of its patients. No fact
// crosses the runner. One misplaced fact sends the whole run to the Batch
// stages, with a log line naming it. Batch and CoPartitioned outputs leave
// global-window groups, so event-time windows downstream would see them as
// late: Sinks computes digests with digest.Grouped after them.
//
// Late data: an event behind the ticks already processed is folded at the
// next tick that fires (the fold is order independent, so profiles stay
// correct); its verdict is then taken at that later tick.
package trialmatch
