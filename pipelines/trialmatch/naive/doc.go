// Package naive is the trialmatch pipeline written the naive Beam way: the
// benchmark baseline for pipelines/trialmatch and a second, independently
// written opinion on its results.
//
// It computes the same approved_patients changelog (NEW and RETRACTED
// records per tenant, patient and protocol) from the same three topics, but
// the way a first Beam pipeline is usually written:
//
//   - one element per Kafka record and per fact, decoded record by record
//     with goavro into generic maps and then into typed values
//     (schemas.PatientFactFromNative and friends);
//   - CoGroupByKey joins: trial versions with regulatory events per
//     protocol, evaluated with opentrials.ChangePoints and opentrials.At
//     into the open-trial changelog; facts grouped per (tenant, patient);
//   - the open-trial changelog handed to the patient stage as a side input,
//     as JSON strings;
//   - per patient, the patient's facts (spv.State.Apply) and the decision
//     timeline replayed in event-time order at Config.Tick granularity, each
//     profile evaluated alone by the row-wise matcher
//     (catalog.RowwiseMatches) and fed to a decide.Ledger.
//
// Why it is slow: every fact crosses the runner (Prism pays microseconds per
// element per stage boundary) several times as its own element with a
// row-coded struct of strings and timestamps; every record is decoded
// through goavro's map[string]any; the group-by-key moves every fact again;
// and every patient is matched on its own, once per open-trial change after
// its first fact, over Go structs instead of a vectorised pass over an Arrow
// batch of profiles. pipelines/trialmatch batches facts per shard, decodes
// with a schema-specialised decoder and matches whole batches of profiles at
// once.
//
// The package runs bounded input only (it groups, it keeps no state or
// timers). Undecodable or invalid records go to the dead-letter output, so
// records in = facts folded + dead letters.
package naive
