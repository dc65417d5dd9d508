package naive

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*schemas.PatientFact)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*schemas.Trial)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*schemas.RegulatoryEvent)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*schemas.ApprovedPatient)(nil)).Elem())
	register.DoFn4x0[context.Context, schemas.PatientFact, func(string, schemas.PatientFact), func(deadletter.Record)](&keyFactFn{})
	register.Function1x2(keyTrial)
	register.Function1x2(keyRegulatory)
	register.DoFn6x1[context.Context, string, func(*schemas.Trial) bool, func(*schemas.RegulatoryEvent) bool, func(beam.EventTime, string), func(deadletter.Record), error](&openTrialsFn{})
	register.DoFn7x1[context.Context, string, func(*schemas.PatientFact) bool, func(*string) bool, func(beam.EventTime, schemas.ApprovedPatient), func(deadletter.Record), func(int64), error](&patientFn{})
	register.Emitter2[string, schemas.PatientFact]()
	register.Emitter2[beam.EventTime, string]()
	register.Emitter2[beam.EventTime, schemas.ApprovedPatient]()
	register.Emitter1[deadletter.Record]()
	register.Emitter1[int64]()
	register.Iter1[schemas.PatientFact]()
	register.Iter1[schemas.Trial]()
	register.Iter1[schemas.RegulatoryEvent]()
	register.Iter1[string]()
}

// Config tunes the pipeline; the zero value takes the defaults.
type Config struct {
	// Tick is the event-time granularity at which facts and open-trial
	// changes are applied in order (default one minute), as in
	// trialmatch.Config.
	Tick time.Duration
}

func (c Config) withDefaults() Config {
	if c.Tick <= 0 {
		c.Tick = time.Minute
	}
	return c
}

// Inputs are the pipeline's sources: PCollections of schemas.PatientFact,
// schemas.Trial and schemas.RegulatoryEvent values.
type Inputs struct {
	Facts, Trials, Regulatory beam.PCollection
}

// Outputs are what the pipeline produces.
type Outputs struct {
	// Matches is the approved_patients changelog (schemas.ApprovedPatient).
	Matches beam.PCollection
	// Decisions is the open-trial changelog (opentrials.Decision as JSON
	// strings).
	Decisions beam.PCollection
	// DeadLetters holds every rejected input (deadletter.Record).
	DeadLetters beam.PCollection
	// Folded counts facts folded into patient views (int64 per patient):
	// facts in = sum(Folded) + fact dead letters.
	Folded beam.PCollection
}

// Build adds the naive trial-matching stages to s. Its inputs must be
// bounded.
func Build(s beam.Scope, in Inputs, cfg Config) Outputs {
	cfg = cfg.withDefaults()
	s = s.Scope("naive")

	keyedFacts, factDead := beam.ParDo2(s.Scope("KeyFacts"), &keyFactFn{}, in.Facts)
	trials := beam.ParDo(s.Scope("KeyTrials"), keyTrial, in.Trials)
	regs := beam.ParDo(s.Scope("KeyRegulatory"), keyRegulatory, in.Regulatory)

	byProtocol := beam.CoGroupByKey(s.Scope("JoinTrialsRegulatory"), trials, regs)
	decisions, tableDead := beam.ParDo2(s.Scope("OpenTrials"), &openTrialsFn{}, byProtocol)

	byPatient := beam.CoGroupByKey(s.Scope("GroupFactsByPatient"), keyedFacts)
	matches, matchDead, folded := beam.ParDo3(s.Scope("ReplayPatient"), &patientFn{TickMillis: cfg.Tick.Milliseconds()},
		byPatient, beam.SideInput{Input: decisions})

	return Outputs{
		Matches:     matches,
		Decisions:   decisions,
		DeadLetters: beam.Flatten(s, factDead, tableDead, matchDead),
		Folded:      folded,
	}
}

// keyFactFn keys a fact by its (tenant, patient), or dead-letters it.
type keyFactFn struct{}

func (f *keyFactFn) ProcessElement(ctx context.Context, fact schemas.PatientFact, emit func(string, schemas.PatientFact), dead func(deadletter.Record)) {
	if fact.Tenant == "" || fact.PatientID == "" || fact.FactID == "" {
		deadletter.Emit(ctx, dead, deadletter.New("naive.KeyFacts",
			deadletter.Errorf(deadletter.InvalidRecord, "patient fact %q lacks tenant, patient_id or fact_id", fact.FactID)))
		return
	}
	emit(spv.Key(fact.Tenant, fact.PatientID), fact)
}

func keyTrial(t schemas.Trial) (string, schemas.Trial) { return t.ProtocolNo, t }

func keyRegulatory(e schemas.RegulatoryEvent) (string, schemas.RegulatoryEvent) {
	return e.ProtocolNo, e
}

// openTrialsFn joins one protocol's trial versions with its regulatory
// events and emits the decision at every change point where it changes.
type openTrialsFn struct{}

func (f *openTrialsFn) ProcessElement(ctx context.Context, protocol string, trials func(*schemas.Trial) bool,
	regs func(*schemas.RegulatoryEvent) bool, emit func(beam.EventTime, string), dead func(deadletter.Record)) error {
	var (
		vs []*schemas.Trial
		es []*schemas.RegulatoryEvent
		t  schemas.Trial
		e  schemas.RegulatoryEvent
	)
	for trials(&t) {
		v := t
		if _, err := criteria.Parse([]byte(v.CTML), criteria.WithSource(fmt.Sprintf("trials/%s@v%d", v.ProtocolNo, v.Version))); err != nil {
			deadletter.Emit(ctx, dead, deadletter.New("naive.OpenTrials",
				deadletter.Errorf(deadletter.InvalidRecord, "trial %s version %d: %w", v.ProtocolNo, v.Version, err)))
			continue
		}
		vs = append(vs, &v)
	}
	for regs(&e) {
		r := e
		if _, err := opentrials.At(protocol, nil, []*schemas.RegulatoryEvent{&r}, r.ValidFrom); err != nil {
			deadletter.Emit(ctx, dead, deadletter.New("naive.OpenTrials",
				deadletter.Errorf(deadletter.InvalidRecord, "regulatory event %s: %w", r.EventID, err)))
			continue
		}
		es = append(es, &r)
	}
	var prev *opentrials.Decision
	for _, at := range opentrials.ChangePoints(vs, es) {
		d, err := opentrials.At(protocol, vs, es, at)
		if err != nil {
			return fmt.Errorf("naive: open trials of %s at %s: %w", protocol, at.Format(time.RFC3339), err)
		}
		if prev != nil && prev.Equal(d) {
			continue
		}
		prev = &d
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("naive: encode decision of %s: %w", protocol, err)
		}
		emit(beam.EventTime(at.UnixMilli()), string(b))
	}
	return nil
}

// timed is one open-trial decision of the changelog, in milliseconds.
type timed struct {
	ts int64
	d  opentrials.Decision
}

// patientFn replays one patient's facts and the open-trial changelog in
// event-time order, tick by tick, and publishes what the ledger decides.
type patientFn struct {
	TickMillis int64

	timeline []timed
	loaded   bool
	parse    *catalog.Cache
	cats     map[catKey]*catalog.Catalog
}

// catKey names the open-trial table after the first n decisions of the
// timeline, compiled for one day.
type catKey struct {
	n   int
	day string
}

func (f *patientFn) Setup() {
	f.parse = catalog.NewCache()
	f.cats = map[catKey]*catalog.Catalog{}
}

// load reads the changelog side input once per DoFn instance: the input is
// bounded and in the global window, so every patient sees the same one.
func (f *patientFn) load(decisions func(*string) bool) error {
	if f.loaded {
		return nil
	}
	var tl []timed
	var s string
	for decisions(&s) {
		var d opentrials.Decision
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return fmt.Errorf("naive: decode decision: %w", err)
		}
		tl = append(tl, timed{ts: d.At.UnixMilli(), d: d})
	}
	sort.SliceStable(tl, func(i, j int) bool {
		if tl[i].ts != tl[j].ts {
			return tl[i].ts < tl[j].ts
		}
		return tl[i].d.ProtocolNo < tl[j].d.ProtocolNo
	})
	f.timeline, f.loaded = tl, true
	clear(f.cats)
	return nil
}

func (f *patientFn) catalog(n int, table map[string]opentrials.Decision, now time.Time) (*catalog.Catalog, error) {
	k := catKey{n: n, day: now.Format(time.DateOnly)}
	if c, ok := f.cats[k]; ok {
		return c, nil
	}
	decs := make([]opentrials.Decision, 0, len(table))
	for _, d := range table {
		decs = append(decs, d)
	}
	c, err := catalog.Build(f.parse, decs, now)
	if err != nil {
		return nil, fmt.Errorf("naive: open-trial catalog: %w", err)
	}
	f.cats[k] = c
	return c, nil
}

func (f *patientFn) ProcessElement(ctx context.Context, key string, facts func(*schemas.PatientFact) bool, decisions func(*string) bool,
	emit func(beam.EventTime, schemas.ApprovedPatient), dead func(deadletter.Record), folded func(int64)) error {
	if err := f.load(decisions); err != nil {
		return err
	}
	var all []*schemas.PatientFact
	var x schemas.PatientFact
	for facts(&x) {
		fact := x
		all = append(all, &fact)
	}
	if len(all) == 0 {
		return nil
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].EventTime.Before(all[j].EventTime) })

	var (
		view     spv.State
		ledger   decide.Ledger
		lastFact int64
		table    = map[string]opentrials.Decision{}
		applied  int // decisions of the timeline applied to table
		nFolded  int64
		fi       int
		tick     = tickOf(all[0].EventTime.UnixMilli(), f.TickMillis)
		tl       = f.timeline
	)
	// Decisions before the patient's first tick only shape the table.
	for applied < len(tl) && tickOf(tl[applied].ts, f.TickMillis) < tick {
		table[tl[applied].d.ProtocolNo] = tl[applied].d
		applied++
	}
	for {
		// Apply this tick's decisions and facts.
		tableChanged := false
		for applied < len(tl) && tickOf(tl[applied].ts, f.TickMillis) == tick {
			table[tl[applied].d.ProtocolNo] = tl[applied].d
			applied++
			tableChanged = true
		}
		dirty := false
		for fi < len(all) && tickOf(all[fi].EventTime.UnixMilli(), f.TickMillis) == tick {
			fact := all[fi]
			fi++
			changed, err := view.Apply(fact)
			if err != nil {
				deadletter.Emit(ctx, dead, deadletter.New("naive.PatientView",
					deadletter.Errorf(deadletter.InvalidRecord, "fact %s: %w", fact.FactID, err),
					deadletter.WithTenant(fact.Tenant)))
				continue
			}
			nFolded++
			if ts := fact.EventTime.UnixMilli(); ts > lastFact {
				lastFact = ts
			}
			dirty = dirty || changed
		}
		if (tableChanged || dirty) && nFolded > 0 {
			now := time.UnixMilli(tick).UTC()
			at := now
			if dirty {
				at = time.UnixMilli(lastFact).UTC()
			}
			cat, err := f.catalog(applied, table, now)
			if err != nil {
				return err
			}
			v := verdict(cat, table, &view, at)
			for _, r := range ledger.Apply(v, time.Now().UTC()) {
				if r.Action != decide.New && dirty {
					r.Reasons = view.ChangeReasons(r.EventTime)
				}
				emit(beam.EventTime(tick), r)
			}
		}
		// The next tick with a fact or a decision.
		next := int64(-1)
		if fi < len(all) {
			next = tickOf(all[fi].EventTime.UnixMilli(), f.TickMillis)
		}
		if applied < len(tl) {
			if t := tickOf(tl[applied].ts, f.TickMillis); next < 0 || t < next {
				next = t
			}
		}
		if next < 0 {
			break
		}
		tick = next
	}
	if nFolded > 0 {
		folded(nFolded)
	}
	return nil
}

// verdict evaluates one profile with the row-wise matcher.
func verdict(cat *catalog.Catalog, table map[string]opentrials.Decision, view *spv.State, at time.Time) decide.Verdict {
	p := view.Profile
	v := decide.Verdict{Tenant: p.Tenant, PatientID: p.PatientID, EventTime: at, Deceased: p.Deceased, OpenArms: cat.OpenArmsFor(p.Tenant)}
	for _, m := range catalog.RowwiseMatches(cat, []match.Profile{p}) {
		d := table[m.ProtocolNo]
		site, _ := cat.Site(m.ProtocolNo, m.ArmCode, p.Tenant) // open: RowwiseMatches keeps only those
		v.Eligible = append(v.Eligible, decide.Eligible{
			ProtocolNo: m.ProtocolNo, ArmCode: m.ArmCode, DoseLevel: m.DoseLevel, Site: site,
			TrialVersion: d.Version, ApprovalReference: d.ApprovalReference,
			Reasons: reasons(m.Reasons, view),
		})
	}
	return v
}

// reasons turns the matcher's reasons into the contract's, without
// duplicates.
func reasons(rs []match.Reason, view *spv.State) []schemas.MatchReason {
	out := make([]schemas.MatchReason, 0, len(rs))
	seen := map[string]bool{}
	for _, r := range rs {
		k := string(r.Type) + "\x00" + r.Alteration + "\x00" + r.Criterion
		if seen[k] {
			continue
		}
		seen[k] = true
		mr := schemas.MatchReason{ReasonType: strings.ToUpper(string(r.Type)), Field: r.Criterion}
		if r.Alteration != "" {
			mr.Alteration = schemas.Ptr(r.Alteration)
		}
		switch {
		case r.MatchLevel != "":
			mr.Level = schemas.Ptr(r.MatchLevel)
		case mr.ReasonType == "CLINICAL":
			mr.Level = schemas.Ptr("clinical")
		}
		mr.Facts = view.Sources(r.Reads)
		out = append(out, mr)
	}
	return out
}

// tickOf rounds ts (ms) up to the next multiple of tick (ms).
func tickOf(ts, tick int64) int64 {
	if tick <= 0 {
		return ts
	}
	q := ts / tick * tick
	if q < ts {
		q += tick
	}
	return q
}
