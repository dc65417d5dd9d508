package trialmatch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/engine"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/join"
)

func init() {
	register.DoFn6x1[context.Context, int, func(*Event) bool, func(beam.EventTime, schemas.ApprovedPatient), func(deadletter.Record), func(int64), error](&shardBatchFn{})
	register.Iter1[Event]()
}

// buildBatch is Build's batch execution: for bounded inputs only, the way
// Flink's BATCH runtime mode replaces keyed state and timers by grouping and
// sorting. The open-trial table (join.TemporalTable, Bounded) is computed
// per protocol from all its trial versions and regulatory events at once;
// each patient shard receives all
// its facts in one group together with the open-trial changelog (broadcast
// to every shard), and replays both tick by tick in event-time order through the same engine as
// the streaming stage. The results are the same; what is saved is the
// runner round trip for every state read, write and timer.
func buildBatch(s beam.Scope, in Inputs, cfg Config) Outputs {
	var dead []beam.PCollection
	factEvents := in.ShardedFacts
	if !factEvents.IsValid() {
		var factDead beam.PCollection
		factEvents, factDead = beam.ParDo2(s.Scope("KeyFacts"), cfg.factKeys(), in.Facts)
		dead = append(dead, factDead)
	}
	decisions, tableDead := openTrials(s, in.Trials, in.Regulatory, true)

	// The changelog joins each shard's group (broadcast to every shard, as
	// in streaming) rather than arriving as a side input: Prism 2.77's
	// scheduler busy-loops on an ordinary stage with a side input for as
	// long as one of its bundles runs, which took a core away from the
	// match stage for the whole of it.
	broadcast := join.Replicate(s.Scope("BroadcastOpenTrials"), decisions, cfg.Shards)
	shardIn := beam.GroupByKey(s.Scope("GroupByShard"), beam.Flatten(s, factEvents, broadcast))
	matches, matchDead, folded := beam.ParDo3(s.Scope("PatientViewMatchDecide"), &shardBatchFn{TickMillis: cfg.Tick.Milliseconds()}, shardIn)

	return Outputs{
		Matches:     matches,
		Decisions:   decisions,
		DeadLetters: beam.Flatten(s, append(dead, tableDead, matchDead)...),
		Folded:      folded,
		Execution:   Batch,
	}
}

// factKeys is the batch execution's fact keying: the Avro bodies of facts
// per shard and bundle.
func (c Config) factKeys() *factEventsFn {
	return &factEventsFn{Shards: c.Shards, TickMillis: c.Tick.Milliseconds(), PerShard: true}
}

// shardBatchFn is the match stage of one shard over bounded input: every
// fact of the shard and the whole open-trial changelog, replayed tick by
// tick in event-time order.
type shardBatchFn struct {
	TickMillis int64
	// Workers replay disjoint sets of the shard's patients concurrently
	// (patients are independent given the open-trial changelog); 0 means
	// GOMAXPROCS. Prism hands a stage all its keys in one bundle, so without
	// this one core would do the whole match stage.
	Workers int
	// Groups is how many replays the patients of one element are split
	// into (0: one per worker); the workers take them in turn. A replay's
	// cost grows faster than its patients (it re-judges all of them at
	// every table change), so a large partition is better cut finer.
	Groups int

	cats *catalog.Compiler
}

// Setup makes the compiler the stage instance's engines share: each trial
// version is compiled once per instance, not once per worker.
func (f *shardBatchFn) Setup() {
	f.cats = catalog.NewCompiler()
}

func (f *shardBatchFn) ProcessElement(ctx context.Context, shard int, events func(*Event) bool,
	emit func(beam.EventTime, schemas.ApprovedPatient), dead func(deadletter.Record), folded func(int64)) error {
	parts := f.newReplays()
	var (
		ev  Event
		raw [][]byte // fact bodies, decoded on the workers below
	)
	for events(&ev) {
		switch ev.Kind {
		case kindFacts:
			raw = append(raw, ev.Data)
		case kindDecision:
			d, err := ev.decision()
			if err != nil {
				return err
			}
			f.addDecision(parts, ev.TS, &d)
		default:
			return fmt.Errorf("trialmatch: shard %d got an event of kind %d, want a fact batch or an open-trial change", shard, ev.Kind)
		}
	}
	facts := make([][]schemas.PatientFact, len(raw))
	errs := make([]error, len(parts))
	var dec sync.WaitGroup
	for w := range parts {
		dec.Add(1)
		go func() {
			defer dec.Done()
			for i := w; i < len(raw); i += len(parts) {
				var err error
				if facts[i], err = parseFactBodies(nil, raw[i]); err != nil {
					errs[w] = fmt.Errorf("trialmatch: shard %d: %w", shard, err)
					return
				}
			}
		}()
	}
	dec.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, fs := range facts {
		f.addFacts(parts, fs)
	}
	return f.replayAll(ctx, fmt.Sprintf("shard %d", shard), parts, func(o stamped) { emit(o.ts, o.rec) }, dead, folded)
}

// newReplays returns the empty replays the patients of one element are
// split into.
func (f *shardBatchFn) newReplays() []*engine.Replay {
	n := f.Groups
	if n <= 0 {
		n = workersOr(f.Workers)
	}
	parts := make([]*engine.Replay, n)
	for i := range parts {
		parts[i] = engine.NewReplay()
	}
	return parts
}

// addDecision gives an open-trial change to every replay, and its trial
// version to the catalogs' compiler: knowing every version before the
// replays start, it compiles one engine per day for the whole run.
func (f *shardBatchFn) addDecision(parts []*engine.Replay, ts int64, d *opentrials.Decision) {
	f.cats.Know(*d)
	t := tickOf(ts, f.TickMillis)
	for _, r := range parts {
		r.Add(t, engine.Item{Kind: engine.Decision, TS: ts, Decision: d})
	}
}

// addFacts gives each fact to the replay of its patient; the replays keep
// pointers into fs.
func (f *shardBatchFn) addFacts(parts []*engine.Replay, fs []schemas.PatientFact) {
	for i := range fs {
		ts := fs[i].EventTime.UnixMilli()
		r := parts[shardOf(fs[i].Tenant, fs[i].PatientID, len(parts)*1024)/1024]
		r.Add(tickOf(ts, f.TickMillis), engine.Item{Kind: engine.Fact, TS: ts, Fact: &fs[i]})
	}
}

// stamped is a record with its output timestamp.
type stamped struct {
	ts  beam.EventTime
	rec schemas.ApprovedPatient
}

// part is a piece of a replay's output and the Beam metric updates (and
// dead letters) that go with it.
type part struct {
	engine.Part
	metrics []func()
}

// replayAll runs the replays on the workers, one engine each (label names
// the replays in errors), while this goroutine, the only one that may use
// the bundle's emitters and metrics, passes on what they have finished.
func (f *shardBatchFn) replayAll(ctx context.Context, label string, parts []*engine.Replay, emit func(stamped),
	dead func(deadletter.Record), folded func(int64)) error {
	workers := workersOr(f.Workers)
	done := make(chan part, 4*workers)
	todo := make(chan int, len(parts))
	for i := range parts {
		todo <- i
	}
	close(todo)
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for range workers {
		obs := &beamObserver{ctx: ctx, dead: dead, hold: true}
		eng := engine.New(f.cats, obs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if err := parts[i].Run(eng, func(p engine.Part) { done <- part{p, obs.take()} }); err != nil {
					errs[i] = fmt.Errorf("trialmatch: %s: %w", label, err)
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	var n int64
	for p := range done {
		for _, m := range p.metrics {
			m()
		}
		for _, o := range p.Out {
			emit(stamped{beam.EventTime(o.Tick), o.Rec})
		}
		n += p.Folded
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if n > 0 {
		folded(n)
	}
	return nil
}
