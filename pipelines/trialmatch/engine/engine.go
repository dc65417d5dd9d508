package engine

import (
	"fmt"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/schemas"
)

// Kind is what an Item carries. At equal event times decisions come
// first, so a trial opening at t is open for a fact at t.
type Kind int8

const (
	// Decision is an open-trial change.
	Decision Kind = iota + 1
	// Fact is a patient fact.
	Fact
)

// Item is one input of a tick: a fact or an open-trial decision, at its
// event time in milliseconds.
type Item struct {
	Kind     Kind
	TS       int64
	Fact     *schemas.PatientFact
	Decision *opentrials.Decision
}

// Patient is the per-patient state of a shard: the single patient view and
// what has been published for the patient. The streaming stage keeps it
// as JSON in keyed state.
type Patient struct {
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

// Shard is one set of patients (a shard or a partition) and the
// open-trial table they are judged against.
type Shard struct {
	// Patients are keyed by spv.Key. Patients may be put in before the
	// first Step (state read back); the engine changes them from then on.
	Patients map[string]*Patient
	// Table holds each protocol's decision in force; set it through
	// Restore.
	Table map[string]opentrials.Decision
	// view is Table as catalogs read it, brought up to date with the
	// decisions of changed when the next catalogs are made (catalogsFor).
	view *catalog.Table
	// changed holds the protocols whose decision the last fold changed.
	changed map[string]bool
	// keys are the keys of Patients, sorted unless unsorted is set; nil
	// until asked for.
	keys     []string
	unsorted bool
}

// NewShard returns a shard with no patient and an empty table, whose
// catalogs come from cats.
func NewShard(cats *catalog.Compiler) *Shard {
	return &Shard{Patients: map[string]*Patient{}, Table: map[string]opentrials.Decision{},
		changed: map[string]bool{}, view: catalog.NewTable(cats)}
}

// Restore puts d in the table as in force (state read back), without
// counting it as a change.
func (s *Shard) Restore(d opentrials.Decision) {
	s.Table[d.ProtocolNo] = d
	s.view.Set(d)
}

// sortedKeys returns the keys of s.Patients in order.
func (s *Shard) sortedKeys() []string {
	if len(s.keys) != len(s.Patients) {
		s.keys = s.keys[:0]
		for k := range s.Patients {
			s.keys = append(s.keys, k)
		}
		s.unsorted = true
	}
	if s.unsorted {
		sort.Strings(s.keys)
		s.unsorted = false
	}
	return s.keys
}

// Engine applies ticks to shards. One goroutine uses it at a time; the
// engines of a stage instance share one catalog.Compiler, so trial
// versions are compiled once per instance, not once per worker.
type Engine struct {
	cats *catalog.Compiler
	mem  memory.Allocator
	obs  Observer
	// RejudgeAll turns off judging a patient against the changed trials
	// only, for tests that check it publishes the same records.
	RejudgeAll bool
}

// New returns an engine whose catalogs come from cats, reporting to obs
// (nil discards the reports).
func New(cats *catalog.Compiler, obs Observer) *Engine {
	if obs == nil {
		obs = discard{}
	}
	return &Engine{cats: cats, mem: memory.NewGoAllocator(), obs: obs}
}

// Changes is what a Step changed in a shard: the state to keep.
type Changes struct {
	// Patients holds the keys of the patients whose state changed.
	Patients map[string]bool
	// Table is set when the open-trial table changed.
	Table bool
	// Folded is how many facts were folded in.
	Folded int64
}

// Step applies one tick's items to s (see the package doc; Step sorts
// items), judges the patients that changed (all of them when the table
// changed) and passes the NEW/RETRACTED records to publish, in order; they
// all belong to the tick.
func (e *Engine) Step(s *Shard, tick int64, items []Item, publish func(schemas.ApprovedPatient)) (Changes, error) {
	dirty, tableChanged, folded, err := e.fold(s, items)
	ch := Changes{Patients: dirty, Table: tableChanged, Folded: folded}
	if err != nil || (!tableChanged && len(dirty) == 0) {
		return ch, err
	}
	cat, changed, err := e.catalogsFor(s, tick, tableChanged)
	if err != nil {
		return Changes{}, err
	}
	var q requests
	if err := q.add(e, s, tick, dirty, tableChanged, false); err != nil {
		return Changes{}, err
	}
	err = e.decide(cat, changed, &q, time.Now().UTC(), func(r *request, rec schemas.ApprovedPatient) {
		publish(rec)
		dirty[r.key] = true
	})
	// A new JudgedDay is state to keep too.
	for _, r := range q.reqs {
		if r.p.JudgedDay != r.judged {
			dirty[r.key] = true
		}
	}
	return ch, err
}

// catalogsFor brings s's view up to date with the decisions the last fold
// changed and returns the catalog of the table at tick and, when the table
// changed, the catalog of just the trials that changed. Catalogs made
// before are stale from then on: evaluate what waits for them first.
func (e *Engine) catalogsFor(s *Shard, tick int64, tableChanged bool) (cat, changed *catalog.Catalog, err error) {
	protocols := make([]string, 0, len(s.changed))
	for p := range s.changed {
		s.view.Set(s.Table[p])
		protocols = append(protocols, p)
	}
	if cat, err = s.view.Catalog(msTime(tick)); err != nil || !tableChanged {
		return cat, nil, err
	}
	changed, err = s.view.CatalogOf(msTime(tick), protocols)
	return cat, changed, err
}

// fold applies one tick's items to s in event-time order (decisions first
// at equal times). It returns the patients whose profile changed, whether
// the table changed, and how many facts were folded in; facts that do not
// fold go to the observer.
func (e *Engine) fold(s *Shard, items []Item) (dirty map[string]bool, tableChanged bool, nFolded int64, err error) {
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].TS != items[j].TS {
			return items[i].TS < items[j].TS
		}
		return items[i].Kind < items[j].Kind
	})
	dirty = map[string]bool{}
	clear(s.changed)
	var viewIn int64
	defer func() {
		if viewIn > 0 {
			e.obs.Folded(viewIn, nFolded)
		}
	}()
	for _, it := range items {
		switch it.Kind {
		case Decision:
			d := *it.Decision
			if old, ok := s.Table[d.ProtocolNo]; !ok || !old.Equal(d) {
				s.changed[d.ProtocolNo] = true
			}
			s.Table[d.ProtocolNo] = d
			tableChanged = true
		case Fact:
			fact := it.Fact
			k := spv.Key(fact.Tenant, fact.PatientID)
			p := s.Patients[k]
			if p == nil {
				p = &Patient{}
				s.Patients[k] = p
				if s.keys != nil {
					// Sorted when next asked for: inserting in order
					// costs a copy of the keys per new patient.
					s.keys = append(s.keys, k)
					s.unsorted = true
				}
			}
			viewIn++
			changed, err := p.View.Apply(fact)
			if err != nil {
				e.obs.Rejected(Rejection{Fact: fact, Step: PatientView, Reason: InvalidFact, Err: err})
				continue
			}
			nFolded++
			if it.TS > p.LastFact {
				p.LastFact = it.TS
			}
			if changed {
				dirty[k] = true
			}
		default:
			return nil, false, 0, fmt.Errorf("engine: an item of kind %d", it.Kind)
		}
	}
	return dirty, tableChanged, nFolded, nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
