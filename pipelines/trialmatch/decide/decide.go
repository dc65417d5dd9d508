package decide

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// Actions of a published record.
const (
	New       = "NEW"
	Retracted = "RETRACTED"
)

// Retraction reasons.
const (
	Deceased       = "DECEASED"
	TrialClosed    = "TRIAL_CLOSED"
	ArmClosed      = "ARM_CLOSED"
	CriteriaNotMet = "CRITERIA_NOT_MET"
)

// Eligible is one protocol a patient is eligible for.
type Eligible struct {
	ProtocolNo string
	ArmCode    string // "" for a step-level match
	DoseLevel  string
	// Site is the site at which the arm is open for the patient (their
	// care site), "" when the trial names no site.
	Site              string
	TrialVersion      int64
	ApprovalReference string
	Reasons           []schemas.MatchReason
}

// Verdict is the result of evaluating one patient at one event time.
type Verdict struct {
	Tenant    string
	PatientID string
	EventTime time.Time
	Deceased  bool
	Eligible  []Eligible
	// OpenArms holds, per open protocol, the arm codes open at EventTime; a
	// protocol absent from the map was not open.
	OpenArms map[string][]string
}

// Active is a published match.
type Active struct {
	ArmCode   string
	DoseLevel string
	Site      string `json:",omitempty"`
	Version   int64
}

// Ledger is what has been published for one patient. The zero value is
// empty. It is JSON-serialisable, for Beam state.
type Ledger struct {
	Active    map[string]Active // by protocol
	LastEvent int64             // event time (ms) of the last verdict applied
}

// MatchID is the stable id of a match: a UUID-shaped digest of tenant,
// patient and protocol.
func MatchID(tenant, patient, protocol string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + patient + "\x00" + protocol))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-5" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// Apply compares v with what was published and returns the changelog
// records to publish, sorted by protocol. now is the decision (processing)
// time recorded in match_time.
func (l *Ledger) Apply(v Verdict, now time.Time) []schemas.ApprovedPatient {
	return l.apply(v, nil, now)
}

// ApplyTo is Apply for a verdict on the trials of only: the patient's
// eligibility for every other trial is what the ledger holds. It publishes
// what Apply publishes for v with the ledger's active matches of the other
// trials added as eligibilities, at a cost that grows with the trials in
// only instead of the patient's active matches: a patient re-judged
// because one trial of a thousand changed costs one trial's work. A
// deceased patient is eligible for nothing, so every active match is
// retracted, as Apply does.
func (l *Ledger) ApplyTo(v Verdict, only map[string]bool, now time.Time) []schemas.ApprovedPatient {
	if only == nil {
		only = map[string]bool{}
	}
	return l.apply(v, only, now)
}

// apply is Apply (only nil) and ApplyTo.
func (l *Ledger) apply(v Verdict, only map[string]bool, now time.Time) []schemas.ApprovedPatient {
	t := v.EventTime.UnixMilli()
	if t < l.LastEvent {
		return nil
	}
	l.LastEvent = t
	if l.Active == nil {
		l.Active = map[string]Active{}
	}
	if only == nil && unchanged(l.Active, v) {
		// The common case when a patient is re-judged (an unrelated trial
		// changed, a fact that matters to no published match): nothing to
		// publish, and no need to build the map below.
		return nil
	}
	var out []schemas.ApprovedPatient
	rec := func(protocol, action string) schemas.ApprovedPatient {
		return schemas.ApprovedPatient{
			MatchID: MatchID(v.Tenant, v.PatientID, protocol), Tenant: v.Tenant, PatientID: v.PatientID,
			ProtocolNo: protocol, Action: action, EventTime: v.EventTime, MatchTime: now,
		}
	}
	now1 := map[string]Eligible{}
	for _, e := range v.Eligible {
		if only != nil && !only[e.ProtocolNo] {
			continue // the ledger's word stands for the other trials
		}
		if prev, ok := now1[e.ProtocolNo]; !ok || better(e, prev) {
			now1[e.ProtocolNo] = e
		}
	}
	if v.Deceased {
		clear(now1) // a deceased patient is eligible for nothing
	}
	for protocol, e := range now1 {
		if _, ok := l.Active[protocol]; ok {
			continue
		}
		r := rec(protocol, New)
		r.ArmCode, r.DoseLevel, r.SiteID = optional(e.ArmCode), optional(e.DoseLevel), optional(e.Site)
		r.TrialVersion, r.ApprovalReference = e.TrialVersion, optional(e.ApprovalReference)
		r.Reasons = e.Reasons
		out = append(out, r)
		l.Active[protocol] = Active{ArmCode: e.ArmCode, DoseLevel: e.DoseLevel, Site: e.Site, Version: e.TrialVersion}
	}
	retract := func(protocol string, a Active) {
		r := rec(protocol, Retracted)
		r.ArmCode, r.DoseLevel, r.TrialVersion = optional(a.ArmCode), optional(a.DoseLevel), a.Version
		r.SiteID = optional(a.Site)
		why := reason(v, protocol, a)
		r.RetractionReason = &why
		out = append(out, r)
		delete(l.Active, protocol)
	}
	if only == nil || v.Deceased {
		for protocol, a := range l.Active {
			if _, ok := now1[protocol]; !ok {
				retract(protocol, a)
			}
		}
	} else {
		for protocol := range only {
			if a, ok := l.Active[protocol]; ok {
				if _, ok := now1[protocol]; !ok {
					retract(protocol, a)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProtocolNo < out[j].ProtocolNo })
	return out
}

// unchanged reports whether v makes the patient eligible for exactly the
// protocols of active, so that Apply publishes nothing.
func unchanged(active map[string]Active, v Verdict) bool {
	if v.Deceased {
		return len(active) == 0
	}
	for _, e := range v.Eligible {
		if _, ok := active[e.ProtocolNo]; !ok {
			return false
		}
	}
	for protocol := range active {
		found := false
		for _, e := range v.Eligible {
			if e.ProtocolNo == protocol {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Chosen returns the index in eligible of the eligibility a NEW record
// rec was published from (the one Apply prefers for its protocol), or -1
// when eligible holds none that matches rec's arm and dose level. A caller
// that builds reasons only for what is published uses it to find them.
func Chosen(eligible []Eligible, rec schemas.ApprovedPatient) int {
	best := -1
	for k, e := range eligible {
		if e.ProtocolNo == rec.ProtocolNo && (best < 0 || better(e, eligible[best])) {
			best = k
		}
	}
	if best < 0 || eligible[best].ArmCode != schemas.Deref(rec.ArmCode) || eligible[best].DoseLevel != schemas.Deref(rec.DoseLevel) {
		return -1
	}
	return best
}

func reason(v Verdict, protocol string, a Active) string {
	if v.Deceased {
		return Deceased
	}
	arms, open := v.OpenArms[protocol]
	if !open {
		return TrialClosed
	}
	if a.ArmCode != "" {
		found := false
		for _, c := range arms {
			if c == a.ArmCode {
				found = true
				break
			}
		}
		if !found {
			return ArmClosed
		}
	}
	return CriteriaNotMet
}

// better prefers arm-level over step-level matches, then dose levels, then
// the smaller arm code, so the published arm is deterministic.
func better(a, b Eligible) bool {
	if (a.ArmCode != "") != (b.ArmCode != "") {
		return a.ArmCode != ""
	}
	if (a.DoseLevel != "") != (b.DoseLevel != "") {
		return a.DoseLevel != ""
	}
	if a.ArmCode != b.ArmCode {
		return a.ArmCode < b.ArmCode
	}
	return a.DoseLevel < b.DoseLevel
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Marshal encodes the ledger for Beam state.
func (l *Ledger) Marshal() ([]byte, error) {
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("decide: encode ledger: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a ledger written by Marshal; empty input is an empty ledger.
func Unmarshal(b []byte) (*Ledger, error) {
	l := &Ledger{}
	if len(b) == 0 {
		return l, nil
	}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("decide: decode ledger: %w", err)
	}
	return l, nil
}
