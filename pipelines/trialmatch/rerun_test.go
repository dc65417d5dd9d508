package trialmatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
)

// Re-runs of the bounded pipeline over Kafka: over unchanged input nothing
// is published again; over grown input only the differences, so that the
// topic collapses to what one run over the whole input says, with never a
// second NEW for a key without a RETRACTED between them. The consumer
// group's offsets reach the end of every source only with the outputs.
func TestRerunPublishesOnlyDifferences(t *testing.T) {
	for _, exec := range []trialmatch.Execution{trialmatch.CoPartitioned, trialmatch.Batch, trialmatch.Streaming} {
		t.Run(exec.String(), func(t *testing.T) { testRerun(t, exec) })
	}
}

func testRerun(t *testing.T, exec trialmatch.Execution) {
	ctx := context.Background()
	stack, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	ids := stack.SchemaIDs()
	sids := synth.IDs{
		Facts:      uint32(ids[schemas.PatientFacts.ValueSubject()]),
		Trials:     uint32(ids[schemas.Trials.ValueSubject()]),
		Regulatory: uint32(ids[schemas.Regulatory.ValueSubject()]),
	}
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 200, 6, 12*time.Hour
	d := synth.Generate(c)
	first, rest := *d, *d
	cut := len(d.Facts) * 2 / 3
	first.Facts, rest.Facts = d.Facts[:cut], d.Facts[cut:]
	rest.Trials, rest.Regulatory = nil, nil

	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(d *synth.Dataset) {
		if _, err := synth.Produce(ctx, cl, d, sids, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	run := func() []schemas.ApprovedPatient {
		p, s := beam.NewPipelineWithRoot()
		trialmatch.FromKafka(s, trialmatch.KafkaConfig{
			Brokers: stack.Bootstrap(), RegistryURL: stack.RegistryURL(), Group: "rerun",
			Pipeline: trialmatch.Config{Shards: 4, Tick: 10 * time.Minute, Execution: exec},
		})
		ptest.RunAndValidate(t, p)
		approved, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.ApprovedPatients.Topic)
		if err != nil {
			t.Fatal(err)
		}
		return approved
	}

	produce(&first)
	one := run()
	if len(one) == 0 {
		t.Fatal("the first run published nothing")
	}
	wellFormedPerKey(t, one)
	if again := run(); len(again) != len(one) {
		t.Fatalf("a re-run over unchanged input published %d records (had %d)", len(again)-len(one), len(one))
	}
	committedAtEnd(t, stack.Bootstrap(), "rerun")

	produce(&rest)
	grown := run()
	if len(grown) == len(one) {
		t.Fatal("a re-run over grown input published nothing")
	}
	wellFormedPerKey(t, grown)
	got := activeOf(grown)
	want := expectedActive(t, d, c.Start.Add(c.Span))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the grown re-run %d keys are active, one run over everything gives %d", len(got), len(want))
	}
	if again := run(); len(again) != len(grown) {
		t.Fatalf("a re-run after the grown one published %d records", len(again)-len(grown))
	}
	committedAtEnd(t, stack.Bootstrap(), "rerun")
}

// wellFormedPerKey fails on a second NEW for a key without a RETRACTED
// between them, and on a RETRACTED of nothing (records in topic order).
func wellFormedPerKey(t *testing.T, recs []schemas.ApprovedPatient) {
	t.Helper()
	open := map[string]bool{}
	for i, r := range recs {
		k := r.Tenant + "/" + r.PatientID + "/" + r.ProtocolNo
		switch {
		case r.Action == "NEW" && open[k]:
			t.Fatalf("record %d: a second NEW for %s without a RETRACTED between them", i, k)
		case r.Action == "RETRACTED" && !open[k]:
			t.Fatalf("record %d: RETRACTED for %s, which has no NEW", i, k)
		}
		open[k] = r.Action == "NEW"
	}
}

// committedAtEnd checks that group has committed every source partition's
// end offset.
func committedAtEnd(t *testing.T, brokers []string, group string) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := context.Background()
	topics := []string{schemas.PatientFacts.Topic, schemas.Trials.Topic, schemas.Regulatory.Topic}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := adm.FetchOffsets(ctx, group)
		missing := ""
		ends.Each(func(e kadm.ListedOffset) {
			if e.Offset == 0 {
				return
			}
			if o, ok := got.Lookup(e.Topic, e.Partition); err != nil || !ok || o.At != e.Offset {
				missing = fmt.Sprintf("%s/%d: committed %v, end %d (err %v)", e.Topic, e.Partition, o.At, e.Offset, err)
			}
		})
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: %s", group, missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
