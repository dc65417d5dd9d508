// Package spv assembles the single patient view: a patient's facts, from many
// sources and in any arrival order, folded into the latest profile that the
// matching core evaluates (match.Profile).
//
// Folding is by event time, not arrival time: every attribute (each
// demographic field, the diagnosis and disease status, each marker, each
// PD-L1 score with the clone of its own assay, each HER2 assay, each variant
// and signature, ECOG, vital status, each therapy line) remembers the event
// time and the fact that set it (State.Attrs, its provenance), and an older
// fact arriving late never overwrites a newer value (latest-event-wins per
// attribute; equal event times are broken by fact id, so the fold does not
// depend on arrival order). A fact changes only the attributes it carries:
// a demographics fact without a birth date leaves the birth date alone.
//
// Marker and signature results are translated with Vocabulary into the
// values MatchMiner's CTML compares ("MSI-H" -> mmr_status
// "Deficient (MMR-D / MSI-H)"); a result not in the table is left out
// (the criterion stays unknown), never guessed. HER2 is derived from its
// assays: in situ hybridisation when done, else the latest of the IHC score
// and an overall interpretation. ER and PR given as a percentage are
// positive from 1 %. Variants
// accumulate as a set, keyed by gene, category and change, so a re-delivered
// fact changes nothing. A fact id seen before is ignored (at-least-once
// delivery from Kafka is made idempotent here).
//
// Sources names the facts behind a match reason (the attributes its path
// read, match.Reason.Reads) and ChangeReasons what the facts of one event
// time set, for a retraction; both by kind and event time, never values.
//
// The package is a pure-Go core with no Beam import; the pipeline keeps one
// State per (tenant, patient) in Beam state.
package spv
