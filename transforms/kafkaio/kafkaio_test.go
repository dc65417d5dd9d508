package kafkaio_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	code := ptest.MainRetWithDefault(m, "prism")
	stopApacheKafka()
	os.Exit(code)
}

func init() {
	register.Function1x1(describe)
}

// describe renders a record so tests can compare whole collections.
func describe(r kafkaio.Record) string {
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, h.Key+"="+string(h.Value))
	}
	return fmt.Sprintf("%s/%d/%d key=%s value=%s ts=%d headers=%s", r.Topic, r.Partition, r.Offset,
		r.Key, r.Value, r.Timestamp.UnixMilli(), strings.Join(hs, ","))
}

func newCluster(t testing.TB, partitions int32, topics ...string) []string {
	t.Helper()
	if apacheEnabled() {
		addr := apacheBroker(t)
		resetTopics(t, addr, partitions, topics...)
		return []string{addr}
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// produce writes n records to topic spread over its partitions by key and
// returns their descriptions as Read should see them.
func produce(t *testing.T, brokers []string, topic string, from, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{
			Topic:     topic,
			Key:       fmt.Appendf(nil, "k%03d", i),
			Value:     fmt.Appendf(nil, "v%03d", i),
			Timestamp: base.Add(time.Duration(i) * time.Second),
			Headers:   []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res {
		out = append(out, describe(kafkaio.FromKgo(r.Record)))
	}
	return out
}

// consume reads every record of topic up to its end offsets now.
func consume(t *testing.T, brokers []string, topic string, want int) []kafkaio.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []kafkaio.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s before timeout", len(out), want, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, kafkaio.FromKgo(r)) })
	}
	return out
}

func TestReadBoundedPrism(t *testing.T) {
	brokers := newCluster(t, 3, "in")
	want := produce(t, brokers, "in", 0, 300)

	p, s := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(s, brokers, []string{"in"})
	passert.Equals(s, beam.ParDo(s, describe, recs), stringsAny(want)...)
	ptest.RunAndValidate(t, p)
}

func TestReadStartLatestAndAtTime(t *testing.T) {
	brokers := newCluster(t, 2, "in")
	all := produce(t, brokers, "in", 0, 20)

	p, s := beam.NewPipelineWithRoot()
	passert.Empty(s, kafkaio.Read(s, brokers, []string{"in"}, kafkaio.StartLatest()))
	// Records 10..19 have timestamps at or after base+10s.
	at := time.UnixMilli(1_700_000_000_000).Add(10 * time.Second)
	got := beam.ParDo(s, describe, kafkaio.Read(s, brokers, []string{"in"}, kafkaio.StartAt(at)))
	var later []string
	for _, d := range all {
		var i int
		fmt.Sscanf(d[strings.Index(d, "key=k")+5:], "%d", &i)
		if i >= 10 {
			later = append(later, d)
		}
	}
	passert.Equals(s, got, stringsAny(later)...)
	ptest.RunAndValidate(t, p)
}

func TestWriteRoundTripPrism(t *testing.T) {
	brokers := newCluster(t, 3, "in", "out")
	want := produce(t, brokers, "in", 0, 120)

	p, s := beam.NewPipelineWithRoot()
	kafkaio.Write(s, brokers, beam.ParDo(s, retopic, kafkaio.Read(s, brokers, []string{"in"})),
		kafkaio.ToTopic("out"), kafkaio.KeepPartition())
	ptest.RunAndValidate(t, p)

	got := consume(t, brokers, "out", len(want))
	var gotD []string
	for _, r := range got {
		r.Topic = "in" // compare with the input's description
		gotD = append(gotD, describe(r))
	}
	sort.Strings(gotD)
	sort.Strings(want)
	if strings.Join(gotD, "\n") != strings.Join(want, "\n") {
		t.Fatalf("out differs from in:\n got %v\nwant %v", gotD[:3], want[:3])
	}
}

func TestWriteTransactionalPrism(t *testing.T) {
	brokers := newCluster(t, 1, "in", "out")
	want := produce(t, brokers, "in", 0, 50)

	p, s := beam.NewPipelineWithRoot()
	kafkaio.Write(s, brokers, beam.ParDo(s, retopic, kafkaio.Read(s, brokers, []string{"in"})),
		kafkaio.ToTopic("out"), kafkaio.Transactional("trialflow-test"))
	ptest.RunAndValidate(t, p)

	// A committed transaction's markers reach its partitions after
	// EndTxn returns (Apache Kafka writes them asynchronously; kfake at
	// once), and until then the last stable offset stays before the
	// transaction. The contract is that they arrive, not when.
	waitStable(t, brokers, "out", 30*time.Second)
	// Read back with read_committed through Read itself.
	p, s = beam.NewPipelineWithRoot()
	passert.Count(s, kafkaio.Read(s, brokers, []string{"out"}, kafkaio.ReadCommittedOnly()), "out", len(want))
	ptest.RunAndValidate(t, p)
}

// waitStable waits until every partition of topic has no open transaction:
// its last stable offset (read_committed end) is its high watermark.
func waitStable(t *testing.T, brokers []string, topic string, timeout time.Duration) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		lso, err1 := adm.ListCommittedOffsets(ctx, topic)
		hwm, err2 := adm.ListEndOffsets(ctx, topic)
		stable := err1 == nil && err2 == nil && len(hwm.Offsets()) > 0
		hwm.Each(func(e kadm.ListedOffset) {
			l, ok := lso.Lookup(e.Topic, e.Partition)
			stable = stable && e.Err == nil && ok && l.Err == nil && l.Offset == e.Offset
		})
		if stable {
			t.Logf("%s stable: end offsets %v", topic, hwm.Offsets())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last stable offsets %v did not reach the high watermarks %v within %v (errors %v, %v)",
				topic, lso.Offsets(), hwm.Offsets(), timeout, err1, err2)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestWriteFailsBundleOnProduceError(t *testing.T) {
	brokers := newCluster(t, 1, "in")
	produce(t, brokers, "in", 0, 5)

	p, s := beam.NewPipelineWithRoot()
	// A record larger than the broker's max message size is rejected.
	big := beam.ParDo(s, enlarge, kafkaio.Read(s, brokers, []string{"in"}))
	kafkaio.Write(s, brokers, big, kafkaio.ToTopic("in"))
	if err := ptest.Run(p); err == nil {
		t.Fatal("pipeline succeeded although every produce failed")
	}
}

func init() {
	register.Function1x1(retopic)
	register.Function1x1(enlarge)
}

func retopic(r kafkaio.Record) kafkaio.Record {
	r.Topic = ""
	return r
}

func enlarge(r kafkaio.Record) kafkaio.Record {
	r.Topic = ""
	r.Value = make([]byte, 8<<20)
	return r
}

func stringsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
