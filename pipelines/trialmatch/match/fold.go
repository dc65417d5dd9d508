package match

import (
	"sort"
	"strings"

	"github.com/trialflow/trialflow/schemas"
)

// PDL1LOINC is the LOINC code of PD-L1 by immune stain (83053-9).
const PDL1LOINC = "83053-9"

// Fold folds one patient's facts, in any order, into a Profile: facts are
// applied in event-time order (ties by fact id) and the latest value of each
// scalar wins; variants accumulate (an identical finding reported twice is
// kept once); PriorLines is the highest line reported. Facts of other
// patients are ignored: all facts must share the first fact's tenant and
// patient. Re-delivered facts (same fact id) count once.
func Fold(facts []*schemas.PatientFact) Profile {
	var p Profile
	if len(facts) == 0 {
		return p
	}
	p.Tenant, p.PatientID = facts[0].Tenant, facts[0].PatientID
	ordered := make([]*schemas.PatientFact, 0, len(facts))
	seen := map[string]bool{}
	for _, f := range facts {
		if f == nil || f.Tenant != p.Tenant || f.PatientID != p.PatientID || seen[f.FactID] {
			continue
		}
		seen[f.FactID] = true
		ordered = append(ordered, f)
	}
	sort.SliceStable(ordered, func(i, j int) bool {
		a, b := ordered[i], ordered[j]
		if !a.EventTime.Equal(b.EventTime) {
			return a.EventTime.Before(b.EventTime)
		}
		return a.FactID < b.FactID
	})
	type variantKey struct {
		v    Variant // Exon cleared
		exon int32
		has  bool
	}
	variants := map[variantKey]bool{}
	for _, f := range ordered {
		switch {
		case f.Demographics != nil:
			d := f.Demographics
			if d.BirthDate != nil {
				p.BirthDate = d.BirthDate
			}
			if d.Gender != nil {
				p.Gender = *d.Gender
			}
			if d.PostalRegion != nil {
				p.PostalRegion = *d.PostalRegion
			}
		case f.Diagnosis != nil:
			p.OncotreePrimaryDiagnosis = f.Diagnosis.OncotreePrimaryDiagnosis
			if f.Diagnosis.DiseaseStatus != nil {
				p.DiseaseStatus = *f.Diagnosis.DiseaseStatus
			}
		case f.Variant != nil:
			v := f.Variant
			x := Variant{
				HugoSymbol: deref(v.HugoSymbol), VariantCategory: v.VariantCategory,
				ProteinChange: deref(v.ProteinChange), VariantClassification: deref(v.VariantClassification),
				CNVCall: deref(v.CNVCall), LeftPartner: deref(v.LeftPartner), RightPartner: deref(v.RightPartner),
				SVComment: deref(v.SVComment), Signature: strings.ToUpper(deref(v.Signature)),
				SignatureStatus: deref(v.SignatureStatus), Wildtype: v.Wildtype,
			}
			key := variantKey{v: x}
			if v.Exon != nil {
				e := *v.Exon
				x.Exon = &e
				key.exon, key.has = e, true
			}
			if !variants[key] {
				variants[key] = true
				p.Variants = append(p.Variants, x)
			}
			p.Sequenced = true
			d := Day(f.EventTime)
			p.ReportDate = &d
		case f.Marker != nil:
			foldMarker(&p, f.Marker)
		case f.Performance != nil:
			if f.Performance.Scale == "ECOG" {
				v := f.Performance.Value
				p.ECOG = &v
			}
		case f.Vital != nil:
			p.Deceased = f.Vital.Status == "DECEASED"
		case f.Therapy != nil:
			if p.PriorLines == nil || f.Therapy.Line > *p.PriorLines {
				l := f.Therapy.Line
				p.PriorLines = &l
			}
		}
	}
	return p
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// mmrStatus maps MSI/MMR results onto MatchMiner's MMR_STATUS values.
func mmrStatus(result string) string {
	switch strings.ToUpper(strings.TrimSpace(result)) {
	case "MSI-H", "DMMR", "DEFICIENT", "MMR-D":
		return "Deficient (MMR-D / MSI-H)"
	case "MSS", "MSI-L", "PMMR", "PROFICIENT", "MMR-P":
		return "Proficient (MMR-P / MSS)"
	}
	return strings.TrimSpace(result)
}

func foldMarker(p *Profile, m *schemas.TumorMarker) {
	res := deref(m.Result)
	switch m.Marker {
	case "PD_L1":
		if m.Value == nil {
			return
		}
		v := *m.Value
		if strings.EqualFold(deref(m.Scoring), "CPS") {
			p.PDL1CPS = &v
		} else {
			p.PDL1TPS = &v // TPS, the default scoring of LOINC 83053-9
		}
		p.PDL1Clone = deref(m.Clone)
	case "HER2":
		p.HER2 = res
	case "ER":
		p.ER = res
	case "PR":
		p.PR = res
	case "TMB":
		if m.Value != nil {
			v := *m.Value
			p.TMB = &v
		}
	case "MSI", "MMR":
		if res == "" {
			return
		}
		st := mmrStatus(res)
		for i := range p.Variants {
			if p.Variants[i].VariantCategory == "SIGNATURE" && p.Variants[i].Signature == "MMR" {
				p.Variants[i].SignatureStatus = st
				return
			}
		}
		p.Variants = append(p.Variants, Variant{VariantCategory: "SIGNATURE", Signature: "MMR", SignatureStatus: st})
	}
}
