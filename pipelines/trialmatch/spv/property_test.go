package spv_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/schemas"
)

// sequences is how many random fact sequences the properties are checked on.
const sequences = 10_000

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func maybe[T any](r *rand.Rand, v T) *T {
	if r.IntN(3) == 0 {
		return nil
	}
	return &v
}

// randomFact draws a fact of any kind whose optional parts are often
// omitted, at event time at (ms).
func randomFact(r *rand.Rand, id string, at int64) *schemas.PatientFact {
	kinds := []schemas.FactKind{schemas.KindDemographics, schemas.KindDiagnosis, schemas.KindVariant,
		schemas.KindTumorMarker, schemas.KindPerformance, schemas.KindVital, schemas.KindPriorTherapy}
	f := fact(pick(r, kinds...), id, at)
	switch f.Kind {
	case schemas.KindDemographics:
		f.Demographics = &schemas.Demographics{BirthDate: maybe(r, int32(r.IntN(20000))),
			Gender: maybe(r, pick(r, "Male", "Female")), PostalRegion: maybe(r, pick(r, "021", "100", "945"))}
	case schemas.KindDiagnosis:
		f.Diagnosis = &schemas.Diagnosis{OncotreePrimaryDiagnosis: pick(r, "Lung Adenocarcinoma", "Colorectal Adenocarcinoma"),
			DiseaseStatus: maybe(r, pick(r, "Metastatic", "Stable"))}
	case schemas.KindVariant:
		if r.IntN(3) == 0 {
			f.Variant = &schemas.Variant{VariantCategory: "SIGNATURE", Signature: schemas.Ptr(pick(r, "MMR", "APOBEC", "Tobacco")),
				SignatureStatus: schemas.Ptr(pick(r, "Yes", "No", "MSI-H", "Cannot assess"))}
		} else {
			f.Variant = &schemas.Variant{HugoSymbol: schemas.Ptr(pick(r, "EGFR", "KRAS", "BRAF")), VariantCategory: "MUTATION",
				ProteinChange: maybe(r, pick(r, "p.L858R", "p.G12C", "p.V600E"))}
		}
	case schemas.KindTumorMarker:
		m := &schemas.TumorMarker{Marker: pick(r, "PD_L1", "HER2", "ER", "PR", "TMB", "MSI", "MMR")}
		switch m.Marker {
		case "PD_L1":
			m.Scoring, m.Clone, m.Value = maybe(r, pick(r, "TPS", "CPS", "IC")), maybe(r, pick(r, "22C3", "SP263", "SP142")), maybe(r, float64(r.IntN(101)))
		case "TMB":
			m.Value = maybe(r, float64(r.IntN(40)))
		case "HER2":
			m.Scoring = maybe(r, pick(r, "IHC", "FISH"))
			m.Result = maybe(r, pick(r, "Positive", "Negative", "Equivocal", "3+", "2+", "Amplified", "Not amplified"))
		case "ER", "PR":
			m.Result, m.Value = maybe(r, pick(r, "Positive", "Negative")), maybe(r, float64(r.IntN(101)))
		default:
			m.Result = maybe(r, pick(r, "MSI-H", "MSS", "dMMR", "pMMR", "Equivocal", "nonsense"))
		}
		f.Marker = m
	case schemas.KindPerformance:
		f.Performance = &schemas.PerformanceStatus{Scale: pick(r, "ECOG", "ECOG", "KARNOFSKY"), Value: int32(r.IntN(5))}
	case schemas.KindVital:
		f.Vital = &schemas.VitalStatus{Status: pick(r, "ALIVE", "DECEASED")}
	case schemas.KindPriorTherapy:
		f.Therapy = &schemas.PriorTherapy{Line: int32(1 + r.IntN(3))}
	}
	return f
}

// attributes projects a profile onto its attributes, one string each.
func attributes(p *match.Profile) map[string]string {
	str := func(v any) string {
		switch x := v.(type) {
		case int32:
			return strconv.Itoa(int(x))
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		}
		return fmt.Sprint(v)
	}
	ptr := func(v any) string {
		switch x := v.(type) {
		case *int32:
			if x != nil {
				return str(*x)
			}
		case *float64:
			if x != nil {
				return str(*x)
			}
		}
		return "<nil>"
	}
	a := map[string]string{
		"birth_date": ptr(p.BirthDate), "gender": p.Gender, "postal_region": p.PostalRegion,
		"diagnosis": p.OncotreePrimaryDiagnosis, "disease_status": p.DiseaseStatus,
		"ecog": ptr(p.ECOG), "vital": str(p.Deceased), "lines": ptr(p.PriorLines), "tmb": ptr(p.TMB),
		"er": p.ER, "pr": p.PR, "her2": p.HER2,
		"pdl1:TPS": ptr(p.PDL1TPS) + "/" + p.PDL1TPSClone, "pdl1:CPS": ptr(p.PDL1CPS) + "/" + p.PDL1CPSClone,
		"pdl1:IC": ptr(p.PDL1IC) + "/" + p.PDL1ICClone,
	}
	var variants []string
	for _, v := range p.Variants {
		if v.VariantCategory == "SIGNATURE" {
			a["signature:"+v.Signature] = v.SignatureStatus
		} else {
			variants = append(variants, v.HugoSymbol+" "+v.ProteinChange)
		}
	}
	a["variants"] = strings.Join(variants, ",") + " sequenced=" + str(p.Sequenced) + " report=" + ptr(p.ReportDate)
	return a
}

// carries lists the attributes (of attributes) a fact may change.
func carries(f *schemas.PatientFact) []string {
	switch f.Kind {
	case schemas.KindDemographics:
		var out []string
		d := f.Demographics
		if d.BirthDate != nil {
			out = append(out, "birth_date")
		}
		if d.Gender != nil {
			out = append(out, "gender")
		}
		if d.PostalRegion != nil {
			out = append(out, "postal_region")
		}
		return out
	case schemas.KindDiagnosis:
		if f.Diagnosis.DiseaseStatus != nil {
			return []string{"diagnosis", "disease_status"}
		}
		return []string{"diagnosis"}
	case schemas.KindVariant:
		if f.Variant.VariantCategory == "SIGNATURE" {
			// A new signature also makes the patient sequenced.
			return []string{"signature:" + strings.ToUpper(*f.Variant.Signature), "variants"}
		}
		return []string{"variants"}
	case schemas.KindTumorMarker:
		m := f.Marker
		switch m.Marker {
		case "PD_L1":
			return []string{"pdl1:" + schemas.Deref(m.Scoring), "pdl1:TPS"}
		case "TMB":
			return []string{"tmb"}
		case "HER2":
			return []string{"her2"}
		case "ER":
			return []string{"er"}
		case "PR":
			return []string{"pr"}
		}
		return []string{"signature:MMR", "variants"}
	case schemas.KindPerformance:
		return []string{"ecog"}
	case schemas.KindVital:
		return []string{"vital"}
	case schemas.KindPriorTherapy:
		return []string{"lines"}
	}
	return nil
}

// Property: a fact changes only the attributes it carries; every other
// attribute keeps its value and its provenance.
func TestOmittedAttributesNeverChange(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 1))
	for seq := 0; seq < sequences; seq++ {
		s := &spv.State{}
		n := 1 + r.IntN(12)
		for i := 0; i < n; i++ {
			f := randomFact(r, fmt.Sprintf("f%02d", i), int64(r.IntN(50))*1000)
			before := attributes(&s.Profile)
			prov := map[string]spv.Provenance{}
			for k, v := range s.Attrs {
				prov[k] = v
			}
			if _, err := s.Apply(f); err != nil {
				t.Fatal(err)
			}
			after := attributes(&s.Profile)
			may := carries(f)
			for k, v := range before {
				if after[k] != v && !slices.Contains(may, k) {
					t.Fatalf("sequence %d fact %d (%s %+v) changed %s from %q to %q, which it does not carry", seq, i, f.Kind, f, k, v, after[k])
				}
			}
			for k, p := range prov {
				if got := s.Attrs[k]; got != p && got.Fact != f.FactID {
					t.Fatalf("sequence %d: provenance of %s changed to another fact than the one applied", seq, k)
				}
			}
		}
	}
}

// Property: for facts with distinct event times the fold does not depend on
// the arrival order: a shuffled sequence gives the profile and provenance of
// the sequence in event-time order.
func TestFoldIndependentOfArrivalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 2))
	for seq := 0; seq < sequences; seq++ {
		n := 1 + r.IntN(16)
		times := r.Perm(100)[:n]
		slices.Sort(times)
		facts := make([]*schemas.PatientFact, n)
		for i := range facts {
			facts[i] = randomFact(r, fmt.Sprintf("f%02d", i), int64(times[i])*60_000)
		}
		want := fold(t, facts)
		shuffled := slices.Clone(facts)
		r.Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := fold(t, shuffled)
		if reflect.DeepEqual(want.Profile, got.Profile) && reflect.DeepEqual(want.Attrs, got.Attrs) {
			continue
		}
		if diff := cmp.Diff(want.Profile, got.Profile); diff != "" {
			t.Fatalf("sequence %d: arrival order changed the profile (-event order +shuffled):\n%s", seq, diff)
		}
		if diff := cmp.Diff(want.Attrs, got.Attrs); diff != "" {
			t.Fatalf("sequence %d: arrival order changed the provenance (-event order +shuffled):\n%s", seq, diff)
		}
	}
}

// Regression (issue 17): a later demographics fact without a birth date no
// longer erases the birth date, nor gender and region.
func TestPartialDemographicsKeepTheRest(t *testing.T) {
	s := &spv.State{}
	full := fact(schemas.KindDemographics, "a", 1000)
	full.Demographics = &schemas.Demographics{BirthDate: schemas.Ptr(int32(7000)), Gender: schemas.Ptr("Female"), PostalRegion: schemas.Ptr("021")}
	region := fact(schemas.KindDemographics, "b", 2000)
	region.Demographics = &schemas.Demographics{PostalRegion: schemas.Ptr("100")}
	fold1 := func(fs ...*schemas.PatientFact) {
		for _, f := range fs {
			if _, err := s.Apply(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	fold1(full, region)
	p := s.Profile
	if p.BirthDate == nil || *p.BirthDate != 7000 || p.Gender != "Female" || p.PostalRegion != "100" {
		t.Fatalf("partial demographics erased attributes: birth %v gender %q region %q", p.BirthDate, p.Gender, p.PostalRegion)
	}
	if pv, _ := s.Provenance(spv.AttrBirthDate); pv.Fact != "a" || pv.Time != 1000 || pv.Kind != "DEMOGRAPHICS" {
		t.Fatalf("birth date provenance %+v, want fact a at 1000", pv)
	}
	if pv, _ := s.Provenance(spv.AttrPostalRegion); pv.Fact != "b" {
		t.Fatalf("region provenance %+v, want fact b", pv)
	}
}

// Regression (issue 17): a TPS measured with one clone and a later CPS
// measured with another keep their own clones.
func TestPDL1ScoresKeepTheirOwnClone(t *testing.T) {
	s := &spv.State{}
	tps := fact(schemas.KindTumorMarker, "a", 1000)
	tps.Marker = &schemas.TumorMarker{Marker: "PD_L1", Scoring: schemas.Ptr("TPS"), Clone: schemas.Ptr("22C3"), Value: schemas.Ptr(60.0)}
	cps := fact(schemas.KindTumorMarker, "b", 2000)
	cps.Marker = &schemas.TumorMarker{Marker: "PD_L1", Scoring: schemas.Ptr("CPS"), Clone: schemas.Ptr("SP263"), Value: schemas.Ptr(12.0)}
	for _, f := range []*schemas.PatientFact{tps, cps} {
		if _, err := s.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	p := s.Profile
	if *p.PDL1TPS != 60 || p.PDL1TPSClone != "22C3" || *p.PDL1CPS != 12 || p.PDL1CPSClone != "SP263" {
		t.Fatalf("PD-L1: TPS %v (%s), CPS %v (%s)", *p.PDL1TPS, p.PDL1TPSClone, *p.PDL1CPS, p.PDL1CPSClone)
	}
}

func TestHER2AssaysAndReceptorPercentages(t *testing.T) {
	s := &spv.State{}
	apply := func(id string, at int64, m *schemas.TumorMarker) {
		f := fact(schemas.KindTumorMarker, id, at)
		f.Marker = m
		if _, err := s.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	apply("a", 1000, &schemas.TumorMarker{Marker: "HER2", Scoring: schemas.Ptr("IHC"), Result: schemas.Ptr("2+")})
	if s.Profile.HER2 != "Equivocal" {
		t.Fatalf("IHC 2+: HER2 %q, want Equivocal", s.Profile.HER2)
	}
	apply("b", 2000, &schemas.TumorMarker{Marker: "HER2", Scoring: schemas.Ptr("FISH"), Result: schemas.Ptr("Amplified")})
	apply("c", 3000, &schemas.TumorMarker{Marker: "HER2", Scoring: schemas.Ptr("IHC"), Value: schemas.Ptr(1.0)})
	if s.Profile.HER2 != "Positive" {
		t.Fatalf("ISH amplified after IHC: HER2 %q, want Positive (ISH decides)", s.Profile.HER2)
	}
	apply("d", 4000, &schemas.TumorMarker{Marker: "ER", Value: schemas.Ptr(5.0)})
	apply("e", 5000, &schemas.TumorMarker{Marker: "PR", Value: schemas.Ptr(0.0)})
	if s.Profile.ER != "Positive" || s.Profile.PR != "Negative" {
		t.Fatalf("ER 5%% / PR 0%%: ER %q PR %q", s.Profile.ER, s.Profile.PR)
	}
	apply("f", 6000, &schemas.TumorMarker{Marker: "ER"}) // no result: changes nothing
	if s.Profile.ER != "Positive" {
		t.Fatalf("an ER fact without a result erased ER: %q", s.Profile.ER)
	}
}
