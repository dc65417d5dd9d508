package kafkaio_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// fastUnbounded keeps the unbounded tests quick: short polls, frequent
// checkpoints (and so commits) and partition discovery.
var fastUnbounded = []kafkaio.ReadOption{
	kafkaio.Unbounded(), kafkaio.PollWait(100 * time.Millisecond),
	kafkaio.CheckpointEvery(300 * time.Millisecond), kafkaio.DiscoverEvery(300 * time.Millisecond),
}

// runCopy runs Read(in, opts) -> Write(out) on Prism until the returned
// stop is called.
func runCopy(t *testing.T, brokers []string, opts ...kafkaio.ReadOption) (stop func()) {
	t.Helper()
	return runCopyTo(t, brokers, "out", "", opts...)
}

// runCopyTo is runCopy to topic to, committing the offsets read to group
// (when not empty) with kafkaio.Commit.
func runCopyTo(t *testing.T, brokers []string, to, group string, opts ...kafkaio.ReadOption) (stop func()) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(s, brokers, []string{"in"}, opts...)
	written := kafkaio.Write(s, brokers, beam.ParDo(s, retopic, recs), kafkaio.ToTopic(to))
	if group != "" {
		kafkaio.Commit(s, kafkaio.Conn{Brokers: brokers}, group, recs, []beam.PCollection{written}, 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := beam.Run(ctx, "prism", p)
		done <- err
	}()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				t.Errorf("pipeline: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop within 30s of cancellation")
		}
	}
}

// outValues consumes "out" from the start until it holds want records (or
// the timeout) and returns the values seen with their counts.
func outValues(t *testing.T, brokers []string, want int, timeout time.Duration) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	seen := map[string]int{}
	n := 0
	for n < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			n++
		})
	}
	return seen
}

func produceTo(t *testing.T, brokers []string, partition int32, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: "in", Partition: partition, Value: fmt.Appendf(nil, "v%04d", i)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func missing(seen map[string]int, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		if v := fmt.Sprintf("v%04d", i); seen[v] == 0 {
			out = append(out, v)
		}
	}
	return out
}

func TestReadUnboundedPicksUpNewPartitionPrism(t *testing.T) {
	brokers := newCluster(t, 1, "in", "out")
	produceTo(t, brokers, 0, 0, 30)
	stop := runCopy(t, brokers, fastUnbounded...)
	defer stop()

	if m := missing(outValues(t, brokers, 30, 60*time.Second), 0, 30); len(m) > 0 {
		t.Fatalf("unbounded read missed %d records: %v", len(m), m)
	}
	// Records that arrive while the pipeline runs are read too.
	produceTo(t, brokers, 0, 30, 10)
	// A partition added while the pipeline runs is picked up.
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.CreatePartitions(context.Background(), 1, "in"); err != nil {
		t.Fatal(err)
	}
	// Apache Kafka lists the new partition in its metadata shortly after
	// CreatePartitions returns (kfake at once); a producer that does not
	// see it yet refuses partition 1 ("invalid record partitioning choice
	// of 1 from 1 available").
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		td, err := adm.ListTopics(context.Background(), "in")
		if err == nil && len(td["in"].Partitions) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition 1 of in not listed within 30 s (%v)", err)
		}
	}
	produceTo(t, brokers, 1, 40, 10)
	if m := missing(outValues(t, brokers, 50, 60*time.Second), 0, 50); len(m) > 0 {
		t.Fatalf("after adding partition 1, missing %v", m)
	}
}

func TestReadRestartFromCommittedOffsetsPrism(t *testing.T) {
	brokers := newCluster(t, 2, "in", "out")
	produceTo(t, brokers, 0, 0, 20)
	produceTo(t, brokers, 1, 20, 20)
	opts := append([]kafkaio.ReadOption{kafkaio.Group("copier"), kafkaio.StartCommitted()}, fastUnbounded...)

	stop := runCopyTo(t, brokers, "out", "copier", opts...)
	waitCommitted(t, brokers, "copier", map[int32]int64{0: 20, 1: 20})
	// Committed only once written: every record is already in "out".
	if m := missing(outValues(t, brokers, 40, 5*time.Second), 0, 40); len(m) > 0 {
		stop()
		t.Fatalf("offsets committed before records %v were written", m)
	}
	stop()

	produceTo(t, brokers, 0, 40, 10)
	produceTo(t, brokers, 1, 50, 10)
	stop = runCopyTo(t, brokers, "out", "copier", opts...)
	defer stop()
	seen := outValues(t, brokers, 60, 60*time.Second)
	if m := missing(seen, 0, 60); len(m) > 0 {
		t.Fatalf("restart lost records: %v", m)
	}
	waitCommitted(t, brokers, "copier", map[int32]int64{0: 30, 1: 30})
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if dups > 0 {
		// At-least-once allows it, but with every offset committed
		// before the restart there should be none.
		t.Errorf("%d records read twice across the restart", dups)
	}
}

// A sink that cannot write holds the commit back: nothing is both
// committed and dropped.
func TestCommitWaitsForTheSinkPrism(t *testing.T) {
	brokers := newCluster(t, 1, "in", "out")
	produceTo(t, brokers, 0, 0, 20)
	// No broker can create a topic of this name ('/' is not allowed in
	// one), though Write asks for missing topics to be created: the
	// producer cannot deliver, and its bundle cannot finish.
	stop := runCopyTo(t, brokers, "missing/not-a-topic-name", "stuck", append([]kafkaio.ReadOption{kafkaio.Group("stuck")}, fastUnbounded...)...)
	time.Sleep(8 * time.Second)
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	got, err := adm.FetchOffsets(context.Background(), "stuck")
	if err == nil {
		if o, ok := got.Lookup("in", 0); ok && o.At >= 0 {
			t.Errorf("group committed offset %d of \"in\" although nothing was written", o.At)
		}
	}
	stop()
}

// waitCommitted waits until the group has committed want for topic "in".
func waitCommitted(t *testing.T, brokers []string, group string, want map[int32]int64) {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	// Generous: a commit waits for the watermark, which on an idle
	// partition moves only after the idle timeout (10 s by default), and a
	// loaded machine with a JVM broker is slow to get there.
	deadline := time.Now().Add(90 * time.Second)
	var last kadm.OffsetResponses
	for time.Now().Before(deadline) {
		last, err = adm.FetchOffsets(context.Background(), group)
		ok := err == nil
		for p, at := range want {
			o, found := last.Lookup("in", p)
			ok = ok && found && o.At == at
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %q committed %v, want %v (err %v)", group, last.Offsets(), want, err)
}
