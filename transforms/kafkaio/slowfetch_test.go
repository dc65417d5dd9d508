package kafkaio_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestReadBoundedWaitsForSlowBroker: a broker that answers fetches late
// (a loaded machine; seen with Apache Kafka at load 40) does not end a
// bounded read early. The read used to take more than 10 s without a
// record on a range the log reached as the rest compacted away, and so
// returned nothing; only a compacted topic can have such holes.
func TestReadBoundedWaitsForSlowBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	want := produce(t, brokers, "in", 0, 5)

	slowUntil := time.Now().Add(13 * time.Second)
	var slowed atomic.Int32
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if d := time.Until(slowUntil); d > 0 {
			slowed.Add(1)
			c.SleepControl(func() { time.Sleep(d) })
		}
		return nil, nil, false
	})

	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, beam.ParDo(s, describe, kafkaio.Read(s, brokers, []string{"in"})), stringsAny(want)...)
	start := time.Now()
	ptest.RunAndValidate(t, p)
	if slowed.Load() == 0 || time.Since(start) < 10*time.Second {
		t.Fatalf("the broker was not slow enough to test anything (%d fetches slowed, run took %v)", slowed.Load(), time.Since(start))
	}
}
