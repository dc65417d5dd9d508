package avroarrow

import (
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestRecycledBuffers decodes random data of random schemas in batches of
// random sizes with the Go allocator, whose released batches give their
// buffers back to the decoder. Each batch is checked against goavro only
// after the next one has been decoded and the one before it released (so
// that a buffer reused too early would show), on the decoding goroutine or
// another one.
func TestRecycledBuffers(t *testing.T) {
	nschemas := 120
	if testing.Short() {
		nschemas = 30
	}
	r := rand.New(rand.NewPCG(5, 6))
	sg := &schemaGen{r: r}
	dg := &dataGen{r: r}
	for s := range nschemas {
		schema, n, codec := genSchema(t, sg, s)
		opts := []Option{WithAllocator(memory.NewGoAllocator())}
		flatten := s%2 == 1
		if flatten {
			opts = append(opts, WithFlatten())
		}
		pj, _ := buildProjection(nil)
		d, err := New(schema, opts...)
		if err != nil {
			t.Fatalf("schema %d: %v", s, err)
		}
		p, err := d.Compile(schema)
		if err != nil {
			t.Fatalf("schema %d: compile: %v\n%s", s, err, schema)
		}
		type batch struct {
			rec  arrow.RecordBatch
			want []map[string]any
		}
		var prev, prev2 *batch
		var wg sync.WaitGroup
		for b := range 8 {
			rows := 1 + r.IntN(40)
			cur := &batch{}
			for range rows {
				body := dg.value(nil, n)
				want, err := goavroDecode(t, codec, n, body)
				if err != nil {
					t.Fatalf("schema %d: goavro: %v", s, err)
				}
				if err := d.Append(p, body); err != nil {
					t.Fatalf("schema %d batch %d: decode: %v\n%s", s, b, err, schema)
				}
				exp := map[string]any{}
				project(want, n, pj, flatten, "", exp)
				cur.want = append(cur.want, exp)
			}
			cur.rec = d.Flush()
			if prev != nil {
				for i, want := range prev.want {
					if diff := cmp.Diff(want, rowOf(t, prev.rec, i), cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
						t.Fatalf("schema %d batch %d row %d: (-goavro +arrow)\n%s\nschema %s", s, b-1, i, diff, schema)
					}
				}
			}
			if prev2 != nil {
				if b%2 == 0 {
					prev2.rec.Release()
				} else {
					wg.Add(1)
					go func(rec arrow.RecordBatch) {
						defer wg.Done()
						rec.Release()
					}(prev2.rec)
				}
			}
			prev2, prev = prev, cur
		}
		wg.Wait()
		prev2.rec.Release()
		prev.rec.Release()
	}
}

// TestRecycledBuffersReused checks that a released batch's buffers carry a
// later batch, and that a batch that is not released is left alone. Flush
// hands the column's buffers to the batch and takes spare ones for the
// next: the first batch's buffers come back at the third Flush, and carry
// the fourth batch.
func TestRecycledBuffersReused(t *testing.T) {
	const schema = `{"type":"record","name":"r","fields":[{"name":"s","type":"string"},{"name":"i","type":["null","long"]}]}`
	d, err := New(schema, WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Compile(schema)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(rows int) arrow.RecordBatch {
		for i := range rows {
			body := appendLong(nil, 3)
			body = append(body, "abc"...)
			if i%3 == 0 {
				body = append(body, 0)
			} else {
				body = appendLong(append(body, 2), int64(i))
			}
			if err := d.Append(p, body); err != nil {
				t.Fatal(err)
			}
		}
		return d.Flush()
	}
	addrs := func(rec arrow.RecordBatch) map[uintptr]bool {
		m := map[uintptr]bool{}
		for _, c := range rec.Columns() {
			for _, b := range c.Data().Buffers() {
				if b != nil && b.Len() > 0 {
					m[uintptr(unsafe.Pointer(unsafe.SliceData(b.Bytes())))] = true
				}
			}
		}
		return m
	}
	first := fill(100)
	kept := fill(100)
	seen := addrs(first)
	if len(seen) != 4 { // string offsets and data, long validity and values
		t.Fatalf("%d buffers in the first batch, want 4", len(seen))
	}
	first.Release()
	third := fill(100)
	defer third.Release()
	fourth := fill(100)
	defer fourth.Release()
	for a := range addrs(fourth) {
		if !seen[a] {
			t.Errorf("buffer %#x of the fourth batch is not one of the released first batch", a)
		}
	}
	for _, rec := range []arrow.RecordBatch{kept, third} {
		for a := range addrs(rec) {
			if seen[a] {
				t.Errorf("buffer %#x of a live batch is one of the first batch", a)
			}
		}
	}
	for i := range 100 {
		if v := kept.Column(0).ValueStr(i); v != "abc" {
			t.Fatalf("kept row %d: %q", i, v)
		}
	}
	kept.Release()
}
