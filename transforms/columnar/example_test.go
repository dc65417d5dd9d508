package columnar_test

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/columnar"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
)

// Batch framed patient facts into flattened Arrow batches of the matching
// columns; writer schemas come from a source registered in every worker.
func ExampleBatch() {
	columnar.RegisterSchemaSource("facts", func() (avroarrow.SchemaSource, error) {
		// In a pipeline: the Schema Registry client.
		return avroarrow.MapSource{1: schemas.PatientFacts.Schema()}, nil
	})
	p, s := beam.NewPipelineWithRoot()
	msgs := beam.CreateList(s, [][]byte{ /* Confluent-framed patient facts */ })
	batches, dead := columnar.Batch(s, columnar.Config{
		Reader:     schemas.PatientFacts.Schema(),
		Projection: []string{"tenant", "patient_id", "event_time", "kind", "variant.hugo_symbol"},
		Flatten:    true,
		MaxRows:    8192,
		Source:     "facts",
	}, msgs)
	_, _, _ = p, batches, dead // hand batches to the matcher, dead letters to the DLQ sink
}
