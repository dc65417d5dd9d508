// Package spv assembles the single patient view: a patient's facts, from many
// sources and in any arrival order, folded into the latest profile that the
// matching core evaluates (match.Profile).
//
// Folding is by event time, not arrival time: every attribute remembers the
// event time of the fact that set it, and an older fact arriving late never
// overwrites a newer value (latest-event-wins per attribute). Variants
// accumulate as a set, keyed by gene, category and change, so a re-delivered
// fact changes nothing. A fact id seen before is ignored (at-least-once
// delivery from Kafka is made idempotent here).
//
// The package is a pure-Go core with no Beam import; the pipeline keeps one
// State per (tenant, patient) in Beam state.
package spv
