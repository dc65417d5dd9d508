package reconcile

import (
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// Actions and the retraction reason this package adds.
const (
	New       = "NEW"
	Retracted = "RETRACTED"
	// Superseded retracts a published match that the pipeline, run over
	// its current input, does not hold: published by a run that crashed
	// before it could retract it, or before input that changed the
	// decision arrived.
	Superseded = "SUPERSEDED"
)

// Key is the reconciliation state of one match key (tenant, patient,
// protocol): what consumers of approved_patients have seen, and how far
// the pipeline's own records have reproduced it. The zero value is a key
// with nothing published. It is JSON-serialisable, for Beam state.
type Key struct {
	// Published is what was on the topic when the run started, in offset
	// order. Only the records not yet reproduced are kept.
	Published []schemas.ApprovedPatient `json:",omitempty"`
	// Diverged is set once a pipeline record differed from the published
	// one at the same position: the pipeline is replaying a history other
	// than the published one, and publishes nothing until Settle.
	Diverged bool `json:",omitempty"`
	// Settled is set by Settle.
	Settled bool `json:",omitempty"`
	// Visible is the last record consumers see for the key (nil: none).
	Visible *schemas.ApprovedPatient `json:",omitempty"`
	// Engine is the last record the pipeline produced for the key.
	Engine *schemas.ApprovedPatient `json:",omitempty"`
}

// Seed starts k from what is published for it, in offset order.
func Seed(published []schemas.ApprovedPatient) *Key {
	k := &Key{}
	if len(published) > 0 {
		k.Published = append([]schemas.ApprovedPatient(nil), published...)
		last := published[len(published)-1]
		k.Visible = &last
	}
	return k
}

// Offer takes the pipeline's next record for the key and returns what to
// publish for it: nothing while the records reproduce, in order, what was
// published; past that, whatever changes what consumers see, so that a
// NEW is never published twice without a RETRACTED between them. Once a
// record differs from the published one at its position, nothing is
// published until Settle.
func (k *Key) Offer(e schemas.ApprovedPatient) []schemas.ApprovedPatient {
	ec := e
	k.Engine = &ec
	if !k.Settled {
		if !k.Diverged && len(k.Published) > 0 {
			if Same(&k.Published[0], &e) {
				k.Published = k.Published[1:]
				return nil
			}
			k.Diverged = true
		}
		if k.Diverged {
			// Catching up on another history: what consumers see is
			// corrected once, at Settle, not record by record (a second
			// run over the same input then publishes nothing).
			k.Published = nil
			return nil
		}
	}
	return k.toward(&ec)
}

// Settle brings what consumers see into line with the pipeline's last
// record once the pipeline has had the chance to reproduce everything
// published before the run (its input watermark passed the published
// records' times): a published NEW the pipeline did not reproduce is
// retracted (reason SUPERSEDED unless the pipeline retracted it itself).
// now stamps a record Settle makes up.
func (k *Key) Settle(now time.Time) []schemas.ApprovedPatient {
	k.Settled, k.Diverged = true, false
	k.Published = nil
	if k.Engine != nil {
		return k.toward(k.Engine)
	}
	if k.Visible == nil || k.Visible.Action != New {
		return nil
	}
	r := retraction(k.Visible, k.Visible.EventTime, now)
	k.Visible = &r
	return []schemas.ApprovedPatient{r}
}

// toward publishes what moves the visible state to e's.
func (k *Key) toward(e *schemas.ApprovedPatient) []schemas.ApprovedPatient {
	v := k.Visible
	switch {
	case e.Action == New && (v == nil || v.Action != New):
		k.Visible = e
		return []schemas.ApprovedPatient{*e}
	case e.Action == New && !SameMatch(v, e):
		r := retraction(v, e.EventTime, e.MatchTime)
		k.Visible = e
		return []schemas.ApprovedPatient{r, *e}
	case e.Action == Retracted && v != nil && v.Action == New:
		r := *e
		if !SameMatch(v, e) {
			// Retract what consumers saw, for the pipeline's reason.
			r.ArmCode, r.DoseLevel, r.SiteID, r.TrialVersion = v.ArmCode, v.DoseLevel, v.SiteID, v.TrialVersion
		}
		k.Visible = &r
		return []schemas.ApprovedPatient{r}
	}
	return nil
}

// retraction withdraws the published NEW v as superseded.
func retraction(v *schemas.ApprovedPatient, at, now time.Time) schemas.ApprovedPatient {
	reason := Superseded
	return schemas.ApprovedPatient{
		MatchID: v.MatchID, Tenant: v.Tenant, PatientID: v.PatientID, ProtocolNo: v.ProtocolNo,
		ArmCode: v.ArmCode, DoseLevel: v.DoseLevel, SiteID: v.SiteID, Action: Retracted,
		RetractionReason: &reason, TrialVersion: v.TrialVersion, ApprovalReference: v.ApprovalReference,
		EventTime: at, MatchTime: now,
	}
}

// Same reports whether two records say the same thing: everything but the
// decision (processing) time match_time.
func Same(a, b *schemas.ApprovedPatient) bool {
	return a.Action == b.Action && SameMatch(a, b) && a.TrialVersion == b.TrialVersion &&
		a.EventTime.Equal(b.EventTime) && eq(a.RetractionReason, b.RetractionReason)
}

// SameMatch reports whether two records are about the same arm, dose level
// and site.
func SameMatch(a, b *schemas.ApprovedPatient) bool {
	return eq(a.ArmCode, b.ArmCode) && eq(a.DoseLevel, b.DoseLevel) && eq(a.SiteID, b.SiteID)
}

func eq(a, b *string) bool { return schemas.Deref(a) == schemas.Deref(b) }

// Run reconciles one key in one go, as a bounded run does: published in
// offset order, the pipeline's records in order. now stamps records that
// Settle makes up.
func Run(published, records []schemas.ApprovedPatient, now time.Time) []schemas.ApprovedPatient {
	k := Seed(published)
	var out []schemas.ApprovedPatient
	for _, e := range records {
		out = append(out, k.Offer(e)...)
	}
	return append(out, k.Settle(now)...)
}
