package avroarrow

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/linkedin/goavro/v2"
)

// evolver derives a reader schema from a generated writer record schema the
// way schemas evolve (dropped fields, added fields with defaults, promoted
// types, optional wrappers) and knows how the resolved values must look.
type evolver struct {
	r *rand.Rand
	n int
}

// fieldChange says how one reader field relates to the writer.
type fieldChange struct {
	name    string
	added   any // normal-form default for an added field
	isAdded bool
	promote func(any) any // nil: unchanged
	nested  []fieldChange // for a record-typed field
}

var promotions = map[string][]string{
	"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
	"string": {"bytes"}, "bytes": {"string"},
}

func promoteFn(from, to string) func(any) any {
	return func(v any) any {
		switch x := v.(type) {
		case int32:
			switch to {
			case "long":
				return int64(x)
			case "float":
				return float32(x)
			}
			return float64(x)
		case int64:
			if to == "float" {
				return float32(x)
			}
			return float64(x)
		case float32:
			return float64(x)
		case string:
			return []byte(x)
		case []byte:
			return string(x)
		}
		panic(fmt.Sprintf("promote %T %s->%s", v, from, to))
	}
}

// evolve returns the reader JSON of record w and the field changes.
func (e *evolver) evolve(w map[string]any) (map[string]any, []fieldChange) {
	r := map[string]any{"type": "record", "name": w["name"], "namespace": w["namespace"]}
	var fields []any
	var changes []fieldChange
	for _, f := range w["fields"].([]any) {
		fm := f.(map[string]any)
		name := fm["name"].(string)
		if e.r.IntN(6) == 0 {
			continue // dropped: the writer's value is skipped
		}
		ch := fieldChange{name: name}
		typ := fm["type"]
		switch t := typ.(type) {
		case string:
			if to, ok := promotions[t]; ok && e.r.IntN(3) == 0 {
				target := to[e.r.IntN(len(to))]
				ch.promote = promoteFn(t, target)
				typ = target
			}
			if t != "null" && e.r.IntN(4) == 0 {
				typ = []any{"null", typ}
			}
		case map[string]any:
			if t["type"] == "record" {
				sub, nested := e.evolve(t)
				typ, ch.nested = sub, nested
			}
		}
		fields = append(fields, map[string]any{"name": name, "type": typ})
		changes = append(changes, ch)
	}
	for range e.r.IntN(3) {
		e.n++
		name := fmt.Sprintf("added%d", e.n)
		var fm map[string]any
		var def any
		switch e.r.IntN(4) {
		case 0:
			fm, def = map[string]any{"name": name, "type": "int", "default": e.n}, int32(e.n)
		case 1:
			fm, def = map[string]any{"name": name, "type": "string", "default": "d"}, "d"
		case 2:
			fm, def = map[string]any{"name": name, "type": []any{"null", "double"}, "default": nil}, nil
		default:
			fm = map[string]any{"name": name, "type": map[string]any{"type": "array", "items": "long"}, "default": []any{1, 2}}
			def = []any{int64(1), int64(2)}
		}
		pos := e.r.IntN(len(fields) + 1)
		fields = append(fields[:pos], append([]any{fm}, fields[pos:]...)...)
		changes = append(changes[:pos], append([]fieldChange{{name: name, isAdded: true, added: def}}, changes[pos:]...)...)
	}
	r["fields"] = fields
	return r, changes
}

// apply turns a normal-form writer record into the expected reader record.
func apply(w map[string]any, changes []fieldChange) map[string]any {
	out := map[string]any{}
	for _, c := range changes {
		switch {
		case c.isAdded:
			out[c.name] = c.added
		case c.nested != nil:
			out[c.name] = apply(w[c.name].(map[string]any), c.nested)
		case c.promote != nil && w[c.name] != nil:
			out[c.name] = c.promote(w[c.name])
		default:
			out[c.name] = w[c.name]
		}
	}
	return out
}

// TestDifferentialEvolved reads random data written with generated writer
// schemas through evolved reader schemas; the expected values are goavro's
// decoding with the writer schema, resolved by hand.
func TestDifferentialEvolved(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	sg := &schemaGen{r: r}
	dg := &dataGen{r: r}
	ev := &evolver{r: r}
	schemasN := 200
	if testing.Short() {
		schemasN = 40
	}
	for s := range schemasN {
		wj := sg.record(0)
		rj, changes := ev.evolve(wj)
		wb, _ := json.Marshal(wj)
		rb, _ := json.Marshal(rj)
		writer, reader := string(wb), string(rb)
		wn, err := parseSchema(writer)
		if err != nil {
			t.Fatal(err)
		}
		codec, err := goavro.NewCodec(writer)
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		d, err := New(reader, WithAllocator(mem))
		if err != nil {
			t.Logf("schema %d: %v", s, err) // every field dropped
			continue
		}
		p, err := d.Compile(writer)
		if err != nil {
			t.Fatalf("schema %d: compile: %v\nwriter %s\nreader %s", s, err, writer, reader)
		}
		var want []map[string]any
		for range 10 {
			body := dg.value(nil, wn)
			v, err := goavroDecode(t, codec, wn, body)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, apply(v, changes))
			if err := d.Append(p, body); err != nil {
				t.Fatalf("schema %d: decode: %v\nwriter %s\nreader %s", s, err, writer, reader)
			}
		}
		rec := d.Flush()
		if err := validate(rec); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if diff := cmp.Diff(w, rowOf(t, rec, i), cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("schema %d row %d (-want +got)\n%s\nwriter %s\nreader %s", s, i, diff, writer, reader)
			}
		}
		rec.Release()
		mem.AssertSize(t, 0)
	}
}
