package avroio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/transforms/deadletter"
	tfjoin "github.com/trialflow/trialflow/transforms/join" // avroio has a func join
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// The adapters between avroio's records and the joins of package join, so
// that a pipeline Read → Decode → join → Encode → Write needs no glue of
// its own: KeyBy turns Decoded records into join rows, Pairs turns join
// pairs into records for Encode. A join's late rows become dead letters
// with join.LateToDeadLetters.

func init() {
	register.DoFn5x1[context.Context, beam.EventTime, Decoded, func(beam.EventTime, string, []byte), func(deadletter.Record), error](&keyByFn{})
	register.DoFn4x0[context.Context, tfjoin.Pair, func(kafkaio.Record), func(deadletter.Record)](&pairFn{})
	register.Emitter3[beam.EventTime, string, []byte]()
}

// Reason codes of KeyBy's dead letters.
const (
	// MissingField: the key or time field of a record is null.
	MissingField deadletter.Code = "missing_field"
	// WrongFieldType: the key or time field holds a union branch that
	// cannot be a key (or a time).
	WrongFieldType deadletter.Code = "wrong_field_type"
)

// KeyByConfig configures KeyBy.
type KeyByConfig struct {
	// Schema is the reader schema of the Decoded records (DecodeConfig's
	// ReaderSchema): their Values are Avro binary of it.
	Schema string
	// Field is the join key: a field of Schema, or a dotted path into
	// nested records ("customer.id"). It must be a string, an enum, an
	// int or a long (ints are keyed by their decimal form), or a union
	// holding one of those (a null there is a dead letter).
	Field string
	// TimeField, when set, is the field whose value becomes the row's
	// event time: a long (milliseconds since the Unix epoch, or any
	// timestamp logical type), possibly in a union with null. When empty
	// the row keeps the record's own event time (Read sets it to the
	// Kafka record timestamp). A time far behind the records' own may
	// make the row late for a join that has already cleaned up its key.
	TimeField string
	// Stage names the stage in dead letters (default "avroio.KeyBy").
	Stage string
	// InlinePayload keeps a rejected record's bytes in its dead letter
	// (off by default: only its Kafka position and SHA-256 are kept).
	InlinePayload bool
}

// KeyBy keys decoded records (PCollection<Decoded>) by a field, for the
// joins of package join: it returns the rows PCollection<KV<string,
// []byte>> (the key, and the record's Value, Avro binary of Schema) and the
// dead letters PCollection<deadletter.Record> of the records whose key (or
// time) field is null (MissingField) or holds a type that cannot be a key
// (WrongFieldType). Each record lands in exactly one of the two, so a
// record without its key never stops the pipeline.
//
// A Field or TimeField that Schema lacks, or whose type can never be a key
// (or a time), is a construction error (a panic naming the field), not a
// dead letter per record.
func KeyBy(s beam.Scope, cfg KeyByConfig, decoded beam.PCollection) (rows, dead beam.PCollection) {
	s = s.Scope("avroio.KeyBy")
	if cfg.Stage == "" {
		cfg.Stage = "avroio.KeyBy"
	}
	fn := &keyByFn{Schema: cfg.Schema, Field: cfg.Field, TimeField: cfg.TimeField, Stage: cfg.Stage, InlinePayload: cfg.InlinePayload}
	if err := fn.compile(); err != nil {
		panic(fmt.Sprintf("avroio.KeyBy: %v", err))
	}
	return beam.ParDo2(s, fn, decoded)
}

type keyByFn struct {
	Schema        string
	Field         string
	TimeField     string
	Stage         string
	InlinePayload bool

	codec     *goavro.Codec
	key, time []step
}

// step is one field of a path; union tells that its value is a goavro
// union (nil, or a map of one branch name to the value).
type step struct {
	name  string
	union bool
}

func (fn *keyByFn) Setup() error { return fn.compile() }

func (fn *keyByFn) compile() error {
	if fn.Field == "" {
		return errors.New("no key Field")
	}
	sch, err := compat.Parse(fn.Schema)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if fn.key, err = path(sch, fn.Field, keyKind); err != nil {
		return err
	}
	if fn.TimeField != "" {
		if fn.time, err = path(sch, fn.TimeField, timeKind); err != nil {
			return err
		}
	}
	if fn.codec, err = goavro.NewCodec(fn.Schema); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return nil
}

func keyKind(k compat.Kind) bool {
	return k == compat.String || k == compat.Enum || k == compat.Int || k == compat.Long
}
func timeKind(k compat.Kind) bool { return k == compat.Long }

// path resolves a dotted field path in sch, checking that its leaf (or
// one branch of the leaf's union) is of a kind ok accepts.
func path(sch *compat.Schema, dotted string, ok func(compat.Kind) bool) ([]step, error) {
	var steps []step
	cur := sch
	names := strings.Split(dotted, ".")
	for i, name := range names {
		rec := cur
		if rec.Kind == compat.Union { // a nullable nested record
			rec = nil
			for _, b := range cur.Branches {
				if b.Kind == compat.Record {
					rec = b
				}
			}
		}
		if rec == nil || rec.Kind != compat.Record {
			return nil, fmt.Errorf("field %s: %s is not a record", dotted, strings.Join(names[:i], "."))
		}
		var f *compat.Field
		for _, rf := range rec.Fields {
			if rf.Name == name {
				f = rf
			}
		}
		if f == nil {
			return nil, fmt.Errorf("field %s: record %s has no field %s", dotted, rec.Name, name)
		}
		steps = append(steps, step{name: name, union: f.Type.Kind == compat.Union})
		cur = f.Type
	}
	leaf := []*compat.Schema{cur}
	if cur.Kind == compat.Union {
		leaf = cur.Branches
	}
	for _, b := range leaf {
		if ok(b.Kind) {
			return steps, nil
		}
	}
	return nil, fmt.Errorf("field %s is %s, which cannot be used here", dotted, cur.Describe())
}

func (fn *keyByFn) ProcessElement(ctx context.Context, et beam.EventTime, d Decoded,
	emit func(beam.EventTime, string, []byte), dead func(deadletter.Record)) error {
	key, ts, err := fn.keyOf(d.Value)
	if err != nil {
		deadletter.Emit(ctx, dead, reject(fn.Stage, err, d.Record, d.WriterSchemaID, fn.InlinePayload))
		return nil
	}
	if fn.time != nil {
		et = mtime.FromMilliseconds(ts)
	}
	emit(et, key, d.Value)
	return nil
}

// keyOf returns the key of an Avro body and, with a TimeField, its time.
func (fn *keyByFn) keyOf(body []byte) (key string, ts int64, err error) {
	native, rest, err := fn.codec.NativeFromBinary(body)
	if err != nil {
		return "", 0, deadletter.Errorf(deadletter.InvalidPayload, "body is not a value of the reader schema: %v", err)
	}
	if len(rest) != 0 {
		return "", 0, deadletter.Errorf(deadletter.InvalidPayload, "%d bytes after the value of the reader schema", len(rest))
	}
	v, err := lookup(native, fn.key, fn.Field)
	if err != nil {
		return "", 0, err
	}
	switch x := v.(type) {
	case string:
		key = x
	case int32:
		key = strconv.FormatInt(int64(x), 10)
	case int64:
		key = strconv.FormatInt(x, 10)
	default:
		return "", 0, deadletter.Errorf(WrongFieldType, "key field %s holds a %s, want a string, an enum, an int or a long", fn.Field, avroType(v))
	}
	if fn.time == nil {
		return key, 0, nil
	}
	if v, err = lookup(native, fn.time, fn.TimeField); err != nil {
		return "", 0, err
	}
	switch x := v.(type) {
	case int64:
		ts = x
	case time.Time:
		ts = x.UnixMilli()
	default:
		return "", 0, deadletter.Errorf(WrongFieldType, "time field %s holds a %s, want a long", fn.TimeField, avroType(v))
	}
	if ts < schemas.MinTimeMillis || ts >= schemas.MaxTimeMillis {
		return "", 0, deadletter.Errorf(deadletter.EventTimeOutOfRange, "time field %s is outside %s to %s",
			fn.TimeField, schemas.MinTime.Format(time.DateOnly), schemas.MaxTime.Format(time.DateOnly))
	}
	return key, ts, nil
}

// lookup follows steps through goavro native data; a null on the way is
// MissingField. Errors name the field, never its value.
func lookup(native any, steps []step, dotted string) (any, error) {
	v := native
	for i, st := range steps {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, deadletter.Errorf(WrongFieldType, "field %s: %s is not a record", dotted, stepsName(steps[:i]))
		}
		if v, ok = m[st.name]; !ok || v == nil {
			return nil, deadletter.Errorf(MissingField, "field %s is missing (null)", dotted)
		}
		if st.union {
			u, ok := v.(map[string]any)
			if !ok || len(u) != 1 {
				return nil, deadletter.Errorf(WrongFieldType, "field %s: %s is not a union value", dotted, stepsName(steps[:i+1]))
			}
			for _, b := range u {
				v = b
			}
			if v == nil {
				return nil, deadletter.Errorf(MissingField, "field %s is missing (null)", dotted)
			}
		}
	}
	return v, nil
}

func stepsName(steps []step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.name
	}
	return strings.Join(names, ".")
}

// avroType names the Avro type of a goavro native value, for reasons.
func avroType(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case int32:
		return "int"
	case int64:
		return "long"
	case float32:
		return "float"
	case float64:
		return "double"
	case []byte:
		return "bytes or fixed"
	case string:
		return "string or enum"
	case time.Time:
		return "date or time"
	case map[string]any:
		return "record or map"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// PairConfig configures Pairs: the record a join.Pair becomes, with one
// field for each side.
type PairConfig struct {
	Name      string      // full name of the pair record ("shop.OrderPayment")
	Kind      tfjoin.Kind // the join's kind: Inner, or LeftOuter (Right is then nullable)
	Left      string      // name of the left row's field ("order")
	Right     string      // name of the right row's field ("payment")
	LeftType  string      // Avro JSON of the left rows (KeyBy's Schema for the left input)
	RightType string      // Avro JSON of the right rows
	Stage     string      // names the stage in dead letters (default "avroio.Pairs")
}

// Schema returns the Avro JSON of the pair record, for EncodeConfig.Schema:
//
//	{"type": "record", "name": Name, "fields": [
//	  {"name": Left, "type": LeftType},
//	  {"name": Right, "type": RightType}]}       (Inner)
//	  {"name": Right, "type": ["null", RightType], "default": null}]}  (LeftOuter)
//
// It fails when the result is not a valid schema (two sides that define
// the same named type differently, say).
func (c PairConfig) Schema() (string, error) {
	if c.Name == "" || c.Left == "" || c.Right == "" || c.LeftType == "" || c.RightType == "" {
		return "", errors.New("avroio: PairConfig needs Name, Left, Right, LeftType and RightType")
	}
	if c.Kind != tfjoin.Inner && c.Kind != tfjoin.LeftOuter {
		return "", fmt.Errorf("avroio: PairConfig kind %v, want inner or left-outer", c.Kind)
	}
	type field struct {
		Name    string           `json:"name"`
		Type    json.RawMessage  `json:"type"`
		Default *json.RawMessage `json:"default,omitempty"`
	}
	left, right := json.RawMessage(c.LeftType), json.RawMessage(c.RightType)
	rf := field{Name: c.Right, Type: right}
	if c.Kind == tfjoin.LeftOuter {
		null := json.RawMessage("null")
		rf.Type = json.RawMessage(`["null",` + c.RightType + `]`)
		rf.Default = &null
	}
	b, err := json.Marshal(struct {
		Type   string  `json:"type"`
		Name   string  `json:"name"`
		Fields []field `json:"fields"`
	}{"record", c.Name, []field{{Name: c.Left, Type: left}, rf}})
	if err != nil {
		return "", fmt.Errorf("avroio: pair schema: %w", err)
	}
	if _, err := compat.Parse(string(b)); err != nil {
		return "", fmt.Errorf("avroio: pair schema: %w", err)
	}
	return string(b), nil
}

// Pairs turns join pairs (PCollection<join.Pair> of an interval or
// temporal join of KeyBy rows) into records for Encode
// (PCollection<kafkaio.Record>): the key is the pair's key, the value Avro
// binary of cfg.Schema() (the two rows' bodies side by side; nothing is
// decoded), the timestamp the pair's event time. An unmatched pair under
// an Inner config is a dead letter (invalid_record); it cannot happen when
// Kind is the join's own.
func Pairs(s beam.Scope, cfg PairConfig, pairs beam.PCollection) (records, dead beam.PCollection) {
	s = s.Scope("avroio.Pairs")
	if _, err := cfg.Schema(); err != nil {
		panic(fmt.Sprintf("avroio.Pairs: %v", err))
	}
	if cfg.Stage == "" {
		cfg.Stage = "avroio.Pairs"
	}
	return beam.ParDo2(s, &pairFn{Outer: cfg.Kind == tfjoin.LeftOuter, Stage: cfg.Stage}, pairs)
}

type pairFn struct {
	Outer bool
	Stage string
}

func (fn *pairFn) ProcessElement(ctx context.Context, p tfjoin.Pair, emit func(kafkaio.Record), dead func(deadletter.Record)) {
	rec, err := PairRecord(p, fn.Outer)
	if err != nil {
		ref := fmt.Sprintf("join-pair://%s/%d", fn.Stage, p.LeftTS)
		deadletter.Emit(ctx, dead, deadletter.New(fn.Stage, err, deadletter.WithPayloadRef(ref, p.Left)))
		return
	}
	emit(rec)
}

// PairRecord is Pairs' work on one pair: the record whose value is Avro
// binary of a PairConfig's Schema (outer: of its LeftOuter form), keyed by
// p.Key and timestamped max(LeftTS, RightTS), the pair's event time.
func PairRecord(p tfjoin.Pair, outer bool) (kafkaio.Record, error) {
	if !p.Matched && !outer {
		return kafkaio.Record{}, deadletter.Errorf(deadletter.InvalidRecord, "unmatched pair for an inner pair schema")
	}
	n := len(p.Left) + len(p.Right) + 1
	v := append(make([]byte, 0, n), p.Left...)
	ts := p.LeftTS
	switch {
	case !outer:
		v = append(v, p.Right...)
	case p.Matched:
		v = append(append(v, 2), p.Right...) // union branch 1 (zig-zag 2)
	default:
		v = append(v, 0) // union branch 0: null
	}
	if p.Matched && p.RightTS > ts {
		ts = p.RightTS
	}
	return kafkaio.Record{Partition: -1, Offset: -1, Timestamp: time.UnixMilli(ts).UTC(), Key: []byte(p.Key), Value: v}, nil
}
