package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/join"
)

func init() {
	join.RegisterTableFunc(openTrialAt)
	register.DoFn4x1[context.Context, schemas.Trial, func(beam.EventTime, string, join.Version), func(deadletter.Record), error](&trialVersionFn{})
	register.DoFn4x1[context.Context, schemas.RegulatoryEvent, func(beam.EventTime, string, join.Version), func(deadletter.Record), error](&regulatoryVersionFn{})
	register.DoFn4x1[context.Context, beam.EventTime, join.Change, func(beam.EventTime, Event), error](&decisionFn{})
	register.Emitter3[beam.EventTime, string, join.Version]()
}

// openTrials is the open-trial table: the toolkit's temporal table
// (join.TemporalTable) keyed by protocol number, over trial versions (each
// valid from its event time on) and regulatory events (each valid over
// [valid_from, valid_to)). At every change point openTrialAt decides, from
// the versions and events valid then, whether the trial, its arms and its
// sites are open (package opentrials); each change of decision becomes an
// Event of kind decision at that event time. Invalid trial versions and
// regulatory events are dead letters. bounded selects the table's grouped
// form (batch execution: no state or timers).
func openTrials(s beam.Scope, trials, regulatory beam.PCollection, bounded bool) (decisions, dead beam.PCollection) {
	tv, tDead := beam.ParDo2(s.Scope("TrialVersions"), &trialVersionFn{}, trials)
	rv, rDead := beam.ParDo2(s.Scope("RegulatoryVersions"), &regulatoryVersionFn{}, regulatory)
	var opts []join.TableOption
	if bounded {
		opts = append(opts, join.Bounded())
	}
	changes := join.TemporalTable(s.Scope("OpenTrials"), beam.Flatten(s, tv, rv), openTrialAt, opts...)
	return beam.ParDo(s.Scope("Decisions"), &decisionFn{}, changes), beam.Flatten(s, tDead, rDead)
}

// A version's Data is its kind (kindTrial or kindRegulatory) followed by
// the JSON of the trial version or regulatory event.
func versionData(kind int8, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("trialmatch: encode open-trial version: %w", err)
	}
	return append([]byte{byte(kind)}, b...), nil
}

// openTrialAt is the open-trial table's join.TableFunc: the decision for
// protocol at (ms) from the trial versions and regulatory events valid
// then, as JSON with its At left zero (the change's event time is At), so
// that equal decisions are equal bytes.
func openTrialAt(protocol string, valid []join.Version, at int64) ([]byte, error) {
	var (
		vs []*schemas.Trial
		es []*schemas.RegulatoryEvent
	)
	for _, v := range valid {
		if len(v.Data) == 0 {
			return nil, fmt.Errorf("trialmatch: empty open-trial version")
		}
		switch kind, body := int8(v.Data[0]), v.Data[1:]; kind {
		case kindTrial:
			t := &schemas.Trial{}
			if err := json.Unmarshal(body, t); err != nil {
				return nil, fmt.Errorf("trialmatch: decode trial version: %w", err)
			}
			vs = append(vs, t)
		case kindRegulatory:
			e := &schemas.RegulatoryEvent{}
			if err := json.Unmarshal(body, e); err != nil {
				return nil, fmt.Errorf("trialmatch: decode regulatory event: %w", err)
			}
			es = append(es, e)
		default:
			return nil, fmt.Errorf("trialmatch: open-trial version of kind %d", kind)
		}
	}
	d, err := opentrials.At(protocol, vs, es, msTime(at))
	if err != nil {
		return nil, err
	}
	d.At = time.Time{}
	return json.Marshal(d)
}

// trialVersionFn validates a trial version and keys it by protocol for the
// open-trial table, valid from its event time on.
type trialVersionFn struct{}

func (f *trialVersionFn) ProcessElement(ctx context.Context, t schemas.Trial, emit func(beam.EventTime, string, join.Version), dead func(deadletter.Record)) error {
	invalid := checkTrial(&t)
	if invalid == nil {
		invalid = validTrial(&t)
	}
	data, ok, err := admit(ctx, stageTrials, invalid, kindTrial, t, dead)
	if !ok {
		return err
	}
	from := t.EventTime.UnixMilli()
	emit(beam.EventTime(from), t.ProtocolNo, join.Version{From: from, To: join.Forever, Data: data})
	return nil
}

// admit counts a record of source into the open-trial table and encodes it
// as a version's Data; a record that failed its checks (invalid: the edge
// checks, edge.go, then its own) or cannot be encoded becomes a dead
// letter instead, and ok is false.
// The source stage's metrics conserve records: In = Out (admitted) + dead
// letters.
func admit(ctx context.Context, source metrics.Stage, invalid error, kind int8, v any, dead func(deadletter.Record)) (data []byte, ok bool, err error) {
	source.In(ctx, 1)
	if invalid == nil {
		if data, err = versionData(kind, v); err != nil {
			invalid = deadletter.Errorf(deadletter.InvalidRecord, "%w", err)
		}
	}
	if invalid != nil {
		source.DeadLetter(ctx, string(deadletter.CodeOf(invalid)))
		deadletter.Emit(ctx, dead, deadletter.New("trialmatch.OpenTrials", invalid))
		return nil, false, nil
	}
	source.Out(ctx, 1)
	stageOpenTrials.In(ctx, 1)
	return data, true, nil
}

// regulatoryVersionFn validates a regulatory event and keys it by protocol
// for the open-trial table, valid over [valid_from, valid_to).
type regulatoryVersionFn struct{}

func (f *regulatoryVersionFn) ProcessElement(ctx context.Context, e schemas.RegulatoryEvent, emit func(beam.EventTime, string, join.Version), dead func(deadletter.Record)) error {
	invalid := checkRegulatory(&e)
	if invalid == nil {
		invalid = validRegulatory(e.ProtocolNo, &e)
	}
	data, ok, err := admit(ctx, stageRegulatory, invalid, kindRegulatory, e, dead)
	if !ok {
		return err
	}
	v := join.Version{From: e.ValidFrom.UnixMilli(), To: join.Forever, Data: data}
	if e.ValidTo != nil {
		v.To = e.ValidTo.UnixMilli()
	}
	emit(beam.EventTime(e.EventTime.UnixMilli()), e.ProtocolNo, v)
	return nil
}

// decisionFn turns a change of the open-trial table into the decision
// Event the match stage takes.
type decisionFn struct{}

func (f *decisionFn) ProcessElement(ctx context.Context, ts beam.EventTime, c join.Change, emit func(beam.EventTime, Event)) error {
	var d opentrials.Decision
	if err := json.Unmarshal(c.Data, &d); err != nil {
		return fmt.Errorf("trialmatch: decode decision of %s: %w", c.Key, err)
	}
	d.At = msTime(ts.Milliseconds())
	ev, err := encodeEvent(kindDecision, d.At, d)
	if err != nil {
		return err
	}
	stageOpenTrials.Out(ctx, 1)
	emit(ts, ev)
	return nil
}

// validTrial checks a trial version's CTML; the error is a dead letter's.
func validTrial(t *schemas.Trial) error {
	if _, err := criteria.Parse([]byte(t.CTML), criteria.WithSource(fmt.Sprintf("trials/%s@v%d", t.ProtocolNo, t.Version))); err != nil {
		return deadletter.Errorf(deadletter.InvalidRecord, "trial %s version %d: %w", t.ProtocolNo, t.Version, err)
	}
	return nil
}

// validRegulatory checks a regulatory event; the error is a dead letter's.
func validRegulatory(protocol string, e *schemas.RegulatoryEvent) error {
	if e.ValidTo != nil && !e.ValidTo.After(e.ValidFrom) {
		return deadletter.Errorf(deadletter.InvalidRecord, "regulatory event %s: valid_to %s is not after valid_from %s",
			e.EventID, e.ValidTo.Format(time.RFC3339), e.ValidFrom.Format(time.RFC3339))
	}
	if _, err := opentrials.At(protocol, nil, []*schemas.RegulatoryEvent{e}, e.ValidFrom); err != nil {
		return deadletter.Errorf(deadletter.InvalidRecord, "regulatory event %s: %w", e.EventID, err)
	}
	return nil
}
