package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/engine"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.DoFn8x1[context.Context, state.Provider, timers.Provider, int, Event, func(beam.EventTime, schemas.ApprovedPatient), func(deadletter.Record), func(int64), error](&shardFn{})
	register.Emitter1[int64]()
	register.Emitter2[beam.EventTime, schemas.ApprovedPatient]()
	register.Emitter1[deadletter.Record]()
	beam.RegisterType(reflectTypeOf[schemas.ApprovedPatient]())
	beam.RegisterType(reflectTypeOf[Event]())
}

// shardFn folds facts into profiles, matches them against the broadcast
// open-trial table and publishes NEW/RETRACTED records, for one shard of
// patients, in event-time order at tick granularity: a Beam wrapper (keyed
// state, event-time timers) over package engine, one Engine.Step per tick.
type shardFn struct {
	TickMillis int64

	Pending  state.Map[int64, []Event] // tick -> events waiting for it
	Patients state.Map[string, []byte] // spv.Key -> JSON engine.Patient
	Table    state.Value[[]byte]       // JSON map[protocol]opentrials.Decision
	Version  state.Value[int64]        // bumped on every write, validates the cache
	Tick     timers.EventTime

	mu    sync.Mutex
	cache map[int]*shardCache // per shard key, validated by Version
	cats  *catalog.Compiler
}

// shardCache is a shard's engine state as of a state version.
type shardCache struct {
	version int64
	shard   *engine.Shard
}

// beamObserver reports an engine's counts as Beam metrics (the stages
// patient_view, match and decide of package metrics, and the counters
// match/judged_all_trials, match/judged_changed_trials_only and
// decide/retracted/<reason>) and its rejected facts as dead letters.
// With hold set it keeps these updates (take returns them) instead of
// making them: Beam's per-bundle metric store is not safe for concurrent
// use, and the batch executions run engines on worker goroutines of one
// bundle, so the goroutine that emits their output applies them.
type beamObserver struct {
	ctx  context.Context
	dead func(deadletter.Record)
	hold bool
	held []func()
}

var _ engine.Observer = (*beamObserver)(nil)

// do runs f, which updates Beam metrics or emits, now or, when o.hold is
// set, when the held updates are taken and run.
func (o *beamObserver) do(f func()) {
	if o.hold {
		o.held = append(o.held, f)
		return
	}
	f()
}

// take returns the held updates and forgets them.
func (o *beamObserver) take() []func() {
	h := o.held
	o.held = nil
	return h
}

func (o *beamObserver) Folded(in, folded int64) {
	ctx := o.ctx
	o.do(func() {
		stageView.In(ctx, in)
		stageView.Out(ctx, folded)
	})
}

// Rejected dead-letters a fact as step trialmatch.<Step>, with the
// reason's dead-letter code.
func (o *beamObserver) Rejected(r engine.Rejection) {
	ctx, dead := o.ctx, o.dead
	code := deadletterCode(r.Reason)
	o.do(func() {
		stageView.DeadLetter(ctx, string(code))
		deadletter.Emit(ctx, dead, deadletter.New("trialmatch."+string(r.Step),
			deadletter.Errorf(code, "fact %s: %w", r.Fact.FactID, r.Err),
			deadletter.WithTenant(r.Fact.Tenant)))
	})
}

// deadletterCode is the dead-letter code of an engine's reason.
func deadletterCode(r engine.Reason) deadletter.Code {
	switch r {
	case engine.InvalidFact:
		return deadletter.InvalidRecord
	}
	return deadletter.Code(r)
}

func (o *beamObserver) Judged(all, changedOnly int64) {
	ctx := o.ctx
	o.do(func() {
		stageMatch.In(ctx, all+changedOnly)
		stageMatch.Out(ctx, all+changedOnly)
		if all > 0 {
			beam.NewCounter(metrics.Namespace, "match/judged_all_trials").Inc(ctx, all)
		}
		if changedOnly > 0 {
			beam.NewCounter(metrics.Namespace, "match/judged_changed_trials_only").Inc(ctx, changedOnly)
		}
	})
}

func (o *beamObserver) Decided(verdicts int64, recs []schemas.ApprovedPatient) {
	ctx := o.ctx
	o.do(func() {
		stageDecide.In(ctx, verdicts)
		stageDecide.Out(ctx, int64(len(recs)))
		for i := range recs {
			r := &recs[i]
			stageDecide.Match(ctx, r)
			if r.RetractionReason != nil {
				beam.NewCounter(metrics.Namespace, "decide/retracted/"+*r.RetractionReason).Inc(ctx, 1)
			}
		}
	})
}

func newShardFn(tick time.Duration) *shardFn {
	return &shardFn{
		TickMillis: tick.Milliseconds(),
		Pending:    state.MakeMapState[int64, []Event]("pending"),
		Patients:   state.MakeMapState[string, []byte]("patients"),
		Table:      state.MakeValueState[[]byte]("table"),
		Version:    state.MakeValueState[int64]("version"),
		Tick:       timers.InEventTime("tick"),
	}
}

func (f *shardFn) Setup() {
	f.cache = map[int]*shardCache{}
	f.cats = catalog.NewCompiler()
}

func (f *shardFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, ev Event,
	emit func(beam.EventTime, schemas.ApprovedPatient), dead func(deadletter.Record), folded func(int64)) error {
	tick := tickOf(ev.TS, f.TickMillis)
	add := []Event{ev}
	if ev.Kind == kindBatch {
		add = nil
		if err := json.Unmarshal(ev.Data, &add); err != nil {
			return fmt.Errorf("trialmatch: decode fact batch: %w", err)
		}
	}
	pending, _, err := f.Pending.Get(sp, tick)
	if err != nil {
		return err
	}
	if err := f.Pending.Put(sp, tick, append(pending, add...)); err != nil {
		return err
	}
	if len(pending) == 0 {
		f.Tick.Set(tp, msTime(tick), timers.WithTag(strconv.FormatInt(tick, 10)))
	}
	return nil
}

// load returns the shard's state, from the instance cache when it is current.
func (f *shardFn) load(sp state.Provider, shard int) (*shardCache, error) {
	v, _, err := f.Version.Read(sp)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	c := f.cache[shard]
	f.mu.Unlock()
	if c != nil && c.version == v {
		return c, nil
	}
	c = &shardCache{version: v, shard: engine.NewShard(f.cats)}
	table := map[string]opentrials.Decision{}
	if err := readJSON(sp, &f.Table, &table); err != nil {
		return nil, fmt.Errorf("trialmatch: read open-trial table: %w", err)
	}
	for _, d := range table {
		c.shard.Restore(d)
	}
	keys, _, err := f.Patients.Keys(sp)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		b, _, err := f.Patients.Get(sp, k)
		if err != nil {
			return nil, err
		}
		p := &engine.Patient{}
		if err := json.Unmarshal(b, p); err != nil {
			return nil, fmt.Errorf("trialmatch: decode patient state: %w", err)
		}
		c.shard.Patients[k] = p
	}
	f.mu.Lock()
	f.cache[shard] = c
	f.mu.Unlock()
	return c, nil
}

func (f *shardFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, shard int, tc timers.Context,
	emit func(beam.EventTime, schemas.ApprovedPatient), dead func(deadletter.Record), folded func(int64)) (err error) {
	// The cache is mutated before state is written: on failure, forget it so
	// a retry reloads from state.
	defer func() {
		if err != nil {
			f.mu.Lock()
			delete(f.cache, shard)
			f.mu.Unlock()
		}
	}()
	tick, err := strconv.ParseInt(tc.Tag, 10, 64)
	if err != nil {
		return fmt.Errorf("trialmatch: tick timer tag %q: %w", tc.Tag, err)
	}
	events, _, err := f.Pending.Get(sp, tick)
	if err != nil {
		return err
	}
	if err := f.Pending.Remove(sp, tick); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	c, err := f.load(sp, shard)
	if err != nil {
		return err
	}
	items, err := decodeItems(events)
	if err != nil {
		return err
	}
	eng := engine.New(f.cats, &beamObserver{ctx: ctx, dead: dead})
	ch, err := eng.Step(c.shard, tick, items, func(rec schemas.ApprovedPatient) {
		emit(beam.EventTime(tick), rec)
	})
	if err != nil {
		return fmt.Errorf("trialmatch: shard %d: %w", shard, err)
	}
	if ch.Folded > 0 {
		folded(ch.Folded)
	}
	if !ch.Table && len(ch.Patients) == 0 {
		return nil
	}
	// Persist what changed, then bump the version the cache is checked by.
	for k := range ch.Patients {
		b, err := json.Marshal(c.shard.Patients[k])
		if err != nil {
			return fmt.Errorf("trialmatch: encode patient state: %w", err)
		}
		if err := f.Patients.Put(sp, k, b); err != nil {
			return err
		}
	}
	if ch.Table {
		if err := writeJSON(sp, &f.Table, c.shard.Table); err != nil {
			return err
		}
	}
	c.version++
	return f.Version.Write(sp, c.version)
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
