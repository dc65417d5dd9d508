package kafkaio_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.Function1x2(keyOne)
	register.Function2x1(countRecord)
}

func keyOne(r kafkaio.Record) (string, int) { return "all", 1 }

func countRecord(_ string, n int) kafkaio.Record {
	return kafkaio.Record{Partition: -1, Value: []byte(strconv.Itoa(n))}
}

// TestIdlePartitionDoesNotHoldWatermarkPrism reads two partitions, one of
// which never receives a record, into one-minute event-time windows. The
// windows can only fire if the quiet partition's watermark advances after
// the idle timeout.
func TestIdlePartitionDoesNotHoldWatermarkPrism(t *testing.T) {
	brokers := newCluster(t, 2, "in", "out")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	var recs []*kgo.Record
	for i := range 60 {
		recs = append(recs, &kgo.Record{Topic: "in", Partition: 0, Value: fmt.Appendf(nil, "%d", i),
			Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	p, s := beam.NewPipelineWithRoot()
	in := kafkaio.Read(s, brokers, []string{"in"}, append(fastUnbounded, kafkaio.IdleTimeout(500*time.Millisecond))...)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), beam.ParDo(s, keyOne, in))
	counts := beam.ParDo(s, countRecord, stats.SumPerKey(s, windowed))
	kafkaio.Write(s, brokers, counts, kafkaio.ToTopic("out"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := beam.Run(ctx, "prism", p); done <- err }()
	defer func() {
		cancel()
		<-done
	}()

	out, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// Generous for a loaded machine; a passing run takes a few seconds.
	wctx, wcancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer wcancel()
	total := 0
	for total < 60 && wctx.Err() == nil {
		out.PollFetches(wctx).EachRecord(func(r *kgo.Record) {
			n, _ := strconv.Atoi(string(r.Value))
			total += n
		})
	}
	if total != 60 {
		t.Fatalf("windows fired with %d of 60 records: the idle partition held the watermark", total)
	}
}
