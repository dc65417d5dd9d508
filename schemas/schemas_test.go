package schemas_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
)

// Every contract parses with goavro and documents every field.
func TestContractsParseAndDocumentEveryField(t *testing.T) {
	for _, c := range schemas.All() {
		t.Run(c.Topic, func(t *testing.T) {
			if _, err := goavro.NewCodec(c.Schema()); err != nil {
				t.Fatalf("goavro rejects %s: %v", c.File, err)
			}
			var root map[string]any
			if err := json.Unmarshal([]byte(c.Schema()), &root); err != nil {
				t.Fatal(err)
			}
			if ns, _ := root["namespace"].(string); ns == "" {
				t.Errorf("%s: top-level record has no namespace", c.File)
			}
			checkDocs(t, root, c.File)
		})
	}
}

func checkDocs(t *testing.T, node any, where string) {
	t.Helper()
	switch n := node.(type) {
	case []any:
		for _, b := range n {
			checkDocs(t, b, where)
		}
	case map[string]any:
		if n["type"] == "record" {
			if d, _ := n["doc"].(string); d == "" {
				t.Errorf("%s: record %v has no doc", where, n["name"])
			}
			for _, f := range n["fields"].([]any) {
				fm := f.(map[string]any)
				if d, _ := fm["doc"].(string); d == "" {
					t.Errorf("%s: field %v has no doc", where, fm["name"])
				}
				if u, ok := fm["type"].([]any); ok && len(u) > 0 && u[0] == "null" {
					if _, has := fm["default"]; !has {
						t.Errorf("%s: optional field %v has no default", where, fm["name"])
					}
				}
				checkDocs(t, fm["type"], where+"."+fm["name"].(string))
			}
		}
		if items, ok := n["items"]; ok {
			checkDocs(t, items, where)
		}
	}
}

func TestPHIFieldsOfPatientFacts(t *testing.T) {
	got, err := schemas.PHIPaths(schemas.PatientFacts.Schema())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"demographics.birth_date",
		"demographics.mrn_sealed",
		"demographics.postal_region",
		"patient_id",
		"vital.death_date",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PHI paths = %v, want %v", got, want)
	}
}

func TestPHIFieldsRejectsBadJSON(t *testing.T) {
	if _, err := schemas.PHIFields("{"); err == nil {
		t.Fatal("want an error for malformed JSON")
	}
}

func ExamplePHIPaths() {
	paths, _ := schemas.PHIPaths(schemas.DeadLetters.Schema())
	fmt.Println(paths)
	// Output: [payload]
}
