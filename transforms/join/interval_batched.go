package join

import (
	"context"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

// The batched path of the interval join: rows of a bundle are grouped per
// input and key shard into one IntervalBatch before the shuffle; after it a
// stateful DoFn keyed by shard hash-joins each batch against the shard's
// stored rows of the other input. Pairs, unmatched rows and late rows are
// the same as on the row path, except that lateness is judged per shard
// (the shard's cleanup point) rather than per key.

func init() {
	beam.RegisterType(typeOf[intervalBatchFn]())
	register.DoFn6x0[state.Provider, timers.Provider, string, IntervalBatch, func(beam.EventTime, Pair), func(Late)](&intervalShardFn{})
	register.Emitter3[beam.EventTime, string, IntervalBatch]()
	beam.RegisterType(typeOf[IntervalBatch]())
	beam.RegisterType(typeOf[ShardEntry]())
}

// IntervalBatch carries rows of one input and one key shard across the
// shuffle of the batched interval join, as parallel slices.
type IntervalBatch struct {
	Side int
	Keys []string
	TS   []int64
	Rows [][]byte
}

// ShardEntry is a row held in the state of one shard of the batched
// interval join.
type ShardEntry struct {
	Key     string
	TS      int64
	Data    []byte
	Matched bool
}

// intervalBatchFn gathers the tagged rows of a bundle per input and shard
// and emits each group when the bundle finishes, timestamped at its
// earliest row (so no pair it yields is earlier than its element).
type intervalBatchFn struct {
	Shards int

	buf map[[2]int]*IntervalBatch
	min map[[2]int]int64
}

func (f *intervalBatchFn) StartBundle(_ func(beam.EventTime, string, IntervalBatch)) {
	f.buf = make(map[[2]int]*IntervalBatch)
	f.min = make(map[[2]int]int64)
}

func (f *intervalBatchFn) ProcessElement(key string, t Tagged, _ func(beam.EventTime, string, IntervalBatch)) {
	k := [2]int{shardOf(key, f.Shards), t.Side}
	b := f.buf[k]
	if b == nil {
		b = &IntervalBatch{Side: t.Side}
		f.buf[k] = b
		f.min[k] = t.TS
	}
	b.Keys = append(b.Keys, key)
	b.TS = append(b.TS, t.TS)
	b.Rows = append(b.Rows, t.Data)
	if t.TS < f.min[k] {
		f.min[k] = t.TS
	}
}

func (f *intervalBatchFn) FinishBundle(emit func(beam.EventTime, string, IntervalBatch)) {
	for k, b := range f.buf {
		emit(mtime.FromMilliseconds(f.min[k]), strconv.Itoa(k[0]), *b)
	}
	f.buf, f.min = nil, nil
}

func batchedInterval(s beam.Scope, kind Kind, both beam.PCollection, lower, upper int64, c config) (beam.PCollection, beam.PCollection) {
	batches := beam.ParDo(s.Scope("batch"), &intervalBatchFn{Shards: c.shards}, both)
	return beam.ParDo2(s, &intervalShardFn{
		Kind:     int(kind),
		Lower:    lower,
		Upper:    upper,
		Lateness: toMillis(c.lateness),
		TTL:      toMillis(c.ttl),
		Every:    toMillis(c.every),
		Left:     state.MakeValueState[[]ShardEntry]("left"),
		Matched:  state.MakeBagState[string]("matched"),
		Right:    state.MakeValueState[[]ShardEntry]("right"),
		Clock:    state.MakeValueState[clock]("clock"),
		Cleanup:  timers.InEventTime("cleanup"),
	}, batches)
}

// intervalShardFn is the stateful core of the batched interval join: one
// key of it is one shard, holding the rows of many join keys.
type intervalShardFn struct {
	Kind                        int
	Lower, Upper, Lateness, TTL int64
	Every                       int64

	// A shard's rows are one value per input: a batch costs one read of
	// each input and one write of its own, not one request per row.
	Left, Right state.Value[[]ShardEntry]
	Matched     state.Bag[string]
	Clock       state.Value[clock]
	Cleanup     timers.EventTime
}

func (f *intervalShardFn) rules() *intervalFn {
	return &intervalFn{Kind: f.Kind, Lower: f.Lower, Upper: f.Upper, Lateness: f.Lateness, TTL: f.TTL, Every: f.Every}
}

// shardRowID identifies a left row of a shard for the matched set.
func shardRowID(e ShardEntry) string {
	return e.Key + "\x00" + rowID(Entry{TS: e.TS, Data: e.Data})
}

// index groups entries by key.
func index(es []ShardEntry) map[string][]int {
	m := make(map[string][]int)
	for i, e := range es {
		m[e.Key] = append(m[e.Key], i)
	}
	return m
}

func (f *intervalShardFn) ProcessElement(sp state.Provider, tp timers.Provider, shard string, b IntervalBatch, emit func(beam.EventTime, Pair), late func(Late)) {
	r := f.rules()
	c, err := readClock(sp, &f.Clock)
	must(err)
	own, other := &f.Left, &f.Right
	if b.Side != 0 {
		own, other = &f.Right, &f.Left
	}
	stored, _, err := other.Read(sp)
	must(err)
	mine, _, err := own.Read(sp)
	must(err)
	added := false
	byKey := index(stored)
	outer := Kind(f.Kind) == LeftOuter
	newlyMatched := map[string]bool{}
	next := noTime
	for i, key := range b.Keys {
		ts, data := b.TS[i], b.Rows[i]
		if c.isLate(ts, f.Lateness) {
			late(Late{Key: key, Side: b.Side, TS: ts, Data: data,
				Reason: lateReason("interval", rowName(b.Side), ts, "its shard's", c.Cleaned, f.Lateness)})
			continue
		}
		e := ShardEntry{Key: key, TS: ts, Data: data}
		for _, j := range byKey[key] {
			o := stored[j]
			if b.Side == 0 {
				if inInterval(ts, o.TS, f.Lower, f.Upper) {
					emit(outTime(ts, o.TS), Pair{Key: key, Left: data, LeftTS: ts, Right: o.Data, RightTS: o.TS, Matched: true})
					e.Matched = true
				}
				continue
			}
			if inInterval(o.TS, ts, f.Lower, f.Upper) {
				emit(outTime(o.TS, ts), Pair{Key: key, Left: o.Data, LeftTS: o.TS, Right: data, RightTS: ts, Matched: true})
				if outer && !o.Matched {
					if id := shardRowID(o); !newlyMatched[id] {
						newlyMatched[id] = true
						must(f.Matched.Add(sp, id))
					}
				}
			}
		}
		mine = append(mine, e)
		added = true
		if at := r.fireAt(r.expiry(b.Side, ts)); next == noTime || at < next {
			next = at
		}
	}
	if added {
		must(own.Write(sp, mine))
	}
	if next != noTime && (c.TimerAt == noTime || next < c.TimerAt || c.TimerAt <= c.Cleaned) {
		setTimer(tp, f.Cleanup, &c, next)
		must(f.Clock.Write(sp, c))
	}
}

func (f *intervalShardFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, _ string, _ timers.Context, emit func(beam.EventTime, Pair), _ func(Late)) {
	r := f.rules()
	c, err := readClock(sp, &f.Clock)
	must(err)
	now := firedAt(c, ts)
	if now > c.Cleaned {
		c.Cleaned = now
	}
	c.TimerAt = noTime
	lefts, _, err := f.Left.Read(sp)
	must(err)
	rights, _, err := f.Right.Read(sp)
	must(err)
	outer := Kind(f.Kind) == LeftOuter
	matched := map[string]bool{}
	if outer {
		ids, _, err := f.Matched.Read(sp)
		must(err)
		for _, id := range ids {
			matched[id] = true
		}
	}
	next := noTime
	var keepL []ShardEntry
	keptIDs := map[string]bool{}
	for _, l := range lefts {
		x := r.expiry(0, l.TS)
		id := ""
		if outer {
			id = shardRowID(l)
		}
		if x < now {
			if outer && !l.Matched && !matched[id] {
				emit(mtime.FromMilliseconds(now), Pair{Key: l.Key, Left: l.Data, LeftTS: l.TS})
			}
			continue
		}
		keepL = append(keepL, l)
		if outer && matched[id] {
			keptIDs[id] = true
		}
		if at := r.fireAt(x); next == noTime || at < next {
			next = at
		}
	}
	var keepR []ShardEntry
	for _, e := range rights {
		x := r.expiry(1, e.TS)
		if x < now {
			continue
		}
		keepR = append(keepR, e)
		if at := r.fireAt(x); next == noTime || at < next {
			next = at
		}
	}
	rewriteShardRows(sp, &f.Left, lefts, keepL)
	rewriteShardRows(sp, &f.Right, rights, keepR)
	if len(keptIDs) != len(matched) {
		must(f.Matched.Clear(sp))
		for id := range keptIDs {
			must(f.Matched.Add(sp, id))
		}
	}
	if next != noTime {
		setTimer(tp, f.Cleanup, &c, next)
	}
	must(f.Clock.Write(sp, c))
}

func rewriteShardRows(sp state.Provider, v *state.Value[[]ShardEntry], old, keep []ShardEntry) {
	switch {
	case len(keep) == len(old):
	case len(keep) == 0:
		must(v.Clear(sp))
	default:
		must(v.Write(sp, keep))
	}
}
