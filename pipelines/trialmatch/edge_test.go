package trialmatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// A match that cannot be encoded for approved_patients (here an action
// the schema's enum lacks) is a dead letter, unencodable_output, naming no
// patient; the next one is still written.
func TestUnencodableMatchIsADeadLetter(t *testing.T) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	f := &matchRecordFn{Topic: "approved_patients"}
	var (
		out  []kafkaio.Record
		dead []deadletter.Record
	)
	emit := func(r kafkaio.Record) { out = append(out, r) }
	deadFn := func(r deadletter.Record) { dead = append(dead, r) }
	bad := schemas.ApprovedPatient{MatchID: "m1", Tenant: "A", PatientID: "secret-pseudonym", ProtocolNo: "T1", Action: "MAYBE",
		EventTime: at, MatchTime: at}
	good := bad
	good.Action = "NEW"
	for _, a := range []schemas.ApprovedPatient{bad, good} {
		if err := f.ProcessElement(context.Background(), a, emit, deadFn); err != nil {
			t.Fatalf("ProcessElement(%s) = %v, want a dead letter, not an error", a.Action, err)
		}
	}
	if len(out) != 1 || len(dead) != 1 {
		t.Fatalf("%d records and %d dead letters, want 1 and 1", len(out), len(dead))
	}
	d := dead[0]
	if d.ReasonCode != string(deadletter.UnencodableOutput) || d.Stage != "trialmatch.EncodeApproved" ||
		d.Tenant == nil || *d.Tenant != "A" || strings.Contains(d.Reason, "secret-pseudonym") {
		t.Fatalf("dead letter %+v", d)
	}
}

// Batch execution's typed input encodes facts as Avro bodies: one the
// schema cannot take (a kind outside its enum) is a dead letter, not a
// failed bundle. So is one that fails the edge checks.
func TestFactKeysDeadLetterWhatTheyCannotEncode(t *testing.T) {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, perShard := range []bool{true, false} {
		f := &factEventsFn{Shards: 2, TickMillis: 60_000, PerShard: perShard}
		var dead []deadletter.Record
		deadFn := func(r deadletter.Record) { dead = append(dead, r) }
		emit := func(beam.EventTime, int, Event) {}
		ctx := context.Background()
		f.StartBundle(ctx, emit, deadFn)
		facts := []schemas.PatientFact{
			{FactID: "f1", Tenant: "A", PatientID: "p1", EventTime: at, IngestTime: at, Kind: "NOT_A_KIND"},
			{FactID: "f2", Tenant: "A", PatientID: "p1", EventTime: time.UnixMilli(-1 << 62), IngestTime: at, Kind: schemas.KindVital},
			{FactID: "f3", Tenant: "A", PatientID: "p\xff", EventTime: at, IngestTime: at, Kind: schemas.KindVital},
			{FactID: "f4", Tenant: "A", PatientID: "p1", EventTime: at, IngestTime: at, Kind: schemas.KindVital, Vital: &schemas.VitalStatus{Status: "ALIVE"}},
		}
		for _, fact := range facts {
			if err := f.ProcessElement(ctx, fact, emit, deadFn); err != nil {
				t.Fatalf("PerShard %t: fact %s: %v", perShard, fact.FactID, err)
			}
		}
		if err := f.FinishBundle(ctx, emit, deadFn); err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, d := range dead {
			codes = append(codes, d.ReasonCode)
		}
		want := "event_time_out_of_range invalid_utf8"
		if perShard {
			want = "invalid_record " + want
		}
		if got := strings.Join(codes, " "); got != want {
			t.Fatalf("PerShard %t: dead letters %q, want %q", perShard, got, want)
		}
	}
}
