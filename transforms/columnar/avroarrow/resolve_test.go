package avroarrow

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"github.com/linkedin/goavro/v2"
)

// encodeNative encodes a goavro native value with the writer schema.
func encodeNative(t testing.TB, schema string, v map[string]any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatalf("goavro codec: %v", err)
	}
	b, err := codec.BinaryFromNative(nil, v)
	if err != nil {
		t.Fatalf("goavro encode: %v", err)
	}
	return b
}

// decodeRows decodes bodies written with writer into reader columns and
// returns the rows in normal form.
func decodeRows(t testing.TB, writer, reader string, bodies [][]byte, opts ...Option) []map[string]any {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d, err := New(reader, append(opts, WithAllocator(mem))...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p, err := d.Compile(writer)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	for i, b := range bodies {
		if err := d.Append(p, b); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	rec := d.Flush()
	defer rec.Release()
	if err := validate(rec); err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, rec.NumRows())
	for i := range out {
		out[i] = rowOf(t, rec, i)
	}
	return out
}

func TestResolvePromotions(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[
		{"name":"a","type":"int"},{"name":"b","type":"long"},{"name":"c","type":"float"},
		{"name":"d","type":"string"},{"name":"e","type":"bytes"},{"name":"f","type":"int"},
		{"name":"g","type":"long"},{"name":"h","type":"int"}]}`
	reader := `{"type":"record","name":"R","fields":[
		{"name":"a","type":"long"},{"name":"b","type":"double"},{"name":"c","type":"double"},
		{"name":"d","type":"bytes"},{"name":"e","type":"string"},{"name":"f","type":"float"},
		{"name":"g","type":"float"},{"name":"h","type":"double"}]}`
	body := encodeNative(t, writer, map[string]any{"a": int32(-7), "b": int64(1) << 40, "c": float32(1.5),
		"d": "dee", "e": []byte("eee"), "f": int32(3), "g": int64(-9), "h": int32(11)})
	got := decodeRows(t, writer, reader, [][]byte{body})
	want := map[string]any{"a": int64(-7), "b": float64(1 << 40), "c": float64(1.5), "d": []byte("dee"),
		"e": "eee", "f": float32(3), "g": float32(-9), "h": float64(11)}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestResolveDefaultsAndDroppedFields(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[
		{"name":"gone","type":{"type":"array","items":{"type":"map","values":"string"}}},
		{"name":"keep","type":"string"},
		{"name":"gone2","type":["null",{"type":"record","name":"X","fields":[{"name":"x","type":"double"}]}]}]}`
	reader := `{"type":"record","name":"R","fields":[
		{"name":"i","type":"int","default":7},
		{"name":"keep","type":"string"},
		{"name":"s","type":"string","default":"dflt"},
		{"name":"n","type":["null","long"],"default":null},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["P","Q"]},"default":"Q"},
		{"name":"rec","type":{"type":"record","name":"Y","fields":[{"name":"y","type":"int"},{"name":"z","type":"string","default":"zz"}]},"default":{"y":5}},
		{"name":"arr","type":{"type":"array","items":"long"},"default":[1,2]},
		{"name":"m","type":{"type":"map","values":"boolean"},"default":{"k":true}},
		{"name":"u","type":["int","string"],"default":3},
		{"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"\u00ff\u0001"}]}`
	body := encodeNative(t, writer, map[string]any{
		"gone":  []any{map[string]any{"a": "b"}, map[string]any{}},
		"keep":  "kept",
		"gone2": map[string]any{"X": map[string]any{"x": 1.25}},
	})
	got := decodeRows(t, writer, reader, [][]byte{body, body})
	want := map[string]any{"i": int32(7), "keep": "kept", "s": "dflt", "n": nil, "e": "Q",
		"rec": map[string]any{"y": int32(5), "z": "zz"}, "arr": []any{int64(1), int64(2)},
		"m": map[string]any{"k": true}, "u": int32(3), "fx": []byte{0xff, 0x01}}
	for i := range got {
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Fatalf("row %d (-want +got)\n%s", i, diff)
		}
	}
	// Flattened and projected, the default record lands in flat columns.
	got = decodeRows(t, writer, reader, [][]byte{body}, WithFlatten(), WithProjection("rec.z", "keep"))
	if diff := cmp.Diff(map[string]any{"keep": "kept", "rec.z": "zz"}, got[0]); diff != "" {
		t.Fatalf("flattened (-want +got)\n%s", diff)
	}
}

func TestResolveMissingDefault(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
	reader := `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}`
	d, err := New(reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Compile(writer); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Compile = %v, want ErrIncompatible", err)
	}
	// Not projected, the missing field does not matter.
	d, err = New(reader, WithProjection("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Compile(writer); err != nil {
		t.Fatalf("Compile with projection: %v", err)
	}
	if _, err := d.Compile(`{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("Compile string as int = %v, want ErrIncompatible", err)
	}
}

func TestResolveEnums(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}]}`
	withDefault := `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["C","A","X"],"default":"X"}}]}`
	enc := func(s string) []byte { return encodeNative(t, writer, map[string]any{"e": s}) }
	got := decodeRows(t, writer, withDefault, [][]byte{enc("A"), enc("B"), enc("C")})
	for i, want := range []string{"A", "X", "C"} {
		if got[i]["e"] != want {
			t.Errorf("row %d: e = %v, want %s", i, got[i]["e"], want)
		}
	}
	noDefault := `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["C","A"]}}]}`
	d, err := New(noDefault)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Compile(writer)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Append(p, enc("A")); err != nil {
		t.Fatal(err)
	}
	if err := d.Append(p, enc("B")); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("B into enum without it = %v, want ErrIncompatible", err)
	}
	if d.Rows() != 1 {
		t.Fatalf("Rows = %d, want 1", d.Rows())
	}
	rec := d.Flush()
	defer rec.Release()
	if v := rowOf(t, rec, 0)["e"]; v != "A" {
		t.Fatalf("e = %v", v)
	}
}

func TestResolveUnions(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[
		{"name":"a","type":"int"},
		{"name":"b","type":["null","string"]},
		{"name":"c","type":["int","string","null"]},
		{"name":"d","type":["null","int"]}]}`
	reader := `{"type":"record","name":"R","fields":[
		{"name":"a","type":["null","long"]},
		{"name":"b","type":"string"},
		{"name":"c","type":["string","long","null"]},
		{"name":"d","type":["null","double"]}]}`
	rows := []map[string]any{
		{"a": int32(1), "b": map[string]any{"string": "x"}, "c": map[string]any{"int": int32(5)}, "d": nil},
		{"a": int32(2), "b": map[string]any{"string": "y"}, "c": map[string]any{"string": "s"}, "d": map[string]any{"int": int32(4)}},
		{"a": int32(3), "b": map[string]any{"string": "z"}, "c": nil, "d": nil},
	}
	var bodies [][]byte
	for _, r := range rows {
		bodies = append(bodies, encodeNative(t, writer, r))
	}
	got := decodeRows(t, writer, reader, bodies)
	want := []map[string]any{
		{"a": int64(1), "b": "x", "c": int64(5), "d": nil},
		{"a": int64(2), "b": "y", "c": "s", "d": float64(4)},
		{"a": int64(3), "b": "z", "c": nil, "d": nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	// A null written where the reader has no null fails that record only.
	d, err := New(reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Compile(writer)
	if err != nil {
		t.Fatal(err)
	}
	bad := encodeNative(t, writer, map[string]any{"a": int32(1), "b": nil, "c": nil, "d": nil})
	err = d.Append(p, bad)
	var de *DecodeError
	if !errors.Is(err, ErrIncompatible) || !errors.As(err, &de) || de.Path != "b" {
		t.Fatalf("null into string = %v, want ErrIncompatible at b", err)
	}
}

func TestResolveAliasesAndOrder(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[{"name":"old","type":"string"},{"name":"x","type":"int"}]}`
	reader := `{"type":"record","name":"R","fields":[{"name":"x","type":"int"},{"name":"new","type":"string","aliases":["old"]}]}`
	body := encodeNative(t, writer, map[string]any{"old": "o", "x": int32(9)})
	got := decodeRows(t, writer, reader, [][]byte{body})
	if diff := cmp.Diff(map[string]any{"x": int32(9), "new": "o"}, got[0]); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestProjectionErrors(t *testing.T) {
	reader := `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"r","type":{"type":"record","name":"S","fields":[{"name":"b","type":"int"}]}}]}`
	for _, paths := range [][]string{{"zz"}, {"r.zz"}, {"a.b"}, {""}, {"r..b"}} {
		if _, err := New(reader, WithProjection(paths...)); err == nil {
			t.Errorf("projection %q: no error", paths)
		}
	}
	recursive := `{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]}]}`
	if _, err := New(recursive); err == nil {
		t.Errorf("recursive reader: no error")
	}
	d, err := New(recursive, WithProjection("v"))
	if err != nil {
		t.Fatalf("recursive reader projected to v: %v", err)
	}
	if _, err := d.Compile(recursive); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("recursive writer = %v, want ErrUnsupported", err)
	}
}
