package join

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"reflect"
	"sort"
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
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, Version, func(beam.EventTime, Change), error](&temporalTableFn{})
	register.DoFn4x1[context.Context, string, func(*Version) bool, func(beam.EventTime, Change), error](&temporalTableBoundedFn{})
	register.Iter1[Version]()
	beam.RegisterType(typeOf[Version]())
}

// Forever is the To of a Version valid from its From on, with no end.
const Forever int64 = math.MaxInt64

// Version is one version of a temporal table's key: Data, valid in event
// time from From (inclusive) to To (exclusive), both in milliseconds since
// the Unix epoch; To is Forever when the version has no end.
type Version struct {
	From, To int64
	Data     []byte
}

// validAt reports whether v is valid at t.
func (v Version) validAt(t int64) bool { return v.From <= t && t < v.To }

// check rejects a version that ends before it starts.
func (v Version) check() error {
	if v.To <= v.From {
		return fmt.Errorf("join.TemporalTable: version valid from %d to %d: To must be after From", v.From, v.To)
	}
	return nil
}

// TableFunc computes a key's value at event time at (ms) from the versions
// of the key valid then (From <= at < To). It is called at every change
// point of the key (every From and every finite To); an error fails the
// bundle. The versions come in no particular order, and the result must
// not depend on it; the returned slice is kept, so it must not be changed
// afterwards. Register it with RegisterTableFunc in an init function.
type TableFunc func(key string, valid []Version, at int64) ([]byte, error)

// RegisterTableFunc registers fn with Beam so workers can find it by name.
// Call it from an init function.
func RegisterTableFunc(fn TableFunc) {
	runtime.RegisterFunction(fn)
}

// TemporalTable is the temporal join of versions that are valid over
// intervals: for each key of versions (PCollection<KV<string, Version>>) it
// evaluates fn at every change point, in event-time order, over the
// versions valid then, and emits the value as a Change (keyed like the
// input, at the change point's event time) whenever it differs from the
// last one emitted for the key; the first value is always emitted. It
// returns that changelog (PCollection<Change>), ready to feed Broadcast or
// Temporal.
//
// Unlike Temporal's as-of lookup, which finds the one latest version of a
// key, fn sees every version valid at the time, so a later version can
// narrow an earlier one and an earlier one shows again when a later one
// expires: "an arm is open at t if the trial's version and the approvals
// valid at t say so".
//
// Without Bounded the transform keeps the key's versions in state and sets
// an event-time timer at each change point, so it runs on bounded and
// unbounded input on runners with state and timers (Prism, Flink,
// Dataflow). A version whose change point is already behind the key's
// clock (it arrived after the watermark passed it, or after that change
// point was evaluated without it) is evaluated 1 ms after the latest time
// already evaluated: the changelog never goes back in time, and a key
// never has two changes at one time.
// Keys' versions are kept for as long as the pipeline runs.
func TemporalTable(s beam.Scope, versions beam.PCollection, fn TableFunc, opts ...TableOption) beam.PCollection {
	c := newConfig(opts)
	s = s.Scope(c.scope("join.TemporalTable"))
	if fn == nil {
		panic(fmt.Errorf("join.TemporalTable: nil TableFunc"))
	}
	name := reflectx.FunctionName(fn)
	if c.bounded {
		return beam.ParDo(s, &temporalTableBoundedFn{Fn: name}, beam.GroupByKey(s, versions))
	}
	versions = beam.WindowInto(s, window.NewGlobalWindows(), versions)
	return beam.ParDo(s, &temporalTableFn{
		Fn:       name,
		Versions: state.MakeValueState[[]Version]("versions"),
		Last:     state.MakeValueState[[]byte]("last"),
		LastAt:   state.MakeValueState[int64]("last_at"),
		Change:   timers.InEventTime("change"),
	}, versions)
}

// tableFunc resolves a registered TableFunc by name.
func tableFunc(name string) (TableFunc, error) {
	v, err := runtime.ResolveFunction(name, reflect.TypeOf(TableFunc(nil)))
	if err != nil {
		return nil, fmt.Errorf("join.TemporalTable: table function %q (register it with RegisterTableFunc): %w", name, err)
	}
	switch fn := v.(type) {
	case TableFunc:
		return fn, nil
	case func(string, []Version, int64) ([]byte, error):
		return fn, nil
	}
	return nil, fmt.Errorf("join.TemporalTable: table function %q has type %T, want TableFunc", name, v)
}

// evalAt calls fn over the versions of vs valid at at; valid is scratch.
func evalAt(fn TableFunc, key string, vs []Version, at int64, valid []Version) ([]byte, []Version, error) {
	valid = valid[:0]
	for _, v := range vs {
		if v.validAt(at) {
			valid = append(valid, v)
		}
	}
	out, err := fn(key, valid, at)
	if err != nil {
		return nil, valid, fmt.Errorf("join.TemporalTable: key %q at %d: %w", key, at, err)
	}
	return out, valid, nil
}

// temporalTableFn is the stateful (streaming) TemporalTable, one key per
// table key. Each change point has its own timer, tagged with its time.
type temporalTableFn struct {
	Fn string

	Versions state.Value[[]Version]
	Last     state.Value[[]byte] // the last value emitted
	LastAt   state.Value[int64]  // the latest change point evaluated
	Change   timers.EventTime

	fn    TableFunc
	valid []Version
}

func (f *temporalTableFn) Setup() (err error) {
	f.fn, err = tableFunc(f.Fn)
	return err
}

func (f *temporalTableFn) setChange(tp timers.Provider, ms int64) {
	f.Change.Set(tp, msTime(ms), timers.WithTag(strconv.FormatInt(ms, 10)))
}

func (f *temporalTableFn) ProcessElement(_ context.Context, sp state.Provider, tp timers.Provider, _ string, v Version, _ func(beam.EventTime, Change)) error {
	if err := v.check(); err != nil {
		return err
	}
	vs, _, err := f.Versions.Read(sp)
	if err != nil {
		return err
	}
	if err := f.Versions.Write(sp, append(vs, v)); err != nil {
		return err
	}
	f.setChange(tp, v.From)
	if v.To != Forever {
		f.setChange(tp, v.To)
	}
	return nil
}

func (f *temporalTableFn) OnTimer(_ context.Context, sp state.Provider, _ timers.Provider, key string, tc timers.Context, emit func(beam.EventTime, Change)) error {
	at, err := strconv.ParseInt(tc.Tag, 10, 64)
	if err != nil {
		return fmt.Errorf("join.TemporalTable: timer tag %q: %w", tc.Tag, err)
	}
	last, ok, err := f.LastAt.Read(sp)
	if err != nil {
		return err
	}
	if ok && last >= at {
		// A version that arrived behind the key's clock: evaluated just
		// after the latest change point evaluated, so that the change it
		// makes orders after the one already emitted there (two changes
		// of a key at one time would leave consumers to pick either).
		at = last + 1
	}
	vs, _, err := f.Versions.Read(sp)
	if err != nil {
		return err
	}
	var out []byte
	if out, f.valid, err = evalAt(f.fn, key, vs, at, f.valid); err != nil {
		return err
	}
	if err := f.LastAt.Write(sp, at); err != nil {
		return err
	}
	prev, had, err := f.Last.Read(sp)
	if err != nil {
		return err
	}
	if had && bytes.Equal(prev, out) {
		return nil
	}
	if err := f.Last.Write(sp, out); err != nil {
		return err
	}
	emit(beam.EventTime(at), Change{Key: key, Data: out})
	return nil
}

// temporalTableBoundedFn is TemporalTable over bounded input: all of a
// key's versions at once.
type temporalTableBoundedFn struct {
	Fn string

	fn    TableFunc
	valid []Version
}

func (f *temporalTableBoundedFn) Setup() (err error) {
	f.fn, err = tableFunc(f.Fn)
	return err
}

func (f *temporalTableBoundedFn) ProcessElement(_ context.Context, key string, versions func(*Version) bool, emit func(beam.EventTime, Change)) error {
	var (
		vs     []Version
		points []int64
		v      Version
	)
	for versions(&v) {
		if err := v.check(); err != nil {
			return err
		}
		vs = append(vs, v)
		points = append(points, v.From)
		if v.To != Forever {
			points = append(points, v.To)
		}
	}
	sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
	var prev []byte
	for i, at := range points {
		if i > 0 && points[i-1] == at {
			continue
		}
		out, valid, err := evalAt(f.fn, key, vs, at, f.valid)
		f.valid = valid
		if err != nil {
			return err
		}
		if i > 0 && bytes.Equal(prev, out) {
			continue
		}
		prev = out
		emit(beam.EventTime(at), Change{Key: key, Data: out})
	}
	return nil
}
