package columnar

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/columnar/columnartest"
)

func TestCoderRoundTrip(t *testing.T) {
	msgs, err := columnartest.Framed(5, 300, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, flatten := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		opts := []avroarrow.Option{avroarrow.WithAllocator(mem), avroarrow.WithSchemaSource(avroarrow.MapSource{1: schemas.PatientFacts.Schema()})}
		if flatten {
			opts = append(opts, avroarrow.WithFlatten())
		}
		d, err := avroarrow.New(schemas.PatientFacts.Schema(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := d.AppendFramed(m); err != nil {
				t.Fatal(err)
			}
		}
		rec := d.Flush()
		b, err := EncodeBatch(rec)
		if err != nil {
			t.Fatal(err)
		}
		mem2 := memory.NewCheckedAllocator(memory.NewGoAllocator())
		got, err := DecodeBatchWith(mem2, b)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(rec, got) {
			t.Fatalf("flatten=%v: round trip changed the batch", flatten)
		}
		if !got.Schema().Equal(rec.Schema()) {
			t.Fatalf("schema changed: %v", got.Schema())
		}
		rec.Release()
		got.Release()
		mem.AssertSize(t, 0)
		mem2.AssertSize(t, 0)
	}
}

func TestDecodeBatchCorrupt(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 64)} {
		if rec, err := DecodeBatchWith(mem, b); err == nil {
			rec.Release()
			t.Errorf("%v: no error", b)
		}
	}
	if _, err := EncodeBatch(nil); err == nil {
		t.Errorf("EncodeBatch(nil): no error")
	}
}

// FuzzDecodeBatch feeds corrupted elements to the coder: it returns an
// error or a batch, never panics. (Random corruption fails the checksum; the
// IPC reader itself is arrow-go's and trusts its metadata, see EncodeBatch.)
func FuzzDecodeBatch(f *testing.F) {
	msgs, err := columnartest.Framed(6, 20, 1)
	if err != nil {
		f.Fatal(err)
	}
	d, err := avroarrow.New(schemas.PatientFacts.Schema(), avroarrow.WithSchemaSource(avroarrow.MapSource{1: schemas.PatientFacts.Schema()}),
		avroarrow.WithProjection(columnartest.MatchingColumns...), avroarrow.WithFlatten())
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range msgs {
		if err := d.AppendFramed(m); err != nil {
			f.Fatal(err)
		}
	}
	rec := d.Flush()
	b, err := EncodeBatch(rec)
	rec.Release()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := DecodeBatch(data)
		if err == nil {
			rec.Release()
		}
	})
}
