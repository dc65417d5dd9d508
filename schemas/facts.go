package schemas

import (
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"
)

// FactKind names which detail record of a PatientFact is set.
type FactKind string

// The kinds of patient_facts.avsc.
const (
	KindDemographics FactKind = "DEMOGRAPHICS"
	KindDiagnosis    FactKind = "DIAGNOSIS"
	KindVariant      FactKind = "VARIANT"
	KindTumorMarker  FactKind = "TUMOR_MARKER"
	KindPerformance  FactKind = "PERFORMANCE_STATUS"
	KindVital        FactKind = "VITAL_STATUS"
	KindPriorTherapy FactKind = "PRIOR_THERAPY"
	KindUnknown      FactKind = "UNKNOWN"
)

// PatientFact is the Go form of org.trialflow.facts.PatientFact. Optional
// fields are pointers; exactly one detail pointer is set, the one Kind names.
// Dates are days since the Unix epoch (Avro "date").
type PatientFact struct {
	FactID     string
	Tenant     string
	PatientID  string // pseudonym, never an MRN
	EventTime  time.Time
	IngestTime time.Time
	Source     string
	Kind       FactKind

	Demographics *Demographics
	Diagnosis    *Diagnosis
	Variant      *Variant
	Marker       *TumorMarker
	Performance  *PerformanceStatus
	Vital        *VitalStatus
	Therapy      *PriorTherapy
}

// Demographics is org.trialflow.facts.Demographics.
type Demographics struct {
	BirthDate    *int32 // days since epoch; PHI
	Gender       *string
	PostalRegion *string // PHI
	MRNSealed    []byte  // PHI, sealed with the tenant key
}

// Diagnosis is org.trialflow.facts.Diagnosis.
type Diagnosis struct {
	OncotreeCode             *string
	OncotreePrimaryDiagnosis string
	ICDO3Morphology          *string
	SNOMEDCode               *string
	DiagnosisDate            *int32
	Stage                    *string
	DiseaseStatus            *string
}

// Variant is org.trialflow.facts.Variant.
type Variant struct {
	HugoSymbol            *string
	VariantCategory       string // MUTATION, CNV, SV, SIGNATURE, OTHER
	ProteinChange         *string
	CDNAChange            *string
	VariantClassification *string
	Exon                  *int32
	CNVCall               *string
	LeftPartner           *string
	RightPartner          *string
	SVComment             *string
	AlleleFraction        *float64
	Signature             *string
	SignatureStatus       *string
	Wildtype              bool
}

// TumorMarker is org.trialflow.facts.TumorMarker.
type TumorMarker struct {
	Marker  string // PD_L1, HER2, ER, PR, TMB, MSI, MMR, OTHER
	LOINC   *string
	Value   *float64
	Result  *string
	Scoring *string
	Clone   *string
}

// PerformanceStatus is org.trialflow.facts.PerformanceStatus.
type PerformanceStatus struct {
	Scale string // ECOG or KARNOFSKY
	Value int32
}

// VitalStatus is org.trialflow.facts.VitalStatus.
type VitalStatus struct {
	Status    string // ALIVE or DECEASED
	DeathDate *int32 // PHI
}

// PriorTherapy is org.trialflow.facts.PriorTherapy.
type PriorTherapy struct {
	Line    int32
	Regimen *string
	EndDate *int32
}

// Ptr returns a pointer to v, for optional fields.
func Ptr[T any](v T) *T { return &v }

// Deref returns what p points to, or T's zero value when p is nil: an
// optional field read with its default.
func Deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

func optional[T any](typ string, p *T) any {
	if p == nil {
		return nil
	}
	return goavro.Union(typ, *p)
}

func optionalDate(p *int32) any {
	if p == nil {
		return nil
	}
	return goavro.Union("int.date", time.Unix(int64(*p)*86400, 0).UTC())
}

func record(name string, m map[string]any) any {
	if m == nil {
		return nil
	}
	return goavro.Union("org.trialflow.facts."+name, m)
}

// Native returns f as goavro native data for patient_facts.avsc.
func (f *PatientFact) Native() map[string]any {
	m := map[string]any{
		"fact_id":     f.FactID,
		"tenant":      f.Tenant,
		"patient_id":  f.PatientID,
		"event_time":  f.EventTime.UTC(),
		"ingest_time": f.IngestTime.UTC(),
		"source":      f.Source,
		"kind":        string(f.Kind),
	}
	if f.Kind == "" {
		m["kind"] = string(KindUnknown)
	}
	m["demographics"], m["diagnosis"], m["variant"], m["marker"] = nil, nil, nil, nil
	m["performance"], m["vital"], m["therapy"] = nil, nil, nil
	if d := f.Demographics; d != nil {
		var mrn any
		if d.MRNSealed != nil {
			mrn = goavro.Union("bytes", d.MRNSealed)
		}
		m["demographics"] = record("Demographics", map[string]any{
			"birth_date": optionalDate(d.BirthDate), "gender": optional("string", d.Gender),
			"postal_region": optional("string", d.PostalRegion), "mrn_sealed": mrn,
		})
	}
	if d := f.Diagnosis; d != nil {
		m["diagnosis"] = record("Diagnosis", map[string]any{
			"oncotree_code": optional("string", d.OncotreeCode), "oncotree_primary_diagnosis": d.OncotreePrimaryDiagnosis,
			"icdo3_morphology": optional("string", d.ICDO3Morphology), "snomed_code": optional("string", d.SNOMEDCode),
			"diagnosis_date": optionalDate(d.DiagnosisDate), "stage": optional("string", d.Stage),
			"disease_status": optional("string", d.DiseaseStatus),
		})
	}
	if v := f.Variant; v != nil {
		cat := v.VariantCategory
		if cat == "" {
			cat = "OTHER"
		}
		m["variant"] = record("Variant", map[string]any{
			"hugo_symbol": optional("string", v.HugoSymbol), "variant_category": cat,
			"protein_change": optional("string", v.ProteinChange), "cdna_change": optional("string", v.CDNAChange),
			"variant_classification": optional("string", v.VariantClassification), "exon": optional("int", v.Exon),
			"cnv_call": optional("string", v.CNVCall), "left_partner": optional("string", v.LeftPartner),
			"right_partner": optional("string", v.RightPartner), "sv_comment": optional("string", v.SVComment),
			"allele_fraction": optional("double", v.AlleleFraction), "signature": optional("string", v.Signature),
			"signature_status": optional("string", v.SignatureStatus), "wildtype": v.Wildtype,
		})
	}
	if t := f.Marker; t != nil {
		name := t.Marker
		if name == "" {
			name = "OTHER"
		}
		m["marker"] = record("TumorMarker", map[string]any{
			"marker": name, "loinc": optional("string", t.LOINC), "value": optional("double", t.Value),
			"result": optional("string", t.Result), "scoring": optional("string", t.Scoring), "clone": optional("string", t.Clone),
		})
	}
	if p := f.Performance; p != nil {
		m["performance"] = record("PerformanceStatus", map[string]any{"scale": p.Scale, "value": p.Value})
	}
	if v := f.Vital; v != nil {
		m["vital"] = record("VitalStatus", map[string]any{"status": v.Status, "death_date": optionalDate(v.DeathDate)})
	}
	if t := f.Therapy; t != nil {
		m["therapy"] = record("PriorTherapy", map[string]any{
			"line": t.Line, "regimen": optional("string", t.Regimen), "end_date": optionalDate(t.EndDate),
		})
	}
	return m
}

// Codec compiles the contract's schema with goavro.
func (c Contract) Codec() (*goavro.Codec, error) {
	codec, err := goavro.NewCodec(c.Schema())
	if err != nil {
		return nil, fmt.Errorf("schemas: compile %s: %w", c.File, err)
	}
	return codec, nil
}

// AppendAvro appends f's Avro binary body (no framing) to dst using codec,
// which must be compiled from patient_facts.avsc (see Contract.Codec).
func (f *PatientFact) AppendAvro(codec *goavro.Codec, dst []byte) ([]byte, error) {
	out, err := codec.BinaryFromNative(dst, f.Native())
	if err != nil {
		return dst, fmt.Errorf("schemas: encode patient fact %s: %w", f.FactID, err)
	}
	return out, nil
}

// PatientFactFromNative converts goavro native data decoded with
// patient_facts.avsc (or a compatible reader schema) back to a PatientFact.
func PatientFactFromNative(v any) (*PatientFact, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schemas: patient fact: want a record, got %T", v)
	}
	r := nativeReader{m: m}
	f := &PatientFact{
		FactID:     r.str("fact_id"),
		Tenant:     r.str("tenant"),
		PatientID:  r.str("patient_id"),
		EventTime:  r.time("event_time"),
		IngestTime: r.time("ingest_time"),
		Source:     r.str("source"),
		Kind:       FactKind(r.str("kind")),
	}
	if d := r.rec("demographics"); d != nil {
		f.Demographics = &Demographics{BirthDate: d.optDate("birth_date"), Gender: d.optStr("gender"),
			PostalRegion: d.optStr("postal_region"), MRNSealed: d.optBytes("mrn_sealed")}
	}
	if d := r.rec("diagnosis"); d != nil {
		f.Diagnosis = &Diagnosis{OncotreeCode: d.optStr("oncotree_code"), OncotreePrimaryDiagnosis: d.str("oncotree_primary_diagnosis"),
			ICDO3Morphology: d.optStr("icdo3_morphology"), SNOMEDCode: d.optStr("snomed_code"),
			DiagnosisDate: d.optDate("diagnosis_date"), Stage: d.optStr("stage"), DiseaseStatus: d.optStr("disease_status")}
	}
	if v := r.rec("variant"); v != nil {
		f.Variant = &Variant{HugoSymbol: v.optStr("hugo_symbol"), VariantCategory: v.str("variant_category"),
			ProteinChange: v.optStr("protein_change"), CDNAChange: v.optStr("cdna_change"),
			VariantClassification: v.optStr("variant_classification"), Exon: v.optInt("exon"), CNVCall: v.optStr("cnv_call"),
			LeftPartner: v.optStr("left_partner"), RightPartner: v.optStr("right_partner"), SVComment: v.optStr("sv_comment"),
			AlleleFraction: v.optDouble("allele_fraction"), Signature: v.optStr("signature"),
			SignatureStatus: v.optStr("signature_status"), Wildtype: v.boolean("wildtype")}
	}
	if t := r.rec("marker"); t != nil {
		f.Marker = &TumorMarker{Marker: t.str("marker"), LOINC: t.optStr("loinc"), Value: t.optDouble("value"),
			Result: t.optStr("result"), Scoring: t.optStr("scoring"), Clone: t.optStr("clone")}
	}
	if p := r.rec("performance"); p != nil {
		f.Performance = &PerformanceStatus{Scale: p.str("scale"), Value: p.int32("value")}
	}
	if v := r.rec("vital"); v != nil {
		f.Vital = &VitalStatus{Status: v.str("status"), DeathDate: v.optDate("death_date")}
	}
	if t := r.rec("therapy"); t != nil {
		f.Therapy = &PriorTherapy{Line: t.int32("line"), Regimen: t.optStr("regimen"), EndDate: t.optDate("end_date")}
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

// nativeReader reads goavro native values, remembering the first type error.
type nativeReader struct {
	m   map[string]any
	err error
	at  string
}

func (r *nativeReader) fail(field string, v any) {
	if r.err == nil {
		r.err = fmt.Errorf("schemas: field %s%s: unexpected %T", r.at, field, v)
	}
}

func (r *nativeReader) str(k string) string {
	s, ok := r.m[k].(string)
	if !ok && r.m[k] != nil {
		r.fail(k, r.m[k])
	}
	return s
}

func (r *nativeReader) boolean(k string) bool {
	b, _ := r.m[k].(bool)
	return b
}

func (r *nativeReader) int32(k string) int32 {
	i, ok := r.m[k].(int32)
	if !ok {
		r.fail(k, r.m[k])
	}
	return i
}

func (r *nativeReader) int64(k string) int64 {
	i, ok := r.m[k].(int64)
	if !ok {
		r.fail(k, r.m[k])
	}
	return i
}

func (r *nativeReader) time(k string) time.Time {
	t, ok := r.m[k].(time.Time)
	if !ok {
		r.fail(k, r.m[k])
	}
	return t
}

// branch returns the single value of a goavro union map, or nil.
func (r *nativeReader) branch(k string) any {
	u, ok := r.m[k].(map[string]any)
	if !ok {
		return nil
	}
	for _, v := range u {
		return v
	}
	return nil
}

func (r *nativeReader) rec(k string) *nativeReader {
	m, ok := r.branch(k).(map[string]any)
	if !ok {
		return nil
	}
	return &nativeReader{m: m, at: r.at + k + "."}
}

func (r *nativeReader) optStr(k string) *string {
	if s, ok := r.branch(k).(string); ok {
		return &s
	}
	return nil
}

func (r *nativeReader) optBytes(k string) []byte {
	b, _ := r.branch(k).([]byte)
	return b
}

func (r *nativeReader) optInt(k string) *int32 {
	if i, ok := r.branch(k).(int32); ok {
		return &i
	}
	return nil
}

func (r *nativeReader) optDouble(k string) *float64 {
	if f, ok := r.branch(k).(float64); ok {
		return &f
	}
	return nil
}

func (r *nativeReader) optDate(k string) *int32 {
	if t, ok := r.branch(k).(time.Time); ok {
		d := int32(t.Unix() / 86400)
		return &d
	}
	return nil
}
