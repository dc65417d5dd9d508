package kafkaio_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

var benchReadBytes atomic.Int64

// countValueBytes runs in this process (Prism's workers are in process).
func countValueBytes(r kafkaio.Record) { benchReadBytes.Add(int64(len(r.Value))) }

func init() { register.Function1x0(countValueBytes) }

// BenchmarkReadBoundedPrism measures MB/s (record values) of a bounded
// kafkaio.Read on Prism over 32 MB in 4 partitions of 1 KiB records, on
// kfake or, with TRIALFLOW_KAFKA=apache, on Apache Kafka. Each iteration
// is a whole pipeline run, start-up included.
func BenchmarkReadBoundedPrism(b *testing.B) {
	const partitions, size, total = 4, 1 << 10, 32 << 20
	brokers := newCluster(b, partitions, "in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, size)
	var recs []*kgo.Record
	for i := 0; i < total/size; i++ {
		recs = append(recs, &kgo.Record{Topic: "in", Key: []byte{byte(i), byte(i >> 8)}, Value: value})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	b.SetBytes(total)
	b.ResetTimer()
	for b.Loop() {
		benchReadBytes.Store(0)
		p, s := beam.NewPipelineWithRoot()
		beam.ParDo0(s, countValueBytes, kafkaio.Read(s, brokers, []string{"in"}))
		if err := ptest.Run(p); err != nil {
			b.Fatal(err)
		}
		if n := benchReadBytes.Load(); n != total {
			b.Fatalf("read %d bytes, want %d", n, total)
		}
	}
}
