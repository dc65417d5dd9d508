package engine

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/schemas"
)

// request is one patient evaluation a tick asks for; its profile and
// event time are in the requests' parallel slices.
type request struct {
	key  string
	p    *Patient
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
func (q *requests) add(e *Engine, s *Shard, tick int64, dirty map[string]bool, all, keep bool) error {
	var keys []string
	if all {
		if q.changed != nil {
			return fmt.Errorf("engine: two table changes in one batch of requests")
		}
		q.changed = maps.Clone(s.changed)
		keys = s.sortedKeys()
	} else {
		keys = make([]string, 0, len(dirty))
		for k := range dirty {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	now, today := msTime(tick), day(tick)
	for _, k := range keys {
		p := s.Patients[k]
		at := now
		if dirty[k] {
			at = msTime(p.LastFact)
		}
		profile := p.View.Profile
		if keep {
			profile.Variants = slices.Clone(profile.Variants)
		}
		r := request{key: k, p: p, tick: tick, judged: p.JudgedDay,
			changedOnly: all && !e.RejudgeAll && !dirty[k] && p.JudgedDay == today, byFacts: dirty[k]}
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
func (e *Engine) decide(cat, changed *catalog.Catalog, q *requests, wall time.Time,
	publish func(*request, schemas.ApprovedPatient)) error {
	reqs := q.reqs
	if len(reqs) == 0 {
		return nil
	}
	nFull, nPart := len(q.profiles[0]), len(q.profiles[1])
	if nPart > 0 && changed == nil {
		return fmt.Errorf("engine: re-judging against the changed trials without their catalog")
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
					return fmt.Errorf("engine: NEW record for %s names an arm the verdict does not hold", rec.ProtocolNo)
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
	recs := make([]schemas.ApprovedPatient, len(out))
	for i, m := range out {
		recs[i] = m.rec
		publish(&reqs[m.req], m.rec)
	}
	e.obs.Judged(int64(nFull), int64(nPart))
	e.obs.Decided(int64(len(reqs)), recs)
	return nil
}
