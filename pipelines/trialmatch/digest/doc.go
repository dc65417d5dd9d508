// Package digest computes each tenant's (oncology practice's) notification
// digest of the trialmatch output: per tenant, a tumbling event-time window
// (one hour by default) of approved-patient records, counting NEW matches
// and retractions, in total and per protocol.
//
// The pure-Go core is Counts (the combine accumulator) and Of (digests of a
// slice, the reference the Beam transform is tested against). The Beam
// transform Tumbling is beam.WindowInto(window.NewFixedWindows) followed by
// a CombinePerKey keyed by tenant, so the runner combines before the
// shuffle and only one small accumulator per tenant and window crosses it.
//
// Windows, trigger, lateness and timestamps are documented on Tumbling:
// one digest per tenant per window with at least one record, emitted when
// the watermark passes the window end, timestamped with the window's max
// timestamp (end - 1 ms), late records dropped unless AllowedLateness is
// set, in which case they fire extra discarding panes.
//
// A digest holds counts only, never patient identifiers, and is computed
// per tenant: no digest mixes tenants.
package digest
