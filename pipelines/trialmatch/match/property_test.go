package match_test

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
)

// propertyTrial exercises every criterion kind, negations and nesting.
const propertyTrial = `{
 "protocol_no": "P-1", "status": "Open to Accrual",
 "treatment_list": {"step": [{"step_code": "1", "match": [{"clinical": {"oncotree_primary_diagnosis": "_SOLID_", "age_numerical": ">=18"}}],
  "arm": [
   {"arm_code": "EGFR", "arm_suspended": "N", "match": [{"and": [
      {"clinical": {"oncotree_primary_diagnosis": "Non-Small Cell Lung Cancer", "age_numerical": ">=18.5"}},
      {"or": [{"genomic": {"hugo_symbol": "EGFR", "protein_change": "p.L858R", "variant_category": "Mutation"}},
              {"genomic": {"hugo_symbol": "EGFR", "exon": 19, "variant_classification": "In_Frame_Del"}}]}]}],
    "dose_level": [{"level_code": "D1", "level_suspended": "N", "match": [{"clinical": {"ecog": "0-1"}}]},
                   {"level_code": "D2", "level_suspended": "Y", "match": [{"clinical": {"ecog": "<=2"}}]}]},
   {"arm_code": "KRASwt", "arm_suspended": "N", "match": [{"and": [
      {"clinical": {"oncotree_primary_diagnosis": "Colorectal Adenocarcinoma"}},
      {"genomic": {"hugo_symbol": "KRAS", "variant_category": "!Mutation"}},
      {"genomic": {"hugo_symbol": "None", "mmr_status": "MSI-H"}}]}]},
   {"arm_code": "BRAF", "arm_suspended": "N", "match": [{"and": [
      {"clinical": {"oncotree_primary_diagnosis": "Melanoma", "gender": "!Female"}},
      {"genomic": {"hugo_symbol": "BRAF", "wildcard_protein_change": "V600", "variant_category": "Mutation"}}]}]},
   {"arm_code": "IO", "arm_suspended": "N", "match": [{"or": [
      {"clinical": {"oncotree_primary_diagnosis": "Lung", "pdl1_tps_numerical": ">=50", "pdl1_clone": "22C3"}},
      {"clinical": {"pdl1_cps_numerical": ">=10", "pdl1_clone": "22C3"}},
      {"clinical": {"pdl1_ic_numerical": ">=1", "pdl1_clone": "SP142"}},
      {"clinical": {"tmb_numerical": ">=10", "prior_lines_numerical": "<=2"}},
      {"clinical": {"oncotree_primary_diagnosis": "!Breast", "pdl1_cps_numerical": ">=10", "region": ["021", "100"]}}]}]},
   {"arm_code": "BREAST", "arm_suspended": "N", "match": [{"and": [
      {"clinical": {"oncotree_primary_diagnosis": "Breast", "her2_status": "Positive", "er_status": "!Positive", "disease_status": "Metastatic"}},
      {"or": [{"genomic": {"hugo_symbol": "ERBB2", "variant_category": "Copy Number Variation", "cnv_call": "High Amplification"}},
              {"clinical": {"pr_status": "Negative"}}]}]}]},
   {"arm_code": "ALK", "arm_suspended": "N", "match": [{"and": [
      {"clinical": {"oncotree_primary_diagnosis": "Lung"}},
      {"or": [{"genomic": {"hugo_symbol": "ALK", "variant_category": "Structural Variation"}},
              {"genomic": {"hugo_symbol": "any_gene", "fusion_partner_hugo_symbol": "ALK", "variant_category": "Structural Variation"}},
              {"genomic": {"hugo_symbol": "NTRK1", "fusion_partner_hugo_symbol": "intergenic", "variant_category": "Structural Variation"}},
              {"genomic": {"hugo_symbol": "TP53", "variant_category": "!Structural Variation"}},
              {"genomic": {"hugo_symbol": "None", "apobec_signature": "Yes"}}]}]}]},
   {"arm_code": "CLOSED", "arm_suspended": "Y", "match": [{"clinical": {"gender": "Male"}}]}
  ]}]}}`

func propertyEngine(t testing.TB, opts ...match.Option) *match.Engine {
	t.Helper()
	tr, err := criteria.Parse([]byte(propertyTrial))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]match.Option{match.WithToday(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}, opts...)
	e, err := match.Compile([]*criteria.Trial{tr}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

func maybe[T any](r *rand.Rand, p float64, v T) *T {
	if r.Float64() < p {
		return &v
	}
	return nil
}

// randomProfile draws from small vocabularies so that every criterion is
// often true, false and unknown.
func randomProfile(r *rand.Rand, i int) match.Profile {
	p := match.Profile{
		Tenant: pick(r, "t1", "t2"), PatientID: "p" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)),
		SampleID:                 pick(r, "", "s1"),
		BirthDate:                maybe(r, 0.9, int32(r.IntN(30000)-5000)),
		Gender:                   pick(r, "", "Male", "Female", "male"),
		PostalRegion:             pick(r, "", "021", "100", "945"),
		OncotreePrimaryDiagnosis: pick(r, "", "Lung Adenocarcinoma", "Non-Small Cell Lung Cancer", "Small Cell Lung Cancer", "Colorectal Adenocarcinoma", "Cutaneous Melanoma", "Breast Invasive Ductal Carcinoma", "Acute Myeloid Leukemia", "lung adenocarcinoma", "Not A Diagnosis"),
		DiseaseStatus:            pick(r, "", "Metastatic", "Stable"),
		Deceased:                 r.IntN(10) == 0,
		ECOG:                     maybe(r, 0.7, int32(r.IntN(5))),
		PriorLines:               maybe(r, 0.6, int32(r.IntN(4))),
		TMB:                      maybe(r, 0.5, float64(r.IntN(30))),
		ER:                       pick(r, "", "Positive", "Negative"),
		PR:                       pick(r, "", "Positive", "Negative"),
		HER2:                     pick(r, "", "Positive", "Negative", "Equivocal"),
		PDL1TPS:                  maybe(r, 0.4, float64(r.IntN(101))),
		PDL1CPS:                  maybe(r, 0.3, float64(r.IntN(30))),
		PDL1TPSClone:             pick(r, "", "22C3", "SP263"),
		PDL1CPSClone:             pick(r, "", "22C3", "SP263"),
		PDL1IC:                   maybe(r, 0.2, float64(r.IntN(20))),
		PDL1ICClone:              pick(r, "", "SP142", "SP263"),
		Sequenced:                r.IntN(3) != 0,
		ReportDate:               maybe(r, 0.5, int32(17000+r.IntN(3000))),
	}
	if !p.Sequenced && r.IntN(2) == 0 {
		return p
	}
	for n := r.IntN(6); n > 0; n-- {
		var v match.Variant
		switch r.IntN(5) {
		case 0, 1:
			v = match.Variant{HugoSymbol: pick(r, "EGFR", "KRAS", "BRAF", "TP53", "PIK3CA"), VariantCategory: "MUTATION",
				ProteinChange:         pick(r, "", "p.L858R", "p.G12C", "p.V600E", "p.V600", "p.V600EK", "p.E746_A750del"),
				VariantClassification: pick(r, "", "Missense_Mutation", "In_Frame_Del"), Exon: maybe(r, 0.5, int32(pick(r, 19, 21))),
				Wildtype: r.IntN(10) == 0}
		case 2:
			v = match.Variant{HugoSymbol: pick(r, "ERBB2", "EGFR", "MET"), VariantCategory: "CNV", CNVCall: pick(r, "High level amplification", "Gain", "Heterozygous deletion")}
		case 3:
			v = match.Variant{VariantCategory: "SV", LeftPartner: pick(r, "", "EML4", "ALK", "NTRK1", "TP53"), RightPartner: pick(r, "", "ALK", "EML4"),
				SVComment: pick(r, "", "ALK rearrangement detected", "fusion of TP53.", "none")}
		default:
			v = match.Variant{VariantCategory: "SIGNATURE", Signature: pick(r, "MMR", "APOBEC"),
				SignatureStatus: pick(r, "Yes", "No", "Deficient (MMR-D / MSI-H)", "Proficient (MMR-P / MSS)")}
		}
		p.Variants = append(p.Variants, v)
	}
	return p
}

func TestVectorizedEqualsRowwise(t *testing.T) {
	cut := time.Date(2018, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, cfg := range []struct {
		name string
		opts []match.Option
	}{
		{"defaults", nil},
		{"closed_deceased_cutover", []match.Option{match.WithMatchOnClosed(true), match.WithMatchOnDeceased(true), match.WithStructuredSVCutover(cut)}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			e := propertyEngine(t, cfg.opts...)
			r := rand.New(rand.NewPCG(1, 2))
			total := 0
			for round := 0; round < 40; round++ {
				n := 1 + r.IntN(300)
				profiles := make([]match.Profile, n)
				for i := range profiles {
					profiles[i] = randomProfile(r, i)
				}
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				rec := match.BuildProfiles(mem, profiles)
				got, err := e.MatchBatch(rec)
				if err != nil {
					t.Fatal(err)
				}
				want := e.Rowwise(profiles)
				if d := diffMatches(got, want); d != "" {
					t.Fatalf("round %d: %s", round, d)
				}
				hits, err := e.MatchBatchHits(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				late, err := e.Matches(rec, hits)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffMatches(late, want); d != "" {
					t.Fatalf("round %d, hits then Matches: %s", round, d)
				}
				total += len(got)
				rec.Release()
				mem.AssertSize(t, 0)
			}
			if total < 100 {
				t.Errorf("only %d matches over all rounds: the property test is not exercising the matcher", total)
			}
		})
	}
}

func TestProfilesRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	profiles := make([]match.Profile, 200)
	for i := range profiles {
		profiles[i] = randomProfile(r, i)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := match.BuildProfiles(mem, profiles)
	defer rec.Release()
	if !rec.Schema().Equal(match.ProfileSchema) || rec.NumRows() != 200 {
		t.Fatalf("schema %v rows %d", rec.Schema(), rec.NumRows())
	}
	back, err := match.ProfilesFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range profiles {
		a, b := profiles[i], back[i]
		if len(a.Variants) == 0 {
			a.Variants = nil
		}
		if d := diffMatches([]match.Match{{Tenant: fmtProfile(a)}}, []match.Match{{Tenant: fmtProfile(b)}}); d != "" {
			t.Fatalf("profile %d: %s", i, d)
		}
	}
}

func TestMatchBatchRejectsOtherSchema(t *testing.T) {
	e := propertyEngine(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := match.BuildProfiles(mem, nil)
	defer rec.Release()
	if ms, err := e.MatchBatch(rec); err != nil || len(ms) != 0 {
		t.Fatalf("empty batch: %v %v", ms, err)
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "tenant", Type: arrow.BinaryTypes.String}}, nil))
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("t")
	other := b.NewRecordBatch()
	defer other.Release()
	if _, err := e.MatchBatch(other); err == nil {
		t.Fatal("MatchBatch accepted a record of another schema")
	}
}

func fmtProfile(p match.Profile) string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestMatchBatchConcurrent(t *testing.T) {
	e := propertyEngine(t)
	r := rand.New(rand.NewPCG(5, 6))
	profiles := make([]match.Profile, 500)
	for i := range profiles {
		profiles[i] = randomProfile(r, i)
	}
	rec := match.BuildProfiles(memory.NewGoAllocator(), profiles)
	defer rec.Release()
	want := e.Rowwise(profiles)
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got, err := e.MatchBatch(rec)
			if err != nil {
				errs <- err.Error()
				return
			}
			errs <- diffMatches(got, want)
		}()
	}
	for g := 0; g < 4; g++ {
		if d := <-errs; d != "" {
			t.Error(d)
		}
	}
}

// TestMatchBatchSlicedRecord checks records that are slices of larger ones
// (non-zero array offsets, e.g. after a batching stage splits a record).
func TestMatchBatchSlicedRecord(t *testing.T) {
	e := propertyEngine(t, match.WithMatchOnDeceased(true))
	r := rand.New(rand.NewPCG(8, 9))
	profiles := make([]match.Profile, 300)
	for i := range profiles {
		profiles[i] = randomProfile(r, i)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := match.BuildProfiles(mem, profiles)
	defer rec.Release()
	for _, cut := range [][2]int{{3, 300}, {64, 200}, {77, 78}, {130, 130}} {
		sl := rec.NewSlice(int64(cut[0]), int64(cut[1]))
		got, err := e.MatchBatch(sl)
		if err != nil {
			t.Fatal(err)
		}
		want := e.Rowwise(profiles[cut[0]:cut[1]])
		if d := diffMatches(got, want); d != "" {
			t.Errorf("slice %v: %s", cut, d)
		}
		back, err := match.ProfilesFromRecord(sl)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != cut[1]-cut[0] || (len(back) > 0 && fmtProfile(back[0]) != fmtProfile(normalize(profiles[cut[0]]))) {
			t.Errorf("slice %v: profiles do not round-trip", cut)
		}
		sl.Release()
	}
}

func normalize(p match.Profile) match.Profile {
	if len(p.Variants) == 0 {
		p.Variants = nil
	}
	return p
}
