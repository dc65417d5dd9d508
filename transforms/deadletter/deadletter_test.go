package deadletter_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/trialflow/trialflow/transforms/deadletter"
)

func TestRoundTripAvro(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	err := deadletter.Errorf(deadletter.WrongMagicByte, "wire: wrong magic byte 0x7b at offset %d", 0)
	r := deadletter.New("avroio.Decode", err,
		deadletter.From(deadletter.Source{Topic: "patient_facts", Partition: 3, Offset: 42}),
		deadletter.WithSchemaID(7), deadletter.WithTenant("t1"),
		deadletter.WithPayload([]byte{0x7b, 0x7d}), deadletter.At(at))
	if r.ReasonCode != "wrong_magic_byte" {
		t.Fatalf("code = %q", r.ReasonCode)
	}
	body, err2 := r.AppendAvro(nil)
	if err2 != nil {
		t.Fatal(err2)
	}
	got, err2 := deadletter.FromAvro(body)
	if err2 != nil {
		t.Fatal(err2)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
	}
	if string(r.Key()) != "patient_facts/3/42" {
		t.Fatalf("key = %q", r.Key())
	}
}

func TestMinimalRecordAndCodes(t *testing.T) {
	r := deadletter.New("x", errors.New("plain"), deadletter.At(time.UnixMilli(0)))
	if r.ReasonCode != string(deadletter.Unclassified) || r.Reason != "plain" {
		t.Fatalf("%+v", r)
	}
	body, err := r.AppendAvro(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deadletter.FromAvro(body); err != nil {
		t.Fatal(err)
	}
	wrapped := fmt.Errorf("stage: %w", deadletter.Errorf(deadletter.ChecksumMismatch, "sha256 mismatch"))
	if deadletter.CodeOf(wrapped) != deadletter.ChecksumMismatch {
		t.Fatal("CodeOf does not see through wrapping")
	}
	if _, err := deadletter.FromAvro([]byte{0xff}); err == nil {
		t.Fatal("want error on truncated body")
	}
}

func ExampleNew() {
	err := deadletter.Errorf(deadletter.UnknownSchemaID, "schema id %d not in registry", 99)
	r := deadletter.New("avroio.Decode", err,
		deadletter.From(deadletter.Source{Topic: "trials", Partition: 0, Offset: 12}))
	fmt.Println(r.ReasonCode, "|", r.Reason, "|", string(r.Key()))
	// Output: unknown_schema_id | schema id 99 not in registry | trials/0/12
}
