package kafkaio_test

import (
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Read a topic up to its end offsets, copy it to another topic.
func ExampleRead() {
	p, s := beam.NewPipelineWithRoot()
	brokers := []string{"127.0.0.1:9092"}
	recs := kafkaio.Read(s, brokers, []string{"patient_facts"})
	kafkaio.Write(s, brokers, recs, kafkaio.ToTopic("patient_facts_copy"))
	_ = p // run with runners.Run or beamx.Run
}

// Read forever, resuming from the consumer group's committed offsets; the
// offsets each bundle read are committed once the runner has persisted it.
func ExampleUnbounded() {
	p, s := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(s, []string{"127.0.0.1:9092"}, []string{"patient_facts", "trials"},
		kafkaio.Unbounded(), kafkaio.Group("trialmatch"), kafkaio.StartCommitted(),
		kafkaio.IdleTimeout(30*time.Second))
	_, _ = p, recs
}
