package local_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func TestStartRegistersContractsAndServesKafka(t *testing.T) {
	ctx := context.Background()
	s, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	cl, err := registry.NewClient(s.RegistryURL())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range schemas.All() {
		id, _, err := cl.Latest(c.ValueSubject())
		if err != nil || id != s.SchemaIDs()[c.ValueSubject()] {
			t.Errorf("%s: id %d, %v; Start said %d", c.ValueSubject(), id, err, s.SchemaIDs()[c.ValueSubject()])
		}
	}

	kc, err := kgo.NewClient(kgo.SeedBrokers(s.Bootstrap()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	topics, err := kadm.NewClient(kc).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range schemas.All() {
		if d, ok := topics[c.Topic]; !ok || len(d.Partitions) != 3 {
			t.Errorf("topic %s missing or not 3 partitions", c.Topic)
		}
	}
	// Other topics are created on first use.
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "scratch", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// An external cluster (Options.Brokers) is used as it is: the stack creates
// the topics on it with the partitions asked, leaves an existing topic
// alone, serves its addresses and leaves it running on Close.
func TestExternalBrokers(t *testing.T) {
	ctx := context.Background()
	// kfake without auto-creation stands for a real broker here.
	ext, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "existing"))
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	s, err := local.Start(ctx, local.Options{Brokers: ext.ListenAddrs(), Topics: []string{"a", "existing"},
		Partitions: 2, RegisterContracts: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(s.Bootstrap(), ","), strings.Join(ext.ListenAddrs(), ","); got != want {
		t.Fatalf("Bootstrap() = %s, want the external %s", got, want)
	}
	if s.SchemaIDs()[schemas.PatientFacts.ValueSubject()] == 0 {
		t.Fatal("contracts not registered with an external cluster")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(ext.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	topics, err := adm.ListTopics(ctx) // the cluster still serves after Close
	if err != nil {
		t.Fatal(err)
	}
	for name, parts := range map[string]int{"a": 2, "existing": 1} {
		if d, ok := topics[name]; !ok || len(d.Partitions) != parts {
			t.Errorf("topic %s: listed %v, want %d partitions", name, ok, parts)
		}
	}
}

func TestDataDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := local.Start(ctx, local.Options{DataDir: dir, RegisterContracts: true, Topics: []string{"t"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(s.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	kc.Close()
	ids := s.SchemaIDs()
	s.Close()

	s, err = local.Start(ctx, local.Options{DataDir: dir, RegisterContracts: true, Topics: []string{"t"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.SchemaIDs(); got[schemas.PatientFacts.ValueSubject()] != ids[schemas.PatientFacts.ValueSubject()] {
		t.Errorf("ids changed across restart: %v then %v", ids, got)
	}
	kc, err = kgo.NewClient(kgo.SeedBrokers(s.Bootstrap()...), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fs := kc.PollFetches(cctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "kept" {
		t.Fatalf("after restart read %d records (%v)", len(recs), fs.Err())
	}
}

func TestRunPrintsAddressesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	pr := &syncBuf{b: &out}
	go func() { done <- local.Run(ctx, pr, local.Options{RegisterContracts: true}) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(pr.String(), "running") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	text := pr.String()
	for _, want := range []string{"kafka bootstrap: 127.0.0.1:", "schema registry: http://127.0.0.1:", "registered patient_facts-value: id "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// A pipeline writes to topics the stack did not create (a dead-letter topic
// the user names, say): kafkaio.Write asks the broker to create them, as
// the package doc says. TopicPartitions creates topics with their own
// partition counts at start.
func TestWriteCreatesTopicOnFirstUse(t *testing.T) {
	ctx := context.Background()
	s, err := local.Start(ctx, local.Options{Topics: []string{"in"}, TopicPartitions: map[string]int32{"wide": 5}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	p, sc := beam.NewPipelineWithRoot()
	kafkaio.Write(sc, s.Bootstrap(), beam.Create(sc,
		kafkaio.Record{Partition: -1, Offset: -1, Key: []byte("a"), Value: []byte("1")},
		kafkaio.Record{Partition: -1, Offset: -1, Key: []byte("b"), Value: []byte("2")}),
		kafkaio.ToTopic("my_dead_letters"))
	ptest.RunAndValidate(t, p)

	adm, err := kadm.NewOptClient(kgo.SeedBrokers(s.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := adm.ListEndOffsets(ctx, "my_dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	if n != 2 {
		t.Fatalf("my_dead_letters holds %d records, want 2", n)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := topics["my_dead_letters"]; len(d.Partitions) != 3 {
		t.Errorf("my_dead_letters has %d partitions, want the default 3", len(d.Partitions))
	}
	if d := topics["wide"]; len(d.Partitions) != 5 {
		t.Errorf("wide has %d partitions, want 5", len(d.Partitions))
	}
}
