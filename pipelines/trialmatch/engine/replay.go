package engine

import (
	"fmt"
	"sort"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/schemas"
)

// Stamped is a record with its output tick (ms).
type Stamped struct {
	Tick int64
	Rec  schemas.ApprovedPatient
}

// Part is a piece of a replay's output: the records of one evaluated
// batch, and the facts folded since the part before.
type Part struct {
	Out    []Stamped
	Folded int64
}

// Replay is a bounded input of one set of patients: their facts and the
// whole open-trial changelog, by tick (ms). The batch executions fill it
// and run it.
type Replay struct {
	byTick map[int64][]Item
}

// NewReplay returns an empty replay.
func NewReplay() *Replay { return &Replay{byTick: map[int64][]Item{}} }

// Add files it under tick. Items keep their pointers: a fact or decision
// must not change until the replay has run.
func (r *Replay) Add(tick int64, it Item) { r.byTick[tick] = append(r.byTick[tick], it) }

// Run replays the ticks in order through e, on a new shard whose catalogs
// come from e's compiler, and passes what it publishes to send in parts, one per
// evaluated batch (and a last one, which may be empty), so that a caller
// can pass on a part while the replay goes on. It publishes what Step
// tick by tick would (see the package doc). Run empties r.
func (r *Replay) Run(e *Engine, send func(Part)) error {
	ticks := make([]int64, 0, len(r.byTick))
	for t := range r.byTick {
		ticks = append(ticks, t)
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i] < ticks[j] })
	var (
		s            = NewShard(e.cats)
		cat, changed *catalog.Catalog
		catDay       int32
		pending      requests
		wall         = time.Now().UTC()
		cur          Part
	)
	publish := func(q *request, a schemas.ApprovedPatient) {
		cur.Out = append(cur.Out, Stamped{q.tick, a})
	}
	flushOut := func() {
		send(cur)
		cur = Part{}
	}
	defer flushOut()
	flush := func() error {
		err := e.decide(cat, changed, &pending, wall, publish)
		pending.reset()
		flushOut()
		return err
	}
	fail := func(t int64, err error) error {
		return fmt.Errorf("tick %s: %w", msTime(t).Format("2006-01-02T15:04:05Z"), err)
	}
	for _, t := range ticks {
		dirty, tableChanged, n, err := e.fold(s, r.byTick[t])
		if err != nil {
			return fail(t, err)
		}
		cur.Folded += n
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
				return fail(t, err)
			}
			if cat, changed, err = e.catalogsFor(s, t, tableChanged); err != nil {
				return fail(t, err)
			}
			catDay = day(t)
		}
		if err := pending.add(e, s, t, dirty, tableChanged, !tableChanged); err != nil {
			return fail(t, err)
		}
		if tableChanged {
			if err := flush(); err != nil {
				return fail(t, err)
			}
			changed = nil
		}
	}
	return flush()
}
