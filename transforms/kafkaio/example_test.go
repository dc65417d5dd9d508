package kafkaio_test

import (
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Read a topic up to its end offsets, copy it to another topic. Records read
// from Kafka keep their Topic, and ToTopic applies only to records without
// one, so the copy clears it first (retopic: r.Topic = ""); without that the
// records would go back into their source topic.
func ExampleRead() {
	p, s := beam.NewPipelineWithRoot()
	brokers := []string{"127.0.0.1:9092"}
	recs := kafkaio.Read(s, brokers, []string{"patient_facts"})
	kafkaio.Write(s, brokers, beam.ParDo(s, retopic, recs), kafkaio.ToTopic("patient_facts_copy"))
	_ = p // run with runners.Run
}

// Read forever, resuming from the consumer group's committed offsets. Read
// never commits by itself: Commit commits an offset once the watermark of
// every sink given to it has passed the records before it, so a restart
// from the committed offsets loses nothing that was not yet written.
func ExampleCommit() {
	p, s := beam.NewPipelineWithRoot()
	brokers := []string{"127.0.0.1:9092"}
	recs := kafkaio.Read(s, brokers, []string{"patient_facts"},
		kafkaio.Unbounded(), kafkaio.Group("copier"), kafkaio.StartCommitted(),
		kafkaio.IdleTimeout(30*time.Second))
	written := kafkaio.Write(s, brokers, beam.ParDo(s, retopic, recs), kafkaio.ToTopic("patient_facts_copy"))
	kafkaio.Commit(s, kafkaio.Conn{Brokers: brokers}, "copier", recs, []beam.PCollection{written}, 0)
	_ = p // run with runners.Run
}
