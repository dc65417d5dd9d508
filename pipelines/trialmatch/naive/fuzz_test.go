package naive

import (
	"context"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Any body either decodes to one fact or becomes one dead letter: hostile
// input (huge lengths, truncation, garbage) never panics.
func FuzzDecodeFact(f *testing.F) {
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		f.Fatal(err)
	}
	c := synth.DefaultConfig()
	c.Patients, c.Trials = 3, 2
	for _, fact := range synth.Generate(c).Facts {
		body, err := fact.AppendAvro(codec, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		f.Add(body[:len(body)/2])
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	fn := &toFactFn{}
	if err := fn.Setup(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var out, dead int
		fn.ProcessElement(context.Background(), avroio.Decoded{Record: kafkaio.Record{Topic: "patient_facts", Value: b}},
			func(beam.EventTime, schemas.PatientFact) { out++ },
			func(deadletter.Record) { dead++ })
		if out+dead != 1 {
			t.Fatalf("%d facts and %d dead letters for one record", out, dead)
		}
	})
}
