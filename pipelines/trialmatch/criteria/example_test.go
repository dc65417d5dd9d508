package criteria_test

import (
	"fmt"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

func ExampleParse() {
	doc := `{
	  "protocol_no": "24-001", "status": "Open to Accrual",
	  "treatment_list": {"step": [{"arm": [{
	    "arm_code": "A", "arm_suspended": "N",
	    "match": [{"and": [
	      {"clinical": {"age_numerical": ">=18", "oncotree_primary_diagnosis": "Non-Small Cell Lung Cancer"}},
	      {"genomic": {"hugo_symbol": "EGFR", "protein_change": "p.L858R", "variant_category": "Mutation"}}
	    ]}]
	  }]}]}
	}`
	tr, err := criteria.Parse([]byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	arm := tr.Steps[0].Arms[0]
	g := arm.Match.Children[1].Genomic
	fmt.Println(tr.ProtocolNo, tr.Open(), arm.Code, g.Gene, g.ProteinChange)

	_, err = criteria.Parse([]byte(`{"protocol_no": "24-002", "treatment_list": {"step": [{"match": [{"genomic": {"hugo_symbol": "KRAS", "variant_categry": "Mutation"}}]}]}}`))
	fmt.Println(err)
	// Output:
	// 24-001 true A EGFR p.L858R
	// ctml: trial "24-002" at treatment_list.step[0].match[0].genomic field "variant_categry": unknown field in genomic clause
}
