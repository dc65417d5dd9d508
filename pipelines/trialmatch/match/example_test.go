package match_test

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
)

func Example() {
	trial, err := criteria.Parse([]byte(`{
	  "protocol_no": "24-001", "status": "Open to Accrual",
	  "treatment_list": {"step": [{"step_code": "1", "arm": [{
	    "arm_code": "A", "arm_suspended": "N",
	    "match": [{"and": [
	      {"clinical": {"age_numerical": ">=18", "oncotree_primary_diagnosis": "Non-Small Cell Lung Cancer"}},
	      {"or": [
	        {"genomic": {"hugo_symbol": "EGFR", "protein_change": "p.L858R", "variant_category": "Mutation"}},
	        {"clinical": {"pdl1_tps_numerical": ">=50"}}
	      ]}
	    ]}]
	  }]}]}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	engine, err := match.Compile([]*criteria.Trial{trial}, match.WithToday(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		fmt.Println(err)
		return
	}
	born := match.Day(time.Date(1960, 5, 1, 0, 0, 0, 0, time.UTC))
	profiles := []match.Profile{
		{Tenant: "clinic-a", PatientID: "p1", BirthDate: &born, OncotreePrimaryDiagnosis: "Lung Adenocarcinoma",
			Sequenced: true, Variants: []match.Variant{{HugoSymbol: "EGFR", VariantCategory: "MUTATION", ProteinChange: "p.L858R"}}},
		{Tenant: "clinic-a", PatientID: "p2", BirthDate: &born, OncotreePrimaryDiagnosis: "Lung Adenocarcinoma", Sequenced: true},
	}
	rec := match.BuildProfiles(memory.DefaultAllocator, profiles)
	defer rec.Release()
	matches, err := engine.MatchBatch(rec)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range matches {
		fmt.Println(m.PatientID, m.ProtocolNo, m.ArmCode, m.Reasons[0].Alteration)
	}
	why, _ := engine.Explain(&profiles[1], "24-001", "A")
	fmt.Println(profiles[1].PatientID, why[0].Result, "would match if tested:", why[0].Decisive)
	// Output:
	// p1 24-001 A EGFR p.L858R
	// p2 unknown would match if tested: [PD-L1 TPS >=50]
}
