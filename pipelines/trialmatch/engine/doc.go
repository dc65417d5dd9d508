// Package engine is the pure core of trialmatch's match stage, driven by
// every execution: the streaming stage one tick at a time (Engine.Step),
// the batch and co-partitioned stages over a whole bounded input
// (Replay.Run). It imports nothing from Beam; what it counts and the
// facts it rejects go to an Observer, which the pipeline turns into Beam
// metrics and dead-letter records. A rule lives here once, and a tick can
// be tested without a runner.
//
// # A tick
//
// A Shard holds one set of patients (a shard or a partition): each
// Patient's single patient view (package spv) and ledger of what has
// been published (package decide), and the open-trial table. A tick is
// every Item whose event time rounds up to it. Step applies them in
// event-time order, open-trial decisions before facts at equal times (a
// trial opening at t is open for a fact at t):
//
//  1. Fold: each decision replaces its protocol's entry in the table;
//     each fact is folded into its patient's view. A fact that does not
//     fold is reported (Observer.Rejected, reason InvalidFact) and
//     skipped.
//  2. Judge: the patients whose profile changed are judged against the
//     catalog of the table in force at the tick (package catalog: the
//     open trials, compiled for the tick's day, since ages depend on
//     it), at the time of their latest fact. When the table changed,
//     every patient is judged, at the tick; one whose profile did not
//     change and whose ledger was brought up to date the same day is
//     judged against the changed trials only, its ledger standing for
//     the others, which publishes the same records for less work.
//  3. Ledger: each verdict is applied to the patient's ledger, which
//     publishes a NEW record for an eligibility it did not hold (with the
//     match reasons and the facts behind them) and a RETRACTED record
//     for one it held and the verdict no longer gives (with the reason,
//     and what the patient's latest facts set). The records of a tick
//     are published in patient key order, all stamped with the tick.
//
// # The batch replay
//
// A Replay holds a bounded input of one set of patients: their facts and
// the whole open-trial changelog, by tick. Run folds tick by tick as Step
// does, but judges in as few batches as it can: the changed patients of
// successive ticks wait (as copies of their profiles) until the catalog
// changes (a table change or a new day), and are then evaluated in one
// vectorised batch and applied to their ledgers tick by tick. It
// publishes exactly the records, in the same order, that stepping tick by
// tick does (TestReplayEqualsSteps).
package engine
