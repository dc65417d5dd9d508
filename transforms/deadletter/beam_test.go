package deadletter_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

func sample() []deadletter.Record {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	src := deadletter.Source{Topic: "patient_facts", Partition: 1, Offset: 7}
	return []deadletter.Record{
		deadletter.New("avroio.Decode", deadletter.Errorf(deadletter.WrongMagicByte, "wrong magic byte 0x7b"),
			deadletter.From(src), deadletter.WithPayload([]byte("{}")), deadletter.At(at)),
		deadletter.New("avroio.Decode", deadletter.Errorf(deadletter.UnknownSchemaID, "schema id 99 unknown"),
			deadletter.WithSchemaID(99), deadletter.At(at)),
		deadletter.New("ingest", deadletter.Errorf(deadletter.ChecksumMismatch, "sha256 mismatch"),
			deadletter.WithPayloadRef("mem://b/1", []byte("x")), deadletter.At(at)),
	}
}

// TestWriteToTopic writes dead letters through the Beam coder and kafkaio to
// the dead_letter topic, registering the schema in the embedded registry,
// and reads them back framed with that schema id.
func TestWriteToTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "dead_letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	url, srv, err := registry.StartServer("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	in := sample()
	p, s := beam.NewPipelineWithRoot()
	dead := beam.CreateList(s, in)
	passert.Count(s, dead, "dead", len(in))
	deadletter.Write(s, deadletter.Sink{Brokers: c.ListenAddrs(), RegistryURL: url, AutoRegister: true}, dead)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}

	cl, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := cl.Latest("dead_letter-value")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("dead_letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[string]deadletter.Record{}
	for len(got) < len(in) && ctx.Err() == nil {
		kc.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			sid, body, err := wire.Parse(r.Value)
			if err != nil || int(sid) != id {
				t.Fatalf("frame: id %d (want %d), %v", sid, id, err)
			}
			d, err := deadletter.FromAvro(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Key) != string(d.Key()) {
				t.Errorf("key %q, want %q", r.Key, d.Key())
			}
			got[d.ReasonCode] = d
		})
	}
	for _, w := range in {
		if g, ok := got[w.ReasonCode]; !ok || g.Reason != w.Reason || g.Stage != w.Stage {
			t.Errorf("missing or changed dead letter %+v: got %+v", w, g)
		}
	}
	counts := counters(res.Metrics(), deadletter.MetricsNamespace+".written")
	for _, code := range []deadletter.Code{deadletter.WrongMagicByte, deadletter.UnknownSchemaID, deadletter.ChecksumMismatch} {
		if counts[string(code)] != 1 {
			t.Errorf("counter %s = %d, want 1 (all: %v)", code, counts[string(code)], counts)
		}
	}
}

func TestEncodeNeedsSchema(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Encode without SchemaID or RegistryURL did not panic")
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	deadletter.Encode(s, deadletter.Sink{}, beam.CreateList(s, sample()))
}

// counters sums the counters of namespace by name.
func counters(r metrics.Results, namespace string) map[string]int64 {
	out := map[string]int64{}
	for _, c := range r.AllMetrics().Counters() {
		if c.Key.Namespace == namespace {
			v := c.Committed
			if v == 0 {
				v = c.Attempted
			}
			out[c.Key.Name] += v
		}
	}
	return out
}
