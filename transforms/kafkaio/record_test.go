package kafkaio_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func TestRecordBinaryRoundTrip(t *testing.T) {
	for _, r := range []kafkaio.Record{
		{},
		{Topic: "t", Partition: 3, Offset: 42, Timestamp: time.UnixMilli(1_700_000_000_123).UTC(),
			Key: []byte("k"), Value: []byte{0, 0, 0, 0, 1, 2},
			Headers: []kafkaio.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}}},
		{Topic: "empty", Key: []byte{}, Value: []byte{}, Partition: -1, Offset: -1},
	} {
		got, err := kafkaio.ParseRecord(r.AppendBinary(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, r)
		}
	}
}

func TestParseRecordRejectsCorrupt(t *testing.T) {
	r := kafkaio.Record{Topic: "t", Key: []byte("key"), Value: []byte("value")}
	b := r.AppendBinary(nil)
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 0), {0x80}, {0x7f}} {
		if _, err := kafkaio.ParseRecord(bad); !errors.Is(err, kafkaio.ErrCorrupt) {
			t.Errorf("ParseRecord(%x) = %v, want ErrCorrupt", bad, err)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	r := kafkaio.Record{Topic: "t", Partition: 1, Offset: 2, Timestamp: time.UnixMilli(3).UTC(),
		Key: []byte("k"), Value: []byte("v"), Headers: []kafkaio.Header{{Key: "h", Value: []byte("x")}}}
	f.Add(r.AppendBinary(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := kafkaio.ParseRecord(b)
		if err != nil {
			return
		}
		again, err := kafkaio.ParseRecord(got.AppendBinary(nil))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encoding a parsed record: %v", err)
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	b := kafkaio.Batch{Records: []kafkaio.Record{{Topic: "t", Key: []byte("k"), Value: []byte("v")}, {Topic: "t", Offset: 1}}}
	f.Add(b.AppendBinary(nil))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := kafkaio.ParseBatch(in)
		if err != nil {
			return
		}
		again, err := kafkaio.ParseBatch(got.AppendBinary(nil))
		if err != nil || len(again.Records) != len(got.Records) {
			t.Fatalf("re-encoding a parsed batch: %v", err)
		}
	})
}
