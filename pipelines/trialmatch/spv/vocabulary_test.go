package spv_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/schemas"
)

// ctmlForm is how a trial writes a vocabulary value in CTML when it differs
// from the value itself (MatchMiner maps mmr_status values onto its status
// strings); "" when CTML has no way to ask for it.
var ctmlForm = map[string]string{
	spv.MMRDeficient: "MSI-H", spv.MMRProficient: "MSS", spv.MMRIndeterminate: "", "Cannot assess": "",
}

// termFact is a fact that reports the row's result.
func termFact(tm spv.Term) *schemas.PatientFact {
	f := fact(schemas.KindTumorMarker, "v", 1000)
	if name, ok := strings.CutPrefix(tm.Marker, "SIGNATURE:"); ok {
		f.Kind = schemas.KindVariant
		f.Variant = &schemas.Variant{VariantCategory: "SIGNATURE", Signature: schemas.Ptr(name), SignatureStatus: schemas.Ptr(tm.Reported)}
		return f
	}
	m := &schemas.TumorMarker{Marker: tm.Marker}
	if tm.Scoring != "" {
		m.Scoring = schemas.Ptr(tm.Scoring)
	}
	if tm.LOINC != "" {
		m.LOINC = schemas.Ptr(tm.LOINC)
	}
	if tm.Reported != "" {
		m.Result = schemas.Ptr(tm.Reported)
	} else {
		m.Value, m.Clone = schemas.Ptr(42.0), schemas.Ptr("22C3")
	}
	f.Marker = m
	return f
}

// criterion is the CTML clause that asks for the row's value.
func criterion(tm spv.Term) (kind string, fields map[string]any, ok bool) {
	switch {
	case tm.Value == "": // numeric
		fields = map[string]any{tm.Field: ">=42"}
		if strings.HasPrefix(tm.Field, "pdl1_") {
			fields["pdl1_clone"] = "22C3"
		}
		return "clinical", fields, true
	case strings.HasSuffix(tm.Field, "_status") && tm.Field != "mmr_status":
		return "clinical", map[string]any{tm.Field: tm.Value}, true
	}
	v, mapped := ctmlForm[tm.Value]
	if !mapped {
		v = tm.Value
	}
	if v == "" {
		return "", nil, false
	}
	return "genomic", map[string]any{"hugo_symbol": "None", tm.Field: v}, true
}

// TestVocabulary checks every row of the vocabulary: a fact reporting the
// row's result, folded into an empty profile, satisfies the CTML criterion
// MatchMiner writes for the row's field and value.
func TestVocabulary(t *testing.T) {
	for _, tm := range spv.Vocabulary {
		name := fmt.Sprintf("%s/%s/%s", tm.Marker, tm.Scoring, tm.Reported)
		t.Run(name, func(t *testing.T) {
			if tm.Field == "" {
				t.Fatal("row names no CTML field")
			}
			got, ok := spv.Translate(tm.Marker, tm.Scoring, strings.ToLower(tm.Reported))
			if tm.Reported != "" && (!ok || got != tm) {
				t.Fatalf("Translate(%q, %q, %q) = %+v, %v", tm.Marker, tm.Scoring, tm.Reported, got, ok)
			}
			s := &spv.State{}
			if _, err := s.Apply(termFact(tm)); err != nil {
				t.Fatal(err)
			}
			kind, fields, ok := criterion(tm)
			if !ok {
				// CTML cannot ask for it: the profile holds the value as such.
				if len(s.Profile.Variants) != 1 || s.Profile.Variants[0].SignatureStatus != tm.Value {
					t.Fatalf("profile variants %+v, want the status %q", s.Profile.Variants, tm.Value)
				}
				return
			}
			doc, _ := json.Marshal(map[string]any{
				"protocol_no": "V-1", "status": "Open to Accrual",
				"treatment_list": map[string]any{"step": []any{map[string]any{"step_code": "1", "arm": []any{map[string]any{
					"arm_code": "A", "arm_suspended": "N", "match": []any{map[string]any{kind: fields}}}}}}},
			})
			trial, err := criteria.Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			e, err := match.Compile([]*criteria.Trial{trial}, match.WithToday(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
			if err != nil {
				t.Fatal(err)
			}
			if ms := e.Rowwise([]match.Profile{s.Profile}); len(ms) != 1 {
				t.Fatalf("criterion %s %v does not hold on the folded profile %+v", kind, fields, s.Profile)
			}
			rec := match.BuildProfiles(memory.DefaultAllocator, []match.Profile{s.Profile})
			defer rec.Release()
			if ms, err := e.MatchBatch(rec); err != nil || len(ms) != 1 {
				t.Fatalf("vectorised: %d matches, %v", len(ms), err)
			}
		})
	}
}

// Regression (issue 17): an MSI-H colon cancer patient matches a
// tumour-agnostic MSI-H arm; an MSS one is definitely not eligible.
func TestMSIHighMatchesMMRDeficientArm(t *testing.T) {
	trial, err := criteria.Parse([]byte(`{"protocol_no": "MSI-1", "status": "Open to Accrual",
	  "treatment_list": {"step": [{"arm": [{"arm_code": "A", "arm_suspended": "N",
	    "match": [{"and": [{"clinical": {"oncotree_primary_diagnosis": "_SOLID_"}},
	                       {"genomic": {"hugo_symbol": "None", "mmr_status": "MMR-Deficient"}}]}]}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := match.Compile([]*criteria.Trial{trial}, match.WithToday(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		result string
		want   match.Truth
	}{{"MSI-H", match.True}, {"MSS", match.False}, {"dMMR", match.True}} {
		s := &spv.State{}
		dx := fact(schemas.KindDiagnosis, "dx", 500)
		dx.Diagnosis = &schemas.Diagnosis{OncotreePrimaryDiagnosis: "Colon Adenocarcinoma"}
		msi := fact(schemas.KindTumorMarker, "m", 1000)
		msi.Marker = &schemas.TumorMarker{Marker: "MSI", Result: schemas.Ptr(c.result), LOINC: schemas.Ptr("81695-9")}
		for _, f := range []*schemas.PatientFact{dx, msi} {
			if _, err := s.Apply(f); err != nil {
				t.Fatal(err)
			}
		}
		why, err := e.Explain(&s.Profile, "MSI-1", "A")
		if err != nil {
			t.Fatal(err)
		}
		if why[0].Result != c.want {
			t.Errorf("%s: %v, want %v (%+v)", c.result, why[0].Result, c.want, why[0])
		}
	}
}
