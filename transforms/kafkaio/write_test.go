package kafkaio_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// The topic rule: ToTopic sends every record to its topic, records read
// from Kafka included; without ToTopic each record goes to its own Topic,
// and one without a Topic fails the write.
func TestWriteTopicRule(t *testing.T) {
	brokers := newCluster(t, 3, "in", "out", "a", "b")
	want := produce(t, brokers, "in", 0, 20)

	// ToTopic wins over the Topic a record was read from.
	p, s := beam.NewPipelineWithRoot()
	kafkaio.Write(s, brokers, kafkaio.Read(s, brokers, []string{"in"}), kafkaio.ToTopic("out"))
	ptest.RunAndValidate(t, p)
	if got := len(consume(t, brokers, "out", len(want))); got != len(want) {
		t.Fatalf("out holds %d records, want %d", got, len(want))
	}
	if n := endOffset(brokers, "in"); n != int64(len(want)) {
		t.Fatalf("in holds %d records after the copy, want %d (nothing written back)", n, len(want))
	}

	// Without ToTopic each record goes to its own Topic.
	p, s = beam.NewPipelineWithRoot()
	kafkaio.Write(s, brokers, beam.Create(s,
		kafkaio.Record{Topic: "a", Partition: -1, Offset: -1, Key: []byte("1"), Value: []byte("x")},
		kafkaio.Record{Topic: "b", Partition: -1, Offset: -1, Key: []byte("2"), Value: []byte("y")},
		kafkaio.Record{Topic: "b", Partition: -1, Offset: -1, Key: []byte("3"), Value: []byte("z")}))
	ptest.RunAndValidate(t, p)
	if a, b := endOffset(brokers, "a"), endOffset(brokers, "b"); a != 1 || b != 2 {
		t.Fatalf("a holds %d and b %d records, want 1 and 2", a, b)
	}

	// A record without a Topic and no ToTopic fails the write.
	p, s = beam.NewPipelineWithRoot()
	kafkaio.Write(s, brokers, beam.Create(s, kafkaio.Record{Partition: -1, Offset: -1, Value: []byte("x")}))
	if err := ptest.Run(p); err == nil {
		t.Fatal("a record without a topic and no ToTopic was written")
	}
}

// The partition rule: by key unless KeepPartition, which keeps a Partition
// of 0 or more and partitions a negative one by key.
func TestWritePartitionRule(t *testing.T) {
	brokers := newCluster(t, 4, "bykey", "keep", "ref")
	var recs, ref []any
	for i := range 12 {
		k := fmt.Appendf(nil, "key-%02d", i)
		part := int32(-1)
		if i%2 == 0 {
			part = 3 // kept with KeepPartition, ignored without
		}
		recs = append(recs, kafkaio.Record{Partition: part, Offset: -1, Key: k, Value: k})
		ref = append(ref, &kgo.Record{Topic: "ref", Key: k, Value: k})
	}
	// Where Kafka's default partitioner puts each key.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]int32{}
	for _, r := range ref {
		r := r.(*kgo.Record)
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		byKey[string(r.Key)] = r.Partition
	}
	cl.Close()

	p, s := beam.NewPipelineWithRoot()
	col := beam.Create(s, recs...)
	kafkaio.Write(s.Scope("ByKey"), brokers, col, kafkaio.ToTopic("bykey"))
	kafkaio.Write(s.Scope("Keep"), brokers, col, kafkaio.ToTopic("keep"), kafkaio.KeepPartition())
	ptest.RunAndValidate(t, p)

	for _, r := range consume(t, brokers, "bykey", len(recs)) {
		if want := byKey[string(r.Key)]; r.Partition != want {
			t.Errorf("bykey: %s in partition %d, want %d (by key)", r.Key, r.Partition, want)
		}
	}
	for _, r := range consume(t, brokers, "keep", len(recs)) {
		var i int
		fmt.Sscanf(string(r.Key), "key-%d", &i)
		want := byKey[string(r.Key)]
		if i%2 == 0 {
			want = 3
		}
		if r.Partition != want {
			t.Errorf("keep: %s in partition %d, want %d", r.Key, r.Partition, want)
		}
	}
}
