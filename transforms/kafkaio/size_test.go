package kafkaio

import (
	"math/rand/v2"
	"testing"
	"time"
)

// binarySize is exactly the length AppendBinary writes, so Batch.AppendBinary
// can size its buffer once.
func TestRecordBinarySize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bytes := func() []byte {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		return make([]byte, r.IntN(300))
	}
	for i := range 5000 {
		rec := Record{Topic: string(make([]byte, r.IntN(200))), Partition: r.Int32() - 1<<30, Offset: r.Int64() - 1<<62,
			Key: bytes(), Value: bytes()}
		if r.IntN(3) > 0 {
			rec.Timestamp = time.UnixMilli(r.Int64N(1<<45) - 1<<44)
		}
		for range r.IntN(3) {
			rec.Headers = append(rec.Headers, Header{Key: string(make([]byte, r.IntN(20))), Value: bytes()})
		}
		if got, want := rec.binarySize(), len(rec.AppendBinary(nil)); got != want {
			t.Fatalf("record %d: binarySize %d, AppendBinary wrote %d", i, got, want)
		}
		b := Batch{Records: []Record{rec, rec}}
		enc := b.AppendBinary(nil)
		if want := 1 + 2*(uvarintLen(uint64(rec.binarySize()))+rec.binarySize()); len(enc) != want {
			t.Fatalf("record %d: batch of %d bytes, want %d", i, len(enc), want)
		}
		if _, err := ParseBatch(enc); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}
