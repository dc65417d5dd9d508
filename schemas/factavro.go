package schemas

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// The typed Avro codec of patient_facts: the same bytes as goavro with the
// contract's schema, without goavro's map[string]any in between (several
// times faster, a handful of allocations per fact). Field order and union
// branches follow patient_facts.avsc; enum symbols are read from it, and
// tests check the codec against goavro value for value.

// ErrAvro marks a body the typed codec cannot decode (truncated, a length or
// varint out of range, an unknown union branch or enum index, trailing
// bytes).
var ErrAvro = errors.New("schemas: invalid Avro body")

// factEnums and approvedEnums are the enum symbols of patient_facts.avsc and
// approved_patient.avsc, by enum name.
var (
	factEnums     = enumsOf(PatientFacts, "FactKind", "VariantCategory", "MarkerName", "PerformanceScale", "Vital")
	approvedEnums = enumsOf(ApprovedPatients, "MatchAction", "ReasonType")
)

// enumsOf reads the enum symbols of the contract's embedded schema; the
// enums named must be there.
func enumsOf(c Contract, names ...string) map[string][]string {
	var schema any
	if err := json.Unmarshal([]byte(c.Schema()), &schema); err != nil {
		panic(fmt.Sprintf("schemas: embedded %s: %v", c.File, err))
	}
	out := map[string][]string{}
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if t["type"] == "enum" {
				name, _ := t["name"].(string)
				syms, _ := t["symbols"].([]any)
				for _, s := range syms {
					str, _ := s.(string)
					out[name] = append(out[name], str)
				}
			}
			for _, x := range t {
				walk(x)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	walk(schema)
	for _, name := range names {
		if len(out[name]) == 0 {
			panic(fmt.Sprintf("schemas: %s has no enum %s", c.File, name))
		}
	}
	return out
}

// AppendAvroBody appends the Avro binary body of a (approved_patient schema,
// no frame) to dst: goavro's bytes, without building a native map. An enum
// value that is not one of the schema's symbols is an error.
func (a *ApprovedPatient) AppendAvroBody(dst []byte) ([]byte, error) {
	w := avroWriter{b: dst, enums: approvedEnums}
	w.str(a.MatchID)
	w.str(a.Tenant)
	w.str(a.PatientID)
	w.str(a.ProtocolNo)
	w.optStr(a.ArmCode)
	w.optStr(a.DoseLevel)
	w.optStr(a.SiteID)
	w.enum("MatchAction", a.Action)
	if len(a.Reasons) > 0 {
		w.long(int64(len(a.Reasons)))
		for i := range a.Reasons {
			r := &a.Reasons[i]
			w.enum("ReasonType", r.ReasonType)
			w.str(r.Field)
			w.optStr(r.Alteration)
			w.optStr(r.Level)
			if len(r.Facts) > 0 {
				w.long(int64(len(r.Facts)))
				for _, f := range r.Facts {
					w.str(f.Kind)
					w.long(f.EventTime.UnixMilli())
				}
			}
			w.long(0) // end of the facts array
		}
	}
	w.long(0) // end of the reasons array
	w.optStr(a.RetractionReason)
	w.long(a.TrialVersion)
	w.optStr(a.ApprovalReference)
	w.long(a.EventTime.UnixMilli())
	w.long(a.MatchTime.UnixMilli())
	if w.err != nil {
		return dst, fmt.Errorf("schemas: encode approved patient %s: %w", a.MatchID, w.err)
	}
	return w.b, nil
}

// AppendAvroBody appends the Avro binary body of f (patient_facts schema,
// no frame) to dst. An enum value that is not one of the schema's symbols
// is an error.
func (f *PatientFact) AppendAvroBody(dst []byte) ([]byte, error) {
	w := avroWriter{b: dst, enums: factEnums}
	w.str(f.FactID)
	w.str(f.Tenant)
	w.str(f.PatientID)
	w.long(f.EventTime.UnixMilli())
	w.long(f.IngestTime.UnixMilli())
	w.str(f.Source)
	w.enum("FactKind", string(f.Kind))
	if d := f.Demographics; w.present(d != nil) {
		w.optInt(d.BirthDate)
		w.optStr(d.Gender)
		w.optStr(d.PostalRegion)
		if w.present(d.MRNSealed != nil) {
			w.bytes(d.MRNSealed)
		}
	}
	if d := f.Diagnosis; w.present(d != nil) {
		w.optStr(d.OncotreeCode)
		w.str(d.OncotreePrimaryDiagnosis)
		w.optStr(d.ICDO3Morphology)
		w.optStr(d.SNOMEDCode)
		w.optInt(d.DiagnosisDate)
		w.optStr(d.Stage)
		w.optStr(d.DiseaseStatus)
	}
	if v := f.Variant; w.present(v != nil) {
		w.optStr(v.HugoSymbol)
		w.enum("VariantCategory", v.VariantCategory)
		w.optStr(v.ProteinChange)
		w.optStr(v.CDNAChange)
		w.optStr(v.VariantClassification)
		w.optInt(v.Exon)
		w.optStr(v.CNVCall)
		w.optStr(v.LeftPartner)
		w.optStr(v.RightPartner)
		w.optStr(v.SVComment)
		w.optDouble(v.AlleleFraction)
		w.optStr(v.Signature)
		w.optStr(v.SignatureStatus)
		w.boolean(v.Wildtype)
	}
	if m := f.Marker; w.present(m != nil) {
		w.enum("MarkerName", m.Marker)
		w.optStr(m.LOINC)
		w.optDouble(m.Value)
		w.optStr(m.Result)
		w.optStr(m.Scoring)
		w.optStr(m.Clone)
	}
	if p := f.Performance; w.present(p != nil) {
		w.enum("PerformanceScale", p.Scale)
		w.long(int64(p.Value))
	}
	if v := f.Vital; w.present(v != nil) {
		w.enum("Vital", v.Status)
		w.optInt(v.DeathDate)
	}
	if t := f.Therapy; w.present(t != nil) {
		w.long(int64(t.Line))
		w.optStr(t.Regimen)
		w.optInt(t.EndDate)
	}
	if w.err != nil {
		return dst, fmt.Errorf("schemas: encode patient fact %s: %w", f.FactID, w.err)
	}
	return w.b, nil
}

// DecodePatientFact decodes one Avro body of the patient_facts schema (no
// frame; exactly one record, nothing after it). Errors wrap ErrAvro and say
// which field and offset; lengths are checked against the bytes left, so a
// hostile length never allocates more than the input's size.
func DecodePatientFact(body []byte) (*PatientFact, error) {
	r := avroReader{b: body}
	f := &PatientFact{}
	r.at = "fact_id"
	f.FactID = r.str()
	r.at = "tenant"
	f.Tenant = r.str()
	r.at = "patient_id"
	f.PatientID = r.str()
	r.at = "event_time"
	f.EventTime = time.UnixMilli(r.long()).UTC()
	r.at = "ingest_time"
	f.IngestTime = time.UnixMilli(r.long()).UTC()
	r.at = "source"
	f.Source = r.str()
	r.at = "kind"
	f.Kind = FactKind(r.enum("FactKind"))
	if r.at = "demographics"; r.present() {
		d := &Demographics{}
		d.BirthDate = r.optInt()
		d.Gender = r.optStr()
		d.PostalRegion = r.optStr()
		if r.present() {
			d.MRNSealed = append([]byte{}, r.bytes()...)
		}
		f.Demographics = d
	}
	if r.at = "diagnosis"; r.present() {
		d := &Diagnosis{}
		d.OncotreeCode = r.optStr()
		d.OncotreePrimaryDiagnosis = r.str()
		d.ICDO3Morphology = r.optStr()
		d.SNOMEDCode = r.optStr()
		d.DiagnosisDate = r.optInt()
		d.Stage = r.optStr()
		d.DiseaseStatus = r.optStr()
		f.Diagnosis = d
	}
	if r.at = "variant"; r.present() {
		v := &Variant{}
		v.HugoSymbol = r.optStr()
		v.VariantCategory = r.enum("VariantCategory")
		v.ProteinChange = r.optStr()
		v.CDNAChange = r.optStr()
		v.VariantClassification = r.optStr()
		v.Exon = r.optInt()
		v.CNVCall = r.optStr()
		v.LeftPartner = r.optStr()
		v.RightPartner = r.optStr()
		v.SVComment = r.optStr()
		v.AlleleFraction = r.optDouble()
		v.Signature = r.optStr()
		v.SignatureStatus = r.optStr()
		v.Wildtype = r.boolean()
		f.Variant = v
	}
	if r.at = "marker"; r.present() {
		m := &TumorMarker{}
		m.Marker = r.enum("MarkerName")
		m.LOINC = r.optStr()
		m.Value = r.optDouble()
		m.Result = r.optStr()
		m.Scoring = r.optStr()
		m.Clone = r.optStr()
		f.Marker = m
	}
	if r.at = "performance"; r.present() {
		p := &PerformanceStatus{}
		p.Scale = r.enum("PerformanceScale")
		p.Value = r.int32()
		f.Performance = p
	}
	if r.at = "vital"; r.present() {
		v := &VitalStatus{}
		v.Status = r.enum("Vital")
		v.DeathDate = r.optInt()
		f.Vital = v
	}
	if r.at = "therapy"; r.present() {
		t := &PriorTherapy{}
		t.Line = r.int32()
		t.Regimen = r.optStr()
		t.EndDate = r.optInt()
		f.Therapy = t
	}
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("%w: %d trailing bytes after the record", ErrAvro, len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, fmt.Errorf("schemas: patient fact: %w", r.err)
	}
	return f, nil
}

// DecodeApprovedPatient decodes one Avro body of the approved_patient
// schema (no frame; exactly one record, nothing after it), as goavro would,
// without a native map in between. Errors wrap ErrAvro and say which field
// and offset; array blocks in either form (a count, or a negative count
// and a byte size) are read, and no length allocates more than the input
// can hold. Times are UTC.
func DecodeApprovedPatient(body []byte) (*ApprovedPatient, error) {
	r := avroReader{b: body, enums: approvedEnums}
	a := &ApprovedPatient{}
	r.at = "match_id"
	a.MatchID = r.str()
	r.at = "tenant"
	a.Tenant = r.str()
	r.at = "patient_id"
	a.PatientID = r.str()
	r.at = "protocol_no"
	a.ProtocolNo = r.str()
	r.at = "arm_code"
	a.ArmCode = r.optStr()
	r.at = "dose_level"
	a.DoseLevel = r.optStr()
	r.at = "site_id"
	a.SiteID = r.optStr()
	r.at = "action"
	a.Action = r.enum("MatchAction")
	r.at = "reasons"
	r.array(func() {
		var m MatchReason
		r.at = "reasons.reason_type"
		m.ReasonType = r.enum("ReasonType")
		r.at = "reasons.field"
		m.Field = r.str()
		r.at = "reasons.alteration"
		m.Alteration = r.optStr()
		r.at = "reasons.level"
		m.Level = r.optStr()
		r.at = "reasons.facts"
		r.array(func() {
			var f FactRef
			r.at = "reasons.facts.kind"
			f.Kind = r.str()
			r.at = "reasons.facts.event_time"
			f.EventTime = time.UnixMilli(r.long()).UTC()
			m.Facts = append(m.Facts, f)
		})
		a.Reasons = append(a.Reasons, m)
	})
	r.at = "retraction_reason"
	a.RetractionReason = r.optStr()
	r.at = "trial_version"
	a.TrialVersion = r.long()
	r.at = "approval_reference"
	a.ApprovalReference = r.optStr()
	r.at = "event_time"
	a.EventTime = time.UnixMilli(r.long()).UTC()
	r.at = "match_time"
	a.MatchTime = time.UnixMilli(r.long()).UTC()
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("%w: %d trailing bytes after the record", ErrAvro, len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, fmt.Errorf("schemas: approved patient: %w", r.err)
	}
	return a, nil
}

// avroWriter appends Avro binary, remembering the first error.
type avroWriter struct {
	b     []byte
	enums map[string][]string // the schema's enum symbols, by enum name
	err   error
}

func (w *avroWriter) long(v int64) { w.b = binary.AppendVarint(w.b, v) }

func (w *avroWriter) bytes(p []byte) {
	w.long(int64(len(p)))
	w.b = append(w.b, p...)
}

func (w *avroWriter) str(s string) {
	w.long(int64(len(s)))
	w.b = append(w.b, s...)
}

func (w *avroWriter) boolean(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// present writes the branch of a ["null", T] union and returns ok.
func (w *avroWriter) present(ok bool) bool {
	if ok {
		w.b = append(w.b, 2) // zigzag(1)
	} else {
		w.b = append(w.b, 0)
	}
	return ok
}

func (w *avroWriter) optStr(s *string) {
	if w.present(s != nil) {
		w.str(*s)
	}
}

func (w *avroWriter) optInt(v *int32) {
	if w.present(v != nil) {
		w.long(int64(*v))
	}
}

func (w *avroWriter) optDouble(v *float64) {
	if w.present(v != nil) {
		w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(*v))
	}
}

func (w *avroWriter) enum(name, sym string) {
	for i, s := range w.enums[name] {
		if s == sym {
			w.long(int64(i))
			return
		}
	}
	if w.err == nil {
		w.err = fmt.Errorf("%q is not a symbol of enum %s", sym, name)
	}
	w.long(0)
}

// avroReader reads Avro binary, remembering the first error; after an
// error every read returns a zero value.
type avroReader struct {
	b     []byte
	off   int
	at    string              // the field being read, for errors
	enums map[string][]string // the schema's enum symbols; factEnums when nil
	err   error
}

func (r *avroReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: field %s at offset %d: %s", ErrAvro, r.at, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *avroReader) long() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		if n == 0 {
			r.fail("truncated varint")
		} else {
			r.fail("varint overflows 64 bits")
		}
		return 0
	}
	r.off += n
	return v
}

func (r *avroReader) int32() int32 {
	v := r.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail("int %d out of range", v)
		return 0
	}
	return int32(v)
}

func (r *avroReader) bytes() []byte {
	n := r.long()
	if r.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(r.b)-r.off) {
		r.fail("length %d with %d bytes left", n, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p
}

func (r *avroReader) str() string { return string(r.bytes()) }

func (r *avroReader) boolean() bool {
	if r.err != nil {
		return false
	}
	if r.off >= len(r.b) {
		r.fail("truncated boolean")
		return false
	}
	c := r.b[r.off]
	if c > 1 {
		r.fail("boolean byte %d", c)
		return false
	}
	r.off++
	return c == 1
}

// array reads an Avro array's blocks, calling item once per element. Each
// element takes at least one byte, so a count above the bytes left is an
// error before anything is allocated.
func (r *avroReader) array(item func()) {
	at := r.at
	for r.err == nil {
		n := r.long()
		if r.err != nil || n == 0 {
			return
		}
		if n < 0 {
			if n == math.MinInt64 {
				r.fail("array block count %d", n)
				return
			}
			n = -n
			if size := r.long(); r.err == nil && (size < 0 || size > int64(len(r.b)-r.off)) {
				r.fail("array block of %d bytes with %d bytes left", size, len(r.b)-r.off)
				return
			}
		}
		if n > int64(len(r.b)-r.off) {
			r.fail("array block of %d items with %d bytes left", n, len(r.b)-r.off)
			return
		}
		for ; n > 0 && r.err == nil; n-- {
			item()
		}
		r.at = at
	}
}

// present reads the branch of a ["null", T] union.
func (r *avroReader) present() bool {
	switch i := r.long(); {
	case r.err != nil:
		return false
	case i == 0:
		return false
	case i == 1:
		return true
	default:
		r.fail("union branch %d of 2", i)
		return false
	}
}

func (r *avroReader) optStr() *string {
	if !r.present() {
		return nil
	}
	s := r.str()
	return &s
}

func (r *avroReader) optInt() *int32 {
	if !r.present() {
		return nil
	}
	v := r.int32()
	return &v
}

func (r *avroReader) optDouble() *float64 {
	if !r.present() || r.err != nil {
		return nil
	}
	if len(r.b)-r.off < 8 {
		r.fail("truncated double")
		return nil
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return &v
}

func (r *avroReader) enum(name string) string {
	i := r.long()
	syms := factEnums[name]
	if r.enums != nil {
		syms = r.enums[name]
	}
	if r.err != nil {
		return ""
	}
	if i < 0 || i >= int64(len(syms)) {
		r.fail("enum %s index %d of %d", name, i, len(syms))
		return ""
	}
	return syms[i]
}
