package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.DoFn7x1[context.Context, state.Provider, timers.Provider, string, Event, func(beam.EventTime, Event), func(deadletter.Record), error](&tableFn{})
	register.Emitter2[beam.EventTime, Event]()
}

// tableFn is the open-trial table: the temporal (as-of) join of trial
// versions with regulatory events, keyed by protocol number. It keeps both
// sides in state, sets an event-time timer at every change point, and when
// one fires emits the trial's decision if it changed.
type tableFn struct {
	Versions state.Value[[]byte] // JSON []*schemas.Trial
	Events   state.Value[[]byte] // JSON []*schemas.RegulatoryEvent
	Last     state.Value[[]byte] // JSON of the last decision emitted
	LastAt   state.Value[int64]  // event time (ms) of the last evaluation
	Change   timers.EventTime
}

func newTableFn() *tableFn {
	return &tableFn{
		Versions: state.MakeValueState[[]byte]("versions"),
		Events:   state.MakeValueState[[]byte]("events"),
		Last:     state.MakeValueState[[]byte]("last"),
		LastAt:   state.MakeValueState[int64]("last_at"),
		Change:   timers.InEventTime("change"),
	}
}

func readJSON[T any](sp state.Provider, v *state.Value[[]byte], out *T) error {
	b, ok, err := v.Read(sp)
	if err != nil || !ok {
		return err
	}
	return json.Unmarshal(b, out)
}

func writeJSON(sp state.Provider, v *state.Value[[]byte], x any) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return v.Write(sp, b)
}

func (f *tableFn) setChange(tp timers.Provider, ms int64) {
	f.Change.Set(tp, msTime(ms), timers.WithTag(strconv.FormatInt(ms, 10)))
}

func (f *tableFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, protocol string, ev Event,
	emit func(beam.EventTime, Event), dead func(deadletter.Record)) error {
	stageOpenTrials.In(ctx, 1)
	switch ev.Kind {
	case kindTrial:
		t, err := ev.trial()
		if err != nil {
			return err
		}
		if err := validTrial(t); err != nil {
			stageOpenTrials.DeadLetter(ctx, string(deadletter.InvalidRecord))
			deadletter.Emit(ctx, dead, deadletter.New("trialmatch.OpenTrials", err))
			return nil
		}
		var vs []*schemas.Trial
		if err := readJSON(sp, &f.Versions, &vs); err != nil {
			return err
		}
		vs = append(vs, t)
		if err := writeJSON(sp, &f.Versions, vs); err != nil {
			return err
		}
		f.setChange(tp, t.EventTime.UnixMilli())
	case kindRegulatory:
		e, err := ev.regulatory()
		if err != nil {
			return err
		}
		if err := validRegulatory(protocol, e); err != nil {
			stageOpenTrials.DeadLetter(ctx, string(deadletter.InvalidRecord))
			deadletter.Emit(ctx, dead, deadletter.New("trialmatch.OpenTrials", err))
			return nil
		}
		var es []*schemas.RegulatoryEvent
		if err := readJSON(sp, &f.Events, &es); err != nil {
			return err
		}
		es = append(es, e)
		if err := writeJSON(sp, &f.Events, es); err != nil {
			return err
		}
		f.setChange(tp, e.ValidFrom.UnixMilli())
		if e.ValidTo != nil {
			f.setChange(tp, e.ValidTo.UnixMilli())
		}
	default:
		return fmt.Errorf("trialmatch: open-trial table got an event of kind %d", ev.Kind)
	}
	return nil
}

func (f *tableFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, protocol string, tc timers.Context,
	emit func(beam.EventTime, Event), dead func(deadletter.Record)) error {
	at, err := strconv.ParseInt(tc.Tag, 10, 64)
	if err != nil {
		return fmt.Errorf("trialmatch: open-trial timer tag %q: %w", tc.Tag, err)
	}
	// A late change point is evaluated at the latest time already evaluated,
	// so the table never goes back in time.
	last, ok, err := f.LastAt.Read(sp)
	if err != nil {
		return err
	}
	if ok && last > at {
		at = last
	}
	var vs []*schemas.Trial
	var es []*schemas.RegulatoryEvent
	if err := readJSON(sp, &f.Versions, &vs); err != nil {
		return err
	}
	if err := readJSON(sp, &f.Events, &es); err != nil {
		return err
	}
	d, err := opentrials.At(protocol, vs, es, msTime(at))
	if err != nil {
		return err
	}
	if err := f.LastAt.Write(sp, at); err != nil {
		return err
	}
	var prev opentrials.Decision
	if err := readJSON(sp, &f.Last, &prev); err != nil {
		return err
	}
	if prev.ProtocolNo != "" && prev.Equal(d) {
		return nil
	}
	if err := writeJSON(sp, &f.Last, d); err != nil {
		return err
	}
	ev, err := encodeEvent(kindDecision, msTime(at), d)
	if err != nil {
		return err
	}
	stageOpenTrials.Out(ctx, 1)
	emit(beam.EventTime(at), ev)
	return nil
}
