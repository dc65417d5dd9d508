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
// one verdict per profile, in the order given, at event time at.
func (c *Catalog) Verdicts(mem memory.Allocator, profiles []match.Profile, at []time.Time) ([]decide.Verdict, error) {
	if len(at) != len(profiles) {
		return nil, fmt.Errorf("catalog: %d profiles but %d event times", len(profiles), len(at))
	}
	out := make([]decide.Verdict, len(profiles))
	index := make(map[string]int, len(profiles))
	for i, p := range profiles {
		out[i] = decide.Verdict{Tenant: p.Tenant, PatientID: p.PatientID, EventTime: at[i], Deceased: p.Deceased, OpenArms: c.open}
		index[p.Tenant+"\x00"+p.PatientID] = i
	}
	if len(profiles) == 0 || c.engine.Clauses() == 0 {
		return out, nil
	}
	rec := match.BuildProfiles(mem, profiles)
	defer rec.Release()
	ms, err := c.engine.MatchBatch(rec)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	for _, m := range ms {
		i, ok := index[m.Tenant+"\x00"+m.PatientID]
		if !ok {
			return nil, fmt.Errorf("catalog: engine returned a match for a patient not in the batch")
		}
		out[i].Eligible = append(out[i].Eligible, decide.Eligible{
			ProtocolNo: m.ProtocolNo, ArmCode: m.ArmCode, DoseLevel: m.DoseLevel,
			TrialVersion: c.version[m.ProtocolNo], ApprovalReference: c.approval[m.ProtocolNo],
			Reasons: reasons(m.Reasons),
		})
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
