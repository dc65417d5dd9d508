package join

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn6x0[state.Provider, timers.Provider, string, Tagged, func(beam.EventTime, Pair), func(Late)](&intervalFn{})
	register.Emitter2[beam.EventTime, Pair]()
	register.Emitter1[Late]()
	beam.RegisterType(typeOf[Pair]())
	beam.RegisterType(typeOf[Late]())
	beam.RegisterType(typeOf[Entry]())
	beam.RegisterType(typeOf[clock]())
}

// Interval joins left and right (each a PCollection<KV<string, []byte>>) on
// their key where left.ts + lower <= right.ts <= left.ts + upper, and
// returns the joined PCollection<Pair> and the late PCollection<Late>. kind
// is Inner or LeftOuter. Inputs are joined in the global window whatever
// their windowing. See the package documentation for timing and state.
func Interval(s beam.Scope, kind Kind, left, right beam.PCollection, lower, upper time.Duration, opts ...IntervalOption) (joined, late beam.PCollection) {
	c := newConfig(opts)
	s = s.Scope(c.scope("join.Interval"))
	if kind != Inner && kind != LeftOuter {
		panic(fmt.Errorf("join.Interval: kind %v, want inner or left-outer", kind))
	}
	if lower > upper {
		panic(fmt.Errorf("join.Interval: lower bound %v is above upper bound %v", lower, upper))
	}
	both := beam.Flatten(s,
		beam.ParDo(s.Scope("left"), &tagFn{Side: 0}, left),
		beam.ParDo(s.Scope("right"), &tagFn{Side: 1}, right))
	both = beam.WindowInto(s, window.NewGlobalWindows(), both)
	if c.batched {
		return batchedInterval(s, kind, both, toMillis(lower), toMillis(upper), c)
	}
	return beam.ParDo2(s, &intervalFn{
		Kind:     int(kind),
		Lower:    toMillis(lower),
		Upper:    toMillis(upper),
		Lateness: toMillis(c.lateness),
		TTL:      toMillis(c.ttl),
		Every:    toMillis(c.every),
		Left:     state.MakeBagState[Entry]("left"),
		Matched:  state.MakeBagState[string]("matched"),
		Right:    state.MakeBagState[Entry]("right"),
		Clock:    state.MakeValueState[clock]("clock"),
		Cleanup:  timers.InEventTime("cleanup"),
	}, both)
}

// Entry is a row held in a stateful join's state: its event time, arrival
// sequence, payload, whether it met a partner, and whether it is a deletion.
type Entry struct {
	TS      int64
	Seq     int64
	Data    []byte
	Matched bool
	Delete  bool
}

// intervalFn is the stateful core of Interval.
type intervalFn struct {
	Kind                        int
	Lower, Upper, Lateness, TTL int64
	Every                       int64

	// Rows live in bags, so a row costs an append, not a rewrite of the
	// key's whole list; left rows matched after they were stored are
	// recorded in Matched (left outer only).
	Left, Right state.Bag[Entry]
	Matched     state.Bag[string]
	Clock       state.Value[clock]
	Cleanup     timers.EventTime
}

// expiry is the last cleanup point at which the row is still needed.
func (f *intervalFn) expiry(side int, ts int64) int64 {
	var e int64
	if side == 0 {
		e = ts + f.Upper + f.Lateness
	} else {
		e = ts - f.Lower + f.Lateness
	}
	if f.TTL > 0 && ts+f.TTL < e {
		e = ts + f.TTL
	}
	return e
}

// fireAt is the cleanup time for a row that expires at x: just after x,
// rounded up to the cleanup interval so that one firing cleans many rows.
func (f *intervalFn) fireAt(x int64) int64 {
	at := x + 1
	if f.Every > 1 {
		if r := at % f.Every; r != 0 {
			if r < 0 {
				r += f.Every
			}
			at += f.Every - r
		}
	}
	return at
}

func (f *intervalFn) ProcessElement(sp state.Provider, tp timers.Provider, key string, t Tagged, emit func(beam.EventTime, Pair), late func(Late)) {
	c, err := readClock(sp, &f.Clock)
	must(err)
	if c.isLate(t.TS, f.Lateness) {
		late(Late{Key: key, Side: t.Side, TS: t.TS, Data: t.Data,
			Reason: lateReason("interval", rowName(t.Side), t.TS, "the key's", c.Cleaned, f.Lateness)})
		return
	}
	e := Entry{TS: t.TS, Data: t.Data}
	if t.Side == 0 {
		rights, _, err := f.Right.Read(sp)
		must(err)
		for _, r := range rights {
			if inInterval(t.TS, r.TS, f.Lower, f.Upper) {
				emit(outTime(t.TS, r.TS), Pair{Key: key, Left: t.Data, LeftTS: t.TS, Right: r.Data, RightTS: r.TS, Matched: true})
				e.Matched = true
			}
		}
		must(f.Left.Add(sp, e))
	} else {
		lefts, _, err := f.Left.Read(sp)
		must(err)
		for _, l := range lefts {
			if inInterval(l.TS, t.TS, f.Lower, f.Upper) {
				emit(outTime(l.TS, t.TS), Pair{Key: key, Left: l.Data, LeftTS: l.TS, Right: t.Data, RightTS: t.TS, Matched: true})
				if !l.Matched && Kind(f.Kind) == LeftOuter {
					must(f.Matched.Add(sp, rowID(l)))
				}
			}
		}
		must(f.Right.Add(sp, e))
	}
	// The timer fires just after the earliest expiry.
	at := f.fireAt(f.expiry(t.Side, t.TS))
	if c.TimerAt == noTime || at < c.TimerAt || c.TimerAt <= c.Cleaned {
		setTimer(tp, f.Cleanup, &c, at)
		must(f.Clock.Write(sp, c))
	}
}

// rowID identifies a left row for the matched set: rows with the same time
// and payload meet the same right rows, so they may share an identity.
func rowID(e Entry) string {
	h := uint64(14695981039346656037)
	for _, b := range e.Data {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return fmt.Sprintf("%d/%x/%d", e.TS, h, len(e.Data))
}

func (f *intervalFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, _ timers.Context, emit func(beam.EventTime, Pair), _ func(Late)) {
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
	matched := map[string]bool{}
	if Kind(f.Kind) == LeftOuter {
		ids, _, err := f.Matched.Read(sp)
		must(err)
		for _, id := range ids {
			matched[id] = true
		}
	}
	next := noTime
	var keepL []Entry
	keptIDs := map[string]bool{}
	for _, l := range lefts {
		x := f.expiry(0, l.TS)
		if x < now {
			if Kind(f.Kind) == LeftOuter && !l.Matched && !matched[rowID(l)] {
				// Emitted when the join learns the row is unmatched.
				emit(mtime.FromMilliseconds(now), Pair{Key: key, Left: l.Data, LeftTS: l.TS})
			}
			continue
		}
		keepL = append(keepL, l)
		if id := rowID(l); matched[id] {
			keptIDs[id] = true
		}
		if at := f.fireAt(x); next == noTime || at < next {
			next = at
		}
	}
	var keepR []Entry
	for _, r := range rights {
		x := f.expiry(1, r.TS)
		if x < now {
			continue
		}
		keepR = append(keepR, r)
		if at := f.fireAt(x); next == noTime || at < next {
			next = at
		}
	}
	rewriteBag(sp, &f.Left, lefts, keepL)
	rewriteBag(sp, &f.Right, rights, keepR)
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

// rewriteBag replaces the bag's contents old with keep when rows were dropped.
func rewriteBag(sp state.Provider, b *state.Bag[Entry], old, keep []Entry) {
	if len(keep) == len(old) {
		return
	}
	must(b.Clear(sp))
	for _, e := range keep {
		must(b.Add(sp, e))
	}
}

func writeOrClear(sp state.Provider, v *state.Value[[]Entry], es []Entry) {
	if len(es) == 0 {
		must(v.Clear(sp))
		return
	}
	must(v.Write(sp, es))
}

func outTime(a, b int64) beam.EventTime {
	if b > a {
		a = b
	}
	return mtime.FromMilliseconds(a)
}

// must panics on state errors: the SDK reports a panicking DoFn as a failed
// bundle, which the runner retries.
func must(err error) {
	if err != nil {
		panic(fmt.Errorf("join: state access: %w", err))
	}
}
