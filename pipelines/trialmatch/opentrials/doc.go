// Package opentrials decides which trials and arms are open at an event time:
// the temporal (as-of) join of trial versions with regulatory events that the
// trialmatch pipeline matches patients against.
//
// A trial is open at time t only when both sides say so:
//
//   - the trial version valid at t (the latest with event time <= t) has
//     status OPEN, and
//   - the latest TRIAL-scope regulatory event valid at t
//     (valid_from <= t < valid_to) is an APPROVED one.
//
// An arm of an open trial is closed at t when the latest ARM-scope event for
// it valid at t is SUSPENDED or CLOSED; an arm with no arm-level event follows
// the trial. SITE-scope events restrict the sites at which the trial recruits:
// a site is open unless its latest valid event is SUSPENDED or CLOSED, and
// sites named only by APPROVED site events are added. A trial with no open
// site is not open. An ARM-scope event that names a site closes (or
// re-opens) the arm at that site only: an arm approved at site A and
// suspended at site B is open at A and not at B (Decision.OpenAt).
//
// Patients are cared for at a site: the pipeline takes a patient's care
// site to be their practice (the tenant id is the site id), so a trial
// that names sites matches only the patients of practices where it, and
// the matched arm, are open; a trial that names no site is open at every
// site.
//
// Ties at the same event time resolve in favour of the later event time of
// recording, then of the more restrictive action, so a closure recorded with
// an approval at the same instant wins.
//
// The package is pure Go; the pipeline evaluates it at every change point in
// a stateful Beam DoFn keyed by protocol number.
package opentrials
