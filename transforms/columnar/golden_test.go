package columnar

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/columnar/columnartest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/columnar")

// TestMatchingSchemaGolden pins the Arrow schema of the patient_facts
// matching projection, the contract with the matching core, in
// testdata/columnar (rewrite with -update).
func TestMatchingSchemaGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		opts []avroarrow.Option
	}{
		{"patient_facts_matching_flat.schema.txt", []avroarrow.Option{avroarrow.WithProjection(columnartest.MatchingColumns...), avroarrow.WithFlatten()}},
		{"patient_facts_matching_nested.schema.txt", []avroarrow.Option{avroarrow.WithProjection(columnartest.MatchingColumns...)}},
		{"patient_facts_all.schema.txt", nil},
	} {
		d, err := avroarrow.New(schemas.PatientFacts.Schema(), c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		got := d.Schema().String() + "\n"
		path := filepath.Join("..", "..", "testdata", "columnar", c.file)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if got != string(want) {
			t.Errorf("%s changed:\n got %s\nwant %s", c.file, got, want)
		}
	}
}
