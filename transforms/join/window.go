package join

import (
	"fmt"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn4x0[beam.EventTime, string, []byte, func(string, Tagged)](&tagFn{})
	register.DoFn4x0[beam.Window, string, func(*Tagged) bool, func(Tuple)](&tupleFn{})
	register.DoFn4x0[beam.Window, string, func(*Tagged) bool, func(Group)](&groupFn{})
	// batchFn emits from FinishBundle, which register.DoFn cannot wrap.
	beam.RegisterType(typeOf[batchFn]())
	register.DoFn3x0[string, func(*RowBatch) bool, func(Tuple)](&hashTupleFn{})
	register.DoFn3x0[string, func(*RowBatch) bool, func(Group)](&hashGroupFn{})
	register.Function4x0(markWindow)
	register.Emitter2[string, Tagged]()
	register.Emitter2[string, windowed]()
	beam.RegisterType(typeOf[windowed]())
	register.Emitter3[beam.EventTime, string, RowBatch]()
	register.Emitter1[Tuple]()
	register.Emitter1[Group]()
	register.Iter1[Tagged]()
	register.Iter1[RowBatch]()
	beam.RegisterType(typeOf[Tagged]())
	beam.RegisterType(typeOf[Tuple]())
	beam.RegisterType(typeOf[Group]())
	beam.RegisterType(typeOf[RowBatch]())
}

// Window joins 2 to 8 keyed inputs (each a PCollection<KV<string, []byte>>)
// that share one windowing strategy, and returns a PCollection<Tuple>: for
// every key and window, the combinations of one row per input that kind
// admits. See the package documentation for timestamps, firing and late data.
func Window(s beam.Scope, kind Kind, inputs []beam.PCollection, opts ...WindowOption) beam.PCollection {
	c := newConfig(opts)
	return windowJoin(s.Scope(c.scope("join.Window")), kind, inputs, c, false)
}

// CoGroup is Window with coGroup-style output: one Group per key and window
// holding all rows of every input (PCollection<Group>). kind decides which
// groups are emitted: Inner needs rows on every input, LeftOuter on the first,
// FullOuter on any.
func CoGroup(s beam.Scope, kind Kind, inputs []beam.PCollection, opts ...WindowOption) beam.PCollection {
	c := newConfig(opts)
	return windowJoin(s.Scope(c.scope("join.CoGroup")), kind, inputs, c, true)
}

func windowJoin(s beam.Scope, kind Kind, inputs []beam.PCollection, c config, grouped bool) beam.PCollection {
	if len(inputs) < 2 || len(inputs) > MaxInputs {
		panic(fmt.Errorf("join.Window: %d inputs, want 2 to %d", len(inputs), MaxInputs))
	}
	if c.batched {
		return batchedWindowJoin(s, kind, inputs, c, grouped)
	}
	tagged := make([]beam.PCollection, len(inputs))
	for i, in := range inputs {
		tagged[i] = beam.ParDo(s.Scope("tag"+strconv.Itoa(i)), &tagFn{Side: i}, in)
	}
	all := beam.Flatten(s, tagged...)
	g := beam.GroupByKey(s, all)
	if grouped {
		return beam.ParDo(s, &groupFn{N: len(inputs), Kind: int(kind)}, g)
	}
	return beam.ParDo(s, &tupleFn{N: len(inputs), Kind: int(kind)}, g)
}

// tagFn marks a row with the input it came from and its event time.
type tagFn struct {
	Side int
}

func (f *tagFn) ProcessElement(ts beam.EventTime, key string, v []byte, emit func(string, Tagged)) {
	emit(key, Tagged{Side: f.Side, TS: ts.Milliseconds(), Data: v})
}

func windowBounds(w beam.Window) (int64, int64) {
	if iw, ok := w.(window.IntervalWindow); ok {
		return iw.Start.Milliseconds(), iw.End.Milliseconds()
	}
	return mtime.MinTimestamp.Milliseconds(), mtime.EndOfGlobalWindowTime.Milliseconds()
}

func collectSides(n int, it func(*Tagged) bool) [][][]byte {
	sides := make([][][]byte, n)
	var t Tagged
	for it(&t) {
		if t.Side >= 0 && t.Side < n {
			sides[t.Side] = append(sides[t.Side], t.Data)
		}
	}
	return sides
}

// tupleFn expands one cogrouped key and window into tuples.
type tupleFn struct {
	N    int
	Kind int
}

func (f *tupleFn) ProcessElement(w beam.Window, key string, it func(*Tagged) bool, emit func(Tuple)) {
	start, end := windowBounds(w)
	product(Kind(f.Kind), collectSides(f.N, it), func(p uint8, rows [][]byte) {
		emit(Tuple{Key: key, Start: start, End: end, Present: p, Rows: rows})
	})
}

// groupFn emits one cogrouped key and window as a Group.
type groupFn struct {
	N    int
	Kind int
}

func (f *groupFn) ProcessElement(w beam.Window, key string, it func(*Tagged) bool, emit func(Group)) {
	start, end := windowBounds(w)
	sides := collectSides(f.N, it)
	if keepGroup(Kind(f.Kind), sides) {
		emit(Group{Key: key, Start: start, End: end, Sides: sides})
	}
}

func keepGroup(kind Kind, sides [][][]byte) bool {
	switch kind {
	case Inner:
		for _, s := range sides {
			if len(s) == 0 {
				return false
			}
		}
		return true
	case LeftOuter:
		return len(sides[0]) > 0
	}
	for _, s := range sides {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// RowBatch carries the rows of one input, one window and one key shard
// across the shuffle of the batched window join, as parallel slices.
type RowBatch struct {
	Side       int
	Start, End int64
	Keys       []string
	Rows       [][]byte
}

// shardOf maps a key to one of n shards. It must agree on every worker, so
// it uses a fixed hash (FNV-1a), not maphash.
func shardOf(key string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

func batchedWindowJoin(s beam.Scope, kind Kind, inputs []beam.PCollection, c config, grouped bool) beam.PCollection {
	ws := inputs[0].WindowingStrategy()
	var re *window.Fn
	switch ws.Fn.Kind {
	case window.FixedWindows:
		re = window.NewFixedWindows(ws.Fn.Size)
	case window.SlidingWindows:
		// Sliding windows end on multiples of the period, so a fixed window
		// of one period ending at a sliding window's end identifies it.
		re = window.NewFixedWindows(ws.Fn.Period)
	default:
		panic(fmt.Errorf("join.Window: the batched path needs fixed or sliding windows, got %v", ws.Fn.Kind))
	}
	batches := make([]beam.PCollection, len(inputs))
	for i, in := range inputs {
		si := s.Scope("batch" + strconv.Itoa(i))
		// The batches are emitted when a bundle finishes, where the SDK only
		// offers the global window: carry each row's window in the row.
		marked := beam.ParDo(si, markWindow, in)
		marked = beam.WindowInto(si, window.NewGlobalWindows(), marked)
		batches[i] = beam.ParDo(si, &batchFn{Side: i, Shards: c.shards}, marked)
	}
	all := beam.Flatten(s, batches...)
	all = beam.WindowInto(s, re, all)
	g := beam.GroupByKey(s, all)
	if grouped {
		return beam.ParDo(s, &hashGroupFn{N: len(inputs), Kind: int(kind)}, g)
	}
	return beam.ParDo(s, &hashTupleFn{N: len(inputs), Kind: int(kind)}, g)
}

// windowed is a row with the bounds of its window.
type windowed struct {
	Start, End int64
	Data       []byte
}

func markWindow(w beam.Window, key string, v []byte, emit func(string, windowed)) {
	start, end := windowBounds(w)
	emit(key, windowed{Start: start, End: end, Data: v})
}

type batchKey struct {
	start, end int64
	shard      int
}

// batchFn gathers the rows of a bundle per window and key shard and emits
// each group as one RowBatch when the bundle finishes, timestamped at the end
// of its window.
type batchFn struct {
	Side   int
	Shards int

	buf map[batchKey]*RowBatch
}

func (f *batchFn) StartBundle(_ func(beam.EventTime, string, RowBatch)) {
	f.buf = make(map[batchKey]*RowBatch)
}

func (f *batchFn) ProcessElement(key string, r windowed, _ func(beam.EventTime, string, RowBatch)) {
	start, end, v := r.Start, r.End, r.Data
	k := batchKey{start, end, shardOf(key, f.Shards)}
	b := f.buf[k]
	if b == nil {
		b = &RowBatch{Side: f.Side, Start: start, End: end}
		f.buf[k] = b
	}
	b.Keys = append(b.Keys, key)
	b.Rows = append(b.Rows, v)
}

func (f *batchFn) FinishBundle(emit func(beam.EventTime, string, RowBatch)) {
	for k, b := range f.buf {
		emit(mtime.FromMilliseconds(k.end-1), strconv.Itoa(k.shard), *b)
	}
	f.buf = nil
}

// hashSides groups the batches of one shard and window by key.
func hashSides(n int, it func(*RowBatch) bool) (start, end int64, keys []string, byKey map[string][][][]byte) {
	byKey = make(map[string][][][]byte)
	var b RowBatch
	for it(&b) {
		start, end = b.Start, b.End
		if b.Side < 0 || b.Side >= n {
			continue
		}
		for i, k := range b.Keys {
			sides := byKey[k]
			if sides == nil {
				sides = make([][][]byte, n)
				byKey[k] = sides
				keys = append(keys, k)
			}
			sides[b.Side] = append(sides[b.Side], b.Rows[i])
		}
	}
	return start, end, keys, byKey
}

// hashTupleFn hash-joins the batches of one shard and window into tuples.
type hashTupleFn struct {
	N    int
	Kind int
}

func (f *hashTupleFn) ProcessElement(_ string, it func(*RowBatch) bool, emit func(Tuple)) {
	start, end, keys, byKey := hashSides(f.N, it)
	for _, k := range keys {
		product(Kind(f.Kind), byKey[k], func(p uint8, rows [][]byte) {
			emit(Tuple{Key: k, Start: start, End: end, Present: p, Rows: rows})
		})
	}
}

// hashGroupFn hash-joins the batches of one shard and window into groups.
type hashGroupFn struct {
	N    int
	Kind int
}

func (f *hashGroupFn) ProcessElement(_ string, it func(*RowBatch) bool, emit func(Group)) {
	start, end, keys, byKey := hashSides(f.N, it)
	for _, k := range keys {
		if sides := byKey[k]; keepGroup(Kind(f.Kind), sides) {
			emit(Group{Key: k, Start: start, End: end, Sides: sides})
		}
	}
}
