package avroarrow_test

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/columnar/columnartest"
)

const factsID = 7

func newFactsDecoder(t testing.TB, mem memory.Allocator, opts ...avroarrow.Option) *avroarrow.Decoder {
	t.Helper()
	opts = append([]avroarrow.Option{
		avroarrow.WithSchemaSource(avroarrow.MapSource{factsID: schemas.PatientFacts.Schema()}),
		avroarrow.WithAllocator(mem),
	}, opts...)
	d, err := avroarrow.New(schemas.PatientFacts.Schema(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPatientFactsMatchingColumns(t *testing.T) {
	msgs, err := columnartest.Framed(1, 500, factsID)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d := newFactsDecoder(t, mem, avroarrow.WithProjection(columnartest.MatchingColumns...), avroarrow.WithFlatten())
	for i, m := range msgs {
		if err := d.AppendFramed(m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if got := d.Schema().NumFields(); got != len(columnartest.MatchingColumns) {
		t.Fatalf("%d columns, want %d: %v", got, len(columnartest.MatchingColumns), d.Schema())
	}
	for i, f := range d.Schema().Fields() {
		if f.Name != columnartest.MatchingColumns[i] {
			t.Errorf("column %d = %s, want %s", i, f.Name, columnartest.MatchingColumns[i])
		}
	}
	if ts, ok := d.Schema().Field(2).Type.(*arrow.TimestampType); !ok || ts.Unit != arrow.Millisecond {
		t.Errorf("event_time type %v", d.Schema().Field(2).Type)
	}
	rec := d.Flush()
	defer rec.Release()
	if rec.NumRows() != 500 {
		t.Fatalf("rows = %d", rec.NumRows())
	}
	// Every variant fact has a category; no other kind has one.
	kinds := rec.Column(3)
	cat := rec.Column(rec.Schema().FieldIndices("variant.variant_category")[0])
	for i := 0; i < int(rec.NumRows()); i++ {
		isVariant := kinds.ValueStr(i) == "VARIANT"
		if isVariant == cat.IsNull(i) {
			t.Fatalf("row %d: kind %s, variant_category null=%v", i, kinds.ValueStr(i), cat.IsNull(i))
		}
	}
	if d.Rows() != 0 || d.InputBytes() != 0 {
		t.Fatalf("after Flush Rows=%d InputBytes=%d", d.Rows(), d.InputBytes())
	}
}

func TestAppendFramedErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d := newFactsDecoder(t, mem, avroarrow.WithProjection("tenant", "variant"))
	msgs, err := columnartest.Framed(2, 3, factsID)
	if err != nil {
		t.Fatal(err)
	}
	var fe *wire.FrameError
	if err := d.AppendFramed([]byte{0, 1}); !errors.As(err, &fe) {
		t.Errorf("short frame: %v", err)
	}
	if err := d.AppendFramed(wire.Append(nil, 99, msgs[0][5:])); !errors.Is(err, avroarrow.ErrUnknownSchema) {
		t.Errorf("unknown id: %v", err)
	}
	good := 0
	for _, m := range msgs {
		// Every truncation of a good message fails and appends nothing.
		for cut := wire.HeaderSize; cut < len(m); cut++ {
			if err := d.AppendFramed(m[:cut]); err == nil {
				t.Fatalf("truncated at %d of %d: no error", cut, len(m))
			}
		}
		if err := d.AppendFramed(append(m[:len(m):len(m)], 0)); !errors.Is(err, avroarrow.ErrTrailingBytes) {
			t.Fatalf("trailing byte: %v", err)
		}
		if err := d.AppendFramed(m); err != nil {
			t.Fatal(err)
		}
		good++
		if d.Rows() != good {
			t.Fatalf("Rows = %d, want %d", d.Rows(), good)
		}
	}
	rec := d.Flush()
	defer rec.Release()
	// The batch equals one decoded from the good messages only.
	d2 := newFactsDecoder(t, mem, avroarrow.WithProjection("tenant", "variant"))
	for _, m := range msgs {
		if err := d2.AppendFramed(m); err != nil {
			t.Fatal(err)
		}
	}
	rec2 := d2.Flush()
	defer rec2.Release()
	if !recordsEqual(rec, rec2) {
		t.Fatalf("batch after failed appends differs:\n%v\n%v", rec, rec2)
	}
}

func recordsEqual(a, b arrow.RecordBatch) bool {
	if a.NumRows() != b.NumRows() || a.NumCols() != b.NumCols() {
		return false
	}
	for i := range a.Columns() {
		for r := 0; r < int(a.NumRows()); r++ {
			if a.Column(i).ValueStr(r) != b.Column(i).ValueStr(r) {
				return false
			}
		}
	}
	return true
}

func TestHostileLengths(t *testing.T) {
	schema := `{"type":"record","name":"H","fields":[
		{"name":"s","type":"string"},
		{"name":"n","type":{"type":"array","items":"null"}},
		{"name":"m","type":{"type":"map","values":"long"}}]}`
	d, err := avroarrow.New(schema)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Compile(schema)
	if err != nil {
		t.Fatal(err)
	}
	zz := func(v int64) []byte { // zigzag varint
		u := uint64(v<<1) ^ uint64(v>>63)
		var b []byte
		for u >= 0x80 {
			b = append(b, byte(u)|0x80)
			u >>= 7
		}
		return append(b, byte(u))
	}
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"string 2^40", append(zz(1<<40), 'x'), avroarrow.ErrTruncated},
		{"string negative", zz(-5), avroarrow.ErrInvalidLength},
		{"nulls 2^40", append(append(zz(0), zz(1<<40)...), 0), avroarrow.ErrLimit},
		{"map 2^40", append(append(append(zz(0), 0), zz(1<<40)...), 0), avroarrow.ErrTruncated},
		{"block min int64", append(append(zz(0), zz(-1<<63)...), 0), avroarrow.ErrInvalidLength},
		{"varint 11 bytes", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, avroarrow.ErrVarint},
	}
	for _, c := range cases {
		allocs := testing.AllocsPerRun(1, func() {
			err = d.Append(p, c.body)
		})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		// Building the error value is all that may allocate.
		if allocs > 10 {
			t.Errorf("%s: %v allocations", c.name, allocs)
		}
	}
	if d.Rows() != 0 {
		t.Fatalf("Rows = %d after hostile input", d.Rows())
	}

	// Nested zero-byte items: each inner array may declare the whole limit;
	// the limit is per record, so the outer count cannot multiply it.
	nested := `{"type":"record","name":"N","fields":[{"name":"a","type":{"type":"array","items":{"type":"array","items":"null"}}}]}`
	d, err = avroarrow.New(nested, avroarrow.WithMaxItems(1000))
	if err != nil {
		t.Fatal(err)
	}
	if p, err = d.Compile(nested); err != nil {
		t.Fatal(err)
	}
	body := zz(200)
	for range 200 {
		body = append(append(body, zz(900)...), 0)
	}
	body = append(body, 0)
	if err := d.Append(p, body); !errors.Is(err, avroarrow.ErrLimit) {
		t.Fatalf("200 x 900 nulls under a 1000 limit: %v, want ErrLimit", err)
	}
}

func TestAppendAllocs(t *testing.T) {
	msgs, err := columnartest.Framed(3, 1000, factsID)
	if err != nil {
		t.Fatal(err)
	}
	d := newFactsDecoder(t, memory.NewGoAllocator(), avroarrow.WithProjection(columnartest.MatchingColumns...), avroarrow.WithFlatten())
	for _, m := range msgs {
		if err := d.AppendFramed(m); err != nil {
			t.Fatal(err)
		}
	}
	d.Reset() // keeps the capacity
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		if err := d.AppendFramed(msgs[i%len(msgs)]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record in steady state", allocs)
	}
}

// TestDecodeErrorText pins the reason text of a decoding failure: what was
// wrong, once, in words, where, and the field.
func TestDecodeErrorText(t *testing.T) {
	schema := `{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`
	d, err := avroarrow.New(schema)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Compile(schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body []byte
		want string
	}{
		{append([]byte{72}, "12345678"...), "avroarrow: record truncated at body byte 1 (field id): a length of 36 bytes runs past the end (8 bytes left)"},
		{[]byte{2, 'a', 0, 0}, "avroarrow: invalid record at body byte 2: 2 bytes left over after the record"},
	} {
		if err := d.Append(p, c.body); err == nil || err.Error() != c.want {
			t.Errorf("Append(% x):\n got %v\nwant %s", c.body, err, c.want)
		}
	}
}
