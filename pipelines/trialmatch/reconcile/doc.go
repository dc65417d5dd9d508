// Package reconcile makes the published approved_patients topic the ledger
// of what trialflow has said, so that a crash, a restart or a re-run never
// publishes a match twice, strands one, or loses one.
//
// A run starts from what is already published (read back from the topic,
// by match key: tenant, patient, protocol) and replays its input from the
// start. For each key the pipeline's records are offered in order to a Key:
//
//   - while they reproduce, in order, what was published, nothing is
//     published again (a restart after a crash, a re-run over unchanged
//     input);
//   - past what was published, whatever changes what
//     consumers see is published: a NEW when they see none, a RETRACTED when
//     they see a NEW, a RETRACTED (SUPERSEDED) and the new NEW when the arm,
//     dose level or site changed; never a second NEW without a RETRACTED
//     between them;
//   - Settle, called once the pipeline has had the chance to reproduce
//     everything published (its watermark passed the published records'
//     times, or a bounded run ended), retracts (SUPERSEDED) a published NEW
//     the pipeline did not reproduce, so none is left stranded.
//
// The result is that approved_patients, collapsed per key, equals what one
// uninterrupted run over the same input publishes, and where the published
// records are a prefix of that run's records (the common case: a crash of
// a deterministic pipeline) exactly that run's remaining records are
// published. The package is pure (no Beam); trialmatch.FromKafka feeds it
// (a grouped stage in batch execution, keyed state and event-time timers in
// streaming).
package reconcile
