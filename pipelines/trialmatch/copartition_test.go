package trialmatch_test

import (
	"context"
	"fmt"
	"slices"
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
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
)

// KafkaPartition is the partition franz-go's default partitioner (the
// Java client's: murmur2) gives a keyed record.
func TestKafkaPartitionIsTheDefaultPartitioners(t *testing.T) {
	ctx := context.Background()
	const parts = 7
	stack, err := local.Start(ctx, local.Options{Partitions: parts, Topics: []string{"keys"}})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 500 {
		key := fmt.Sprintf("%x", i*7919)
		if i%50 == 0 {
			key = key[:i%3] // short keys take murmur2's tail paths
		}
		recs = append(recs, &kgo.Record{Topic: "keys", Key: []byte(key), Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if got := trialmatch.KafkaPartition(r.Key, parts); got != r.Partition {
			t.Fatalf("key %q: KafkaPartition says %d, the producer put it in %d", r.Key, got, r.Partition)
		}
	}
}

// Co-partitioned execution gives the records the shuffle execution gives,
// both on a topic produced with the default partitioner (it runs
// co-partitioned) and on one produced round robin (it falls back to the
// shuffle, and says so); every valid fact is folded either way.
func TestCoPartitionedEqualsShuffle(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 300, 8, 12*time.Hour
	d := synth.Generate(c)
	want := expectedActive(t, d, c.Start.Add(c.Span))
	type run struct {
		records  []string
		active   []string
		fallback int64
	}
	exec := func(t *testing.T, e trialmatch.Execution, partitioner kgo.Partitioner) run {
		ctx := context.Background()
		stack, err := local.Start(ctx, local.Options{RegisterContracts: true, Partitions: 4})
		if err != nil {
			t.Fatal(err)
		}
		defer stack.Close()
		ids := stack.SchemaIDs()
		opts := []kgo.Opt{kgo.SeedBrokers(stack.Bootstrap()...)}
		if partitioner != nil {
			opts = append(opts, kgo.RecordPartitioner(partitioner))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		n, err := synth.Produce(ctx, cl, d, synth.IDs{
			Facts:      uint32(ids[schemas.PatientFacts.ValueSubject()]),
			Trials:     uint32(ids[schemas.Trials.ValueSubject()]),
			Regulatory: uint32(ids[schemas.Regulatory.ValueSubject()]),
		}, 4, nil)
		cl.Close()
		if err != nil {
			t.Fatal(err)
		}
		p, s := beam.NewPipelineWithRoot()
		out := trialmatch.FromKafka(s, trialmatch.KafkaConfig{
			Brokers: stack.Bootstrap(), RegistryURL: stack.RegistryURL(),
			Pipeline: trialmatch.Config{Shards: 3, Tick: 10 * time.Minute, Execution: e},
		})
		passert.Equals(s, stats.Sum(s, out.Folded), int64(n.Facts))
		res := ptest.RunAndValidate(t, p)
		var r run
		for _, c := range metrics.Summarize(res).Other {
			if c.Name == "trialmatch/co_partitioned_fallback" {
				r.fallback += c.Value
			}
		}
		approved, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.ApprovedPatients.Topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range approved {
			r.records = append(r.records, fmt.Sprintf("%s %s %s %s %v", a.MatchID, a.Action, a.EventTime.Format(time.RFC3339Nano), deref(a.ArmCode), deref(a.RetractionReason)))
		}
		slices.Sort(r.records)
		r.active = activeOf(approved)
		return r
	}
	shuffle := exec(t, trialmatch.Batch, nil)
	if !slices.Equal(shuffle.active, want) {
		t.Fatalf("shuffle execution: %d active matches, want %d", len(shuffle.active), len(want))
	}
	for _, tc := range []struct {
		name        string
		partitioner kgo.Partitioner
		fallback    int64
	}{
		{"default partitioner", nil, 0},
		{"round robin", kgo.RoundRobinPartitioner(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			co := exec(t, trialmatch.CoPartitioned, tc.partitioner)
			if co.fallback != tc.fallback {
				t.Errorf("fell back to the shuffle execution %d times, want %d", co.fallback, tc.fallback)
			}
			if !slices.Equal(co.records, shuffle.records) {
				t.Errorf("co-partitioned execution published %d records, the shuffle execution %d; first difference: %s",
					len(co.records), len(shuffle.records), firstDiff(co.records, shuffle.records))
			}
			if !slices.Equal(co.active, want) {
				t.Errorf("%d active matches, want %d", len(co.active), len(want))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%q / %q", a[i], b[i])
		}
	}
	return "one is a prefix of the other"
}
