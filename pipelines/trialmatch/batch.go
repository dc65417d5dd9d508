package trialmatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
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

	engs []*engine
}

func (f *shardBatchFn) Setup() {
	f.engs = make([]*engine, workersOr(f.Workers))
	cats := catalog.NewCompiler()
	for i := range f.engs {
		f.engs[i] = newEngine(cats)
		f.engs[i].hold = true
	}
}

// stamped is a record with its output timestamp.
type stamped struct {
	ts  beam.EventTime
	rec schemas.ApprovedPatient
}

// replay is one worker's share of a shard: its patients' facts and the
// whole changelog by tick. What it produces goes out in parts (send), one
// per evaluated batch, so that the bundle's goroutine emits them while the
// worker goes on.
type replay struct {
	byTick map[int64][]item
	send   func(part)
	// dead is the bundle's dead-letter emitter: the engine calls it only
	// from held metric updates, which the bundle's goroutine runs.
	dead func(deadletter.Record)
	err  error
}

// part is a piece of a worker's output: records, facts folded, and the
// Beam metric updates (and dead letters) that go with them.
type part struct {
	out     []stamped
	folded  int64
	metrics []func()
}

// run replays the worker's ticks in order. Unlike the streaming stage,
// which must publish each tick as it closes, it judges patients in as few
// batches as it can: the changed patients of successive ticks wait (as
// copies of their profiles) until the open-trial catalog changes, and are
// then evaluated in one vectorised batch and applied to their ledgers tick
// by tick, which publishes the same records as judging each tick alone.
func (r *replay) run(ctx context.Context, eng *engine, label string) {
	ticks := make([]int64, 0, len(r.byTick))
	for t := range r.byTick {
		ticks = append(ticks, t)
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i] < ticks[j] })
	var (
		c            = newShardCache(eng.cats)
		cat, changed *catalog.Catalog
		catDay       int32
		pending      requests
		wall         = time.Now().UTC()
		cur          part
	)
	publish := func(q *request, a schemas.ApprovedPatient) {
		cur.out = append(cur.out, stamped{beam.EventTime(q.tick), a})
	}
	send := func() {
		cur.metrics = eng.takeMetrics()
		r.send(cur)
		cur = part{}
	}
	defer send()
	flush := func() error {
		err := eng.decide(ctx, cat, changed, &pending, wall, publish)
		pending.reset()
		send()
		return err
	}
	fail := func(t int64, err error) {
		r.err = fmt.Errorf("trialmatch: %s at %s: %w", label, msTime(t).Format("2006-01-02T15:04:05Z"), err)
	}
	for _, t := range ticks {
		dirty, tableChanged, n, err := eng.fold(ctx, c, r.byTick[t], r.dead)
		if err != nil {
			fail(t, err)
			return
		}
		cur.folded += n
		delete(r.byTick, t)
		if !tableChanged && len(dirty) == 0 {
			continue
		}
		// A new day or a table change makes new catalogs (ages depend on
		// the day). The verdicts waiting are judged first, against the
		// catalogs they waited for; and at a table change every patient is
		// re-judged, some from their ledgers (requests.add), so these
		// requests, which share their profiles' variants, are evaluated
		// before the next fold.
		if cat == nil || tableChanged || day(t) != catDay {
			if err := flush(); err != nil {
				fail(t, err)
				return
			}
			if cat, changed, err = eng.catalogsFor(c, t, tableChanged); err != nil {
				fail(t, err)
				return
			}
			catDay = day(t)
		}
		if err := pending.add(c, t, dirty, tableChanged, !tableChanged); err != nil {
			fail(t, err)
			return
		}
		if tableChanged {
			if err := flush(); err != nil {
				fail(t, err)
				return
			}
			changed = nil
		}
	}
	if err := flush(); err != nil {
		r.err = fmt.Errorf("trialmatch: %s: %w", label, err)
	}
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

// newReplays returns one empty replay per worker.
func (f *shardBatchFn) newReplays() []*replay {
	n := f.Groups
	if n <= 0 {
		n = len(f.engs)
	}
	parts := make([]*replay, n)
	for i := range parts {
		parts[i] = &replay{byTick: map[int64][]item{}}
	}
	return parts
}

// addDecision gives an open-trial change to every worker, and its trial
// version to the catalogs' compiler: knowing every version before the
// replays start, it compiles one engine per day for the whole run.
func (f *shardBatchFn) addDecision(parts []*replay, ts int64, d *opentrials.Decision) {
	f.engs[0].cats.Know(*d)
	t := tickOf(ts, f.TickMillis)
	for _, r := range parts {
		r.byTick[t] = append(r.byTick[t], item{kind: kindDecision, ts: ts, decision: d})
	}
}

// addFacts gives each fact to the worker of its patient; the replays keep
// pointers into fs.
func (f *shardBatchFn) addFacts(parts []*replay, fs []schemas.PatientFact) {
	for i := range fs {
		ts := fs[i].EventTime.UnixMilli()
		t := tickOf(ts, f.TickMillis)
		r := parts[shardOf(fs[i].Tenant, fs[i].PatientID, len(parts)*1024)/1024]
		r.byTick[t] = append(r.byTick[t], item{kind: kindFact, ts: ts, fact: &fs[i]})
	}
}

// replayAll runs the replays on the workers (label names them in errors)
// while this goroutine, the only one that may use the bundle's emitters
// and metrics, passes on what they have finished.
func (f *shardBatchFn) replayAll(ctx context.Context, label string, parts []*replay, emit func(stamped),
	dead func(deadletter.Record), folded func(int64)) error {
	parts2 := make(chan part, 4*len(f.engs))
	todo := make(chan *replay, len(parts))
	for _, r := range parts {
		r.send, r.dead = func(p part) { parts2 <- p }, dead
		todo <- r
	}
	close(todo)
	var wg sync.WaitGroup
	for _, eng := range f.engs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range todo {
				r.run(ctx, eng, label)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(parts2)
	}()
	var n int64
	for p := range parts2 {
		for _, m := range p.metrics {
			m()
		}
		for _, o := range p.out {
			emit(o)
		}
		n += p.folded
	}
	for _, r := range parts {
		if r.err != nil {
			return r.err
		}
	}
	if n > 0 {
		folded(n)
	}
	return nil
}
