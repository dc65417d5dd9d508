package spv_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/schemas"
)

// Issue 17: a match reason names the facts that decided it, by kind and
// event time: the facts behind every attribute its path read, and nothing
// else (the performance status fact is not read by the arm).
func TestReasonsNameTheirFacts(t *testing.T) {
	trial, err := criteria.Parse([]byte(`{"protocol_no": "SRC-1", "status": "Open to Accrual",
	  "treatment_list": {"step": [{"arm": [{"arm_code": "A", "arm_suspended": "N",
	    "match": [{"and": [{"clinical": {"oncotree_primary_diagnosis": "Lung Adenocarcinoma", "age_numerical": ">=18"}},
	                       {"genomic": {"hugo_symbol": "EGFR", "protein_change": "p.L858R"}}]}]},
	    {"arm_code": "B", "arm_suspended": "N",
	    "match": [{"clinical": {"oncotree_primary_diagnosis": "Lung Adenocarcinoma", "pdl1_tps_numerical": ">=50"}}]}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	e, err := match.Compile([]*criteria.Trial{trial}, match.WithToday(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	s := &spv.State{}
	demo := fact(schemas.KindDemographics, "d", 1000)
	demo.Demographics = &schemas.Demographics{BirthDate: schemas.Ptr(int32(3000)), Gender: schemas.Ptr("Female")}
	dx := fact(schemas.KindDiagnosis, "dx", 2000)
	dx.Diagnosis = &schemas.Diagnosis{OncotreePrimaryDiagnosis: "Lung Adenocarcinoma"}
	v := fact(schemas.KindVariant, "v", 3000)
	v.Variant = &schemas.Variant{HugoSymbol: schemas.Ptr("EGFR"), VariantCategory: "MUTATION", ProteinChange: schemas.Ptr("p.L858R")}
	pd := fact(schemas.KindTumorMarker, "pd", 4000)
	pd.Marker = &schemas.TumorMarker{Marker: "PD_L1", Scoring: schemas.Ptr("TPS"), Value: schemas.Ptr(80.0)}
	ecog := fact(schemas.KindPerformance, "e", 5000)
	ecog.Performance = &schemas.PerformanceStatus{Scale: "ECOG", Value: 1}
	for _, f := range []*schemas.PatientFact{ecog, v, pd, dx, demo} { // any arrival order
		if _, err := s.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	ref := func(kind string, ms int64) schemas.FactRef {
		return schemas.FactRef{Kind: kind, EventTime: time.UnixMilli(ms).UTC()}
	}
	want := map[string][]schemas.FactRef{
		"A": {ref("DEMOGRAPHICS", 1000), ref("DIAGNOSIS", 2000), ref("VARIANT", 3000)},
		"B": {ref("DIAGNOSIS", 2000), ref("TUMOR_MARKER", 4000)},
	}
	got := map[string][]schemas.FactRef{}
	for _, m := range e.Rowwise([]match.Profile{s.Profile}) {
		if m.ArmCode == "" {
			continue
		}
		if len(m.Reasons) != 1 {
			t.Fatalf("arm %s: %d reasons, want 1", m.ArmCode, len(m.Reasons))
		}
		got[m.ArmCode] = s.Sources(m.Reasons[0].Reads)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("facts behind the reasons (-want +got):\n%s", d)
	}

	// A retraction at the time of the latest facts names what they set.
	dead := fact(schemas.KindVital, "x", 6000)
	dead.Vital = &schemas.VitalStatus{Status: "DECEASED"}
	if _, err := s.Apply(dead); err != nil {
		t.Fatal(err)
	}
	wantWhy := []schemas.MatchReason{{ReasonType: "CLINICAL", Field: "vital_status", Facts: []schemas.FactRef{ref("VITAL_STATUS", 6000)}}}
	if d := cmp.Diff(wantWhy, s.ChangeReasons(time.UnixMilli(6000))); d != "" {
		t.Errorf("retraction reasons (-want +got):\n%s", d)
	}
	if got := s.ChangeReasons(time.UnixMilli(5500)); got != nil {
		t.Errorf("no fact at 5500, yet reasons %+v", got)
	}
}
