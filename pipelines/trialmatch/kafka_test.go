package trialmatch_test

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/apachekafka"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
)

// The whole product over real Kafka and the registry: synthetic streams
// produced to the local stack, the bounded pipeline on Prism, the
// approved_patients and dead_letter topics read back. On kfake by default;
// with TRIALFLOW_KAFKA=apache (make test-kafka) on a real Apache Kafka
// broker.
func TestPipelineOverKafka(t *testing.T) {
	ctx := context.Background()
	stack, err := local.Start(ctx, kafkaStack(t, local.Options{RegisterContracts: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	ids := stack.SchemaIDs()

	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 300, 8, 12*time.Hour
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

	if err := trialmatch.CreateTenantTopics(ctx, stack.Bootstrap(), schemas.ApprovedPatients.Topic, d.Tenants, 1); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.FromKafka(s, trialmatch.KafkaConfig{
		Brokers: stack.Bootstrap(), RegistryURL: stack.RegistryURL(), PerTenantTopics: true,
		Pipeline: trialmatch.Config{Shards: 4, Tick: 10 * time.Minute},
	})
	// Conservation for the facts topic, from the outputs: every valid fact
	// is folded; the corrupt ones are the dead letters checked below.
	passert.Equals(s, stats.Sum(s, out.Folded), int64(n.Facts))
	res := ptest.RunAndValidate(t, p)

	// Every verdict is counted as judged against every open trial or
	// against the changed trials only, and some are the latter.
	sum := metrics.Summarize(res)
	judged := map[string]int64{}
	for _, c := range sum.Other {
		if c.Namespace == metrics.Namespace {
			judged[c.Name] = c.Value
		}
	}
	matchStage, _ := sum.Stage("match")
	all, changedOnly := judged["match/judged_all_trials"], judged["match/judged_changed_trials_only"]
	if all == 0 || changedOnly == 0 || all+changedOnly != matchStage.In {
		t.Fatalf("judged %d against every trial and %d against the changed ones only; the match stage took %d", all, changedOnly, matchStage.In)
	}

	approved, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.ApprovedPatients.Topic)
	if err != nil {
		t.Fatal(err)
	}
	got := activeOf(approved)
	want := expectedActive(t, d, c.Start.Add(c.Span))
	if len(got) != len(want) {
		t.Fatalf("active matches over Kafka: got %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("active matches differ at %d: got %s, want %s", i, got[i], want[i])
		}
	}

	// One tenant's own topic holds that tenant's records only.
	tenant := d.Tenants[0]
	own, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.ApprovedPatients.Topic+"."+tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) == 0 {
		t.Fatalf("tenant topic of %s is empty", tenant)
	}
	for _, a := range own {
		if a.Tenant != tenant {
			t.Fatalf("tenant %s's topic holds a record of %s", tenant, a.Tenant)
		}
	}

	dead, err := trialmatch.ReadDeadLetters(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.DeadLetters.Topic)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	for _, r := range dead {
		codes[r.ReasonCode]++
		if r.SourceTopic == nil || *r.SourceTopic != schemas.PatientFacts.Topic {
			t.Fatalf("dead letter without its source: %+v", r)
		}
	}
	if len(dead) != corrupt || codes["wrong_magic_byte"] != 2 || codes["unknown_schema_id"] != 2 {
		t.Fatalf("dead letters by reason: %v (%d in all, want %d)", codes, len(dead), corrupt)
	}
}

// kafkaStack returns o unchanged (the stack starts the embedded kfake) or,
// with TRIALFLOW_KAFKA=apache, with Brokers set to a fresh Apache Kafka
// broker (runners/apachekafka) that the test stops when it ends; the stack
// creates the topics on it. Without java or mvn the test skips, except in
// CI (CI=true) where it fails.
func kafkaStack(t *testing.T, o local.Options) local.Options {
	t.Helper()
	if os.Getenv("TRIALFLOW_KAFKA") != "apache" {
		return o
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// Topics the pipeline creates on first use get kfake's 3 partitions.
	b, err := apachekafka.Start(ctx, apachekafka.Config{Log: os.Stderr, Partitions: 3})
	if err != nil {
		if apachekafka.IsUnavailable(err) && os.Getenv("CI") != "true" {
			t.Skipf("Apache Kafka broker unavailable: %v", err)
		}
		t.Fatalf("Apache Kafka broker: %v", err)
	}
	t.Cleanup(b.Stop)
	t.Logf("Apache Kafka %s at %s", apachekafka.DefaultVersion, b.Addr)
	o.Brokers = []string{b.Addr}
	return o
}

// activeOf returns the (tenant/patient/protocol) keys whose latest record
// is NEW, sorted.
func activeOf(approved []schemas.ApprovedPatient) []string {
	active := map[string]string{}
	latest := map[string]time.Time{}
	for _, a := range approved {
		k := a.Tenant + "/" + a.PatientID + "/" + a.ProtocolNo
		if a.MatchTime.Before(latest[k]) {
			continue
		}
		latest[k] = a.MatchTime
		active[k] = a.Action
	}
	var got []string
	for k, act := range active {
		if act == "NEW" {
			got = append(got, k)
		}
	}
	sort.Strings(got)
	return got
}
