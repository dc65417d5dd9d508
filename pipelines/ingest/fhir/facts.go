package fhir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// Identity pseudonymises the patient of one tenant; *pseudonym.Tenant
// implements it.
type Identity interface {
	Name() string                     // tenant
	Pseudonym(sourceID string) string // stable, keyed, not reversible
	SealMRN(mrn string) []byte        // sealed for the tenant only
}

// Option configures Facts.
type Option interface{ apply(*config) }

type config struct {
	source string
	now    time.Time
}

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithSource sets the facts' source (default "fhir").
func WithSource(s string) Option { return optFunc(func(c *config) { c.source = s }) }

// WithIngestTime sets the ingest time stamped on the facts (default
// time.Now); it is also the event time of facts whose resource and bundle
// carry no time at all.
func WithIngestTime(t time.Time) Option { return optFunc(func(c *config) { c.now = t }) }

// Facts decodes a FHIR R4 bundle and returns its patient facts: one
// DEMOGRAPHICS fact, a VITAL_STATUS fact when Patient.deceased[x] is given,
// one DIAGNOSIS per primary cancer condition, one TUMOR_MARKER per tumour
// marker, TMB or MSI observation, one VARIANT per 69548-6 observation and one
// PERFORMANCE_STATUS per ECOG or Karnofsky observation. All facts are
// attributed to the bundle's one Patient, under id's pseudonym; fact ids are
// derived from tenant, pseudonym and resource, so re-delivered bundles yield
// the same ids, and duplicate resources yield one fact.
//
// Errors wrap ErrMalformed (with the JSON path), ErrNotBundle,
// ErrMissingPatient or ErrManyPatients, and never quote bundle content.
func Facts(data []byte, id Identity, opts ...Option) ([]schemas.PatientFact, error) {
	cfg := config{source: "fhir"}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.now.IsZero() {
		cfg.now = time.Now()
	}
	b, err := decode(data)
	if err != nil {
		return nil, err
	}
	x := extractor{cfg: cfg, id: id, b: b, seen: map[string]bool{}}
	return x.run()
}

type extractor struct {
	cfg    config
	id     Identity
	b      *bundle
	pseud  string
	base   time.Time // fallback event time
	issued map[string]time.Time
	seen   map[string]bool
	out    []schemas.PatientFact
}

func (x *extractor) run() ([]schemas.PatientFact, error) {
	var pat *resource
	patKey := ""
	for i := range x.b.Entry {
		r := &x.b.Entry[i].Resource
		if r.ResourceType != "Patient" {
			continue
		}
		key := sourceID(r)
		if key == "" {
			continue
		}
		if pat != nil && key != patKey {
			return nil, fmt.Errorf("fhir: second patient at $.entry[%d]: %w", i, ErrManyPatients)
		}
		if pat == nil {
			pat, patKey = r, key
		}
	}
	if pat == nil {
		return nil, fmt.Errorf("fhir: no Patient resource with an id or identifier: %w", ErrMissingPatient)
	}
	x.pseud = x.id.Pseudonym(patKey)
	x.base = x.cfg.now
	if t, ok := parseTime(x.b.Meta.LastUpdated); ok {
		x.base = t
	}
	if t, ok := parseTime(x.b.Timestamp); ok {
		x.base = t
	}
	x.reportTimes()
	x.patient(pat)

	var secondary bool
	for i := range x.b.Entry {
		if r := &x.b.Entry[i].Resource; r.ResourceType == "Condition" && hasProfile(r, "secondary-cancer-condition") {
			secondary = true
		}
	}
	for i := range x.b.Entry {
		e := &x.b.Entry[i]
		r := &e.Resource
		key := resourceKey(e, i)
		switch r.ResourceType {
		case "Condition":
			x.condition(r, key, secondary)
		case "Observation":
			x.observation(r, e.FullURL, key)
		}
	}
	return x.out, nil
}

// sourceID is the stable identity of the patient: the MRN identifier
// (system|value), else Patient.id, else the first identifier.
func sourceID(r *resource) string {
	if sys, v, ok := mrn(r); ok {
		return sys + "|" + v
	}
	if r.ID != "" {
		return "Patient/" + r.ID
	}
	for _, id := range r.Identifier {
		if id.Value != "" {
			return id.System + "|" + id.Value
		}
	}
	return ""
}

func mrn(r *resource) (system, value string, ok bool) {
	for _, id := range r.Identifier {
		for _, c := range id.Type.Coding {
			if c.Code == "MR" && id.Value != "" {
				return id.System, id.Value, true
			}
		}
	}
	return "", "", false
}

func resourceKey(e *entry, i int) string {
	if e.Resource.ID != "" {
		return e.Resource.ResourceType + "/" + e.Resource.ID
	}
	if e.FullURL != "" {
		return e.FullURL
	}
	return "entry/" + strconv.Itoa(i)
}

func hasProfile(r *resource, suffix string) bool {
	for _, p := range r.Meta.Profile {
		if strings.HasSuffix(p, suffix) {
			return true
		}
	}
	return false
}

// reportTimes indexes DiagnosticReport.issued by result reference, the event
// time of results that carry none of their own.
func (x *extractor) reportTimes() {
	for i := range x.b.Entry {
		r := &x.b.Entry[i].Resource
		if r.ResourceType != "DiagnosticReport" {
			continue
		}
		t, ok := parseTime(r.EffectiveDateTime)
		if !ok {
			t, ok = parseTime(r.Issued)
		}
		if !ok {
			continue
		}
		if x.issued == nil {
			x.issued = map[string]time.Time{}
		}
		for _, ref := range r.Result {
			x.issued[ref.Reference] = t
		}
	}
}

func (x *extractor) emit(key string, kind schemas.FactKind, sub string, at time.Time, f schemas.PatientFact) {
	h := sha256.New()
	for _, s := range []string{x.id.Name(), x.pseud, key, string(kind), sub} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	id := uuidFrom(h.Sum(nil))
	if x.seen[id] {
		return
	}
	x.seen[id] = true
	f.FactID, f.Tenant, f.PatientID = id, x.id.Name(), x.pseud
	f.EventTime, f.IngestTime, f.Source, f.Kind = at.UTC().Truncate(time.Millisecond), x.cfg.now.UTC().Truncate(time.Millisecond), x.cfg.source, kind
	x.out = append(x.out, f)
}

// uuidFrom formats the first 16 bytes of a hash as an RFC 9562 version 8
// (custom) UUID.
func uuidFrom(sum []byte) string {
	var u [16]byte
	copy(u[:], sum)
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}

func (x *extractor) patient(p *resource) {
	key := "Patient"
	at := x.base
	if t, ok := parseTime(p.Meta.LastUpdated); ok {
		at = t
	}
	d := &schemas.Demographics{}
	if day, ok := parseDate(p.BirthDate); ok {
		d.BirthDate = &day
	}
	if g := gender(p.Gender); g != "" {
		d.Gender = &g
	}
	if z := postalRegion(p.Address); z != "" {
		d.PostalRegion = &z
	}
	if _, v, ok := mrn(p); ok {
		d.MRNSealed = x.id.SealMRN(v)
	}
	if d.BirthDate != nil || d.Gender != nil || d.PostalRegion != nil || d.MRNSealed != nil {
		x.emit(key, schemas.KindDemographics, "", at, schemas.PatientFact{Demographics: d})
	}

	var v *schemas.VitalStatus
	switch {
	case p.DeceasedDateTime != "":
		v = &schemas.VitalStatus{Status: "DECEASED"}
		if day, ok := parseDate(p.DeceasedDateTime); ok {
			v.DeathDate = &day
		}
		if t, ok := parseTime(p.DeceasedDateTime); ok {
			at = t
		}
	case p.DeceasedBoolean != nil && *p.DeceasedBoolean:
		v = &schemas.VitalStatus{Status: "DECEASED"}
	case p.DeceasedBoolean != nil:
		v = &schemas.VitalStatus{Status: "ALIVE"}
	}
	if v != nil {
		x.emit(key, schemas.KindVital, "", at, schemas.PatientFact{Vital: v})
	}
}

func gender(g string) string {
	switch g {
	case "male":
		return "Male"
	case "female":
		return "Female"
	case "other":
		return "Other"
	case "unknown":
		return "Unknown"
	}
	return ""
}

// postalRegion is the first three characters of the home (else first)
// address's postal code; ZIP3 areas under 20,000 people become "000".
func postalRegion(as []address) string {
	pick := -1
	for i, a := range as {
		if a.PostalCode == "" {
			continue
		}
		if pick < 0 || a.Use == "home" && as[pick].Use != "home" {
			pick = i
		}
	}
	if pick < 0 {
		return ""
	}
	z := strings.ToUpper(strings.TrimSpace(as[pick].PostalCode))
	if len(z) < 3 {
		return ""
	}
	z = z[:3]
	for _, c := range z {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return ""
		}
	}
	if restrictedZIP3[z] {
		return "000"
	}
	return z
}

func (x *extractor) condition(r *resource, key string, secondary bool) {
	if hasProfile(r, "secondary-cancer-condition") {
		return
	}
	var snomed, icd10, display string
	for _, c := range r.Code.Coding {
		switch {
		case c.System == sysSNOMED && snomed == "":
			snomed, display = c.Code, c.Display
		case isICD10(c.System) && icd10 == "":
			icd10 = c.Code
			if display == "" {
				display = c.Display
			}
		}
	}
	ot, mapped := snomedOncotree[snomed]
	if !mapped && len(icd10) >= 3 {
		ot, mapped = icd10Oncotree[strings.ToUpper(icd10[:3])]
	}
	if !mapped && !hasProfile(r, "primary-cancer-condition") {
		return // not recognisably a primary cancer
	}
	d := &schemas.Diagnosis{}
	if snomed != "" {
		d.SNOMEDCode = schemas.Ptr(snomed)
	}
	var morph []string
	for _, e := range r.Extension {
		if strings.HasSuffix(e.URL, "histology-morphology-behavior") && e.ValueCodeableConcept != nil {
			for _, c := range e.ValueCodeableConcept.Coding {
				morph = append(morph, c.Code)
				if c.System == sysICDO3 && d.ICDO3Morphology == nil {
					d.ICDO3Morphology = schemas.Ptr(c.Code)
				}
			}
		}
	}
	if mapped {
		for _, m := range morph {
			if refined, ok := morphology[ot][m]; ok {
				ot = refined
				break
			}
		}
		d.OncotreeCode = schemas.Ptr(ot.code)
		d.OncotreePrimaryDiagnosis = ot.name
	} else {
		// Unmapped primary cancer: keep the terminology display (a
		// code label, never free text) so the matcher can report it.
		d.OncotreePrimaryDiagnosis = clipLabel(display)
		if d.OncotreePrimaryDiagnosis == "" {
			d.OncotreePrimaryDiagnosis = "Unknown"
		}
	}
	dateStr := ""
	for _, v := range []string{r.OnsetDateTime, r.RecordedDate} {
		if _, ok := parseTime(v); ok {
			dateStr = v
			break
		}
	}
	if dateStr == "" {
		for _, e := range r.Extension {
			if _, ok := parseTime(e.ValueDateTime); ok && strings.HasSuffix(e.URL, "condition-assertedDate") {
				dateStr = e.ValueDateTime
				break
			}
		}
	}
	at := x.base
	if t, ok := parseTime(dateStr); ok {
		at = t
		day, _ := parseDate(dateStr)
		d.DiagnosisDate = &day
	}
	d.Stage = x.stage(r)
	if secondary {
		d.DiseaseStatus = schemas.Ptr("Metastatic")
	} else if s := x.diseaseStatus(r); s != "" {
		d.DiseaseStatus = &s
	}
	x.emit(key, schemas.KindDiagnosis, "", at, schemas.PatientFact{Diagnosis: d})
}

func clipLabel(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), " (disorder)")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func stageOf(c concept) (string, bool) {
	for _, cd := range c.Coding {
		if cd.System == sysAJCC {
			if s, ok := ajccStage(cd.Code); ok {
				return s, true
			}
		}
	}
	for _, cd := range c.Coding {
		if s, ok := stageFromDisplay(cd.Display); ok {
			return s, true
		}
	}
	return "", false
}

// stage is the condition's own stage summary, else a pathological, else a
// clinical TNM stage group observation in the bundle.
func (x *extractor) stage(cond *resource) *string {
	for _, st := range cond.Stage {
		if s, ok := stageOf(st.Summary); ok {
			return &s
		}
	}
	for _, want := range []string{loincStagePath, loincStageClin} {
		for i := range x.b.Entry {
			r := &x.b.Entry[i].Resource
			if r.ResourceType != "Observation" || !hasCode(r.Code, sysLOINC, want) || r.ValueCodeableConcept == nil {
				continue
			}
			if s, ok := stageOf(*r.ValueCodeableConcept); ok {
				return &s
			}
		}
	}
	return nil
}

// diseaseStatus is the latest mCODE cancer disease status in the bundle.
func (x *extractor) diseaseStatus(cond *resource) string {
	var best string
	var bestAt time.Time
	for i := range x.b.Entry {
		r := &x.b.Entry[i].Resource
		if r.ResourceType != "Observation" || !hasCode(r.Code, sysLOINC, loincDiseaseStat) || r.ValueCodeableConcept == nil {
			continue
		}
		at, _ := x.obsTime(r, "")
		for _, c := range r.ValueCodeableConcept.Coding {
			if s, ok := diseaseStatus[c.Code]; ok && s != "" && (best == "" || at.After(bestAt)) {
				best, bestAt = s, at
			}
		}
	}
	return best
}

func hasCode(c concept, system, code string) bool {
	for _, cd := range c.Coding {
		if cd.Code == code && (cd.System == system || cd.System == "") {
			return true
		}
	}
	return false
}

func (x *extractor) obsTime(r *resource, fullURL string) (time.Time, bool) {
	for _, s := range []string{r.EffectiveDateTime, r.EffectivePeriod.Start, r.EffectiveInstant, r.Issued} {
		if t, ok := parseTime(s); ok {
			return t, true
		}
	}
	if t, ok := x.issued[fullURL]; ok && fullURL != "" {
		return t, true
	}
	if t, ok := x.issued["Observation/"+r.ID]; ok && r.ID != "" {
		return t, true
	}
	return x.base, false
}

func (x *extractor) observation(r *resource, fullURL, key string) {
	at, _ := x.obsTime(r, fullURL)
	for _, c := range r.Code.Coding {
		if c.System != sysLOINC {
			continue
		}
		switch c.Code {
		case loincVariant:
			x.variant(r, key, at)
			return
		case loincECOG, loincKarnofsky:
			x.performance(r, c.Code, key, at)
			return
		}
	}
	var def markerDef
	var loinc string
	for _, c := range r.Code.Coding {
		if c.System != sysLOINC {
			continue
		}
		if d, ok := markerLOINC[c.Code]; ok {
			if loinc == "" {
				def, loinc = d, c.Code
			}
			if def.scoring == "" && d.marker == def.marker {
				def.scoring = d.scoring
			}
		}
	}
	if loinc == "" {
		return
	}
	m := &schemas.TumorMarker{Marker: def.marker, LOINC: schemas.Ptr(loinc)}
	if def.scoring != "" {
		m.Scoring = schemas.Ptr(def.scoring)
	}
	if q := r.ValueQuantity; q != nil && q.Value != nil && finite(*q.Value) {
		m.Value = schemas.Ptr(*q.Value)
	} else if r.ValueInteger != nil && finite(*r.ValueInteger) {
		m.Value = schemas.Ptr(*r.ValueInteger)
	}
	if res := resultOf(r); res != "" {
		m.Result = &res
	}
	if m.Value == nil && m.Result == nil {
		return // a test without a result is not a fact
	}
	x.emit(key, schemas.KindTumorMarker, "", at, schemas.PatientFact{Marker: m})
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func resultOf(r *resource) string {
	if v := r.ValueCodeableConcept; v != nil {
		for _, c := range v.Coding {
			if s, ok := resultCodes[c.Code]; ok {
				return s
			}
		}
		for _, c := range v.Coding {
			if s := resultFromDisplay(c.Display); s != "" {
				return s
			}
		}
		if s := resultFromDisplay(v.Text); s != "" {
			return s
		}
	}
	for _, in := range r.Interpretation {
		for _, c := range in.Coding {
			if s, ok := resultCodes[c.Code]; ok {
				return s
			}
		}
	}
	return ""
}

func (x *extractor) performance(r *resource, code, key string, at time.Time) {
	p := &schemas.PerformanceStatus{Scale: "ECOG"}
	maxV := 5.0
	if code == loincKarnofsky {
		p.Scale, maxV = "KARNOFSKY", 100
	}
	switch {
	case r.ValueInteger != nil:
		v := *r.ValueInteger
		if v != math.Trunc(v) || v < 0 || v > maxV {
			return
		}
		p.Value = int32(v)
	case r.ValueCodeableConcept != nil && code == loincECOG:
		found := false
		for _, c := range r.ValueCodeableConcept.Coding {
			if v, ok := ecogAnswers[c.Code]; ok {
				p.Value, found = v, true
				break
			}
		}
		if !found {
			return
		}
	default:
		return
	}
	x.emit(key, schemas.KindPerformance, "", at, schemas.PatientFact{Performance: p})
}

func componentText(c *component) string {
	if c.ValueCodeableConcept != nil {
		for _, cd := range c.ValueCodeableConcept.Coding {
			if cd.Code != "" {
				return cd.Code
			}
			if cd.Display != "" {
				return cd.Display
			}
		}
	}
	if c.ValueString != nil {
		return *c.ValueString
	}
	return ""
}

func (x *extractor) variant(r *resource, key string, at time.Time) {
	v := &schemas.Variant{VariantCategory: "MUTATION"}
	var consequence string
	for i := range r.Component {
		c := &r.Component[i]
		for _, cd := range c.Code.Coding {
			switch {
			case cd.Code == loincGene && c.ValueCodeableConcept != nil:
				for _, g := range c.ValueCodeableConcept.Coding {
					sym := g.Display
					if sym == "" {
						sym = hgnc[g.Code]
					}
					if sym != "" && v.HugoSymbol == nil {
						v.HugoSymbol = schemas.Ptr(sym)
					}
				}
			case cd.Code == loincCHGVS:
				if s := hgvsPart(componentText(c), "c."); s != "" {
					v.CDNAChange = &s
				}
			case cd.Code == loincPHGVS:
				if s := oneLetterProtein(hgvsPart(componentText(c), "p.")); s != "" {
					v.ProteinChange = &s
				}
			case cd.Code == loincVAF && c.ValueQuantity != nil && c.ValueQuantity.Value != nil:
				f := *c.ValueQuantity.Value
				if c.ValueQuantity.Unit == "%" || c.ValueQuantity.Code == "%" || f > 1 {
					f /= 100
				}
				if finite(f) && f >= 0 && f <= 1 {
					v.AlleleFraction = &f
				}
			case (cd.Code == "molecular-consequence" || cd.Code == loincAAChangeTyp) && c.ValueCodeableConcept != nil:
				for _, s := range c.ValueCodeableConcept.Coding {
					if consequence == "" {
						consequence = s.Display
					}
				}
			}
		}
	}
	if v.HugoSymbol == nil {
		return // a variant without a gene cannot be matched
	}
	cdna := ""
	if v.CDNAChange != nil {
		cdna = *v.CDNAChange
	}
	if cls := soClassification(consequence, cdna); cls != "" {
		v.VariantClassification = &cls
	}
	if r.ValueCodeableConcept != nil && hasCode(*r.ValueCodeableConcept, sysLOINC, loincAbsent) {
		v.Wildtype = true
	}
	x.emit(key, schemas.KindVariant, "", at, schemas.PatientFact{Variant: v})
}

// parseTime parses FHIR date, dateTime and instant values (YYYY,
// YYYY-MM, YYYY-MM-DD, or with a time and zone).
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01", "2006", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseDate is parseTime as days since the epoch, of the calendar date
// written (not shifted to UTC).
func parseDate(s string) (int32, bool) {
	if len(s) >= 10 {
		if t, err := time.Parse("2006-01-02", s[:10]); err == nil {
			return int32(t.Unix() / 86400), true
		}
	}
	t, ok := parseTime(s)
	if !ok {
		return 0, false
	}
	return int32(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400), true
}
