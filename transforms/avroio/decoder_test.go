package avroio_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// fakeRegistry is a SchemaSource over a map.
type fakeRegistry map[int]string

func (f fakeRegistry) SchemaByID(id int) (string, error) {
	s, ok := f[id]
	if !ok {
		return "", fmt.Errorf("fake registry: id %d: %w", id, avroio.ErrSchemaNotFound)
	}
	return s, nil
}

var _ avroio.SchemaSource = fakeRegistry(nil)

const (
	visitV1 = `{"type":"record","name":"Visit","namespace":"t","fields":[
		{"name":"id","type":"string"},
		{"name":"count","type":"int"},
		{"name":"dropped","type":{"type":"array","items":"string"}},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
		{"name":"score","type":["null","float"]}]}`
	// v2 reorders fields, drops "dropped", promotes count to long and
	// score's float to double, and adds defaulted fields of several types.
	visitV2 = `{"type":"record","name":"Visit","namespace":"t","fields":[
		{"name":"score","type":["null","double"],"default":null},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B","C"],"default":"C"}},
		{"name":"id","type":"string"},
		{"name":"site","type":"string","default":"unknown"},
		{"name":"count","type":"long"},
		{"name":"tags","type":{"type":"map","values":"int"},"default":{"x":1}},
		{"name":"loc","type":{"type":"record","name":"Loc","fields":[{"name":"lat","type":"double","default":0.5}]},"default":{}}]}`
	// Incompatible with v2: id is an int.
	visitBad = `{"type":"record","name":"Visit","namespace":"t","fields":[{"name":"id","type":"int"}]}`
)

func frame(t testing.TB, id uint32, schema string, native any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	return wire.Append(nil, id, body)
}

func decodeNative(t testing.TB, schema string, body []byte) map[string]any {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	v, rest, err := c.NativeFromBinary(body)
	if err != nil || len(rest) != 0 {
		t.Fatalf("reader-schema body does not decode: %v (%d bytes left)", err, len(rest))
	}
	return v.(map[string]any)
}

func TestSchemaEvolutionV1ToV2(t *testing.T) {
	reg := fakeRegistry{1: visitV1, 2: visitV2}
	dec, err := avroio.NewDecoder(reg, visitV2)
	if err != nil {
		t.Fatal(err)
	}
	v1 := frame(t, 1, visitV1, map[string]any{"id": "a", "count": int32(-7), "dropped": []any{"x", "y"},
		"kind": "B", "score": goavro.Union("float", float32(1.5))})
	body, id, err := dec.Decode(nil, v1)
	if err != nil || id != 1 {
		t.Fatalf("Decode v1: id %d, %v", id, err)
	}
	got := decodeNative(t, visitV2, body)
	want := map[string]any{"score": goavro.Union("double", 1.5), "kind": "B", "id": "a", "site": "unknown",
		"count": int64(-7), "tags": map[string]any{"x": int32(1)}, "loc": map[string]any{"lat": 0.5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 resolved to v2:\n got %v\nwant %v", got, want)
	}

	v2native := map[string]any{"score": nil, "kind": "C", "id": "b", "site": "s1", "count": int64(1 << 40),
		"tags": map[string]any{}, "loc": map[string]any{"lat": 2.0}}
	v2 := frame(t, 2, visitV2, v2native)
	body, _, err = dec.Decode(nil, v2)
	if err != nil {
		t.Fatal(err)
	}
	if &body[0] != &v2[wire.HeaderSize] {
		t.Error("same-schema payload was copied, want it aliased")
	}
	if got := decodeNative(t, visitV2, body); !reflect.DeepEqual(got, v2native) {
		t.Fatalf("v2 identity:\n got %v\nwant %v", got, v2native)
	}
}

func TestDecodeRejectsWithReasonCodes(t *testing.T) {
	reg := fakeRegistry{1: visitV1, 2: visitV2, 3: visitBad, 4: `{"type":"nonsense"}`}
	dec, err := avroio.NewDecoder(reg, visitV2)
	if err != nil {
		t.Fatal(err)
	}
	good := frame(t, 1, visitV1, map[string]any{"id": "abc", "count": int32(1), "dropped": []any{},
		"kind": "A", "score": nil})
	cases := []struct {
		name string
		msg  []byte
		code deadletter.Code
	}{
		{"wrong magic byte", append([]byte{'{'}, good[1:]...), deadletter.WrongMagicByte},
		{"short buffer", good[:3], deadletter.ShortBuffer},
		{"unknown schema id", wire.Append(nil, 99, good[wire.HeaderSize:]), deadletter.UnknownSchemaID},
		{"truncated payload", good[:len(good)-2], deadletter.TruncatedPayload},
		{"trailing bytes", append(append([]byte(nil), good...), 0), deadletter.InvalidPayload},
		{"incompatible schema", frame(t, 3, visitBad, map[string]any{"id": int32(5)}), deadletter.IncompatibleSchema},
		{"unparsable writer schema", wire.Append(nil, 4, []byte{0}), deadletter.IncompatibleSchema},
		{"huge string length", wire.Append(nil, 1, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}), deadletter.TruncatedPayload},
		{"bad enum index", wire.Append(nil, 1, []byte{2, 'a', 2, 0, 9, 0}), deadletter.InvalidPayload},
	}
	for _, c := range cases {
		_, _, err := dec.Decode(nil, c.msg)
		if got := deadletter.CodeOf(err); got != c.code {
			t.Errorf("%s: code %q (%v), want %q", c.name, got, err, c.code)
		}
	}
}

// TestDecodeReasonTexts pins the dead-letter reason texts: what was wrong,
// once, in words, with the schema id and payload byte.
func TestDecodeReasonTexts(t *testing.T) {
	reg := fakeRegistry{1: visitV1}
	dec, err := avroio.NewDecoder(reg, visitV2) // resolves v1 to v2
	if err != nil {
		t.Fatal(err)
	}
	same, err := avroio.NewDecoder(reg, visitV1) // reads v1 as is
	if err != nil {
		t.Fatal(err)
	}
	good := frame(t, 1, visitV1, map[string]any{"id": "abc", "count": int32(1), "dropped": []any{},
		"kind": "A", "score": nil})
	// An id string of length 36 (zig-zag varint 72) with 8 bytes after it.
	cut := append([]byte{72}, "12345678"...)
	if _, _, err := same.Decode(nil, wire.Append(nil, 1, cut)); err == nil || err.Error() !=
		"avroio: schema id 1: record truncated at payload byte 1: a length of 36 bytes runs past the end (8 bytes left)" {
		t.Errorf("truncated string, identity plan: %v", err)
	}
	for _, c := range []struct {
		name, want string
		msg        []byte
	}{
		{"truncated string, resolved plan", "avroio: schema id 1: record truncated at payload byte 1: " +
			"a length of 36 bytes runs past the end (8 bytes left)", wire.Append(nil, 1, cut)},
		{"cut varint", "avroio: schema id 1: record truncated at payload byte 0: the string or bytes length ends inside its varint",
			wire.Append(nil, 1, []byte{0x80})},
		{"trailing byte", "avroio: schema id 1: invalid record at payload byte 8: 1 byte left over after the record",
			append(append([]byte(nil), good...), 0)},
		{"bad enum index", "avroio: schema id 1: invalid record at payload byte 5: enum index 4 is not one of the 2 symbols",
			wire.Append(nil, 1, []byte{2, 'a', 2, 0, 8, 0})},
	} {
		_, _, err := dec.Decode(nil, c.msg)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.name, err, c.want)
		}
	}
	v1, err := compat.Parse(visitV1)
	if err != nil {
		t.Fatal(err)
	}
	if err := avroio.Validate(v1, cut); err == nil ||
		err.Error() != "avroio: record truncated at payload byte 1: a length of 36 bytes runs past the end (8 bytes left)" {
		t.Errorf("Validate: %v", err)
	}
}

func TestEncoderFramesAndValidates(t *testing.T) {
	enc, err := avroio.NewEncoder(7, visitV1)
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]any{"id": "a", "count": int32(2), "dropped": []any{"q"}, "kind": "A", "score": nil}
	framed, err := enc.AppendNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	if want := frame(t, 7, visitV1, native); !bytes.Equal(framed, want) {
		t.Fatalf("AppendNative = %x, want %x", framed, want)
	}
	again, err := enc.AppendBody(nil, framed[wire.HeaderSize:])
	if err != nil || !bytes.Equal(again, framed) {
		t.Fatalf("AppendBody = %x, %v", again, err)
	}
	if _, err := enc.AppendBody(nil, framed[wire.HeaderSize:len(framed)-1]); deadletter.CodeOf(err) != deadletter.TruncatedPayload {
		t.Fatalf("AppendBody of a cut body: %v", err)
	}
}

func TestPatientFactsIdentity(t *testing.T) {
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := avroio.NewDecoder(fakeRegistry{5: schemas.PatientFacts.Schema()}, schemas.PatientFacts.Schema())
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1_700_000_000_000).UTC()
	f := &schemas.PatientFact{FactID: "f1", Tenant: "practice-a", PatientID: "p1", EventTime: at, IngestTime: at,
		Source: "emr", Kind: schemas.KindVariant, Variant: &schemas.Variant{HugoSymbol: schemas.Ptr("EGFR"),
			VariantCategory: "MUTATION", ProteinChange: schemas.Ptr("p.L858R")}}
	body, err := f.AppendAvro(codec, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := dec.Decode(nil, wire.Append(nil, 5, body))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Decode = %v", err)
	}
	native, id, err := dec.DecodeNative(wire.Append(nil, 5, body))
	if err != nil || id != 5 {
		t.Fatalf("DecodeNative: id %d, %v", id, err)
	}
	back, err := schemas.PatientFactFromNative(native)
	if err != nil || back.FactID != "f1" || back.Variant == nil || *back.Variant.HugoSymbol != "EGFR" {
		t.Fatalf("typed fact: %+v, %v", back, err)
	}
}

func FuzzDecode(f *testing.F) {
	reg := fakeRegistry{1: visitV1, 2: visitV2}
	dec, err := avroio.NewDecoder(reg, visitV2)
	if err != nil {
		f.Fatal(err)
	}
	reader, err := goavro.NewCodec(visitV2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(frame(f, 1, visitV1, map[string]any{"id": "a", "count": int32(3), "dropped": []any{"x"},
		"kind": "B", "score": goavro.Union("float", float32(1))}))
	f.Add(frame(f, 2, visitV2, map[string]any{"score": nil, "kind": "C", "id": "b", "site": "s", "count": int64(1),
		"tags": map[string]any{"k": int32(2)}, "loc": map[string]any{"lat": 1.0}}))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		body, _, err := dec.Decode(nil, msg)
		if err != nil {
			if deadletter.CodeOf(err) == deadletter.Unclassified {
				t.Fatalf("error without a reason code: %v", err)
			}
			return
		}
		// Whatever the decoder accepts must be one valid reader value.
		if _, rest, err := reader.NativeFromBinary(body); err != nil || len(rest) != 0 {
			t.Fatalf("accepted %x but the body %x does not decode: %v (%d left)", msg, body, err, len(rest))
		}
	})
}
