package naive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/naive"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
)

func init() { register.Function2x1(recordKey) }

// recordKey renders every field of a record that does not depend on the
// wall clock, with its event time.
func recordKey(ts beam.EventTime, r schemas.ApprovedPatient) string {
	r.MatchTime = time.Time{}
	b, _ := json.Marshal(r)
	return fmt.Sprintf("%d %s", int64(ts), b)
}

// The naive pipeline, written independently, publishes exactly the records
// of pipelines/trialmatch (retractions, reasons and event times included).
func TestNaiveAgreesWithTrialmatch(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 500, 12, 24*time.Hour
	d := synth.Generate(c)

	p, s := beam.NewPipelineWithRoot()
	facts, trials, regs := beam.Create(s, values(d.Facts)...), beam.Create(s, values(d.Trials)...), beam.Create(s, values(d.Regulatory)...)
	tick := 5 * time.Minute
	want := trialmatch.Build(s.Scope("trialmatch"), trialmatch.Inputs{Facts: facts, Trials: trials, Regulatory: regs},
		trialmatch.Config{Shards: 3, Tick: tick, Execution: trialmatch.Batch})
	got := naive.Build(s.Scope("naive"), naive.Inputs{Facts: facts, Trials: trials, Regulatory: regs}, naive.Config{Tick: tick})
	wantKeys := beam.ParDo(s, recordKey, want.Matches)
	passert.NonEmpty(s, wantKeys)
	passert.Equals(s, beam.ParDo(s, recordKey, got.Matches), wantKeys)
	ptest.RunAndValidate(t, p)
}

// Over Kafka, with undecodable records: facts in = facts folded + dead
// letters, and the naive changelog lands on its own topic.
func TestNaiveFromKafkaConservation(t *testing.T) {
	ctx := context.Background()
	topics := []string{"naive." + schemas.ApprovedPatients.Topic}
	for _, c := range schemas.All() {
		topics = append(topics, c.Topic)
	}
	stack, err := local.Start(ctx, local.Options{RegisterContracts: true, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	ids := stack.SchemaIDs()
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 200, 6, 6*time.Hour
	d := synth.Generate(c)
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	const corrupt = 6
	n, err := synth.Produce(ctx, cl, d, synth.IDs{
		Facts:      uint32(ids[schemas.PatientFacts.ValueSubject()]),
		Trials:     uint32(ids[schemas.Trials.ValueSubject()]),
		Regulatory: uint32(ids[schemas.Regulatory.ValueSubject()]),
	}, corrupt, nil)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}

	p, s := beam.NewPipelineWithRoot()
	out := naive.FromKafka(s, naive.KafkaConfig{Brokers: stack.Bootstrap(), RegistryURL: stack.RegistryURL()})
	passert.Equals(s, stats.Sum(s, out.Folded), int64(n.Facts))
	passert.Count(s, out.DeadLetters, "dead letters", corrupt)
	ptest.RunAndValidate(t, p)

	approved, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), "naive."+schemas.ApprovedPatients.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(approved) == 0 {
		t.Fatal("the naive pipeline wrote no approved_patients record")
	}
}
