package schemas_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// The range's constants are the dates their doc names, and its bounds are
// half-open.
func TestTimeRange(t *testing.T) {
	if want := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); !schemas.MinTime.Equal(want) || want.UnixMilli() != schemas.MinTimeMillis {
		t.Fatalf("MinTime %s (%d ms), want %s", schemas.MinTime, schemas.MinTimeMillis, want)
	}
	if want := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC); !schemas.MaxTime.Equal(want) || want.UnixMilli() != schemas.MaxTimeMillis {
		t.Fatalf("MaxTime %s (%d ms), want %s", schemas.MaxTime, schemas.MaxTimeMillis, want)
	}
	for _, c := range []struct {
		ms int64
		in bool
	}{
		{schemas.MinTimeMillis - 1, false},
		{schemas.MinTimeMillis, true},
		{0, true},
		{schemas.MaxTimeMillis - 1, true},
		{schemas.MaxTimeMillis, false},
		{-1 << 62, false},
		{1 << 62, false},
		{-1 << 63, false},
		{1<<63 - 1, false},
	} {
		if got := schemas.InTimeRange(time.UnixMilli(c.ms)); got != c.in {
			t.Errorf("InTimeRange(%d ms) = %t, want %t", c.ms, got, c.in)
		}
	}
	if schemas.InTimeRange(time.Time{}) {
		t.Error("the zero time is in range")
	}
}

const bad = "p\xff\xfe1" // not UTF-8

func validFact() *schemas.PatientFact {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	return &schemas.PatientFact{FactID: "f1", Tenant: "practice-a", PatientID: "p1", EventTime: at, IngestTime: at,
		Source: "emr", Kind: schemas.KindDiagnosis,
		Demographics: &schemas.Demographics{Gender: schemas.Ptr("Female"), PostalRegion: schemas.Ptr("75")},
		Diagnosis:    &schemas.Diagnosis{OncotreePrimaryDiagnosis: "Lung", Stage: schemas.Ptr("IV")},
		Variant:      &schemas.Variant{HugoSymbol: schemas.Ptr("EGFR"), VariantCategory: "MUTATION", ProteinChange: schemas.Ptr("p.L858R")},
		Marker:       &schemas.TumorMarker{Marker: "PD_L1", Result: schemas.Ptr("Positive")},
		Performance:  &schemas.PerformanceStatus{Scale: "ECOG", Value: 1},
		Vital:        &schemas.VitalStatus{Status: "ALIVE"},
		Therapy:      &schemas.PriorTherapy{Line: 1, Regimen: schemas.Ptr("FOLFOX")},
	}
}

func validTrial() *schemas.Trial {
	return &schemas.Trial{ProtocolNo: "T1", Version: 1, EventTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Status: "OPEN", CTMLFormat: "JSON", CTML: `{"protocol_no":"T1"}`, Sites: []string{"S1", "S2"}, Title: schemas.Ptr("A trial")}
}

func validRegulatory() *schemas.RegulatoryEvent {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &schemas.RegulatoryEvent{EventID: "r1", ProtocolNo: "T1", Scope: "ARM", ArmCode: schemas.Ptr("A"), SiteID: schemas.Ptr("S1"),
		Action: "APPROVED", ValidFrom: from, ValidTo: schemas.Ptr(from.AddDate(1, 0, 0)), Reference: "IRB", EventTime: from}
}

// checkCase breaks one field of a valid record and names the field and
// the error the check must report.
type checkCase struct {
	field string
	want  error
	check func() error
}

func TestCheck(t *testing.T) {
	past, future := time.UnixMilli(-1<<62), time.UnixMilli(1<<62)
	fact := func(f func(*schemas.PatientFact)) func() error {
		return func() error { x := validFact(); f(x); return x.Check() }
	}
	trial := func(f func(*schemas.Trial)) func() error {
		return func() error { x := validTrial(); f(x); return x.Check() }
	}
	reg := func(f func(*schemas.RegulatoryEvent)) func() error {
		return func() error { x := validRegulatory(); f(x); return x.Check() }
	}
	cases := []checkCase{
		{"event_time", schemas.ErrTimeOutOfRange, fact(func(f *schemas.PatientFact) { f.EventTime = past })},
		{"event_time", schemas.ErrTimeOutOfRange, fact(func(f *schemas.PatientFact) { f.EventTime = future })},
		{"event_time", schemas.ErrTimeOutOfRange, fact(func(f *schemas.PatientFact) { f.EventTime = schemas.MaxTime })},
		{"ingest_time", schemas.ErrTimeOutOfRange, fact(func(f *schemas.PatientFact) { f.IngestTime = past })},
		{"fact_id", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.FactID = bad })},
		{"tenant", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Tenant = bad })},
		{"patient_id", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.PatientID = bad })},
		{"source", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Source = bad })},
		{"demographics.postal_region", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Demographics.PostalRegion = schemas.Ptr(bad) })},
		{"diagnosis.oncotree_primary_diagnosis", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Diagnosis.OncotreePrimaryDiagnosis = bad })},
		{"variant.protein_change", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Variant.ProteinChange = schemas.Ptr(bad) })},
		{"marker.result", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Marker.Result = schemas.Ptr(bad) })},
		{"marker.value", schemas.ErrNotFinite, fact(func(f *schemas.PatientFact) { f.Marker.Value = schemas.Ptr(math.NaN()) })},
		{"variant.allele_fraction", schemas.ErrNotFinite, fact(func(f *schemas.PatientFact) { f.Variant.AlleleFraction = schemas.Ptr(math.Inf(-1)) })},
		{"therapy.regimen", schemas.ErrInvalidUTF8, fact(func(f *schemas.PatientFact) { f.Therapy.Regimen = schemas.Ptr(bad) })},
		{"event_time", schemas.ErrTimeOutOfRange, trial(func(x *schemas.Trial) { x.EventTime = past })},
		{"event_time", schemas.ErrTimeOutOfRange, trial(func(x *schemas.Trial) { x.EventTime = future })},
		{"protocol_no", schemas.ErrInvalidUTF8, trial(func(x *schemas.Trial) { x.ProtocolNo = bad })},
		{"ctml", schemas.ErrInvalidUTF8, trial(func(x *schemas.Trial) { x.CTML = bad })},
		{"sites", schemas.ErrInvalidUTF8, trial(func(x *schemas.Trial) { x.Sites[1] = bad })},
		{"title", schemas.ErrInvalidUTF8, trial(func(x *schemas.Trial) { x.Title = schemas.Ptr(bad) })},
		{"valid_from", schemas.ErrTimeOutOfRange, reg(func(x *schemas.RegulatoryEvent) { x.ValidFrom = past })},
		{"valid_to", schemas.ErrTimeOutOfRange, reg(func(x *schemas.RegulatoryEvent) { x.ValidTo = schemas.Ptr(future) })},
		{"event_time", schemas.ErrTimeOutOfRange, reg(func(x *schemas.RegulatoryEvent) { x.EventTime = schemas.MinTime.Add(-time.Millisecond) })},
		{"protocol_no", schemas.ErrInvalidUTF8, reg(func(x *schemas.RegulatoryEvent) { x.ProtocolNo = bad })},
		{"arm_code", schemas.ErrInvalidUTF8, reg(func(x *schemas.RegulatoryEvent) { x.ArmCode = schemas.Ptr(bad) })},
		{"site_id", schemas.ErrInvalidUTF8, reg(func(x *schemas.RegulatoryEvent) { x.SiteID = schemas.Ptr(bad) })},
		{"reference", schemas.ErrInvalidUTF8, reg(func(x *schemas.RegulatoryEvent) { x.Reference = bad })},
	}
	for _, c := range cases {
		err := c.check()
		var fe *schemas.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, c.want) {
			t.Errorf("field %s: Check() = %v, want a FieldError for the field wrapping %q", c.field, err, c.want)
			continue
		}
		// The message names the field, never the value (it may be PHI).
		if msg := err.Error(); !strings.Contains(msg, c.field) || strings.Contains(msg, bad) || strings.Contains(msg, "p\\xff") {
			t.Errorf("field %s: message %q", c.field, msg)
		}
	}
	for name, check := range map[string]func() error{
		"fact": validFact().Check, "trial": validTrial().Check, "regulatory event": validRegulatory().Check,
	} {
		if err := check(); err != nil {
			t.Errorf("valid %s: %v", name, err)
		}
	}
	open := validRegulatory()
	open.ValidTo = nil
	if err := open.Check(); err != nil {
		t.Errorf("open-ended regulatory event: %v", err)
	}
}

// A body written by the typed codec with an event time of -2^62 ms decodes
// (Avro can carry it) and Check rejects it; the decoded time is exact, not
// wrapped into range by an overflow.
func TestCheckDecodedExtremes(t *testing.T) {
	for _, ms := range []int64{-1 << 62, 1 << 62, -1 << 63, 1<<63 - 1} {
		f := validFact()
		f.Variant, f.Marker, f.Performance, f.Vital, f.Therapy, f.Demographics = nil, nil, nil, nil, nil, nil
		f.EventTime = time.UnixMilli(ms)
		body, err := f.AppendAvroBody(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := schemas.DecodePatientFact(body)
		if err != nil {
			t.Fatal(err)
		}
		if got.EventTime.UnixMilli() != ms {
			t.Fatalf("event time %d ms decodes to %d ms", ms, got.EventTime.UnixMilli())
		}
		if err := got.Check(); !errors.Is(err, schemas.ErrTimeOutOfRange) {
			t.Fatalf("event time %d ms: Check() = %v", ms, err)
		}
	}
}
