package avroio_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func visit(t testing.TB, id string) []byte {
	return frame(t, 1, visitV1, map[string]any{"id": id, "count": int32(1), "dropped": []any{}, "kind": "A", "score": nil})
}

// A record over the limit is a dead letter, record_too_large, whatever
// part of it is large; the limit defaults to 1 MiB, and a negative one
// turns it off.
func TestMaxRecordBytes(t *testing.T) {
	reg := fakeRegistry{1: visitV1}
	ctx := context.Background()
	small := visit(t, "a")
	big := visit(t, strings.Repeat("x", avroio.DefaultMaxRecordBytes))

	def, err := avroio.NewDecoder(reg, visitV1)
	if err != nil {
		t.Fatal(err)
	}
	if def.MaxBytes() != avroio.DefaultMaxRecordBytes || avroio.DefaultMaxRecordBytes != 1<<20 {
		t.Fatalf("default limit %d, want 1 MiB", def.MaxBytes())
	}
	if _, _, err := def.Decode(nil, big); deadletter.CodeOf(err) != deadletter.RecordTooLarge {
		t.Fatalf("a %d-byte message with the default limit: %v, want record_too_large", len(big), err)
	}
	if _, _, err := def.Decode(nil, small); err != nil {
		t.Fatal(err)
	}

	limit := len(small) + 10
	dec, err := avroio.NewDecoder(reg, visitV1, avroio.MaxRecordBytes(limit))
	if err != nil {
		t.Fatal(err)
	}
	for name, rec := range map[string]kafkaio.Record{
		"value":  {Topic: "visits", Offset: 7, Value: visit(t, strings.Repeat("y", 12))},
		"key":    {Topic: "visits", Offset: 7, Value: small, Key: bytes.Repeat([]byte("k"), 11)},
		"header": {Topic: "visits", Offset: 7, Value: small, Headers: []kafkaio.Header{{Key: "h", Value: bytes.Repeat([]byte("v"), 10)}}},
	} {
		var dead []deadletter.Record
		_, ok, err := avroio.DecodeRecord(ctx, dec, "test", true, rec, func(r deadletter.Record) { dead = append(dead, r) })
		if ok || err != nil || len(dead) != 1 {
			t.Fatalf("%s over the limit: ok %t, err %v, %d dead letters", name, ok, err, len(dead))
		}
		d := dead[0]
		if d.ReasonCode != string(deadletter.RecordTooLarge) || d.Payload != nil || d.PayloadRef == nil ||
			d.SourceOffset == nil || *d.SourceOffset != 7 || !strings.Contains(d.Reason, "limit") {
			t.Fatalf("%s over the limit: dead letter %+v (want record_too_large, a payload reference only)", name, d)
		}
	}
	if _, ok, err := avroio.DecodeRecord(ctx, dec, "test", false, kafkaio.Record{Value: small, Key: []byte("k")}, nil); !ok || err != nil {
		t.Fatalf("a record under the limit: ok %t, %v", ok, err)
	}

	off, err := avroio.NewDecoder(reg, visitV1, avroio.MaxRecordBytes(-1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := off.Decode(nil, big); err != nil || off.MaxBytes() != 0 {
		t.Fatalf("no limit: %v (MaxBytes %d)", err, off.MaxBytes())
	}
}

// An unreachable registry is not the record's fault: decoding returns an
// error naming the registry (the bundle fails and is retried) and emits no
// dead letter, so nothing is both dropped and committed; encoding cannot
// even start. A schema id the registry does not know is the record's fault.
func TestRegistryDownFailsInsteadOfDeadLettering(t *testing.T) {
	url, srv, err := registry.StartServer("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register("visits-value", visitV1)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := avroio.NewRegistryDecoder(url, visitV1)
	if err != nil {
		t.Fatal(err)
	}
	var dead []deadletter.Record
	emit := func(r deadletter.Record) { dead = append(dead, r) }
	ctx := context.Background()
	body := visit(t, "a")[wire.HeaderSize:]
	unknown := kafkaio.Record{Topic: "visits", Value: wire.Append(nil, uint32(id)+100, body)}
	if _, ok, err := avroio.DecodeRecord(ctx, dec, "test", false, unknown, emit); ok || err != nil || len(dead) != 1 ||
		dead[0].ReasonCode != string(deadletter.UnknownSchemaID) {
		t.Fatalf("unknown schema id with the registry up: ok %t, err %v, dead letters %+v", ok, err, dead)
	}
	srv.Close()

	dead = nil
	rec := kafkaio.Record{Topic: "visits", Value: wire.Append(nil, uint32(id), body)}
	_, ok, err := avroio.DecodeRecord(ctx, dec, "test", false, rec, emit)
	if ok || err == nil || len(dead) != 0 {
		t.Fatalf("registry down: ok %t, err %v, %d dead letters; want an error and none", ok, err, len(dead))
	}
	t.Logf("registry down: %v", err)
	if !strings.Contains(err.Error(), url) {
		t.Fatalf("registry down: %q does not name the registry %s", err, url)
	}
	fresh, err := registry.NewClient(url) // reg remembers the id it registered
	if err != nil {
		t.Fatal(err)
	}
	if _, err := avroio.NewSubjectEncoder(fresh, "visits-value", visitV1); err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("encoder with the registry down: %v, want an error naming %s", err, url)
	}

	// The same in a pipeline: Encode fails the job, naming the registry.
	p, s := beam.NewPipelineWithRoot()
	recs := beam.CreateList(s, []kafkaio.Record{{Key: []byte("k"), Value: body}})
	avroio.Encode(s, avroio.EncodeConfig{Topic: "visits", Schema: visitV1, RegistryURL: url}, recs)
	if _, err := ptest.RunWithMetrics(p); err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("Encode with the registry down: %v, want the job to fail naming %s", err, url)
	}
}
