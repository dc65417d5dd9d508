package spv

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/schemas"
)

// maxSeenFacts bounds the fact-id memory used for idempotence per patient.
const maxSeenFacts = 512

// State is the fold of one patient's facts. Its zero value is an empty
// profile. It is JSON-serialisable, for Beam state.
type State struct {
	Profile match.Profile
	// Times holds, per attribute, the event time (ms) of the value held.
	Times map[string]int64
	// Lines are the distinct prior therapy lines reported.
	Lines []int32
	// Seen are recent fact ids, oldest first, for idempotence.
	Seen []string
	// LastEvent is the latest event time (ms) folded in.
	LastEvent int64
}

// Key is the grouping key of a fact: tenant and pseudonymous patient id.
// Pseudonyms are per tenant, so the tenant is part of the key.
func Key(tenant, patientID string) string { return tenant + "\x00" + patientID }

// SplitKey reverses Key.
func SplitKey(k string) (tenant, patientID string) {
	tenant, patientID, _ = strings.Cut(k, "\x00")
	return tenant, patientID
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
	if s.Times == nil {
		s.Times = map[string]int64{}
	}
	// newer reports whether a value for attr at time t supersedes the held one.
	newer := func(attr string) bool {
		held, ok := s.Times[attr]
		if ok && held > t {
			return false
		}
		s.Times[attr] = t
		return true
	}
	before := snapshot(p)
	switch f.Kind {
	case schemas.KindDemographics:
		if d := f.Demographics; d != nil && newer("demographics") {
			p.BirthDate = d.BirthDate
			p.Gender = schemas.Deref(d.Gender)
			p.PostalRegion = schemas.Deref(d.PostalRegion)
		}
	case schemas.KindDiagnosis:
		if d := f.Diagnosis; d != nil && newer("diagnosis") {
			p.OncotreePrimaryDiagnosis = d.OncotreePrimaryDiagnosis
			p.DiseaseStatus = schemas.Deref(d.DiseaseStatus)
		}
	case schemas.KindVariant:
		if v := f.Variant; v != nil {
			s.addVariant(v, t)
		}
	case schemas.KindTumorMarker:
		if m := f.Marker; m != nil {
			s.applyMarker(m, newer)
		}
	case schemas.KindPerformance:
		if ps := f.Performance; ps != nil && ps.Scale == "ECOG" && newer("ecog") {
			v := ps.Value
			p.ECOG = &v
		}
	case schemas.KindVital:
		if v := f.Vital; v != nil && newer("vital") {
			p.Deceased = v.Status == "DECEASED"
		}
	case schemas.KindPriorTherapy:
		if th := f.Therapy; th != nil {
			s.addLine(th.Line)
		}
	default:
		return false, fmt.Errorf("spv: fact %s has kind %q with no detail the profile uses", f.FactID, f.Kind)
	}
	return !reflect.DeepEqual(&before, p), nil
}

func (s *State) applyMarker(m *schemas.TumorMarker, newer func(string) bool) {
	p := &s.Profile
	switch m.Marker {
	case "TMB":
		if m.Value != nil && newer("tmb") {
			v := *m.Value
			p.TMB = &v
		}
	case "ER":
		if newer("er") {
			p.ER = schemas.Deref(m.Result)
		}
	case "PR":
		if newer("pr") {
			p.PR = schemas.Deref(m.Result)
		}
	case "HER2":
		if newer("her2") {
			p.HER2 = schemas.Deref(m.Result)
		}
	case "PD_L1":
		scoring := strings.ToUpper(schemas.Deref(m.Scoring))
		if scoring == "" {
			scoring = "TPS"
		}
		if m.Value == nil || !newer("pdl1_"+scoring) {
			return
		}
		v := *m.Value
		if scoring == "CPS" {
			p.PDL1CPS = &v
		} else {
			p.PDL1TPS = &v
		}
		if newer("pdl1_clone") {
			p.PDL1Clone = schemas.Deref(m.Clone)
		}
	case "MSI", "MMR":
		// MSI-H / dMMR are represented as the MMR signature, as MatchMiner does.
		if !newer("mmr") {
			return
		}
		status := "No"
		switch strings.ToUpper(schemas.Deref(m.Result)) {
		case "MSI-H", "DMMR", "POSITIVE", "MSI-HIGH":
			status = "Yes"
		}
		s.setSignature("MMR", status)
	}
}

func (s *State) setSignature(name, status string) {
	p := &s.Profile
	for i := range p.Variants {
		if p.Variants[i].VariantCategory == "SIGNATURE" && p.Variants[i].Signature == name {
			p.Variants[i].SignatureStatus = status
			return
		}
	}
	p.Variants = append(p.Variants, match.Variant{VariantCategory: "SIGNATURE", Signature: name, SignatureStatus: status})
	p.Sequenced = true
	sortVariants(p.Variants)
}

func sortVariants(vs []match.Variant) {
	sort.SliceStable(vs, func(i, j int) bool { return variantKey(vs[i]) < variantKey(vs[j]) })
}

func (s *State) addVariant(v *schemas.Variant, t int64) {
	p := &s.Profile
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
		Signature:             schemas.Deref(v.Signature),
		SignatureStatus:       schemas.Deref(v.SignatureStatus),
		Wildtype:              v.Wildtype,
	}
	if mv.VariantCategory == "SIGNATURE" {
		s.setSignature(mv.Signature, mv.SignatureStatus)
		return
	}
	p.Sequenced = true
	day := int32(t / 86_400_000)
	if p.ReportDate == nil || *p.ReportDate < day {
		p.ReportDate = &day
	}
	k := variantKey(mv)
	for _, have := range p.Variants {
		if variantKey(have) == k {
			return
		}
	}
	p.Variants = append(p.Variants, mv)
	sortVariants(p.Variants)
}

func (s *State) addLine(line int32) {
	for _, l := range s.Lines {
		if l == line {
			return
		}
	}
	s.Lines = append(s.Lines, line)
	n := int32(len(s.Lines))
	s.Profile.PriorLines = &n
}

func variantKey(v match.Variant) string {
	return strings.Join([]string{v.HugoSymbol, v.VariantCategory, v.ProteinChange, v.CNVCall, v.LeftPartner, v.RightPartner, v.Signature}, "|")
}

// snapshot copies p for change detection: Apply mutates variants in place
// but replaces, never mutates, what the other pointers point to.
func snapshot(p *match.Profile) match.Profile {
	c := *p
	c.Variants = slices.Clone(p.Variants)
	return c
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
