// Package decide turns successive eligibility verdicts for a patient into the
// approved_patients changelog: NEW once when a patient first becomes eligible
// for a trial, RETRACTED when the patient no longer is, with the reason.
//
// The match stage evaluates a patient whenever the patient's profile changes
// or the set of open trials changes, and hands this package a Verdict: every
// protocol the patient is eligible for now, and the protocols and arms that
// were open at the time. A Ledger per patient (keyed in Beam state by tenant
// and patient, so per (tenant, patient, protocol) in effect) compares it with
// what it has already published:
//
//   - eligible now, not published: NEW, once;
//   - published, still eligible (even through another arm): nothing;
//   - published, not eligible any more: RETRACTED with the reason
//     DECEASED (the profile says so), TRIAL_CLOSED (the trial is no longer
//     open), ARM_CLOSED (the matched arm is no longer open) or
//     CRITERIA_NOT_MET (new facts contradict the match);
//   - a retracted match that becomes eligible again is NEW again.
//
// A NEW record names the site at which the arm is open for the patient
// (Eligible.Site, their care site; null when the trial names no site), and
// its retraction names the same site. A trial or arm closed at the
// patient's site only is, for that patient, TRIAL_CLOSED or ARM_CLOSED
// (Verdict.OpenArms is what is open at the patient's site); patients at the
// sites still open keep their matches.
//
// Verdicts are applied in event-time order by the caller; a verdict older
// than the last one applied is ignored, so a replay cannot resurrect a stale
// state. The package is pure Go.
package decide
