package schemas

import (
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Trial is the Go form of org.trialflow.trials.Trial: one version of a trial.
type Trial struct {
	ProtocolNo string
	Version    int64
	EventTime  time.Time
	Status     string // OPEN, CLOSED, SUSPENDED, COMPLETED, WITHDRAWN, UNKNOWN
	StatusText string
	NCTID      *string
	Title      *string
	CTMLFormat string // JSON or YAML
	CTML       string
	Sites      []string
}

// Native returns t as goavro native data for trial.avsc.
func (t *Trial) Native() map[string]any {
	status := t.Status
	if status == "" {
		status = "UNKNOWN"
	}
	format := t.CTMLFormat
	if format == "" {
		format = "JSON"
	}
	sites := make([]any, len(t.Sites))
	for i, s := range t.Sites {
		sites[i] = s
	}
	return map[string]any{
		"protocol_no": t.ProtocolNo, "version": t.Version, "event_time": t.EventTime.UTC(),
		"status": status, "status_text": t.StatusText, "nct_id": optional("string", t.NCTID),
		"title": optional("string", t.Title), "ctml_format": format, "ctml": t.CTML, "sites": sites,
	}
}

// TrialFromNative converts goavro native data decoded with trial.avsc.
func TrialFromNative(v any) (*Trial, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: trial: want a record, got %T", v)
	}
	r := nativeReader{m: m}
	t := &Trial{
		ProtocolNo: r.str("protocol_no"), Version: r.int64("version"), EventTime: r.time("event_time"),
		Status: r.str("status"), StatusText: r.str("status_text"), NCTID: r.optStr("nct_id"),
		Title: r.optStr("title"), CTMLFormat: r.str("ctml_format"), CTML: r.str("ctml"),
	}
	if arr, ok := m["sites"].([]any); ok {
		for _, s := range arr {
			if str, ok := s.(string); ok {
				t.Sites = append(t.Sites, str)
			}
		}
	}
	return t, r.err
}

// RegulatoryEvent is the Go form of org.trialflow.regulatory.RegulatoryEvent.
type RegulatoryEvent struct {
	EventID    string
	ProtocolNo string
	Scope      string // TRIAL, ARM or SITE
	ArmCode    *string
	SiteID     *string
	Action     string // APPROVED, SUSPENDED or CLOSED
	ValidFrom  time.Time
	ValidTo    *time.Time
	Slots      *int32
	Authority  *string
	Reference  string
	EventTime  time.Time
}

// Native returns e as goavro native data for regulatory.avsc.
func (e *RegulatoryEvent) Native() map[string]any {
	var validTo any
	if e.ValidTo != nil {
		validTo = goavro.Union("long.timestamp-millis", e.ValidTo.UTC())
	}
	return map[string]any{
		"event_id": e.EventID, "protocol_no": e.ProtocolNo, "scope": e.Scope,
		"arm_code": optional("string", e.ArmCode), "site_id": optional("string", e.SiteID),
		"action": e.Action, "valid_from": e.ValidFrom.UTC(), "valid_to": validTo,
		"slots": optional("int", e.Slots), "authority": optional("string", e.Authority),
		"reference": e.Reference, "event_time": e.EventTime.UTC(),
	}
}

// RegulatoryEventFromNative converts goavro native data decoded with regulatory.avsc.
func RegulatoryEventFromNative(v any) (*RegulatoryEvent, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: regulatory event: want a record, got %T", v)
	}
	r := nativeReader{m: m}
	e := &RegulatoryEvent{
		EventID: r.str("event_id"), ProtocolNo: r.str("protocol_no"), Scope: r.str("scope"),
		ArmCode: r.optStr("arm_code"), SiteID: r.optStr("site_id"), Action: r.str("action"),
		ValidFrom: r.time("valid_from"), Slots: r.optInt("slots"), Authority: r.optStr("authority"),
		Reference: r.str("reference"), EventTime: r.time("event_time"),
	}
	if t, ok := r.branch("valid_to").(time.Time); ok {
		e.ValidTo = &t
	}
	return e, r.err
}

// MatchReason is org.trialflow.matches.MatchReason.
type MatchReason struct {
	ReasonType string // CLINICAL or GENOMIC
	Field      string
	Alteration *string
	Level      *string
	// Facts are the facts that decided the reason, by kind and event time.
	Facts []FactRef
}

// FactRef is org.trialflow.matches.FactRef: a patient fact named by kind
// and event time, never by value.
type FactRef struct {
	Kind      string
	EventTime time.Time
}

// ApprovedPatient is the Go form of org.trialflow.matches.ApprovedPatient.
type ApprovedPatient struct {
	MatchID           string
	Tenant            string
	PatientID         string
	ProtocolNo        string
	ArmCode           *string
	DoseLevel         *string
	SiteID            *string
	Action            string // NEW or RETRACTED
	Reasons           []MatchReason
	RetractionReason  *string
	TrialVersion      int64
	ApprovalReference *string
	EventTime         time.Time
	MatchTime         time.Time
}

// Native returns a as goavro native data for approved_patient.avsc.
func (a *ApprovedPatient) Native() map[string]any {
	reasons := make([]any, len(a.Reasons))
	for i, r := range a.Reasons {
		facts := make([]any, len(r.Facts))
		for j, f := range r.Facts {
			facts[j] = map[string]any{"kind": f.Kind, "event_time": f.EventTime.UTC()}
		}
		reasons[i] = map[string]any{
			"reason_type": r.ReasonType, "field": r.Field,
			"alteration": optional("string", r.Alteration), "level": optional("string", r.Level),
			"facts": facts,
		}
	}
	return map[string]any{
		"match_id": a.MatchID, "tenant": a.Tenant, "patient_id": a.PatientID, "protocol_no": a.ProtocolNo,
		"arm_code": optional("string", a.ArmCode), "dose_level": optional("string", a.DoseLevel),
		"site_id": optional("string", a.SiteID), "action": a.Action, "reasons": reasons,
		"retraction_reason": optional("string", a.RetractionReason), "trial_version": a.TrialVersion,
		"approval_reference": optional("string", a.ApprovalReference),
		"event_time":         a.EventTime.UTC(), "match_time": a.MatchTime.UTC(),
	}
}

// ApprovedPatientFromNative converts goavro native data decoded with approved_patient.avsc.
func ApprovedPatientFromNative(v any) (*ApprovedPatient, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: approved patient: want a record, got %T", v)
	}
	r := nativeReader{m: m}
	a := &ApprovedPatient{
		MatchID: r.str("match_id"), Tenant: r.str("tenant"), PatientID: r.str("patient_id"),
		ProtocolNo: r.str("protocol_no"), ArmCode: r.optStr("arm_code"), DoseLevel: r.optStr("dose_level"),
		SiteID: r.optStr("site_id"), Action: r.str("action"), RetractionReason: r.optStr("retraction_reason"),
		TrialVersion: r.int64("trial_version"), ApprovalReference: r.optStr("approval_reference"),
		EventTime: r.time("event_time"), MatchTime: r.time("match_time"),
	}
	if arr, ok := m["reasons"].([]any); ok {
		for _, x := range arr {
			rm, ok := x.(map[string]any)
			if !ok {
				continue
			}
			rr := nativeReader{m: rm, at: "reasons."}
			mr := MatchReason{ReasonType: rr.str("reason_type"), Field: rr.str("field"),
				Alteration: rr.optStr("alteration"), Level: rr.optStr("level")}
			facts, _ := rm["facts"].([]any)
			for _, y := range facts {
				fm, ok := y.(map[string]any)
				if !ok {
					continue
				}
				fr := nativeReader{m: fm, at: "reasons.facts."}
				mr.Facts = append(mr.Facts, FactRef{Kind: fr.str("kind"), EventTime: fr.time("event_time")})
				if fr.err != nil && rr.err == nil {
					rr.err = fr.err
				}
			}
			a.Reasons = append(a.Reasons, mr)
			if rr.err != nil && r.err == nil {
				r.err = rr.err
			}
		}
	}
	return a, r.err
}
