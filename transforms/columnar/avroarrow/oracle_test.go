package avroarrow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/linkedin/goavro/v2"
)

// This file holds the test oracle: goavro's decoding normalised to plain Go
// values, the same normal form read back from Arrow, and generators of random
// schemas and of random valid Avro binaries.
//
// Normal form: null nil, boolean bool, int int32, long int64, float float32,
// double float64, bytes and fixed []byte, string string, enum the symbol,
// record map[string]any, array []any, map map[string]any, union the branch
// value; date int32 days, time-millis int32, timestamps int64, time-micros int64
// nanoseconds (wrapping like goavro's Duration),
// decimal the big.Rat string.

// normGoavro normalises a goavro native value of schema n.
func normGoavro(t testing.TB, n *node, v any) any {
	t.Helper()
	if n.kind == kUnion {
		if v == nil {
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			t.Fatalf("goavro union value %#v", v)
		}
		for name, bv := range m {
			for _, b := range n.branches {
				if goavroBranchName(b) == name {
					return normGoavro(t, b, bv)
				}
			}
			t.Fatalf("goavro union branch %q not in %s", name, n)
		}
	}
	switch n.kind {
	case kNull:
		return nil
	case kInt:
		switch x := v.(type) {
		case time.Time: // date
			days := math.Floor(float64(x.Unix()) / 86400)
			return int32(days)
		case time.Duration: // time-millis
			return int32(x / time.Millisecond)
		}
	case kLong:
		switch x := v.(type) {
		case time.Time:
			if n.logical == lTimestampMicros {
				return x.UnixMicro()
			}
			return x.UnixMilli()
		case time.Duration:
			// goavro multiplies time-micros into a Duration, which wraps
			// for huge values; compare in (wrapped) nanoseconds.
			return int64(x)
		}
	case kBytes, kFixed:
		if r, ok := v.(*big.Rat); ok {
			return r.RatString()
		}
	case kRecord:
		m := v.(map[string]any)
		out := map[string]any{}
		for _, f := range n.fields {
			out[f.name] = normGoavro(t, f.typ, m[f.name])
		}
		return out
	case kArray:
		a := v.([]any)
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = normGoavro(t, n.items, e)
		}
		return out
	case kMap:
		m := v.(map[string]any)
		out := map[string]any{}
		for k, e := range m {
			out[k] = normGoavro(t, n.items, e)
		}
		return out
	}
	return v
}

func goavroBranchName(b *node) string {
	switch b.kind {
	case kRecord, kEnum, kFixed:
		return b.name
	}
	switch b.logical {
	case lDate:
		return "int.date"
	case lTimeMillis:
		return "int.time-millis"
	case lTimeMicros:
		return "long.time-micros"
	case lTimestampMillis:
		return "long.timestamp-millis"
	case lTimestampMicros:
		return "long.timestamp-micros"
	case lDecimal:
		return b.kind.String() + ".decimal"
	}
	return b.kind.String()
}

// normArrow reads row i of arr in normal form.
func normArrow(t testing.TB, arr arrow.Array, i int) any {
	t.Helper()
	if arr.DataType().ID() != arrow.DENSE_UNION && arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Null:
		return nil
	case *array.Boolean:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Date32:
		return int32(a.Value(i))
	case *array.Time32:
		return int32(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Time64:
		return int64(a.Value(i)) * 1000 // nanoseconds, as normGoavro
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return append([]byte{}, a.Value(i)...)
	case *array.FixedSizeBinary:
		return append([]byte{}, a.Value(i)...)
	case *array.Decimal128:
		return decimalRat(a.Value(i), a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Dictionary:
		return a.Dictionary().(*array.String).Value(a.GetValueIndex(i))
	case *array.Map:
		start, end := a.ValueOffsets(i)
		keys, items := a.Keys().(*array.String), a.Items()
		out := map[string]any{}
		for j := int(start); j < int(end); j++ {
			out[keys.Value(j)] = normArrow(t, items, j)
		}
		return out
	case *array.List:
		start, end := a.ValueOffsets(i)
		out := []any{}
		for j := int(start); j < int(end); j++ {
			out = append(out, normArrow(t, a.ListValues(), j))
		}
		return out
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		out := map[string]any{}
		for k, f := range st.Fields() {
			out[f.Name] = normArrow(t, a.Field(k), i)
		}
		return out
	case *array.DenseUnion:
		return normArrow(t, a.Field(a.ChildID(i)), int(a.ValueOffset(i)))
	}
	t.Fatalf("normArrow: unhandled %T", arr)
	return nil
}

func decimalRat(n decimal128.Num, scale int32) string {
	num := n.BigInt()
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	return new(big.Rat).SetFrac(num, den).RatString()
}

// rowOf reads row i of a batch as a map of top-level columns.
func rowOf(t testing.TB, rec arrow.RecordBatch, i int) map[string]any {
	out := map[string]any{}
	for c, f := range rec.Schema().Fields() {
		out[f.Name] = normArrow(t, rec.Column(c), i)
	}
	return out
}

// project keeps the parts of a normal-form record that the projection
// selects, nested or flattened.
func project(v map[string]any, r *node, pj *proj, flatten bool, prefix string, out map[string]any) {
	for _, f := range r.fields {
		sub, in := pj.child(f.name)
		if !in {
			continue
		}
		path := f.name
		if prefix != "" {
			path = prefix + "." + f.name
		}
		fv := v[f.name]
		t := f.typ
		if inner, ok := nullableInner(t); ok {
			t = inner
		}
		if flatten && t.kind == kRecord {
			m, _ := fv.(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			project(m, t, sub, flatten, path, out)
			continue
		}
		out[path] = projectValue(fv, f.typ, sub)
	}
}

func projectValue(v any, n *node, pj *proj) any {
	if pj == nil || v == nil {
		return v
	}
	if inner, ok := nullableInner(n); ok {
		n = inner
	}
	switch n.kind {
	case kRecord:
		out := map[string]any{}
		project(v.(map[string]any), n, pj, false, "", out)
		return out
	case kArray:
		a := v.([]any)
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = projectValue(e, n.items, pj)
		}
		return out
	case kMap:
		m := v.(map[string]any)
		out := map[string]any{}
		for k, e := range m {
			out[k] = projectValue(e, n.items, pj)
		}
		return out
	}
	return v
}

// schemaGen generates random Avro schemas.
type schemaGen struct {
	r     *rand.Rand
	names int
}

func (g *schemaGen) name(prefix string) string {
	g.names++
	return fmt.Sprintf("%s%d", prefix, g.names)
}

// record returns the JSON of a random record schema.
func (g *schemaGen) record(depth int) map[string]any {
	nf := 1 + g.r.IntN(6)
	fields := make([]any, nf)
	for i := range fields {
		fields[i] = map[string]any{"name": fmt.Sprintf("f%d", i), "type": g.typ(depth + 1)}
	}
	return map[string]any{"type": "record", "name": g.name("R"), "namespace": "gen", "fields": fields}
}

func (g *schemaGen) typ(depth int) any {
	leaf := depth > 3
	switch k := g.r.IntN(22); {
	case k < 8 || leaf && k >= 14:
		return []string{"null", "boolean", "int", "long", "float", "double", "bytes", "string"}[g.r.IntN(8)]
	case k == 8:
		return map[string]any{"type": "int", "logicalType": "date"}
	case k == 9:
		switch g.r.IntN(4) {
		case 0:
			return map[string]any{"type": "long", "logicalType": "timestamp-millis"}
		case 1:
			return map[string]any{"type": "long", "logicalType": "timestamp-micros"}
		case 2:
			return map[string]any{"type": "int", "logicalType": "time-millis"}
		}
		return map[string]any{"type": "long", "logicalType": "time-micros"}
	case k == 10:
		p := 1 + g.r.IntN(38)
		return map[string]any{"type": "bytes", "logicalType": "decimal", "precision": p, "scale": g.r.IntN(p + 1)}
	case k == 11:
		syms := []string{"A", "B", "C", "D", "E"}[:1+g.r.IntN(5)]
		return map[string]any{"type": "enum", "name": g.name("E"), "symbols": syms}
	case k == 12:
		return map[string]any{"type": "fixed", "name": g.name("F"), "size": 1 + g.r.IntN(8)}
	case k == 13:
		return map[string]any{"type": "string", "logicalType": "uuid"}
	case k < 16:
		inner := g.typ(depth + 1)
		if _, isUnion := inner.([]any); isUnion || inner == "null" {
			return inner
		}
		if g.r.IntN(4) == 0 {
			return []any{inner, "null"}
		}
		return []any{"null", inner}
	case k == 16:
		return map[string]any{"type": "array", "items": g.typ(depth + 1)}
	case k == 17:
		return map[string]any{"type": "map", "values": g.typ(depth + 1)}
	case k == 18:
		// A general union of distinct branch kinds.
		kinds := []any{"null", "int", "string", "double", "boolean", g.record(depth + 1)}
		g.r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
		return kinds[:2+g.r.IntN(3)]
	}
	return g.record(depth)
}

func (g *schemaGen) schema() string {
	b, _ := json.Marshal(g.record(0))
	return string(b)
}

// dataGen writes random valid Avro binaries of a schema.
type dataGen struct {
	r *rand.Rand
}

func (g *dataGen) long(dst []byte, v int64) []byte { return appendLong(dst, v) }

func (g *dataGen) value(dst []byte, n *node) []byte {
	r := g.r
	switch n.kind {
	case kNull:
		return dst
	case kBoolean:
		return append(dst, byte(r.IntN(2)))
	case kInt:
		switch n.logical {
		case lDate:
			return g.long(dst, int64(r.IntN(200000)-100000))
		case lTimeMillis:
			return g.long(dst, int64(r.IntN(86400000)))
		}
		switch r.IntN(3) {
		case 0:
			return g.long(dst, int64(r.IntN(100)-50))
		case 1:
			return g.long(dst, int64(int32(r.Uint32())))
		}
		return g.long(dst, []int64{math.MinInt32, math.MaxInt32, 0, -1}[r.IntN(4)])
	case kLong:
		switch n.logical {
		case lTimestampMillis, lTimestampMicros:
			return g.long(dst, r.Int64N(4e15)-2e15)
		case lTimeMicros:
			return g.long(dst, r.Int64N(86400000000))
		}
		switch r.IntN(3) {
		case 0:
			return g.long(dst, int64(r.IntN(1000)-500))
		case 1:
			return g.long(dst, int64(r.Uint64()))
		}
		return g.long(dst, []int64{math.MinInt64, math.MaxInt64, 0, -1}[r.IntN(4)])
	case kFloat:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(r.NormFloat64()*1e3)))
	case kDouble:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.NormFloat64()*1e6))
	case kBytes:
		if n.logical == lDecimal {
			b := make([]byte, 1+r.IntN(int(n.precision)/3+1))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return append(g.long(dst, int64(len(b))), b...)
		}
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return append(g.long(dst, int64(len(b))), b...)
	case kString:
		s := g.str()
		return append(g.long(dst, int64(len(s))), s...)
	case kFixed:
		for range n.size {
			dst = append(dst, byte(r.Uint32()))
		}
		return dst
	case kEnum:
		return g.long(dst, int64(r.IntN(len(n.symbols))))
	case kUnion:
		i := r.IntN(len(n.branches))
		return g.value(g.long(dst, int64(i)), n.branches[i])
	case kRecord:
		for _, f := range n.fields {
			dst = g.value(dst, f.typ)
		}
		return dst
	case kArray, kMap:
		blocks := r.IntN(3)
		seen := map[string]bool{}
		for range blocks {
			cnt := 1 + r.IntN(3)
			var body []byte
			for range cnt {
				if n.kind == kMap {
					k := g.str()
					for seen[k] {
						k += "x"
					}
					seen[k] = true
					body = append(g.long(body, int64(len(k))), k...)
				}
				body = g.value(body, n.items)
			}
			if r.IntN(2) == 0 {
				dst = g.long(dst, int64(cnt))
			} else { // the block-size form
				dst = g.long(g.long(dst, -int64(cnt)), int64(len(body)))
			}
			dst = append(dst, body...)
		}
		return append(dst, 0)
	}
	panic("dataGen: " + n.String())
}

func (g *dataGen) str() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzÄéß日本"
	runes := []rune(alphabet)
	var sb strings.Builder
	for range g.r.IntN(10) {
		sb.WriteRune(runes[g.r.IntN(len(runes))])
	}
	return sb.String()
}

// leafPaths lists the dotted paths of a record's fields, descending into
// records and nullable records.
func leafPaths(r *node, prefix string, out []string) []string {
	for _, f := range r.fields {
		p := f.name
		if prefix != "" {
			p = prefix + "." + f.name
		}
		t := f.typ
		if inner, ok := nullableInner(t); ok {
			t = inner
		}
		if t.kind == kRecord {
			out = leafPaths(t, p, out)
		}
		out = append(out, p)
	}
	return out
}

// goavroDecode decodes body with goavro and normalises it.
func goavroDecode(t testing.TB, codec *goavro.Codec, n *node, body []byte) (map[string]any, error) {
	v, rest, err := codec.NativeFromBinary(body)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("goavro: %d trailing bytes", len(rest))
	}
	return normGoavro(t, n, v).(map[string]any), nil
}
