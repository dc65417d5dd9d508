//go:build flink

package flinktest_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/flink/flinktest"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// describeRecord renders a record read by kafkaio.Read with the event time
// the read gave it, so that the comparison covers every field.
func describeRecord(ts beam.EventTime, r kafkaio.Record) string {
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, h.Key+"="+string(h.Value))
	}
	return fmt.Sprintf("%s/%d/%d key=%s value=%s ts=%d event=%d headers=%s", r.Topic, r.Partition, r.Offset,
		r.Key, r.Value, r.Timestamp.UnixMilli(), int64(ts), strings.Join(hs, ","))
}

// clearTopic sends a record read from Kafka to Write's ToTopic topic.
func clearTopic(r kafkaio.Record) kafkaio.Record {
	r.Topic = ""
	return r
}

func init() {
	register.Function2x1(describeRecord)
	register.Function1x1(clearTopic)
}

// TestKafkaioOnFlink: kafkaio's bounded Read (a splittable DoFn) of a
// 3-partition topic gives the same records, with the same event times, on
// Flink as on Prism, and its Write, plain and Transactional, produces them
// all: each run writes to topics of its own, read back afterwards. The
// broker is kfake on loopback, which the LOOPBACK SDK worker (this test
// binary) reaches on either runner.
func TestKafkaioOnFlink(t *testing.T) {
	const n = 300
	topics := []string{"in"}
	for _, run := range []string{"prism", "flink"} {
		topics = append(topics, "out-"+run, "txn-"+run)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	want := produceRecords(t, brokers, "in", n)

	build := func(s beam.Scope, run string) beam.PCollection {
		recs := kafkaio.Read(s, brokers, []string{"in"})
		out := beam.ParDo(s, clearTopic, recs)
		kafkaio.Write(s, brokers, out, kafkaio.ToTopic("out-"+run))
		kafkaio.Write(s, brokers, out, kafkaio.ToTopic("txn-"+run), kafkaio.Transactional("flinktest-"+run))
		return beam.ParDo(s, describeRecord, recs)
	}
	// runners.Run would submit it to Flink: nothing in it needs what the
	// Flink runner lacks.
	p, s := beam.NewPipelineWithRoot()
	build(s, "check")
	if err := runners.Unsupported("flink", p); err != nil {
		t.Fatalf("kafkaio Read and Write refused on Flink: %v", err)
	}

	runs := []string{"prism", "flink"}
	i := 0
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		// Compare builds the Prism pipeline first, then Flink's.
		run := runs[i]
		i++
		return build(s, run)
	})
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for _, r := range got {
		if !strings.HasPrefix(r, "in/") {
			t.Fatalf("unexpected record %q", r)
		}
	}

	// What each run wrote: every record of "in", in the partition its key
	// hashes to (the writer's partitioner is Kafka's), with its key, value,
	// timestamp and headers.
	for _, run := range runs {
		for _, topic := range []string{"out-" + run, "txn-" + run} {
			written := readBack(t, brokers, topic, n)
			if !reflect.DeepEqual(written, want) {
				t.Errorf("%s holds %d records that differ from the %d of in; first of each: %q, %q",
					topic, len(written), len(want), first(written), first(want))
			}
		}
	}
}

// produceRecords writes n keyed records with headers and timestamps to topic
// (Kafka's default partitioner) and returns their payloads as readBack
// renders them.
func produceRecords(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%03d", i), Value: fmt.Appendf(nil, "v%03d", i),
			Timestamp: base.Add(time.Duration(i) * time.Second),
			Headers:   []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, payload(r))
	}
	sort.Strings(out)
	return out
}

// payload renders a record without its topic and offset.
func payload(r *kgo.Record) string {
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, h.Key+"="+string(h.Value))
	}
	return fmt.Sprintf("partition=%d key=%s value=%s ts=%d headers=%s", r.Partition, r.Key, r.Value,
		r.Timestamp.UnixMilli(), strings.Join(hs, ","))
}

// readBack reads topic up to its last stable offsets with read_committed
// (so an open or aborted transaction's records are not counted) and
// returns its records' payloads, sorted.
func readBack(t *testing.T, brokers []string, topic string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := map[int32]int64{} // offset after the last record seen, by partition
	done := func() bool {
		ok := true
		ends.Each(func(o kadm.ListedOffset) { ok = ok && next[o.Partition] >= o.Offset })
		return ok
	}
	var out []string
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d records (want %d) before the timeout; ends %v, reached %v", topic, len(out), want, ends.Offsets(), next)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, payload(r))
			}
		})
	}
	sort.Strings(out)
	return out
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}
