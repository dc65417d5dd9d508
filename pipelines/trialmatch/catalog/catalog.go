package catalog

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
)

// Catalog is the engine for one open-trial table.
type Catalog struct {
	engine   *match.Engine
	open     map[string][]string // protocol -> open arm codes
	version  map[string]int64
	approval map[string]string
	rejected map[string]error
}

// Cache keeps parsed trials across catalogs, keyed by protocol and version.
// It is not safe for concurrent use.
type Cache struct {
	parsed map[string]*criteria.Trial
	errs   map[string]error
}

// NewCache returns an empty parse cache.
func NewCache() *Cache {
	return &Cache{parsed: map[string]*criteria.Trial{}, errs: map[string]error{}}
}

func (c *Cache) parse(d opentrials.Decision) (*criteria.Trial, error) {
	k := fmt.Sprintf("%s\x00%d", d.ProtocolNo, d.Version)
	if t, ok := c.parsed[k]; ok {
		return t, nil
	}
	if err, ok := c.errs[k]; ok {
		return nil, err
	}
	t, err := criteria.Parse([]byte(d.CTML), criteria.WithSource(fmt.Sprintf("trials/%s@v%d", d.ProtocolNo, d.Version)))
	if err == nil && t.ProtocolNo != d.ProtocolNo {
		err = fmt.Errorf("catalog: CTML of trial %q version %d names protocol %q", d.ProtocolNo, d.Version, t.ProtocolNo)
	}
	if err != nil {
		c.errs[k] = err
		return nil, err
	}
	c.parsed[k] = t
	return t, nil
}

// Build compiles the engine for the open decisions (closed ones are only
// remembered as closed). today fixes the date ages are computed at.
func Build(cache *Cache, decisions []opentrials.Decision, today time.Time) (*Catalog, error) {
	c := &Catalog{open: map[string][]string{}, version: map[string]int64{}, approval: map[string]string{}, rejected: map[string]error{}}
	var trials []*criteria.Trial
	sorted := append([]opentrials.Decision(nil), decisions...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ProtocolNo < sorted[j].ProtocolNo })
	for _, d := range sorted {
		if !d.Open {
			continue
		}
		t, err := cache.parse(d)
		if err != nil {
			c.rejected[d.ProtocolNo] = err
			continue
		}
		// Apply the regulatory decision to a copy: the cached tree is shared.
		cp := *t
		cp.Status = "Open to Accrual"
		cp.Steps = make([]criteria.Step, len(t.Steps))
		var arms []string
		for i, st := range t.Steps {
			cp.Steps[i] = st
			cp.Steps[i].Arms = make([]criteria.Arm, len(st.Arms))
			for j, a := range st.Arms {
				a.Suspended = a.Suspended || !d.ArmOpen(a.Code)
				cp.Steps[i].Arms[j] = a
				if !a.Suspended {
					arms = append(arms, a.Code)
				}
			}
		}
		sort.Strings(arms)
		trials = append(trials, &cp)
		c.open[d.ProtocolNo] = arms
		c.version[d.ProtocolNo] = d.Version
		c.approval[d.ProtocolNo] = d.ApprovalReference
	}
	e, err := match.Compile(trials, match.WithToday(today), match.WithMatchOnDeceased(false), match.WithMatchOnClosed(false))
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c.engine = e
	return c, nil
}

// Rejected returns the trials left out because their CTML did not parse.
func (c *Catalog) Rejected() map[string]error { return c.rejected }

// OpenArms returns protocol -> open arm codes, as the decide ledger wants it.
func (c *Catalog) OpenArms() map[string][]string { return c.open }

// Protocols returns how many trials the engine matches against.
func (c *Catalog) Protocols() int { return len(c.engine.Protocols()) }

// Verdicts evaluates a batch of profiles (vectorised over Arrow) and returns
// one verdict per profile, in the order given, at event time at. Every
// eligibility carries its reasons; VerdictsKnown skips the ones a caller
// will not read.
func (c *Catalog) Verdicts(mem memory.Allocator, profiles []match.Profile, at []time.Time) ([]decide.Verdict, error) {
	return c.VerdictsKnown(mem, profiles, at, nil)
}

// Known says whether profile i of a batch already has a published match for
// protocol. A nil Known knows of none.
type Known func(i int, protocol string) bool

// RowwiseBelow is the batch size under which VerdictsKnown evaluates
// profiles one at a time over Go structs instead of building an Arrow
// record: for a handful of profiles (a tick's changed patients) building the
// record costs more than the row-at-a-time evaluation it would save. Both
// give the same matches (the match package's conformance tests).
const RowwiseBelow = 16

// VerdictsKnown is Verdicts where the eligibilities of protocols known
// (already published for that profile) come without reasons: the decide
// ledger keeps a published match as it is and never reads them, and
// building reasons costs far more than finding the matches. The vectorised
// path finds the hits first and builds reasons only for the others.
func (c *Catalog) VerdictsKnown(mem memory.Allocator, profiles []match.Profile, at []time.Time, known Known) ([]decide.Verdict, error) {
	if len(at) != len(profiles) {
		return nil, fmt.Errorf("catalog: %d profiles but %d event times", len(profiles), len(at))
	}
	out := make([]decide.Verdict, len(profiles))
	for i, p := range profiles {
		out[i] = decide.Verdict{Tenant: p.Tenant, PatientID: p.PatientID, EventTime: at[i], Deceased: p.Deceased, OpenArms: c.open}
	}
	if len(profiles) == 0 || c.engine.Clauses() == 0 {
		return out, nil
	}
	add := func(i int, m *match.Match, withReasons bool) {
		e := decide.Eligible{
			ProtocolNo: m.ProtocolNo, ArmCode: m.ArmCode, DoseLevel: m.DoseLevel,
			TrialVersion: c.version[m.ProtocolNo], ApprovalReference: c.approval[m.ProtocolNo],
		}
		if withReasons {
			e.Reasons = reasons(m.Reasons)
		}
		out[i].Eligible = append(out[i].Eligible, e)
	}
	if len(profiles) < RowwiseBelow {
		// Row-at-a-time matches name their patient, not their row.
		index := make(map[string]int, len(profiles))
		for i, p := range profiles {
			index[p.Tenant+"\x00"+p.PatientID] = i
		}
		for _, m := range c.engine.Rowwise(profiles) {
			i, ok := index[m.Tenant+"\x00"+m.PatientID]
			if !ok {
				return nil, fmt.Errorf("catalog: engine returned a match for a patient not in the batch")
			}
			add(i, &m, known == nil || !known(i, m.ProtocolNo))
		}
		return out, nil
	}
	rec := match.BuildProfiles(mem, profiles)
	defer rec.Release()
	hits, err := c.engine.MatchBatchHits(rec, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	targets := make([]match.Match, len(hits))
	need := make([]bool, len(hits))
	var want []match.Hit
	for k, h := range hits {
		if targets[k], err = c.engine.Target(h.Clause); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		if int(h.Row) >= len(profiles) {
			return nil, fmt.Errorf("catalog: engine returned a hit on row %d of %d", h.Row, len(profiles))
		}
		if known == nil || !known(int(h.Row), targets[k].ProtocolNo) {
			need[k] = true
			want = append(want, h)
		}
	}
	ms, err := c.engine.Matches(rec, want)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	next := 0
	for k, h := range hits {
		if need[k] {
			add(int(h.Row), &ms[next], true)
			next++
			continue
		}
		add(int(h.Row), &targets[k], false)
	}
	return out, nil
}

func reasons(rs []match.Reason) []schemas.MatchReason {
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
			a := r.Alteration
			mr.Alteration = &a
		}
		if r.MatchLevel != "" {
			l := r.MatchLevel
			mr.Level = &l
		} else if mr.ReasonType == "CLINICAL" {
			l := "clinical"
			mr.Level = &l
		}
		out = append(out, mr)
	}
	return out
}

// RowwiseMatches evaluates profiles one at a time over Go structs (the
// engine's reference path), for cross-checks against Verdicts.
func RowwiseMatches(c *Catalog, profiles []match.Profile) []match.Match {
	return c.engine.Rowwise(profiles)
}
