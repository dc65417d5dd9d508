package avroio_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

// TestDecodeEvolvingTopicPrism produces v1 records, evolves the subject to
// v2 mid-topic, produces v2 records and four kinds of bad record, then reads
// the topic on Prism: every good record decodes to v2, every bad one is a
// dead letter with its reason, and in = decoded + dead letters.
func TestDecodeEvolvingTopicPrism(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "visits", "dead_letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	url, srv, err := registry.StartServer("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	id1, err := reg.Register("visits-value", visitV1)
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for i := range 20 {
		msgs = append(msgs, frame(t, uint32(id1), visitV1, map[string]any{"id": "v1", "count": int32(i),
			"dropped": []any{}, "kind": "A", "score": nil}))
	}
	id2, err := reg.Register("visits-value", visitV2)
	if err != nil {
		t.Fatalf("register v2 (a BACKWARD-compatible evolution): %v", err)
	}
	for i := range 20 {
		msgs = append(msgs, frame(t, uint32(id2), visitV2, map[string]any{"score": goavro.Union("double", 0.5),
			"kind": "C", "id": "v2", "site": "s", "count": int64(i), "tags": map[string]any{}, "loc": map[string]any{"lat": 1.0}}))
	}
	idBad, err := reg.Register("elsewhere-value", visitBad)
	if err != nil {
		t.Fatal(err)
	}
	good := len(msgs)
	msgs = append(msgs,
		[]byte(`{"id":"json"}`),                                           // wrong magic byte
		wire.Append(nil, 4242, msgs[0][wire.HeaderSize:]),                 // unknown schema id
		msgs[0][:len(msgs[0])-3],                                          // truncated payload
		frame(t, uint32(idBad), visitBad, map[string]any{"id": int32(1)}), // incompatible
	)
	produceValues(t, brokers, "visits", msgs)

	p, s := beam.NewPipelineWithRoot()
	in := kafkaio.Read(s, brokers, []string{"visits"})
	decoded, dead := avroio.Decode(s, avroio.DecodeConfig{RegistryURL: url, ReaderSchema: visitV2}, in)
	passert.Count(s, in, "in", len(msgs))
	passert.Count(s, decoded, "decoded", good)
	// v1 records read as v2 with the default site; v2 records keep theirs.
	var wantSites []any
	for range 20 {
		wantSites = append(wantSites, "v1@unknown", "v2@s")
	}
	passert.Equals(s, beam.ParDo(s, siteOf, decoded), wantSites...)

	passert.Count(s, dead, "dead letters", len(msgs)-good)
	deadletter.Write(s, deadletter.Sink{Brokers: brokers, RegistryURL: url, AutoRegister: true}, dead)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == deadletter.MetricsNamespace {
			got[c.Key.Name] += max(c.Committed, c.Attempted)
		}
	}
	for _, code := range []deadletter.Code{deadletter.WrongMagicByte, deadletter.UnknownSchemaID,
		deadletter.TruncatedPayload, deadletter.IncompatibleSchema} {
		if got[string(code)] != 1 {
			t.Errorf("dead letters %s = %d, want 1 (all %v)", code, got[string(code)], got)
		}
	}

	// The dead letters reached the dead_letter topic, each with its source.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("dead_letter"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n := 0
	for n < len(msgs)-good && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			_, body, err := wire.Parse(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			d, err := deadletter.FromAvro(body)
			if err != nil {
				t.Fatal(err)
			}
			if d.SourceTopic == nil || *d.SourceTopic != "visits" || d.PayloadRef == nil || d.Payload != nil {
				t.Errorf("dead letter without source or reference, or with an inline payload: %+v", d)
			}
			n++
		})
	}
	if n != len(msgs)-good {
		t.Fatalf("dead_letter topic holds %d records, want %d", n, len(msgs)-good)
	}
}

func TestEncodePrism(t *testing.T) {
	enc, err := avroio.NewEncoder(1, visitV1)
	if err != nil {
		t.Fatal(err)
	}
	framed, err := enc.AppendNative(nil, map[string]any{"id": "a", "count": int32(2), "dropped": []any{}, "kind": "A", "score": nil})
	if err != nil {
		t.Fatal(err)
	}
	body := framed[wire.HeaderSize:]
	p, s := beam.NewPipelineWithRoot()
	recs := beam.CreateList(s, []kafkaio.Record{{Key: []byte("k"), Value: body}, {Key: []byte("bad"), Value: body[:2]}})
	out, dead := avroio.Encode(s, avroio.EncodeConfig{Topic: "visits", Schema: visitV1, SchemaID: 9}, recs)
	passert.Count(s, out, "framed", 1)
	passert.Count(s, dead, "dead", 1)
	ptest.RunAndValidate(t, p)
}

func init() {
	register.Function1x2(siteOf)
}

var visitV2Codec = func() *goavro.Codec {
	c, err := goavro.NewCodec(visitV2)
	if err != nil {
		panic(err)
	}
	return c
}()

// siteOf decodes a Decoded value with the v2 codec and renders id@site.
func siteOf(d avroio.Decoded) (string, error) {
	v, _, err := visitV2Codec.NativeFromBinary(d.Value)
	if err != nil {
		return "", err
	}
	m := v.(map[string]any)
	return m["id"].(string) + "@" + m["site"].(string), nil
}

func produceValues(t *testing.T, brokers []string, topic string, values [][]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
