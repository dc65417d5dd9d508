package schemas

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// The range of instants a record may carry: [MinTime, MaxTime), UTC, in
// milliseconds since the Unix epoch.
//
// Every time a record carries travels through representations narrower
// than the Avro timestamp-millis it arrives as (±292 million years): JSON
// (encoding/json refuses years outside 0..9999, and the streaming engine
// keeps its state and events as JSON), Beam's mtime (milliseconds, with
// sentinels for the global window's bounds some 292,000 years out), Arrow
// and Parquet timestamps in the history sink (microseconds; nanoseconds
// readers stop at 2262), and the engine's tick arithmetic (rounding up to
// the next tick must not overflow). A clinical fact, a trial version or a
// regulatory event from before 1900 or from 2200 on is a data error, so
// the pipeline takes [1900-01-01, 2200-01-01): wide enough for any real
// record, narrow enough for every representation above. A regulatory event
// open to the future has no valid_to (null), not a far-away one.
//
// Dates (Avro "date", days since the epoch as int32, such as birth_date)
// are not bounded: they stay int32 day numbers everywhere and never become
// an instant.
const (
	MinTimeMillis int64 = -2_208_988_800_000 // 1900-01-01T00:00:00Z
	MaxTimeMillis int64 = 7_258_118_400_000  // 2200-01-01T00:00:00Z, excluded
)

// MinTime and MaxTime are MinTimeMillis and MaxTimeMillis as times.
var (
	MinTime = time.UnixMilli(MinTimeMillis).UTC()
	MaxTime = time.UnixMilli(MaxTimeMillis).UTC()
)

// Errors a record check wraps (in a *FieldError): a time outside
// [MinTime, MaxTime), a string that is not valid UTF-8, a number that is
// NaN or infinite (Avro doubles carry them; JSON, and so the streaming
// engine's state, cannot).
var (
	ErrTimeOutOfRange = errors.New("outside the range the pipeline represents [1900-01-01, 2200-01-01) UTC")
	ErrInvalidUTF8    = errors.New("not valid UTF-8")
	ErrNotFinite      = errors.New("not a finite number")
)

// FieldError is a record check's finding: which record kind and field
// (an Avro field path such as "diagnosis.stage") is wrong and how. It
// never holds the field's value: values may be PHI.
type FieldError struct {
	Record string // "patient fact", "trial", "regulatory event"
	Field  string
	Err    error // ErrTimeOutOfRange or ErrInvalidUTF8
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("schemas: %s: field %s: %v", e.Record, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// InTimeRange reports whether t is in [MinTime, MaxTime).
func InTimeRange(t time.Time) bool {
	return !t.Before(MinTime) && t.Before(MaxTime)
}

// checker collects the first problem of a record.
type checker struct {
	record string
	err    error
}

func (c *checker) time(field string, t time.Time) {
	if c.err == nil && !InTimeRange(t) {
		c.err = &FieldError{Record: c.record, Field: field, Err: ErrTimeOutOfRange}
	}
}

func (c *checker) str(field, s string) {
	if c.err == nil && !utf8.ValidString(s) {
		c.err = &FieldError{Record: c.record, Field: field, Err: ErrInvalidUTF8}
	}
}

func (c *checker) optDouble(field string, v *float64) {
	if c.err == nil && v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		c.err = &FieldError{Record: c.record, Field: field, Err: ErrNotFinite}
	}
}

func (c *checker) optStr(field string, s *string) {
	if s != nil {
		c.str(field, *s)
	}
}

// Check reports the first field of f the pipeline cannot carry: a time
// (event_time, ingest_time) outside [MinTime, MaxTime), a string that is
// not valid UTF-8 (every string field, identifiers and details alike: an
// invalid byte would be replaced on the way through JSON, and two
// identifiers could become one), or a number that is NaN or infinite
// (variant.allele_fraction, marker.value). The error is a *FieldError.
func (f *PatientFact) Check() error {
	c := checker{record: "patient fact"}
	c.time("event_time", f.EventTime)
	c.time("ingest_time", f.IngestTime)
	c.str("fact_id", f.FactID)
	c.str("tenant", f.Tenant)
	c.str("patient_id", f.PatientID)
	c.str("source", f.Source)
	c.str("kind", string(f.Kind))
	if d := f.Demographics; d != nil {
		c.optStr("demographics.gender", d.Gender)
		c.optStr("demographics.postal_region", d.PostalRegion)
	}
	if d := f.Diagnosis; d != nil {
		c.optStr("diagnosis.oncotree_code", d.OncotreeCode)
		c.str("diagnosis.oncotree_primary_diagnosis", d.OncotreePrimaryDiagnosis)
		c.optStr("diagnosis.icdo3_morphology", d.ICDO3Morphology)
		c.optStr("diagnosis.snomed_code", d.SNOMEDCode)
		c.optStr("diagnosis.stage", d.Stage)
		c.optStr("diagnosis.disease_status", d.DiseaseStatus)
	}
	if v := f.Variant; v != nil {
		c.optStr("variant.hugo_symbol", v.HugoSymbol)
		c.str("variant.variant_category", v.VariantCategory)
		c.optStr("variant.protein_change", v.ProteinChange)
		c.optStr("variant.cdna_change", v.CDNAChange)
		c.optStr("variant.variant_classification", v.VariantClassification)
		c.optStr("variant.cnv_call", v.CNVCall)
		c.optStr("variant.left_partner", v.LeftPartner)
		c.optStr("variant.right_partner", v.RightPartner)
		c.optStr("variant.sv_comment", v.SVComment)
		c.optStr("variant.signature", v.Signature)
		c.optStr("variant.signature_status", v.SignatureStatus)
		c.optDouble("variant.allele_fraction", v.AlleleFraction)
	}
	if m := f.Marker; m != nil {
		c.str("marker.marker", m.Marker)
		c.optStr("marker.loinc", m.LOINC)
		c.optStr("marker.result", m.Result)
		c.optStr("marker.scoring", m.Scoring)
		c.optStr("marker.clone", m.Clone)
		c.optDouble("marker.value", m.Value)
	}
	if p := f.Performance; p != nil {
		c.str("performance.scale", p.Scale)
	}
	if v := f.Vital; v != nil {
		c.str("vital.status", v.Status)
	}
	if t := f.Therapy; t != nil {
		c.optStr("therapy.regimen", t.Regimen)
	}
	return c.err
}

// Check reports the first field of t the pipeline cannot carry: an
// event_time outside [MinTime, MaxTime) or a string that is not valid
// UTF-8 (protocol_no, the CTML, site ids, every string field). The error
// is a *FieldError.
func (t *Trial) Check() error {
	c := checker{record: "trial"}
	c.time("event_time", t.EventTime)
	c.str("protocol_no", t.ProtocolNo)
	c.str("status", t.Status)
	c.str("status_text", t.StatusText)
	c.optStr("nct_id", t.NCTID)
	c.optStr("title", t.Title)
	c.str("ctml_format", t.CTMLFormat)
	c.str("ctml", t.CTML)
	for _, s := range t.Sites {
		c.str("sites", s)
	}
	return c.err
}

// Check reports the first field of e the pipeline cannot carry: a time
// (valid_from, valid_to, event_time) outside [MinTime, MaxTime) or a
// string that is not valid UTF-8 (event_id, protocol_no, arm_code,
// site_id, every string field). The error is a *FieldError.
func (e *RegulatoryEvent) Check() error {
	c := checker{record: "regulatory event"}
	c.time("valid_from", e.ValidFrom)
	if e.ValidTo != nil {
		c.time("valid_to", *e.ValidTo)
	}
	c.time("event_time", e.EventTime)
	c.str("event_id", e.EventID)
	c.str("protocol_no", e.ProtocolNo)
	c.str("scope", e.Scope)
	c.optStr("arm_code", e.ArmCode)
	c.optStr("site_id", e.SiteID)
	c.str("action", e.Action)
	c.optStr("authority", e.Authority)
	c.str("reference", e.Reference)
	return c.err
}
