package join

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn3x0[beam.EventTime, Change, func(string, shardRow)](&replicateFn{})
	register.DoFn3x0[beam.EventTime, Batch, func(string, shardRow)](&routeFn{})
	register.DoFn5x0[state.Provider, timers.Provider, string, shardRow, func([]byte)](&broadcastFn{})
	register.Emitter2[string, shardRow]()
	register.Emitter1[[]byte]()
	register.DoFn3x0[beam.EventTime, beam.T, func(beam.EventTime, int, beam.T)](&replicateAnyFn{})
	register.Emitter3[beam.EventTime, int, beam.T]()
	beam.RegisterType(typeOf[Batch]())
	beam.RegisterType(typeOf[shardRow]())
	// A coder of its own: with Beam's row coder a nil Data or Rows is
	// written as a null in a field the schema declares non-nullable, and
	// Flink's runner, which decodes rows on its side of a GroupByKey or
	// state, read Broadcast's elements wrongly (docs/runners.md).
	beam.RegisterCoder(typeOf[shardRow](), encodeShardRow, decodeShardRow)
}

// Batch is a batch of rows of the large side of a broadcast join. ID names
// the batch (it decides the shard the batch is evaluated on, and identifies
// it on re-evaluation); its event time is the element's timestamp.
type Batch struct {
	ID   string
	Rows [][]byte
}

// Table is the current broadcast table: the small side's latest value per
// key. An EvalFunc must not modify it.
type Table map[string][]byte

// EvalFunc evaluates a batch of the large side against the broadcast table
// and emits results. changed is nil when the batch is new, and lists the
// keys of the table that changed (upserted or deleted) when a stored batch
// is re-evaluated. Register it with RegisterEvalFunc in an init function.
type EvalFunc func(table Table, batch Batch, changed []string, emit func([]byte))

// RegisterEvalFunc registers fn with Beam so workers can find it by name.
// Call it from an init function.
func RegisterEvalFunc(fn EvalFunc) {
	runtime.RegisterFunction(fn)
}

// Broadcast joins a small changelog (PCollection<Change>) with a large
// stream of batches (PCollection<Batch>): every shard keeps the whole table,
// and fn is called with each batch and the table as it stands when the batch
// is processed. With StateTTL(d) each shard keeps the batches for d of event
// time and calls fn again for them whenever the table changes. It returns
// what fn emits (PCollection<[]byte>).
func Broadcast(s beam.Scope, small, large beam.PCollection, fn EvalFunc, opts ...BroadcastOption) beam.PCollection {
	c := newConfig(opts)
	s = s.Scope(c.scope("join.Broadcast"))
	if fn == nil {
		panic(fmt.Errorf("join.Broadcast: nil EvalFunc"))
	}
	both := beam.Flatten(s,
		beam.ParDo(s.Scope("replicate"), &replicateFn{Shards: c.shards}, small),
		beam.ParDo(s.Scope("route"), &routeFn{Shards: c.shards}, large))
	both = beam.WindowInto(s, window.NewGlobalWindows(), both)
	return beam.ParDo(s, &broadcastFn{
		Fn:      reflectx.FunctionName(fn),
		TTL:     toMillis(c.ttl),
		Table:   state.MakeValueState[[]Change]("table"),
		Batches: state.MakeBagState[shardRow]("batches"),
		Clock:   state.MakeValueState[clock]("clock"),
		Expire:  timers.InEventTime("expire"),
	}, both)
}

// Replicate is the broadcast half of a broadcast join, for joins whose
// other half keeps its own keyed state: it sends every element of col (the
// small side, PCollection<T>) to each of shards shards, as
// PCollection<KV<int, T>> with keys 0 to shards-1, at the element's event
// time. Flatten it with the large side keyed by the same shard numbers
// (for example a hash of the row key modulo shards) and a stateful DoFn or
// GroupByKey per shard then sees every element of the small side together
// with its share of the large side. Broadcast does this and evaluates a
// stateless EvalFunc; use Replicate when the evaluation must keep per-row
// state or apply both sides in event-time order.
func Replicate(s beam.Scope, col beam.PCollection, shards int) beam.PCollection {
	if shards <= 0 {
		panic(fmt.Errorf("join.Replicate: %d shards, want at least 1", shards))
	}
	return beam.ParDo(s.Scope("join.Replicate"), &replicateAnyFn{Shards: shards}, col)
}

type replicateAnyFn struct{ Shards int }

func (f *replicateAnyFn) ProcessElement(ts beam.EventTime, x beam.T, emit func(beam.EventTime, int, beam.T)) {
	for i := 0; i < f.Shards; i++ {
		emit(ts, i, x)
	}
}

// shardRow is a change (Side 1) or a batch (Side 0) on its way to a shard.
type shardRow struct {
	Side   int
	TS     int64
	Key    string
	Data   []byte
	Delete bool
	Rows   [][]byte
}

// encodeShardRow writes r as Side, TS, Key, Data, Delete and Rows, each
// length or integer a varint.
func encodeShardRow(r shardRow) []byte {
	b := make([]byte, 0, 32+len(r.Key)+len(r.Data))
	b = binary.AppendVarint(b, int64(r.Side))
	b = binary.AppendVarint(b, r.TS)
	b = appendBytes(b, []byte(r.Key))
	b = appendBytes(b, r.Data)
	if r.Delete {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Rows)))
	for _, row := range r.Rows {
		b = appendBytes(b, row)
	}
	return b
}

func appendBytes(b, p []byte) []byte { return append(binary.AppendUvarint(b, uint64(len(p))), p...) }

// errShardRow is a shard row whose bytes end early or run on.
var errShardRow = errors.New("join: invalid encoded broadcast row")

func decodeShardRow(b []byte) (shardRow, error) {
	var r shardRow
	next := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	bytesOf := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		p := b[k : k+int(n)]
		b = b[k+int(n):]
		return p, true
	}
	side, ok1 := next()
	ts, ok2 := next()
	key, ok3 := bytesOf()
	data, ok4 := bytesOf()
	if !ok1 || !ok2 || !ok3 || !ok4 || len(b) == 0 || b[0] > 1 {
		return r, errShardRow
	}
	r.Side, r.TS, r.Key, r.Delete = int(side), ts, string(key), b[0] == 1
	if len(data) > 0 {
		r.Data = append([]byte(nil), data...)
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return r, errShardRow
	}
	b = b[k:]
	for range n {
		row, ok := bytesOf()
		if !ok {
			return r, errShardRow
		}
		r.Rows = append(r.Rows, append([]byte(nil), row...))
	}
	if len(b) != 0 {
		return r, errShardRow
	}
	return r, nil
}

type replicateFn struct{ Shards int }

func (f *replicateFn) ProcessElement(ts beam.EventTime, c Change, emit func(string, shardRow)) {
	r := shardRow{Side: 1, TS: ts.Milliseconds(), Key: c.Key, Data: c.Data, Delete: c.Delete}
	for i := 0; i < f.Shards; i++ {
		emit(strconv.Itoa(i), r)
	}
}

type routeFn struct{ Shards int }

func (f *routeFn) ProcessElement(ts beam.EventTime, b Batch, emit func(string, shardRow)) {
	emit(strconv.Itoa(shardOf(b.ID, f.Shards)), shardRow{TS: ts.Milliseconds(), Key: b.ID, Rows: b.Rows})
}

// broadcastFn is the stateful core of Broadcast, one key per shard.
type broadcastFn struct {
	Fn  string
	TTL int64

	Table   state.Value[[]Change]
	Batches state.Bag[shardRow]
	Clock   state.Value[clock]
	Expire  timers.EventTime

	eval  EvalFunc
	cache map[string]Table
}

func (f *broadcastFn) Setup() error {
	v, err := runtime.ResolveFunction(f.Fn, reflect.TypeOf(EvalFunc(nil)))
	if err != nil {
		return fmt.Errorf("join.Broadcast: eval function %q (register it with RegisterEvalFunc): %w", f.Fn, err)
	}
	switch fn := v.(type) {
	case EvalFunc:
		f.eval = fn
	case func(Table, Batch, []string, func([]byte)):
		f.eval = fn
	default:
		return fmt.Errorf("join.Broadcast: eval function %q has type %T, want EvalFunc", f.Fn, v)
	}
	return nil
}

func (f *broadcastFn) StartBundle(_ func([]byte)) {
	f.cache = make(map[string]Table)
}

// table returns the shard's table, decoded once per bundle.
func (f *broadcastFn) table(sp state.Provider, shard string) Table {
	if t, ok := f.cache[shard]; ok {
		return t
	}
	rows, _, err := f.Table.Read(sp)
	must(err)
	t := make(Table, len(rows))
	for _, r := range rows {
		t[r.Key] = r.Data
	}
	f.cache[shard] = t
	return t
}

func (f *broadcastFn) ProcessElement(sp state.Provider, tp timers.Provider, shard string, r shardRow, emit func([]byte)) {
	t := f.table(sp, shard)
	if r.Side == 1 {
		if r.Delete {
			delete(t, r.Key)
		} else {
			t[r.Key] = r.Data
		}
		rows := make([]Change, 0, len(t))
		for k, v := range t {
			rows = append(rows, Change{Key: k, Data: v})
		}
		must(f.Table.Write(sp, rows))
		if f.TTL > 0 {
			stored, _, err := f.Batches.Read(sp)
			must(err)
			changed := []string{r.Key}
			for _, b := range stored {
				f.eval(t, Batch{ID: b.Key, Rows: b.Rows}, changed, emit)
			}
		}
		return
	}
	f.eval(t, Batch{ID: r.Key, Rows: r.Rows}, nil, emit)
	if f.TTL <= 0 {
		return
	}
	c, err := readClock(sp, &f.Clock)
	must(err)
	if c.isLate(r.TS+f.TTL, 0) {
		return // already expired: evaluated once, not kept
	}
	must(f.Batches.Add(sp, r))
	if at := r.TS + f.TTL + 1; c.TimerAt == noTime || at < c.TimerAt {
		setTimer(tp, f.Expire, &c, at)
		must(f.Clock.Write(sp, c))
	}
}

func (f *broadcastFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, _ string, _ timers.Context, _ func([]byte)) {
	c, err := readClock(sp, &f.Clock)
	must(err)
	now := firedAt(c, ts)
	if now > c.Cleaned {
		c.Cleaned = now
	}
	c.TimerAt = noTime
	stored, _, err := f.Batches.Read(sp)
	must(err)
	must(f.Batches.Clear(sp))
	next := noTime
	for _, b := range stored {
		if b.TS+f.TTL < now {
			continue
		}
		must(f.Batches.Add(sp, b))
		if at := b.TS + f.TTL + 1; next == noTime || at < next {
			next = at
		}
	}
	if next != noTime {
		setTimer(tp, f.Expire, &c, next)
	}
	must(f.Clock.Write(sp, c))
}
