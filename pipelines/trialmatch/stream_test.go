package trialmatch_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// The same pipeline, unbounded: streaming execution on Prism keeps reading
// the topics; the partitions' watermarks advance with the record times and,
// once caught up and idle, with the wall clock, so every tick completes and
// approved_patients converges to the independent expectation while the job
// is still running. Cancelling the context stops it.
func TestPipelineUnbounded(t *testing.T) {
	ctx := context.Background()
	stack, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	ids := stack.SchemaIDs()

	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 200, 6, 6*time.Hour
	d := synth.Generate(c)
	want := expectedActive(t, d, c.Start.Add(c.Span))
	if len(want) == 0 {
		t.Fatal("the data set yields no match; the test would prove nothing")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	const corrupt = 3
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
	out := trialmatch.FromKafka(s, trialmatch.KafkaConfig{
		Brokers: stack.Bootstrap(), RegistryURL: stack.RegistryURL(), Unbounded: true,
		ReadOptions: []kafkaio.ReadOption{kafkaio.PollWait(100 * time.Millisecond), kafkaio.IdleTimeout(time.Second),
			kafkaio.CheckpointEvery(500 * time.Millisecond)},
		Pipeline: trialmatch.Config{Shards: 2, Tick: 10 * time.Minute},
	})
	if out.Execution != trialmatch.Streaming {
		t.Fatalf("unbounded input runs %v, want streaming", out.Execution)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := runners.Run(runCtx, p)
		done <- err
	}()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("pipeline stopped on cancellation: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop within 30s of cancellation")
		}
	}
	defer stop()

	var (
		got  []string
		dead int
	)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the unbounded pipeline ended by itself: %v", err)
		case <-time.After(time.Second):
		}
		approved, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.ApprovedPatients.Topic)
		if err != nil {
			t.Fatal(err)
		}
		letters, err := trialmatch.ReadDeadLetters(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.DeadLetters.Topic)
		if err != nil {
			t.Fatal(err)
		}
		got, dead = activeOf(approved), len(letters)
		if slices.Equal(got, want) && dead == corrupt {
			break
		}
	}
	if !slices.Equal(got, want) || dead != corrupt {
		t.Fatalf("streaming did not converge in 90s: %d active matches (want %d), %d dead letters (want %d)", len(got), len(want), dead, corrupt)
	}
	t.Logf("%d facts streamed: %d active matches, %d dead letters", n.Facts, len(got), dead)
}
