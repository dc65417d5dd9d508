package join

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn6x0[state.Provider, timers.Provider, string, Tagged, func(beam.EventTime, Pair), func(Late)](&temporalFn{})
	register.DoFn3x0[beam.EventTime, Change, func(string, Tagged)](&tagChangeFn{})
	beam.RegisterType(typeOf[Change]())
}

// Temporal joins each row of left (PCollection<KV<string, []byte>>) with the
// version of versions (PCollection<Change>, keyed by Change.Key, versioned by
// event time) valid at the row's event time. It returns the joined
// PCollection<Pair> and the late PCollection<Late>. kind is Inner or
// LeftOuter (unmatched left rows are emitted with Matched false).
func Temporal(s beam.Scope, kind Kind, left, versions beam.PCollection, opts ...TemporalOption) (joined, late beam.PCollection) {
	c := newConfig(opts)
	return temporal(s.Scope(c.scope("join.Temporal")), kind, left, versions, false, c)
}

// Latest is the processing-time variant of Temporal for lookups: each left
// row meets, as soon as it arrives, the newest version (by event time) that
// has arrived for its key. Results depend on arrival order.
func Latest(s beam.Scope, kind Kind, left, versions beam.PCollection, opts ...TemporalOption) (joined, late beam.PCollection) {
	c := newConfig(opts)
	return temporal(s.Scope(c.scope("join.Latest")), kind, left, versions, true, c)
}

func temporal(s beam.Scope, kind Kind, left, versions beam.PCollection, latest bool, c config) (beam.PCollection, beam.PCollection) {
	if kind != Inner && kind != LeftOuter {
		panic(fmt.Errorf("join.Temporal: kind %v, want inner or left-outer", kind))
	}
	both := beam.Flatten(s,
		beam.ParDo(s.Scope("left"), &tagFn{Side: 0}, left),
		beam.ParDo(s.Scope("versions"), &tagChangeFn{}, versions))
	both = beam.WindowInto(s, window.NewGlobalWindows(), both)
	return beam.ParDo2(s, &temporalFn{
		Kind:     int(kind),
		Latest:   latest,
		Lateness: toMillis(c.lateness),
		TTL:      toMillis(c.ttl),
		Versions: state.MakeValueState[[]Entry]("versions"),
		Pending:  state.MakeValueState[[]Entry]("pending"),
		Clock:    state.MakeValueState[clock]("clock"),
		Seq:      state.MakeValueState[int64]("seq"),
		Timer:    timers.InEventTime("asof"),
	}, both)
}

// tagChangeFn keys a changelog entry for the join.
type tagChangeFn struct{}

func (tagChangeFn) ProcessElement(ts beam.EventTime, c Change, emit func(string, Tagged)) {
	emit(c.Key, Tagged{Side: 1, TS: ts.Milliseconds(), Data: c.Data, Delete: c.Delete})
}

// temporalFn is the stateful core of Temporal and Latest.
type temporalFn struct {
	Kind          int
	Latest        bool
	Lateness, TTL int64

	Versions, Pending state.Value[[]Entry]
	Clock             state.Value[clock]
	Seq               state.Value[int64]
	Timer             timers.EventTime
}

func (f *temporalFn) ProcessElement(sp state.Provider, tp timers.Provider, key string, t Tagged, emit func(beam.EventTime, Pair), late func(Late)) {
	c, err := readClock(sp, &f.Clock)
	must(err)
	versions, _, err := f.Versions.Read(sp)
	must(err)
	if t.Side == 1 {
		seq, _, err := f.Seq.Read(sp)
		must(err)
		seq++
		must(f.Seq.Write(sp, seq))
		if c.isLate(t.TS, f.Lateness) {
			late(Late{Key: key, Side: 1, TS: t.TS, Data: t.Data,
				Reason: lateReason(f.name(), "version", t.TS, "the key's", c.Cleaned, f.Lateness) +
					"; applied, results already emitted are not revised"})
		}
		versions = insertSorted(versions, Entry{TS: t.TS, Seq: seq, Data: t.Data, Delete: t.Delete})
		if f.Latest {
			versions = versions[len(versions)-1:]
		}
		must(f.Versions.Write(sp, versions))
		f.arm(sp, tp, &c, versions, nil)
		must(f.Clock.Write(sp, c))
		return
	}
	if c.isLate(t.TS, f.Lateness) && !f.Latest {
		late(Late{Key: key, Side: 0, TS: t.TS, Data: t.Data,
			Reason: lateReason(f.name(), "left row", t.TS, "the key's", c.Cleaned, f.Lateness)})
		return
	}
	if f.Latest || (c.Cleaned != noTime && t.TS <= c.Cleaned) {
		// No need to wait: the watermark is already past the row (or the
		// variant does not wait at all).
		at := t.TS
		if f.Latest {
			at = mtime.MaxTimestamp.Milliseconds()
		}
		f.emitAsOf(key, versions, Entry{TS: t.TS, Data: t.Data}, at, emit)
		return
	}
	pending, _, err := f.Pending.Read(sp)
	must(err)
	pending = append(pending, Entry{TS: t.TS, Data: t.Data})
	must(f.Pending.Write(sp, pending))
	f.arm(sp, tp, &c, versions, pending)
	must(f.Clock.Write(sp, c))
}

// name is the join's name in late reasons.
func (f *temporalFn) name() string {
	if f.Latest {
		return "latest"
	}
	return "temporal"
}

// emitAsOf emits row l joined with the version valid at `at`.
func (f *temporalFn) emitAsOf(key string, versions []Entry, l Entry, at int64, emit func(beam.EventTime, Pair)) {
	p := Pair{Key: key, Left: l.Data, LeftTS: l.TS}
	if i := asOf(versions, at); i >= 0 && !versions[i].Delete {
		p.Right, p.RightTS, p.Matched = versions[i].Data, versions[i].TS, true
	}
	if p.Matched || Kind(f.Kind) == LeftOuter {
		emit(mtime.FromMilliseconds(l.TS), p)
	}
}

// arm points the timer at the earliest pending row or, with a TTL and nothing pending, at the TTL expiry.
func (f *temporalFn) arm(_ state.Provider, tp timers.Provider, c *clock, versions, pending []Entry) {
	next := noTime
	for _, p := range pending {
		if next == noTime || p.TS < next {
			next = p.TS
		}
	}
	if f.TTL > 0 && len(versions) > 0 {
		exp := versions[len(versions)-1].TS + f.TTL + 1
		if next == noTime || exp < next {
			next = exp
		}
	}
	if next != noTime && next != c.TimerAt {
		setTimer(tp, f.Timer, c, next)
	}
}

func (f *temporalFn) OnTimer(_ context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, _ timers.Context, emit func(beam.EventTime, Pair), _ func(Late)) {
	c, err := readClock(sp, &f.Clock)
	must(err)
	now := firedAt(c, ts)
	if now > c.Cleaned {
		c.Cleaned = now
	}
	c.TimerAt = noTime
	versions, _, err := f.Versions.Read(sp)
	must(err)
	pending, _, err := f.Pending.Read(sp)
	must(err)
	keep := pending[:0]
	for _, p := range pending {
		if p.TS <= now {
			f.emitAsOf(key, versions, p, p.TS, emit)
			continue
		}
		keep = append(keep, p)
	}
	pending = keep
	if f.TTL > 0 && len(versions) > 0 && versions[len(versions)-1].TS+f.TTL < now {
		versions = nil
	} else if len(versions) > 0 {
		versions = pruneVersions(versions, now-f.Lateness)
	}
	writeOrClear(sp, &f.Versions, versions)
	writeOrClear(sp, &f.Pending, pending)
	f.arm(sp, tp, &c, versions, pending)
	must(f.Clock.Write(sp, c))
}
