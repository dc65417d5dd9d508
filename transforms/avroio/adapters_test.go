package avroio_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/join"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.Function3x1(fmtKeyed)
	register.Function1x1(deadCode)
	register.Function1x1(fmtPairRecord)
}

const payment = `{"type":"record","name":"Payment","namespace":"shop","fields":[
  {"name":"payment_id","type":"string"},
  {"name":"order_id","type":["null","string","double"]},
  {"name":"seq","type":"int"},
  {"name":"paid_at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"amount","type":"double"},
  {"name":"card","type":["null",{"type":"record","name":"Card","fields":[{"name":"holder","type":"string"}]}]}]}`

func fmtKeyed(et beam.EventTime, k string, _ []byte) string {
	return fmt.Sprintf("%s@%d", k, et.Milliseconds())
}

func deadCode(r deadletter.Record) string { return r.ReasonCode }

func paymentBody(t *testing.T, orderID any, paidAt time.Time, card any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(payment)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.BinaryFromNative(nil, map[string]any{"payment_id": "p", "order_id": orderID, "seq": int32(7),
		"paid_at": paidAt, "amount": 1.5, "card": card})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decoded(off int64, body []byte) avroio.Decoded {
	return avroio.Decoded{Record: kafkaio.Record{Topic: "payments", Offset: off, Key: []byte("k"), Value: body}, WriterSchemaID: 1}
}

// TestKeyByPrism keys payments by a nullable union field with their time
// from a timestamp field; a null key, a key of the wrong union branch, an
// out-of-range time and a body that is not of the schema are dead letters
// with their codes, and in = rows + dead letters.
func TestKeyByPrism(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	in := []avroio.Decoded{
		decoded(0, paymentBody(t, goavro.Union("string", "o1"), t0, nil)),
		decoded(1, paymentBody(t, goavro.Union("string", "o2"), t0.Add(time.Minute), nil)),
		decoded(2, paymentBody(t, nil, t0, nil)),                                              // missing key
		decoded(3, paymentBody(t, goavro.Union("double", 2.5), t0, nil)),                      // wrong type
		decoded(4, paymentBody(t, goavro.Union("string", "o3"), time.UnixMilli(-1<<50), nil)), // out of range
		decoded(5, []byte{0x01}), // not a Payment
	}
	p, s := beam.NewPipelineWithRoot()
	rows, dead := avroio.KeyBy(s, avroio.KeyByConfig{Schema: payment, Field: "order_id", TimeField: "paid_at"}, beam.CreateList(s, in))
	passert.Equals(s, beam.ParDo(s, fmtKeyed, rows), "o1@1700000000000", "o2@1700000060000")
	passert.Equals(s, beam.ParDo(s, deadCode, dead),
		string(avroio.MissingField), string(avroio.WrongFieldType), string(deadletter.EventTimeOutOfRange), string(deadletter.InvalidPayload))
	passert.Count(s, beam.Flatten(s, beam.ParDo(s, fmtKeyed, rows), beam.ParDo(s, deadCode, dead)), "in = rows + dead letters", len(in))
	ptest.RunAndValidate(t, p)
}

// TestKeyByIntAndNested: an int key is keyed by its decimal form; a nested
// field of a nullable record is a path; without TimeField the row keeps
// the record's event time.
func TestKeyByIntAndNested(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	in := []avroio.Decoded{
		decoded(0, paymentBody(t, nil, t0, goavro.Union("shop.Card", map[string]any{"holder": "ann"}))),
		decoded(1, paymentBody(t, nil, t0, nil)), // no card: missing
	}
	p, s := beam.NewPipelineWithRoot()
	col := beam.CreateList(s, in)
	bySeq, dead1 := avroio.KeyBy(s, avroio.KeyByConfig{Schema: payment, Field: "seq"}, col)
	byHolder, dead2 := avroio.KeyBy(s, avroio.KeyByConfig{Schema: payment, Field: "card.holder", TimeField: "paid_at"}, col)
	created := fmt.Sprintf("7@%d", mtime.MinTimestamp.Milliseconds()) // beam.Create's timestamp
	passert.Equals(s, beam.ParDo(s.Scope("seq"), fmtKeyed, bySeq), created, created)
	passert.Empty(s, dead1)
	passert.Equals(s, beam.ParDo(s.Scope("holder"), fmtKeyed, byHolder), "ann@1700000000000")
	passert.Equals(s, beam.ParDo(s, deadCode, dead2), string(avroio.MissingField))
	ptest.RunAndValidate(t, p)
}

// TestKeyByRefusesBadFields: a field the schema lacks, or whose type can
// never be a key, fails at construction, naming the field.
func TestKeyByRefusesBadFields(t *testing.T) {
	for _, c := range []struct{ field, timeField, want string }{
		{"customer", "", "no field customer"},
		{"amount", "", "field amount is double"},
		{"card", "", "field card is"},
		{"card.number", "", "no field number"},
		{"seq.x", "", "seq is not a record"},
		{"order_id", "seq", "field seq is int"},
		{"", "", "no key Field"},
	} {
		got := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			_, s := beam.NewPipelineWithRoot()
			avroio.KeyBy(s, avroio.KeyByConfig{Schema: payment, Field: c.field, TimeField: c.timeField}, beam.CreateList(s, []avroio.Decoded{}))
			return ""
		}()
		if !strings.Contains(got, c.want) {
			t.Errorf("field %q time %q: panic %q, want it to contain %q", c.field, c.timeField, got, c.want)
		}
	}
}

const order = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"order_id","type":"string"},{"name":"cents","type":"long"}]}`

const smallPayment = `{"type":"record","name":"Payment","namespace":"shop","fields":[{"name":"payment_id","type":"string"}]}`

func body(t *testing.T, schema string, v map[string]any) []byte {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.BinaryFromNative(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPairRecord: the value of a pair record is Avro binary of the
// PairConfig's schema, for an inner pair and a left-outer pair with and
// without its right row; an unmatched pair is refused under Inner.
func TestPairRecord(t *testing.T) {
	o := body(t, order, map[string]any{"order_id": "o1", "cents": int64(250)})
	pm := body(t, smallPayment, map[string]any{"payment_id": "p1"})
	matched := join.Pair{Key: "o1", Left: o, LeftTS: 1000, Right: pm, RightTS: 3000, Matched: true}
	alone := join.Pair{Key: "o1", Left: o, LeftTS: 1000}
	wantOrder := map[string]any{"order_id": "o1", "cents": int64(250)}
	wantPayment := map[string]any{"payment_id": "p1"}
	for _, c := range []struct {
		kind join.Kind
		pair join.Pair
		want map[string]any
	}{
		{join.Inner, matched, map[string]any{"order": wantOrder, "payment": wantPayment}},
		{join.LeftOuter, matched, map[string]any{"order": wantOrder, "payment": map[string]any{"shop.Payment": wantPayment}}},
		{join.LeftOuter, alone, map[string]any{"order": wantOrder, "payment": nil}},
	} {
		cfg := avroio.PairConfig{Name: "shop.OrderPayment", Kind: c.kind, Left: "order", Right: "payment", LeftType: order, RightType: smallPayment}
		schema, err := cfg.Schema()
		if err != nil {
			t.Fatal(err)
		}
		rec, err := avroio.PairRecord(c.pair, c.kind == join.LeftOuter)
		if err != nil {
			t.Fatal(err)
		}
		codec, err := goavro.NewCodec(schema)
		if err != nil {
			t.Fatal(err)
		}
		got, rest, err := codec.NativeFromBinary(rec.Value)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%v %+v: decode: %v, %d bytes left", c.kind, c.pair.Matched, err, len(rest))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v matched=%v: got %v, want %v", c.kind, c.pair.Matched, got, c.want)
		}
		wantTS := c.pair.LeftTS
		if c.pair.Matched {
			wantTS = c.pair.RightTS
		}
		if string(rec.Key) != "o1" || rec.Timestamp.UnixMilli() != wantTS {
			t.Errorf("key %q time %d, want o1 %d", rec.Key, rec.Timestamp.UnixMilli(), wantTS)
		}
		// What Encode checks before it frames the value.
		enc, err := avroio.NewEncoder(1, schema)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enc.AppendBody(nil, rec.Value); err != nil {
			t.Errorf("Encode would refuse the pair: %v", err)
		}
	}
	if _, err := avroio.PairRecord(alone, false); deadletter.CodeOf(err) != deadletter.InvalidRecord {
		t.Errorf("unmatched pair under Inner: %v", err)
	}
	// Two sides defining one name differently cannot be one schema.
	clash := `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"x","type":"int"}]}`
	if _, err := (avroio.PairConfig{Name: "shop.P", Left: "a", Right: "b", LeftType: order, RightType: clash}).Schema(); err == nil {
		t.Error("clashing names accepted")
	}
}

func fmtPairRecord(r kafkaio.Record) string { return fmt.Sprintf("%s:%d", r.Key, len(r.Value)) }

// TestPairsAndLatePrism: Pairs turns pairs into records and an unmatched
// pair under Inner into a dead letter (in = out + dead letters); late rows
// become late_data dead letters whose reason names neither key nor row.
func TestPairsAndLatePrism(t *testing.T) {
	o := body(t, order, map[string]any{"order_id": "o1", "cents": int64(250)})
	pm := body(t, smallPayment, map[string]any{"payment_id": "p1"})
	pairs := []join.Pair{
		{Key: "o1", Left: o, LeftTS: 1, Right: pm, RightTS: 2, Matched: true},
		{Key: "o2", Left: o, LeftTS: 1, Right: pm, RightTS: 2, Matched: true},
		{Key: "o3", Left: o, LeftTS: 1},
	}
	p, s := beam.NewPipelineWithRoot()
	cfg := avroio.PairConfig{Name: "shop.OrderPayment", Kind: join.Inner, Left: "order", Right: "payment", LeftType: order, RightType: smallPayment}
	recs, dead := avroio.Pairs(s, cfg, beam.CreateList(s, pairs))
	n := fmt.Sprint(len(o) + len(pm))
	passert.Equals(s, beam.ParDo(s, fmtPairRecord, recs), "o1:"+n, "o2:"+n)
	passert.Equals(s, beam.ParDo(s, deadCode, dead), string(deadletter.InvalidRecord))

	ptest.RunAndValidate(t, p)
}
