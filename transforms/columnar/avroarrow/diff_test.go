package avroarrow

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/linkedin/goavro/v2"
)

// genSchema generates random schema number s of a test: its JSON, its
// parsed form and its goavro codec.
func genSchema(t *testing.T, sg *schemaGen, s int) (string, *node, *goavro.Codec) {
	t.Helper()
	schema := sg.schema()
	n, err := parseSchema(schema)
	if err != nil {
		t.Fatalf("schema %d: parse: %v\n%s", s, err, schema)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatalf("schema %d: goavro: %v\n%s", s, err, schema)
	}
	return schema, n, codec
}

// TestDifferentialGenerated decodes random data of random schemas with goavro
// and with the decoder, whole and under random projections, nested and
// flattened, and compares every value.
func TestDifferentialGenerated(t *testing.T) {
	schemas, rows := 900, 20
	if testing.Short() {
		schemas = 60
	}
	r := rand.New(rand.NewPCG(1, 2))
	sg := &schemaGen{r: r}
	dg := &dataGen{r: r}
	for s := range schemas {
		schema, n, codec := genSchema(t, sg, s)
		bodies := make([][]byte, rows)
		want := make([]map[string]any, rows)
		var err error
		for i := range bodies {
			bodies[i] = dg.value(nil, n)
			if want[i], err = goavroDecode(t, codec, n, bodies[i]); err != nil {
				t.Fatalf("schema %d row %d: goavro: %v\n%s", s, i, err, schema)
			}
		}
		var paths []string
		if all := leafPaths(n, "", nil); s%2 == 1 {
			for _, p := range all {
				if r.IntN(3) == 0 {
					paths = append(paths, p)
				}
			}
		}
		for _, flatten := range []bool{false, true} {
			opts := []Option{WithProjection(paths...)}
			if flatten {
				opts = append(opts, WithFlatten())
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			opts = append(opts, WithAllocator(mem))
			d, err := New(schema, opts...)
			if err != nil {
				// A projection that selects only empty records is rejected.
				t.Logf("schema %d paths %v: %v", s, paths, err)
				continue
			}
			p, err := d.Compile(schema)
			if err != nil {
				t.Fatalf("schema %d: compile: %v\n%s", s, err, schema)
			}
			for i, b := range bodies {
				if err := d.Append(p, b); err != nil {
					t.Fatalf("schema %d row %d: decode: %v\n%s", s, i, err, schema)
				}
			}
			rec := d.Flush()
			if err := validate(rec); err != nil {
				t.Fatalf("schema %d: invalid batch: %v", s, err)
			}
			pj, _ := buildProjection(paths)
			for i := range bodies {
				exp := map[string]any{}
				project(want[i], n, pj, flatten, "", exp)
				got := rowOf(t, rec, i)
				if diff := cmp.Diff(exp, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("schema %d row %d flatten=%v paths=%v: (-goavro +arrow)\n%s\nschema %s", s, i, flatten, paths, diff, schema)
				}
			}
			rec.Release()
			mem.AssertSize(t, 0)
		}
	}
}
