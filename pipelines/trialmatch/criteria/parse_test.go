package criteria_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// referenceDir finds shared/reference/matchminer beside the repository
// (CI layout), falling back to /work/shared; it skips the test when absent.
func referenceDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			dir = ""
			break
		}
		dir = parent
	}
	for _, c := range []string{filepath.Join(dir, "..", "shared", "reference", "matchminer"), "/work/shared/reference/matchminer"} {
		if dir == "" && !strings.HasPrefix(c, "/work") {
			continue
		}
		if _, err := os.Stat(filepath.Join(c, "EXPECTATIONS.md")); err == nil {
			return c
		}
	}
	t.Skip("MatchMiner reference data not found: expected ../shared/reference/matchminer beside the repository root or /work/shared/reference/matchminer")
	return ""
}

func TestParseReferenceTrials(t *testing.T) {
	ref := referenceDir(t)
	files, _ := filepath.Glob(filepath.Join(ref, "ctims-integration-trials", "*.json"))
	files = append(files, filepath.Join(ref, "dfci-matchengine-v2", "11-112.yaml"))
	if len(files) < 16 {
		t.Fatalf("found %d trial files, want 16", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := criteria.Parse(data, criteria.WithSource(filepath.Base(f)))
			if err != nil {
				t.Fatal(err)
			}
			if tr.ProtocolNo == "" || len(tr.Steps) == 0 {
				t.Fatalf("parsed %+v", tr)
			}
		})
	}
}

func TestParseStructure(t *testing.T) {
	ref := referenceDir(t)
	data, err := os.ReadFile(filepath.Join(ref, "ctims-integration-trials", "all_open.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := criteria.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Open() || tr.ProtocolNo != "10-002" {
		t.Errorf("protocol %q open %v", tr.ProtocolNo, tr.Open())
	}
	st := tr.Steps[0]
	if st.Match == nil || st.Match.Kind != criteria.And || len(st.Match.Children) != 2 {
		t.Fatalf("step match %+v", st.Match)
	}
	g := st.Match.Children[0].Genomic
	if g == nil || g.Gene != "EGFR" || g.VariantClassification != "In_Frame_Del" || !g.HasCategory(criteria.Mutation) || g.HasCategory(criteria.CNV) {
		t.Errorf("genomic leaf %+v", g)
	}
	c := st.Match.Children[1].Clinical
	if c == nil || c.DiagnosisName != "Lung" || !c.Diagnosis.Matches("Lung Adenocarcinoma") || c.Diagnosis.Matches("Melanoma") {
		t.Errorf("clinical leaf %+v", c)
	}
	if c.Age == nil || c.Age.Op != criteria.OpGE || c.Age.Value != 18 {
		t.Errorf("age %+v", c.Age)
	}
	if len(st.Arms) != 2 || st.Arms[0].Suspended || !st.Arms[1].Suspended || st.Arms[1].Match != nil {
		t.Errorf("arms %+v", st.Arms)
	}
	if dl := st.Arms[0].DoseLevels; len(dl) != 1 || dl[0].Code != "LEVEL 1" || dl[0].InternalID != "311" || dl[0].Match == nil {
		t.Errorf("dose levels %+v", dl)
	}
	if p := st.Arms[0].Match.Children[1].Path; p != "treatment_list.step[0].arm[0].match[0].and[1].clinical" {
		t.Errorf("path %q", p)
	}
}

func TestParseNegationAndSV(t *testing.T) {
	ref := referenceDir(t)
	data, err := os.ReadFile(filepath.Join(ref, "dfci-matchengine-v2", "11-112.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := criteria.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	g1 := tr.Steps[0].Arms[0].Match.Children[0].Genomic
	g2 := tr.Steps[0].Arms[1].Match.Children[0].Genomic
	if g1.Negate || !g2.Negate || g2.WildcardProteinChange != "p.V600" || g2.CategoryName != "Mutation" {
		t.Errorf("arm1 %+v arm2 %+v", g1, g2)
	}
	if tr.Open() {
		t.Error("11-112 has no status: must not be open")
	}
}

func TestOncotreePseudoNodes(t *testing.T) {
	m := criteria.Oncotree()
	if n := len(m["_SOLID_"]); n != 561 {
		t.Errorf("_SOLID_ has %d names, want 561", n)
	}
	if n := len(m["_LIQUID_"]); n != 51 {
		t.Errorf("_LIQUID_ has %d names, want 51", n)
	}
}

func TestParseErrors(t *testing.T) {
	wrap := func(match string) string {
		return `{"protocol_no":"T-1","status":"open to accrual","treatment_list":{"step":[{"arm":[{"arm_code":"A","match":[` + match + `]}]}]}}`
	}
	cases := []struct {
		name, doc, path, field string
		want                   error
	}{
		{"unknown genomic field", wrap(`{"genomic":{"hugo_symbol":"EGFR","protien_change":"p.L858R"}}`),
			"treatment_list.step[0].arm[0].match[0].genomic", "protien_change", criteria.ErrUnknownField},
		{"unknown clinical field", wrap(`{"and":[{"clinical":{"age":">=18"}}]}`),
			"treatment_list.step[0].arm[0].match[0].and[0].clinical", "age", criteria.ErrUnknownField},
		{"bad age", wrap(`{"clinical":{"age_numerical":">=eighteen"}}`),
			"treatment_list.step[0].arm[0].match[0].clinical", "age_numerical", criteria.ErrBadValue},
		{"unknown diagnosis", wrap(`{"clinical":{"oncotree_primary_diagnosis":"Lung Cancr"}}`),
			"treatment_list.step[0].arm[0].match[0].clinical", "oncotree_primary_diagnosis", criteria.ErrBadValue},
		{"bad category", wrap(`{"genomic":{"hugo_symbol":"EGFR","variant_category":"Mutaton"}}`),
			"treatment_list.step[0].arm[0].match[0].genomic", "variant_category", criteria.ErrBadValue},
		{"unknown node key", wrap(`{"g1":{"x":"y"}}`),
			"treatment_list.step[0].arm[0].match[0]", "g1", criteria.ErrUnknownField},
		{"empty or", wrap(`{"or":[]}`),
			"treatment_list.step[0].arm[0].match[0]", "or", criteria.ErrBadValue},
		{"bad suspended", `{"protocol_no":"T-1","treatment_list":{"step":[{"arm":[{"arm_suspended":"maybe"}]}]}}`,
			"treatment_list.step[0].arm[0]", "arm_suspended", criteria.ErrBadValue},
		{"arm code object", `{"protocol_no":"T-1","treatment_list":{"step":[{"arm":[{"arm_code":{"x":1}}]}]}}`,
			"treatment_list.step[0].arm[0]", "arm_code", criteria.ErrBadValue},
		{"unknown trial field", `{"protocol_no":"T-1","treatmentlist":{}}`, "", "treatmentlist", criteria.ErrUnknownField},
		{"bad mmr", wrap(`{"genomic":{"hugo_symbol":"None","mmr_status":"MSI-X"}}`),
			"treatment_list.step[0].arm[0].match[0].genomic", "mmr_status", criteria.ErrBadValue},
		{"ecog range", wrap(`{"clinical":{"ecog":"3-1"}}`),
			"treatment_list.step[0].arm[0].match[0].clinical", "ecog", criteria.ErrBadValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := criteria.Parse([]byte(c.doc))
			var e *criteria.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *criteria.Error", err)
			}
			if e.Trial != "T-1" || e.Path != c.path || e.Field != c.field || !errors.Is(err, c.want) {
				t.Errorf("got trial %q path %q field %q (%v), want path %q field %q %v", e.Trial, e.Path, e.Field, err, c.path, c.field, c.want)
			}
		})
	}
}

func TestParseBooleanPlaceholderFile(t *testing.T) {
	// DFCI's boolean-structure fixture uses placeholder keys (g1, c1): we
	// reject them by name rather than ignore them.
	ref := referenceDir(t)
	data, err := os.ReadFile(filepath.Join(ref, "dfci-matchengine-v2", "ctml_boolean_and_or_and.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = criteria.Parse([]byte(`{"protocol_no":"B","treatment_list":{"step":[{"match":[` + string(data) + `]}]}}`))
	var e *criteria.Error
	if !errors.As(err, &e) || e.Field != "c1" || !errors.Is(err, criteria.ErrUnknownField) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseExtensions(t *testing.T) {
	doc := `protocol_no: X-1
status: Open to Accrual
treatment_list:
  step:
    - arm:
        - arm_code: A
          match:
            - clinical:
                pdl1_tps_numerical: ">=50"
                pdl1_clone: 22C3
                ecog: 0-1
                region: ["021", "022"]
                prior_lines_numerical: "<=2"
`
	tr, err := criteria.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Steps[0].Arms[0].Match.Clinical
	if c.PDL1 == nil || c.PDL1.Scoring != "TPS" || c.PDL1.Clone != "22C3" || c.PDL1.Cmp.Value != 50 {
		t.Errorf("pdl1 %+v", c.PDL1)
	}
	if c.ECOG.Value != 0 || c.ECOGMax.Value != 1 || !c.Regions.Matches("022") || c.PriorLines.Op != criteria.OpLE {
		t.Errorf("clinical %+v", c)
	}
}

func TestParseHostile(t *testing.T) {
	deep := strings.Repeat(`{"and":[`, 100) + `{"clinical":{"gender":"Male"}}` + strings.Repeat(`]}`, 100)
	_, err := criteria.Parse([]byte(`{"protocol_no":"D","treatment_list":{"step":[{"match":[` + deep + `]}]}}`))
	if !errors.Is(err, criteria.ErrTooDeep) {
		t.Errorf("deep: %v", err)
	}
	_, err = criteria.Parse(make([]byte, criteria.MaxDocumentSize+1))
	if !errors.Is(err, criteria.ErrTooLarge) {
		t.Errorf("large: %v", err)
	}
	for _, s := range []string{"", "[]", "{", `{"protocol_no":{}}`, "a: [", "- 1\n- 2"} {
		if _, err := criteria.Parse([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// testdataDir holds our own CTML examples (repository testdata/match/ctml).
const testdataDir = "../../../testdata/match/ctml"

func TestParseTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "*"))
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata: %v, %d files", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = criteria.Parse(data, criteria.WithSource(filepath.Base(f)))
			if strings.HasPrefix(filepath.Base(f), "bad_") {
				var e *criteria.Error
				if !errors.As(err, &e) || e.Field == "" || e.Path == "" {
					t.Fatalf("want a named error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"protocol_no":"T","treatment_list":{"step":[{"arm":[{"match":[{"and":[{"genomic":{"hugo_symbol":"EGFR","variant_category":"!Mutation"}},{"clinical":{"age_numerical":">=18"}}]}]}]}]}}`))
	f.Add([]byte("protocol_no: Y\ntreatment_list:\n  step:\n    - match:\n        - or:\n            - clinical: {tmb_numerical: '>10'}\n"))
	seeds, _ := filepath.Glob(filepath.Join(testdataDir, "*"))
	for _, name := range seeds {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := criteria.Parse(data)
		if err != nil {
			var e *criteria.Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if tr.ProtocolNo == "" {
			t.Fatal("parsed trial without protocol_no")
		}
	})
}

// TestNumericCriteriaValidation: every numeric criterion is range checked,
// and the error quotes the value as the trial wrote it (issue 17).
func TestNumericCriteriaValidation(t *testing.T) {
	wrap := func(clinical string) string {
		return `{"protocol_no":"T-1","status":"open to accrual","treatment_list":{"step":[{"arm":[{"arm_code":"A","match":[{"clinical":{` + clinical + `}}]}]}]}}`
	}
	cases := []struct {
		name, clinical, field, quoted string
	}{
		{"arrow written backwards", `"age_numerical":"=>18"`, "age_numerical", `"=>18"`},
		{"age above 130", `"age_numerical":">=150"`, "age_numerical", `">=150"`},
		{"negative age", `"age_numerical":">=-1"`, "age_numerical", `">=-1"`},
		{"TPS above 100", `"pdl1_tps_numerical":">=150"`, "pdl1_tps_numerical", `">=150"`},
		{"negative TPS", `"pdl1_tps_numerical":">-5"`, "pdl1_tps_numerical", `">-5"`},
		{"IC above 100", `"pdl1_ic_numerical":">=101"`, "pdl1_ic_numerical", `">=101"`},
		{"CPS above 100", `"pdl1_cps_numerical":">=120"`, "pdl1_cps_numerical", `">=120"`},
		{"negative TMB", `"tmb_numerical":">=-3"`, "tmb_numerical", `">=-3"`},
		{"ECOG comparison above 5", `"ecog":"<=7"`, "ecog", `"<=7"`},
		{"negative prior lines", `"prior_lines_numerical":"<-1"`, "prior_lines_numerical", `"<-1"`},
		{"not a number", `"tmb_numerical":">= ten"`, "tmb_numerical", `">= ten"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := criteria.Parse([]byte(wrap(c.clinical)))
			var e *criteria.Error
			if !errors.As(err, &e) || e.Field != c.field || !errors.Is(err, criteria.ErrBadValue) {
				t.Fatalf("err = %v, want a malformed %s", err, c.field)
			}
			if !strings.Contains(err.Error(), c.quoted) {
				t.Errorf("error %q does not quote the input %s as written", err, c.quoted)
			}
		})
	}
	for _, ok := range []string{`"age_numerical":">=0.5"`, `"age_numerical":"<130"`, `"pdl1_tps_numerical":">=0"`,
		`"pdl1_tps_numerical":"<=100"`, `"pdl1_ic_numerical":">=1","pdl1_clone":"SP142"`, `"tmb_numerical":">=1000"`, `"ecog":"<=5"`} {
		if _, err := criteria.Parse([]byte(wrap(ok))); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
