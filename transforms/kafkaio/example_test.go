package kafkaio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Read a topic up to its end offsets and copy it to another topic. ToTopic
// sends every record to "events_copy", although each record read carries
// its source topic "events". Run pipelines with runners.Run (ptest.Run here,
// as in a test).
func ExampleRead() {
	cluster, _ := kfake.NewCluster(kfake.SeedTopics(1, "events"), kfake.AllowAutoTopicCreation())
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	produceExample(brokers, "events", 3)

	p, s := beam.NewPipelineWithRoot()
	recs := kafkaio.Read(s, brokers, []string{"events"})
	kafkaio.Write(s, brokers, recs, kafkaio.ToTopic("events_copy"))
	if err := ptest.Run(p); err != nil {
		panic(err)
	}
	fmt.Println("events:", endOffset(brokers, "events"))
	fmt.Println("events_copy:", endOffset(brokers, "events_copy"))
	// Output:
	// events: 3
	// events_copy: 3
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
	written := kafkaio.Write(s, brokers, recs, kafkaio.ToTopic("patient_facts_copy"))
	kafkaio.Commit(s, kafkaio.Conn{Brokers: brokers}, "copier", recs, []beam.PCollection{written}, 0)
	_ = p // run with runners.Run
}

func produceExample(brokers []string, topic string, n int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			panic(err)
		}
	}
}

// endOffset sums the end offsets of topic's partitions (0 when the topic
// does not exist).
func endOffset(brokers []string, topic string) int64 {
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer adm.Close()
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		panic(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}
