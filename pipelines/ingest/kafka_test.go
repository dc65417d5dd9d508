package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// TestPipelineKafka runs the whole Kafka-to-Kafka ingest on an in-process
// Kafka (kfake) and the embedded registry: claim checks on emr_bundles
// (the reference bundles, one bad input of each kind and one record that
// is not a claim check) come out as Confluent-framed facts on patient_facts
// and dead letters on dead_letter; every record is accounted for and no
// record on either topic holds a source identifier.
func TestPipelineKafka(t *testing.T) {
	cs := buildClaims(t)
	ids := ingesttest.Identifiers(t, ingesttest.Bundles(t))
	c, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(2, bundle.Topic, schemas.PatientFacts.Topic, schemas.DeadLetters.Topic))
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

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, cc := range cs.claims {
		v, err := cc.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: bundle.Topic, Key: []byte(cc.Tenant), Value: v})
	}
	recs = append(recs, &kgo.Record{Topic: bundle.Topic, Key: []byte("?"), Value: []byte(`{"uri":`)})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p, s := beam.NewPipelineWithRoot()
	receipts := ingest.Pipeline(s, ingest.PipelineConfig{
		Ingest:      cs.cfg,
		Conn:        kafkaio.Conn{Brokers: brokers},
		FactSink:    ingest.FactSink{RegistryURL: url, AutoRegister: true},
		DeadLetters: deadletter.Sink{RegistryURL: url, AutoRegister: true},
	})
	passert.Count(s, receipts, "receipts", len(cs.claims))
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}

	rc, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	factsID, _, err := rc.Latest(schemas.PatientFacts.ValueSubject())
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := schemas.PatientFacts.Codec()
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(schemas.PatientFacts.Topic, schemas.DeadLetters.Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	facts, codes := 0, map[string]int{}
	wantDead := len(cs.dead) + 1
	for (facts < cs.facts || len(codes) < wantDead) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			ingesttest.ScanPHI(t, r.Topic+" key", r.Key, ids)
			ingesttest.ScanPHI(t, r.Topic+" value", r.Value, ids)
			for _, h := range r.Headers {
				ingesttest.ScanPHI(t, r.Topic+" header", h.Value, ids)
			}
			sid, body, err := wire.Parse(r.Value)
			if err != nil {
				t.Fatalf("%s: %v", r.Topic, err)
			}
			switch r.Topic {
			case schemas.PatientFacts.Topic:
				if int(sid) != factsID {
					t.Fatalf("fact framed with schema id %d, registry says %d", sid, factsID)
				}
				v, _, err := codec.NativeFromBinary(body)
				if err != nil {
					t.Fatal(err)
				}
				f, err := schemas.PatientFactFromNative(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(r.Key) != f.PatientID || f.Tenant != ingesttest.Tenant {
					t.Errorf("fact key %q tenant %q", r.Key, f.Tenant)
				}
				facts++
			case schemas.DeadLetters.Topic:
				d, err := deadletter.FromAvro(body)
				if err != nil {
					t.Fatal(err)
				}
				codes[d.ReasonCode]++
			}
		})
	}
	if facts != cs.facts {
		t.Errorf("%d facts on %s, want %d", facts, schemas.PatientFacts.Topic, cs.facts)
	}
	want := map[string]int{string(ingest.InvalidClaimCheck): 1}
	for _, d := range cs.dead {
		code, _, _ := cutColon(d.(string))
		want[code]++
	}
	if len(codes) != len(want) {
		t.Errorf("dead letters by code %v, want %v", codes, want)
	}
	for k, n := range want {
		if codes[k] != n {
			t.Errorf("dead letters by code %v, want %v", codes, want)
			break
		}
	}
	// Conservation over the whole run: every record of emr_bundles is a
	// bundle with facts or exactly one dead letter.
	okBundles := len(cs.claims) - len(cs.dead)
	total := 0
	for _, n := range codes {
		total += n
	}
	if okBundles+total != len(recs) {
		t.Errorf("in %d != ok bundles %d + dead letters %d", len(recs), okBundles, total)
	}
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == ':' && s[i+1] == ' ' {
			return s[:i], s[i+2:], true
		}
	}
	return s, "", false
}
