package spv

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/schemas"
)

// maxSeenFacts bounds the fact-id memory used for idempotence per patient.
const maxSeenFacts = 512

// State is the fold of one patient's facts. Its zero value is an empty
// profile. It is JSON-serialisable, for Beam state.
//
// Every attribute of the profile is held on its own, with the event time
// and the fact that set it (Attrs): each demographic field, the diagnosis
// and the disease status, each marker and each PD-L1 score (with the clone
// of its own assay), each HER2 assay, each variant and signature, the
// performance and vital status, each prior therapy line. A fact changes
// only the attributes it carries.
type State struct {
	Profile match.Profile
	// Attrs holds, per attribute (see the Attr* names), the provenance of
	// the value held: the event time and the fact that set it.
	Attrs map[string]Provenance `json:",omitempty"`
	// HER2 holds the HER2 result per assay (IHC, FISH, or "" for an overall
	// interpretation), in MatchMiner's vocabulary; Profile.HER2 is derived
	// from them (see her2Status).
	HER2 map[string]string `json:",omitempty"`
	// Lines are the distinct prior therapy lines reported.
	Lines []int32 `json:",omitempty"`
	// Seen are recent fact ids, oldest first, for idempotence.
	Seen []string
	// LastEvent is the latest event time (ms) folded in.
	LastEvent int64
}

// Provenance says which fact set an attribute: its event time (ms), id and
// kind. It names no clinical value and no PHI, so an explanation can cite it.
type Provenance struct {
	Time int64  `json:"t"`
	Fact string `json:"f"`
	Kind string `json:"k"`
}

// newer orders provenances: by event time, then fact id, so that the fold
// does not depend on the order facts arrive in even when two facts carry
// the same event time.
func (p Provenance) newer(than Provenance) bool {
	if p.Time != than.Time {
		return p.Time > than.Time
	}
	return p.Fact > than.Fact
}

// Attribute names of State.Attrs. Markers, PD-L1 scores, HER2 assays,
// signatures, variants and therapy lines carry a suffix (AttrPDL1+"TPS",
// AttrVariant+key, AttrLine+"2").
const (
	AttrBirthDate     = "birth_date"
	AttrGender        = "gender"
	AttrPostalRegion  = "postal_region"
	AttrDiagnosis     = "oncotree_primary_diagnosis"
	AttrDiseaseStatus = "disease_status"
	AttrECOG          = "ecog"
	AttrVital         = "vital_status"
	AttrTMB           = "tmb"
	AttrER            = "er_status"
	AttrPR            = "pr_status"
	AttrHER2          = "her2_status:"
	AttrPDL1          = "pdl1:"
	AttrSignature     = "signature:"
	AttrVariant       = "variant:"
	AttrLine          = "line:"
)

// Key is the grouping key of a fact: tenant and pseudonymous patient id.
// Pseudonyms are per tenant, so the tenant is part of the key.
func Key(tenant, patientID string) string { return tenant + "\x00" + patientID }

// SplitKey reverses Key.
func SplitKey(k string) (tenant, patientID string) {
	tenant, patientID, _ = strings.Cut(k, "\x00")
	return tenant, patientID
}

// folding is one fact being applied.
type folding struct {
	s       *State
	prov    Provenance
	changed bool
}

// set reports whether the fact supersedes the value held for attr (it is
// newer, or there is none), and records its provenance when it does.
func (f *folding) set(attr string) bool {
	if held, ok := f.s.Attrs[attr]; ok && !f.prov.newer(held) {
		return false
	}
	f.s.Attrs[attr] = f.prov
	return true
}

func setStr(f *folding, attr string, dst *string, v string) {
	if f.set(attr) && *dst != v {
		*dst, f.changed = v, true
	}
}

func setPtr[T comparable](f *folding, attr string, dst **T, v T) {
	if f.set(attr) && (*dst == nil || **dst != v) {
		*dst, f.changed = &v, true
	}
}

// Apply folds f into the state and reports whether the profile changed.
// Facts for another patient are an error (a wiring mistake upstream).
func (s *State) Apply(f *schemas.PatientFact) (bool, error) {
	p := &s.Profile
	if p.PatientID == "" {
		p.Tenant, p.PatientID = f.Tenant, f.PatientID
	} else if p.Tenant != f.Tenant || p.PatientID != f.PatientID {
		return false, fmt.Errorf("spv: fact %s is for another patient than the profile it was folded into", f.FactID)
	}
	for _, id := range s.Seen {
		if id == f.FactID {
			return false, nil
		}
	}
	s.Seen = append(s.Seen, f.FactID)
	if len(s.Seen) > maxSeenFacts {
		s.Seen = s.Seen[len(s.Seen)-maxSeenFacts:]
	}
	t := f.EventTime.UnixMilli()
	if t > s.LastEvent {
		s.LastEvent = t
	}
	if s.Attrs == nil {
		s.Attrs = map[string]Provenance{}
	}
	x := &folding{s: s, prov: Provenance{Time: t, Fact: f.FactID, Kind: string(f.Kind)}}
	switch f.Kind {
	case schemas.KindDemographics:
		if d := f.Demographics; d != nil {
			if d.BirthDate != nil {
				setPtr(x, AttrBirthDate, &p.BirthDate, *d.BirthDate)
			}
			if d.Gender != nil {
				setStr(x, AttrGender, &p.Gender, *d.Gender)
			}
			if d.PostalRegion != nil {
				setStr(x, AttrPostalRegion, &p.PostalRegion, *d.PostalRegion)
			}
		}
	case schemas.KindDiagnosis:
		if d := f.Diagnosis; d != nil {
			if d.OncotreePrimaryDiagnosis != "" {
				setStr(x, AttrDiagnosis, &p.OncotreePrimaryDiagnosis, d.OncotreePrimaryDiagnosis)
			}
			if d.DiseaseStatus != nil {
				setStr(x, AttrDiseaseStatus, &p.DiseaseStatus, *d.DiseaseStatus)
			}
		}
	case schemas.KindVariant:
		if v := f.Variant; v != nil {
			x.addVariant(v)
		}
	case schemas.KindTumorMarker:
		if m := f.Marker; m != nil {
			x.applyMarker(m)
		}
	case schemas.KindPerformance:
		if ps := f.Performance; ps != nil && ps.Scale == "ECOG" {
			setPtr(x, AttrECOG, &p.ECOG, ps.Value)
		}
	case schemas.KindVital:
		if v := f.Vital; v != nil && x.set(AttrVital) {
			if dead := v.Status == "DECEASED"; dead != p.Deceased {
				p.Deceased, x.changed = dead, true
			}
		}
	case schemas.KindPriorTherapy:
		if th := f.Therapy; th != nil {
			x.addLine(th.Line)
		}
	default:
		return false, fmt.Errorf("spv: fact %s has kind %q with no detail the profile uses", f.FactID, f.Kind)
	}
	return x.changed, nil
}

func (x *folding) applyMarker(m *schemas.TumorMarker) {
	p := &x.s.Profile
	scoring := strings.ToUpper(strings.TrimSpace(schemas.Deref(m.Scoring)))
	result := schemas.Deref(m.Result)
	switch m.Marker {
	case "TMB":
		if m.Value != nil && *m.Value >= 0 {
			setPtr(x, AttrTMB, &p.TMB, *m.Value)
		}
	case "PD_L1":
		if scoring == "" {
			scoring = "TPS" // a PD-L1 percentage without a method is a TPS
		}
		if m.Value == nil {
			return
		}
		var score **float64
		var clone *string
		switch scoring {
		case "TPS":
			score, clone = &p.PDL1TPS, &p.PDL1TPSClone
		case "CPS":
			score, clone = &p.PDL1CPS, &p.PDL1CPSClone
		case "IC":
			score, clone = &p.PDL1IC, &p.PDL1ICClone
		default:
			return
		}
		// The score and its clone are one attribute: the clone says which
		// assay gave this score, and no other.
		if x.set(AttrPDL1 + scoring) {
			c := strings.TrimSpace(schemas.Deref(m.Clone))
			if *score == nil || **score != *m.Value || *clone != c {
				v := *m.Value
				*score, *clone, x.changed = &v, c, true
			}
		}
	case "ER", "PR":
		attr, dst := AttrER, &p.ER
		if m.Marker == "PR" {
			attr, dst = AttrPR, &p.PR
		}
		if v, ok := receptorStatus(m.Marker, scoring, result, m.Value); ok {
			setStr(x, attr, dst, v)
		}
	case "HER2":
		v, ok := "", false
		if result != "" {
			var t Term
			t, ok = Translate("HER2", scoring, result)
			v = t.Value
		} else if m.Value != nil && (scoring == "IHC" || scoring == "") {
			// An IHC score given as a number (0 to 3).
			score := fmt.Sprintf("%g+", *m.Value)
			if *m.Value == 0 {
				score = "0"
			}
			var t Term
			t, ok = Translate("HER2", "IHC", score)
			v, scoring = t.Value, "IHC"
		}
		if !ok {
			return
		}
		assay := map[string]string{"IHC": "IHC", "FISH": "FISH", "ISH": "FISH"}[scoring]
		if x.set(AttrHER2 + assay) {
			if x.s.HER2 == nil {
				x.s.HER2 = map[string]string{}
			}
			x.s.HER2[assay] = v
			if st := x.s.her2Status(); st != p.HER2 {
				p.HER2, x.changed = st, true
			}
		}
	case "MSI", "MMR":
		// MSI-H / dMMR are represented as the MMR signature in MatchMiner's
		// vocabulary, which mmr_status and ms_status criteria compare with.
		if t, ok := Translate(m.Marker, scoring, result); ok {
			x.setSignature("MMR", t.Value)
		}
	}
}

// receptorStatus is the ER or PR status of a result: categorical through
// the vocabulary, or the percent of stained nuclei (positive from 1 %).
func receptorStatus(marker, scoring, result string, value *float64) (string, bool) {
	if result != "" {
		t, ok := Translate(marker, scoring, result)
		return t.Value, ok
	}
	if value == nil || *value < 0 || *value > 100 {
		return "", false
	}
	if *value >= 1 {
		return "Positive", true
	}
	return "Negative", true
}

// her2Status derives the HER2 status from the assays held: in situ
// hybridisation decides when it was done (it is the test that resolves an
// equivocal immunohistochemistry), else the latest of an overall
// interpretation and the IHC score.
func (s *State) her2Status() string {
	if v, ok := s.HER2["FISH"]; ok {
		return v
	}
	ihc, okIHC := s.HER2["IHC"]
	all, okAll := s.HER2[""]
	switch {
	case okIHC && okAll:
		if s.Attrs[AttrHER2+"IHC"].newer(s.Attrs[AttrHER2]) {
			return ihc
		}
		return all
	case okIHC:
		return ihc
	}
	return all
}

// setSignature sets the status of a signature (name upper case) in
// MatchMiner's vocabulary.
func (x *folding) setSignature(name, status string) {
	p := &x.s.Profile
	if !x.set(AttrSignature + name) {
		return
	}
	for i := range p.Variants {
		if p.Variants[i].VariantCategory == "SIGNATURE" && p.Variants[i].Signature == name {
			if p.Variants[i].SignatureStatus != status {
				p.Variants[i].SignatureStatus, x.changed = status, true
			}
			return
		}
	}
	p.Variants = append(p.Variants, match.Variant{VariantCategory: "SIGNATURE", Signature: name, SignatureStatus: status})
	p.Sequenced, x.changed = true, true
	sortVariants(p.Variants)
}

func sortVariants(vs []match.Variant) {
	sort.SliceStable(vs, func(i, j int) bool { return variantKey(vs[i]) < variantKey(vs[j]) })
}

func (x *folding) addVariant(v *schemas.Variant) {
	p := &x.s.Profile
	if v.VariantCategory == "SIGNATURE" {
		name := strings.ToUpper(strings.TrimSpace(schemas.Deref(v.Signature)))
		if t, ok := Translate("SIGNATURE:"+name, "", schemas.Deref(v.SignatureStatus)); ok {
			x.setSignature(name, t.Value)
		}
		return
	}
	mv := match.Variant{
		HugoSymbol:            schemas.Deref(v.HugoSymbol),
		VariantCategory:       v.VariantCategory,
		ProteinChange:         schemas.Deref(v.ProteinChange),
		VariantClassification: schemas.Deref(v.VariantClassification),
		Exon:                  v.Exon,
		CNVCall:               schemas.Deref(v.CNVCall),
		LeftPartner:           schemas.Deref(v.LeftPartner),
		RightPartner:          schemas.Deref(v.RightPartner),
		SVComment:             schemas.Deref(v.SVComment),
		Wildtype:              v.Wildtype,
	}
	if !p.Sequenced {
		p.Sequenced, x.changed = true, true
	}
	day := int32(x.prov.Time / 86_400_000)
	if p.ReportDate == nil || *p.ReportDate < day {
		p.ReportDate, x.changed = &day, true
	}
	k := variantKey(mv)
	// A variant is a set member: its provenance is the earliest fact that
	// reported it (re-reports change nothing, whatever their order).
	attr := AttrVariant + k
	if held, ok := x.s.Attrs[attr]; !ok || held.newer(x.prov) {
		x.s.Attrs[attr] = x.prov
	}
	for _, have := range p.Variants {
		if variantKey(have) == k {
			return
		}
	}
	p.Variants = append(p.Variants, mv)
	x.changed = true
	sortVariants(p.Variants)
}

func (x *folding) addLine(line int32) {
	attr := AttrLine + strconv.Itoa(int(line))
	if held, ok := x.s.Attrs[attr]; !ok || held.newer(x.prov) {
		x.s.Attrs[attr] = x.prov
	}
	for _, l := range x.s.Lines {
		if l == line {
			return
		}
	}
	x.s.Lines = append(x.s.Lines, line)
	slices.Sort(x.s.Lines)
	n := int32(len(x.s.Lines))
	x.s.Profile.PriorLines, x.changed = &n, true
}

func variantKey(v match.Variant) string {
	return strings.Join([]string{v.HugoSymbol, v.VariantCategory, v.ProteinChange, v.CNVCall, v.LeftPartner, v.RightPartner, v.Signature}, "|")
}

// Provenance returns the provenance of attribute attr (see the Attr* names)
// and whether the profile holds a value for it.
func (s *State) Provenance(attr string) (Provenance, bool) {
	p, ok := s.Attrs[attr]
	return p, ok
}

// readAttrs maps the clinical fields a match reads (match.Read.Field) to
// the attributes that hold them; an entry ending in ':' stands for every
// attribute with that prefix.
var readAttrs = map[string]string{
	"oncotree_primary_diagnosis": AttrDiagnosis,
	"age_numerical":              AttrBirthDate,
	"gender":                     AttrGender,
	"tmb_numerical":              AttrTMB,
	"er_status":                  AttrER,
	"pr_status":                  AttrPR,
	"her2_status":                AttrHER2,
	"disease_status":             AttrDiseaseStatus,
	"prior_lines_numerical":      AttrLine,
	"ecog":                       AttrECOG,
	"region":                     AttrPostalRegion,
}

// Sources returns the facts that set the attributes reads name (a match
// reason's match.Reason.Reads), without duplicates, in event-time order:
// what decided the reason, by kind and event time. Attributes the profile
// does not hold contribute nothing.
func (s *State) Sources(reads []match.Read) []schemas.FactRef {
	var out []Provenance
	add := func(p Provenance, ok bool) {
		if !ok {
			return
		}
		for _, q := range out {
			if q.Fact == p.Fact {
				return
			}
		}
		out = append(out, p)
	}
	for _, r := range reads {
		switch {
		case r.Field == match.ReadVariant:
			if r.Variant < 0 || r.Variant >= len(s.Profile.Variants) {
				continue
			}
			v := s.Profile.Variants[r.Variant]
			if v.VariantCategory == "SIGNATURE" {
				add(s.Provenance(AttrSignature + v.Signature))
			} else {
				add(s.Provenance(AttrVariant + variantKey(v)))
			}
		case strings.HasPrefix(r.Field, "pdl1:"):
			add(s.Provenance(AttrPDL1 + strings.TrimPrefix(r.Field, "pdl1:")))
		default:
			attr, ok := readAttrs[r.Field]
			if !ok {
				continue
			}
			if !strings.HasSuffix(attr, ":") {
				add(s.Provenance(attr))
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
				if strings.HasPrefix(k, attr) {
					add(s.Attrs[k], true)
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].newer(out[i]) })
	return factRefs(out)
}

// factRefs names facts by kind and event time.
func factRefs(ps []Provenance) []schemas.FactRef {
	if len(ps) == 0 {
		return nil
	}
	out := make([]schemas.FactRef, len(ps))
	for i, p := range ps {
		out[i] = schemas.FactRef{Kind: p.Kind, EventTime: time.UnixMilli(p.Time).UTC()}
	}
	return out
}

// ChangeReasons explains a retraction (CRITERIA_NOT_MET, DECEASED) made at
// the event time of the patient's latest facts: one reason per criterion
// field those facts set ("ecog", "age_numerical", "variant",
// "vital_status", ...), with the facts by kind and event time. A
// retraction made at a tick (a trial or an arm closing, a criterion that
// turned with the day) has no fact behind it: pass only fact times.
func (s *State) ChangeReasons(at time.Time) []schemas.MatchReason {
	var out []schemas.MatchReason
	for _, c := range s.setAt(at.UnixMilli()) {
		typ := "CLINICAL"
		if c.genomic {
			typ = "GENOMIC"
		}
		out = append(out, schemas.MatchReason{ReasonType: typ, Field: c.field, Facts: factRefs(c.facts)})
	}
	return out
}

// changed is a criterion field and the facts that set it at one time.
type changed struct {
	field   string
	genomic bool // a variant or a signature
	facts   []Provenance
}

// setAt returns the fields set by facts of event time ms, in field order.
func (s *State) setAt(ms int64) []changed {
	var out []changed
	for _, k := range slices.Sorted(maps.Keys(s.Attrs)) {
		p := s.Attrs[k]
		if p.Time != ms {
			continue
		}
		f, genomic := fieldOf(k)
		i := slices.IndexFunc(out, func(c changed) bool { return c.field == f })
		if i < 0 {
			out = append(out, changed{field: f, genomic: genomic})
			i = len(out) - 1
		}
		if !slices.ContainsFunc(out[i].facts, func(q Provenance) bool { return q.Fact == p.Fact }) {
			out[i].facts = append(out[i].facts, p)
		}
	}
	return out
}

// fieldOf names the criterion field attribute attr feeds (see readAttrs).
func fieldOf(attr string) (field string, genomic bool) {
	switch {
	case strings.HasPrefix(attr, AttrVariant):
		return match.ReadVariant, true
	case strings.HasPrefix(attr, AttrSignature):
		return attr, true
	case strings.HasPrefix(attr, AttrPDL1):
		return attr, false
	}
	for f, a := range readAttrs {
		if a == attr || (strings.HasSuffix(a, ":") && strings.HasPrefix(attr, a)) {
			return f, false
		}
	}
	return attr, false
}

// Marshal encodes the state for Beam state storage.
func (s *State) Marshal() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("spv: encode state: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a state written by Marshal.
func Unmarshal(b []byte) (*State, error) {
	s := &State{}
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("spv: decode state: %w", err)
	}
	return s, nil
}

// FoldAll folds facts (in the order given) into one state per patient and
// returns the states with their keys in order of first appearance.
func FoldAll(facts []*schemas.PatientFact) (map[string]*State, []string, error) {
	states := map[string]*State{}
	var keys []string
	for _, f := range facts {
		k := Key(f.Tenant, f.PatientID)
		s := states[k]
		if s == nil {
			s = &State{}
			states[k] = s
			keys = append(keys, k)
		}
		if _, err := s.Apply(f); err != nil {
			return nil, nil, err
		}
	}
	return states, keys, nil
}
