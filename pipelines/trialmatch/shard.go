package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
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

// patient is the per-patient state of a shard: the single patient view and
// what has been published for the patient.
type patient struct {
	View   spv.State
	Ledger decide.Ledger
	// LastFact is the event time (ms) of the latest fact folded in.
	LastFact int64
	// JudgedDay is the day (days since 1970-01-01, plus one) of the
	// catalog the ledger was last brought up to date with, when the
	// ledger then holds exactly the protocols the profile is eligible for;
	// zero when that is not known. See requests.add.
	JudgedDay int32
}

// shardFn folds facts into profiles, matches them against the broadcast
// open-trial table and publishes NEW/RETRACTED records, for one shard of
// patients, in event-time order at tick granularity.
type shardFn struct {
	TickMillis int64

	Pending  state.Map[int64, []Event] // tick -> events waiting for it
	Patients state.Map[string, []byte] // spv.Key -> JSON patient
	Table    state.Value[[]byte]       // JSON map[protocol]opentrials.Decision
	Version  state.Value[int64]        // bumped on every write, validates the cache
	Tick     timers.EventTime

	mu    sync.Mutex
	cache map[int]*shardCache // per shard key, validated by Version
	eng   *engine
}

// engine is the pure core of the match stage, shared by the stateful
// (streaming) and the grouped (batch) stages: it applies one tick's events
// to a shard's patients and table and publishes what changed.
type engine struct {
	cats *catalog.Compiler
	mem  memory.Allocator
	// hold keeps Beam metric updates (in held) instead of making them:
	// Beam's per-bundle metric store is not safe for concurrent use, and
	// batch execution runs several engines on worker goroutines of one
	// bundle, so the goroutine that emits their output applies them.
	hold bool
	held []func()
	// judged counts the verdicts by kind: against every open trial, and
	// against the changed trials only.
	judged struct{ all, changedOnly int64 }
}

// meter runs f, which updates Beam metrics, now or, when e.hold is set,
// when the held updates are taken (takeMetrics) and run.
func (e *engine) meter(f func()) {
	if e.hold {
		e.held = append(e.held, f)
		return
	}
	f()
}

// takeMetrics returns the held metric updates and forgets them.
func (e *engine) takeMetrics() []func() {
	h := e.held
	e.held = nil
	return h
}

// newEngine returns an engine whose catalogs come from cats, which may be
// shared by the engines of a stage instance (trial versions are then
// compiled once per instance, not once per worker).
func newEngine(cats *catalog.Compiler) *engine {
	return &engine{cats: cats, mem: memory.NewGoAllocator()}
}

type shardCache struct {
	version  int64
	patients map[string]*patient
	table    map[string]opentrials.Decision
	// view is table as catalogs read it, brought up to date with the
	// decisions of changed when the next catalogs are made (catalogsFor).
	view *catalog.Table
	// changed holds the protocols whose decision the last fold changed.
	changed map[string]bool
	// keys are the keys of patients, sorted unless unsorted is set; nil
	// until asked for.
	keys     []string
	unsorted bool
}

// sortedKeys returns the keys of c.patients in order.
func (c *shardCache) sortedKeys() []string {
	if len(c.keys) != len(c.patients) {
		c.keys = c.keys[:0]
		for k := range c.patients {
			c.keys = append(c.keys, k)
		}
		c.unsorted = true
	}
	if c.unsorted {
		sort.Strings(c.keys)
		c.unsorted = false
	}
	return c.keys
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
	f.eng = newEngine(catalog.NewCompiler())
}

// newShardCache returns an empty shard whose catalogs come from cats.
func newShardCache(cats *catalog.Compiler) *shardCache {
	return &shardCache{patients: map[string]*patient{}, table: map[string]opentrials.Decision{}, changed: map[string]bool{}, view: catalog.NewTable(cats)}
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
	c = newShardCache(f.eng.cats)
	c.version = v
	if err := readJSON(sp, &f.Table, &c.table); err != nil {
		return nil, fmt.Errorf("trialmatch: read open-trial table: %w", err)
	}
	for _, d := range c.table {
		c.view.Set(d)
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
		p := &patient{}
		if err := json.Unmarshal(b, p); err != nil {
			return nil, fmt.Errorf("trialmatch: decode patient state: %w", err)
		}
		c.patients[k] = p
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
	dirty, tableChanged, nFolded, err := f.eng.step(ctx, c, tick, items, emit, dead)
	if err != nil {
		return err
	}
	if nFolded > 0 {
		folded(nFolded)
	}
	if !tableChanged && len(dirty) == 0 {
		return nil
	}
	// Persist what changed, then bump the version the cache is checked by.
	for k := range dirty {
		b, err := json.Marshal(c.patients[k])
		if err != nil {
			return fmt.Errorf("trialmatch: encode patient state: %w", err)
		}
		if err := f.Patients.Put(sp, k, b); err != nil {
			return err
		}
	}
	if tableChanged {
		if err := writeJSON(sp, &f.Table, c.table); err != nil {
			return err
		}
	}
	c.version++
	return f.Version.Write(sp, c.version)
}

// step applies one tick's events to c in event-time order (decisions first
// at equal times, so a trial opening at t is open for a fact at t), matches
// the patients that changed (all of them when the table changed) and emits
// the NEW/RETRACTED records. It returns the patients whose state changed,
// whether the table changed, and how many facts were folded in.
func (e *engine) step(ctx context.Context, c *shardCache, tick int64, events []item,
	emit func(beam.EventTime, schemas.ApprovedPatient), dead func(deadletter.Record)) (dirty map[string]bool, tableChanged bool, nFolded int64, err error) {
	dirty, tableChanged, nFolded, err = e.fold(ctx, c, events, dead)
	if err != nil || (!tableChanged && len(dirty) == 0) {
		return dirty, tableChanged, nFolded, err
	}
	cat, changed, err := e.catalogsFor(c, tick, tableChanged)
	if err != nil {
		return nil, false, 0, err
	}
	var q requests
	if err := q.add(c, tick, dirty, tableChanged, false); err != nil {
		return nil, false, 0, err
	}
	err = e.decide(ctx, cat, changed, &q, time.Now().UTC(), func(r *request, rec schemas.ApprovedPatient) {
		emit(beam.EventTime(r.tick), rec)
		dirty[r.key] = true
	})
	// A new JudgedDay is state to keep too.
	for _, r := range q.reqs {
		if r.p.JudgedDay != r.judged {
			dirty[r.key] = true
		}
	}
	return dirty, tableChanged, nFolded, err
}

// catalogsFor brings c's view up to date with the decisions the last fold
// changed and returns the catalog of the table at tick and, when the table
// changed, the catalog of just the trials that changed. Catalogs made
// before are stale from then on: evaluate what waits for them first.
func (e *engine) catalogsFor(c *shardCache, tick int64, tableChanged bool) (cat, changed *catalog.Catalog, err error) {
	protocols := make([]string, 0, len(c.changed))
	for p := range c.changed {
		c.view.Set(c.table[p])
		protocols = append(protocols, p)
	}
	if cat, err = c.view.Catalog(msTime(tick)); err != nil || !tableChanged {
		return cat, nil, err
	}
	changed, err = c.view.CatalogOf(msTime(tick), protocols)
	return cat, changed, err
}

// fold applies one tick's events to c in event-time order (decisions first
// at equal times, so a trial opening at t is open for a fact at t). It
// returns the patients whose profile changed, whether the table changed,
// and how many facts were folded in; facts that do not fold go to dead.
// dead is called from e.meter, as a metric update (see engine.hold).
func (e *engine) fold(ctx context.Context, c *shardCache, events []item, dead func(deadletter.Record)) (dirty map[string]bool, tableChanged bool, nFolded int64, err error) {
	sort.SliceStable(events, func(i, j int) bool {
		if events[i].ts != events[j].ts {
			return events[i].ts < events[j].ts
		}
		return events[i].kind < events[j].kind
	})
	dirty = map[string]bool{}
	clear(c.changed)
	var viewIn int64
	defer func() {
		if viewIn > 0 {
			e.meter(func() {
				stageView.In(ctx, viewIn)
				stageView.Out(ctx, nFolded)
			})
		}
	}()
	for _, ev := range events {
		switch ev.kind {
		case kindDecision:
			d := *ev.decision
			if old, ok := c.table[d.ProtocolNo]; !ok || !old.Equal(d) {
				c.changed[d.ProtocolNo] = true
			}
			c.table[d.ProtocolNo] = d
			tableChanged = true
		case kindFact:
			fact := ev.fact
			k := spv.Key(fact.Tenant, fact.PatientID)
			p := c.patients[k]
			if p == nil {
				p = &patient{}
				c.patients[k] = p
				if c.keys != nil {
					// Sorted when next asked for: inserting in order
					// costs a copy of the keys per new patient.
					c.keys = append(c.keys, k)
					c.unsorted = true
				}
			}
			viewIn++
			changed, err := p.View.Apply(fact)
			if err != nil {
				e.meter(func() {
					stageView.DeadLetter(ctx, string(deadletter.InvalidRecord))
					deadletter.Emit(ctx, dead, deadletter.New("trialmatch.PatientView",
						deadletter.Errorf(deadletter.InvalidRecord, "fact %s: %w", fact.FactID, err),
						deadletter.WithTenant(fact.Tenant)))
				})
				continue
			}
			nFolded++
			if ev.ts > p.LastFact {
				p.LastFact = ev.ts
			}
			if changed {
				dirty[k] = true
			}
		default:
			return nil, false, 0, fmt.Errorf("trialmatch: shard got an event of kind %d", ev.kind)
		}
	}
	return dirty, tableChanged, nFolded, nil
}

// request is one patient evaluation a tick asks for; its profile and
// event time are in the requests' parallel slices.
type request struct {
	key  string
	p    *patient
	tick int64 // the output timestamp
	// changedOnly re-judges the patient against the trials that changed
	// only (see requests.add).
	changedOnly bool
	judged      int32 // the patient's JudgedDay when the request was made
	j           int   // the index of its profile in requests.profiles[kind]
	// byFacts is set when the patient is judged at the time of its latest
	// facts (it changed), not at the tick.
	byFacts bool
}

// view is the view of profile j of kind as judged: its profile and
// provenance.
func (q *requests) view(kind, j int) spv.State {
	return spv.State{Profile: q.profiles[kind][j], Attrs: q.attrs[kind][j]}
}

// kind is the index in requests.profiles and requests.at of a request's
// profile: 0 for a full judging, 1 for the changed trials only.
func (r *request) kind() int {
	if r.changedOnly {
		return 1
	}
	return 0
}

// rejudgeAll turns off re-judging against the changed trials only, for
// tests that check it gives the same records.
var rejudgeAll = false

// day is the JudgedDay of a verdict at tick.
func day(tick int64) int32 { return int32(tick/86_400_000) + 1 }

// requests are the patient evaluations waiting for one batch: who asked,
// and per kind (request.kind) the profiles and at (the verdicts' event
// times) as the catalog takes them. It is reused from batch to batch.
type requests struct {
	reqs     []request
	profiles [2][]match.Profile
	at       [2][]time.Time
	// attrs holds each profile's provenance (copied when later folds may
	// change the patient before the batch is decided): it names the facts
	// behind a record's reasons.
	attrs [2][]map[string]spv.Provenance
	// changed holds the protocols whose decision changed, for requests
	// that re-judge against those only.
	changed map[string]bool
}

func (q *requests) reset() {
	q.reqs, q.changed = q.reqs[:0], nil
	for k := range q.profiles {
		clear(q.profiles[k]) // drop references to variants
		clear(q.attrs[k])
		q.profiles[k], q.at[k], q.attrs[k] = q.profiles[k][:0], q.at[k][:0], q.attrs[k][:0]
	}
}

// add appends the evaluations tick asks for, in key order: every patient
// when all is set (the table changed), else the dirty ones. A changed
// patient is judged at the time of its latest fact, the others at the
// tick. With keep set the profiles are copied so that later folds do not
// change them (the batch replay evaluates them later).
//
// When the table changed, a patient whose profile did not change and
// whose ledger was brought up to date by a verdict of the same day is
// re-judged against the trials that changed only: its eligibility for
// the others is what its ledger holds (the ledger publishes every
// eligibility it is shown), and a trial's criteria depend on nothing but
// the profile, the trial and the day. The records are the same as from
// re-judging it against every trial, for a fraction of the work.
func (q *requests) add(c *shardCache, tick int64, dirty map[string]bool, all, keep bool) error {
	var keys []string
	if all {
		if q.changed != nil {
			return fmt.Errorf("trialmatch: two table changes in one batch of requests")
		}
		q.changed = maps.Clone(c.changed)
		keys = c.sortedKeys()
	} else {
		keys = make([]string, 0, len(dirty))
		for k := range dirty {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	now, today := msTime(tick), day(tick)
	for _, k := range keys {
		p := c.patients[k]
		at := now
		if dirty[k] {
			at = msTime(p.LastFact)
		}
		profile := p.View.Profile
		if keep {
			profile.Variants = slices.Clone(profile.Variants)
		}
		r := request{key: k, p: p, tick: tick, judged: p.JudgedDay,
			changedOnly: all && !rejudgeAll && !dirty[k] && p.JudgedDay == today, byFacts: dirty[k]}
		attrs := p.View.Attrs
		if keep {
			attrs = maps.Clone(attrs)
		}
		kind := r.kind()
		r.j = len(q.profiles[kind])
		q.reqs = append(q.reqs, r)
		q.profiles[kind] = append(q.profiles[kind], profile)
		q.attrs[kind] = append(q.attrs[kind], attrs)
		q.at[kind] = append(q.at[kind], at)
	}
	return nil
}

// decide evaluates q in one batch (against cat, or changed for requests
// that re-judge against the changed trials only), applies the verdicts to
// the patients' ledgers in the order given (a patient may come more than
// once, tick after tick) and passes each record to publish, in that order.
// Match reasons are built only for the NEW records (with the facts behind
// them); a RETRACTED record of a patient judged at its latest facts names
// what those facts set.
func (e *engine) decide(ctx context.Context, cat, changed *catalog.Catalog, q *requests, wall time.Time,
	publish func(*request, schemas.ApprovedPatient)) error {
	reqs := q.reqs
	if len(reqs) == 0 {
		return nil
	}
	nFull, nPart := len(q.profiles[0]), len(q.profiles[1])
	e.judged.all += int64(nFull)
	e.judged.changedOnly += int64(nPart)
	if nPart > 0 && changed == nil {
		return fmt.Errorf("trialmatch: re-judging against the changed trials without their catalog")
	}
	var evs [2]*catalog.Evaluation
	if nFull > 0 {
		ev, err := cat.Evaluate(e.mem, q.profiles[0], q.at[0])
		if err != nil {
			return err
		}
		defer ev.Release()
		evs[0] = ev
	}
	if nPart > 0 {
		ev, err := changed.EvaluateRows(q.profiles[1], q.at[1])
		if err != nil {
			return err
		}
		defer ev.Release()
		evs[1] = ev
	}
	type made struct {
		req int
		rec schemas.ApprovedPatient
	}
	var (
		out  []made
		refs [2][]catalog.Ref
		news [2][]int // out index of each ref's record
	)
	for i := range reqs {
		r := &reqs[i]
		kind := r.kind()
		judged := &evs[kind].Verdicts[r.j]
		v := *judged
		if r.changedOnly {
			// The verdict covers the trials that changed; the ledger's word
			// stands for the others (Ledger.ApplyTo).
			v.OpenArms = cat.OpenArmsFor(v.Tenant)
		}
		applied := v.EventTime.UnixMilli() >= r.p.Ledger.LastEvent
		var recs []schemas.ApprovedPatient
		if r.changedOnly {
			recs = r.p.Ledger.ApplyTo(v, q.changed, wall)
		} else {
			recs = r.p.Ledger.Apply(v, wall)
		}
		for _, rec := range recs {
			if rec.Action != decide.New && r.byFacts {
				view := q.view(kind, r.j)
				rec.Reasons = view.ChangeReasons(rec.EventTime)
			}
			if rec.Action == decide.New {
				k := decide.Chosen(v.Eligible, rec)
				if k < 0 || k >= len(judged.Eligible) {
					return fmt.Errorf("trialmatch: NEW record for %s names an arm the verdict does not hold", rec.ProtocolNo)
				}
				refs[kind] = append(refs[kind], catalog.Ref{Profile: r.j, Eligible: k})
				news[kind] = append(news[kind], len(out))
			}
			out = append(out, made{i, rec})
		}
		r.p.JudgedDay = 0
		if applied {
			r.p.JudgedDay = day(r.tick)
		}
	}
	for kind, rs := range refs {
		if len(rs) == 0 {
			continue
		}
		ev := evs[kind]
		ev.Sources = func(j int, reads []match.Read) []schemas.FactRef {
			view := q.view(kind, j)
			return view.Sources(reads)
		}
		if err := ev.WithReasons(rs); err != nil {
			return err
		}
		for j, ref := range rs {
			out[news[kind][j]].rec.Reasons = ev.Verdicts[ref.Profile].Eligible[ref.Eligible].Reasons
		}
	}
	for _, m := range out {
		publish(&reqs[m.req], m.rec)
	}
	e.meter(func() {
		stageMatch.In(ctx, int64(len(reqs)))
		stageMatch.Out(ctx, int64(len(reqs)))
		if nFull > 0 {
			beam.NewCounter(metrics.Namespace, "match/judged_all_trials").Inc(ctx, int64(nFull))
		}
		if nPart > 0 {
			beam.NewCounter(metrics.Namespace, "match/judged_changed_trials_only").Inc(ctx, int64(nPart))
		}
		stageDecide.In(ctx, int64(len(reqs)))
		stageDecide.Out(ctx, int64(len(out)))
		for i := range out {
			r := &out[i].rec
			stageDecide.Match(ctx, r)
			if r.RetractionReason != nil {
				beam.NewCounter(metrics.Namespace, "decide/retracted/"+*r.RetractionReason).Inc(ctx, 1)
			}
		}
	})
	return nil
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
