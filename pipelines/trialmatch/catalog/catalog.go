package catalog

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
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
	// restricted holds the decisions of the open trials that name sites;
	// openAt the open arms per site (for retraction reasons), for every
	// site any of them names. Both are read-only after Build.
	restricted map[string]opentrials.Decision
	openAt     map[string]map[string][]string
	// openNowhere is open with the restricted trials left out: the open
	// arms for a patient whose site none of them names.
	openNowhere map[string][]string
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
		if d.Restricted() {
			if c.restricted == nil {
				c.restricted = map[string]opentrials.Decision{}
			}
			c.restricted[d.ProtocolNo] = d
		}
	}
	c.sitesOpen()
	e, err := match.Compile(trials, match.WithToday(today), match.WithMatchOnDeceased(false), match.WithMatchOnClosed(false))
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c.engine = e
	return c, nil
}

// sitesOpen precomputes the open arms per site of the trials that name
// sites.
func (c *Catalog) sitesOpen() {
	if len(c.restricted) == 0 {
		return
	}
	c.openAt = map[string]map[string][]string{}
	c.openNowhere = map[string][]string{}
	for protocol, arms := range c.open {
		if _, ok := c.restricted[protocol]; !ok {
			c.openNowhere[protocol] = arms
		}
	}
	for _, d := range c.restricted {
		for _, site := range d.Sites {
			if c.openAt[site] != nil {
				continue
			}
			m := maps.Clone(c.openNowhere)
			for protocol, arms := range c.open {
				rd, ok := c.restricted[protocol]
				if !ok || !rd.OpenAt(site, "") {
					continue
				}
				var here []string
				for _, a := range arms {
					if rd.OpenAt(site, a) {
						here = append(here, a)
					}
				}
				m[protocol] = here
			}
			c.openAt[site] = m
		}
	}
}

// Site returns the site at which a patient of tenant may be referred to
// the arm of protocol ("" for a step-level match), and whether the arm is
// open there. A patient's care site is their practice: the tenant id is
// the site id. For a trial that names no site the site is "" and the arm
// is open.
func (c *Catalog) Site(protocol, arm, tenant string) (string, bool) {
	d, ok := c.restricted[protocol]
	if !ok {
		return "", true
	}
	return tenant, d.OpenAt(tenant, arm)
}

// OpenArmsFor is OpenArms as seen from a patient of tenant: the trials and
// arms open at the patient's site.
func (c *Catalog) OpenArmsFor(tenant string) map[string][]string {
	if c.openAt == nil {
		return c.open
	}
	if m, ok := c.openAt[tenant]; ok {
		return m
	}
	return c.openNowhere
}

// Rejected returns the trials left out because their CTML did not parse.
func (c *Catalog) Rejected() map[string]error { return c.rejected }

// OpenArms returns protocol -> open arm codes, as the decide ledger wants it.
func (c *Catalog) OpenArms() map[string][]string { return c.open }

// Protocols returns how many trials the engine matches against.
func (c *Catalog) Protocols() int { return len(c.engine.Protocols()) }

// Verdicts evaluates a batch of profiles and returns one verdict per
// profile, in the order given, at event time at, every eligibility with its
// reasons. Callers that read only some reasons use Evaluate.
func (c *Catalog) Verdicts(mem memory.Allocator, profiles []match.Profile, at []time.Time) ([]decide.Verdict, error) {
	ev, err := c.Evaluate(mem, profiles, at)
	if err != nil {
		return nil, err
	}
	defer ev.Release()
	var all []Ref
	for i, v := range ev.Verdicts {
		for k := range v.Eligible {
			all = append(all, Ref{Profile: i, Eligible: k})
		}
	}
	if err := ev.WithReasons(all); err != nil {
		return nil, err
	}
	return ev.Verdicts, nil
}

// RowwiseBelow is the batch size under which Evaluate evaluates profiles
// one at a time over Go structs instead of building an Arrow record: for a
// handful of profiles (a tick's changed patients) building the record costs
// more than the row-at-a-time evaluation it would save. Both give the same
// matches (the match package's conformance tests).
const RowwiseBelow = 16

// Evaluation is a batch of profiles evaluated against a catalog: a verdict
// per profile whose eligibilities come without reasons, and what it takes
// to build the reasons of the ones a caller asks for (WithReasons). Finding
// matches is cheap and building reasons is not: the decide ledger reads
// reasons only for the matches it publishes as NEW, a small share of all
// the eligibilities it is shown. Release it when done.
type Evaluation struct {
	// Verdicts holds one verdict per profile, in the order given.
	Verdicts []decide.Verdict
	// Sources, when set, names the facts behind the attributes a reason
	// reads, for the profile at the given index of the batch (for example
	// spv.State.Sources); WithReasons puts them in each reason's Facts.
	Sources func(profile int, reads []match.Read) []schemas.FactRef

	engine *match.Engine
	rec    arrow.Record  // the profiles as Arrow (vectorised path), or nil
	hits   [][]match.Hit // per profile, the hit behind each eligibility
	rows   [][]match.Match
}

// Ref names one eligibility of an Evaluation: Verdicts[Profile].Eligible[Eligible].
type Ref struct {
	Profile, Eligible int
}

// Evaluate finds the eligibilities of profiles, at event times at, without
// their reasons. Batches of at least RowwiseBelow profiles are evaluated
// vectorised over Arrow.
func (c *Catalog) Evaluate(mem memory.Allocator, profiles []match.Profile, at []time.Time) (*Evaluation, error) {
	return c.evaluate(mem, profiles, at, len(profiles) < RowwiseBelow)
}

// EvaluateRows is Evaluate on the row-at-a-time path whatever the batch
// size: the cheaper one when the catalog holds a trial or two (a re-judging
// against just the trials that changed), where building an Arrow record of
// the profiles costs more than evaluating a few clauses on each.
func (c *Catalog) EvaluateRows(profiles []match.Profile, at []time.Time) (*Evaluation, error) {
	return c.evaluate(nil, profiles, at, true)
}

func (c *Catalog) evaluate(mem memory.Allocator, profiles []match.Profile, at []time.Time, rows bool) (*Evaluation, error) {
	if len(at) != len(profiles) {
		return nil, fmt.Errorf("catalog: %d profiles but %d event times", len(profiles), len(at))
	}
	ev := &Evaluation{Verdicts: make([]decide.Verdict, len(profiles)), engine: c.engine}
	for i, p := range profiles {
		ev.Verdicts[i] = decide.Verdict{Tenant: p.Tenant, PatientID: p.PatientID, EventTime: at[i], Deceased: p.Deceased, OpenArms: c.OpenArmsFor(p.Tenant)}
	}
	if len(profiles) == 0 || c.engine.Clauses() == 0 {
		return ev, nil
	}
	if rows {
		// Row-at-a-time matches come with their reasons. A batch may hold
		// one patient more than once (at several event times), so each
		// profile is evaluated on its own.
		ev.rows = make([][]match.Match, len(profiles))
		for i := range profiles {
			for _, m := range c.engine.Rowwise(profiles[i : i+1]) {
				e, ok := c.eligible(&m, profiles[i].Tenant)
				if !ok {
					continue
				}
				ev.Verdicts[i].Eligible = append(ev.Verdicts[i].Eligible, e)
				ev.rows[i] = append(ev.rows[i], m)
			}
		}
		return ev, nil
	}
	ev.rec = match.BuildProfiles(mem, profiles)
	hits, err := c.engine.MatchBatchHits(ev.rec, nil)
	if err != nil {
		ev.Release()
		return nil, fmt.Errorf("catalog: %w", err)
	}
	// Hits come row by row: each verdict's eligibilities (and the hits
	// behind them) are consecutive runs of two slices allocated once.
	ev.hits = make([][]match.Hit, len(profiles))
	elig := make([]decide.Eligible, len(hits))
	for k := 0; k < len(hits); {
		row := hits[k].Row
		if int(row) >= len(profiles) || (k > 0 && row <= hits[k-1].Row) {
			ev.Release()
			return nil, fmt.Errorf("catalog: engine returned a hit on row %d of %d, out of order", row, len(profiles))
		}
		// Eligibilities at a site where the arm is not open are dropped:
		// kept ones are compacted to the front of the row's run, hits with
		// them, so both stay aligned.
		start, kept := k, k
		for ; k < len(hits) && hits[k].Row == row; k++ {
			m, err := c.engine.Target(hits[k].Clause)
			if err != nil {
				ev.Release()
				return nil, fmt.Errorf("catalog: %w", err)
			}
			e, ok := c.eligible(&m, profiles[row].Tenant)
			if !ok {
				continue
			}
			elig[kept], hits[kept] = e, hits[k]
			kept++
		}
		if kept > start {
			ev.Verdicts[row].Eligible = elig[start:kept:kept]
			ev.hits[row] = hits[start:kept:kept]
		}
	}
	return ev, nil
}

// eligible is the eligibility, without reasons, of a match for a patient
// of tenant; false when the arm is not open at the patient's site.
func (c *Catalog) eligible(m *match.Match, tenant string) (decide.Eligible, bool) {
	site, ok := c.Site(m.ProtocolNo, m.ArmCode, tenant)
	return decide.Eligible{
		ProtocolNo: m.ProtocolNo, ArmCode: m.ArmCode, DoseLevel: m.DoseLevel, Site: site,
		TrialVersion: c.version[m.ProtocolNo], ApprovalReference: c.approval[m.ProtocolNo],
	}, ok
}

// WithReasons builds the reasons of the eligibilities refs name, in one
// vectorised pass, and sets them in Verdicts.
func (ev *Evaluation) WithReasons(refs []Ref) error {
	for _, r := range refs {
		if r.Profile < 0 || r.Profile >= len(ev.Verdicts) || r.Eligible < 0 || r.Eligible >= len(ev.Verdicts[r.Profile].Eligible) {
			return fmt.Errorf("catalog: no eligibility %d of profile %d in this evaluation", r.Eligible, r.Profile)
		}
	}
	if ev.rows != nil {
		for _, r := range refs {
			ev.Verdicts[r.Profile].Eligible[r.Eligible].Reasons = ev.reasons(r.Profile, ev.rows[r.Profile][r.Eligible].Reasons)
		}
		return nil
	}
	if len(refs) == 0 {
		return nil
	}
	want := make([]match.Hit, len(refs))
	for j, r := range refs {
		want[j] = ev.hits[r.Profile][r.Eligible]
	}
	ms, err := ev.engine.Matches(ev.rec, want)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if len(ms) != len(refs) {
		return fmt.Errorf("catalog: engine built %d matches for %d hits", len(ms), len(refs))
	}
	for j, r := range refs {
		ev.Verdicts[r.Profile].Eligible[r.Eligible].Reasons = ev.reasons(r.Profile, ms[j].Reasons)
	}
	return nil
}

// Release frees the evaluation's Arrow record; Verdicts stay valid.
func (ev *Evaluation) Release() {
	if ev.rec != nil {
		ev.rec.Release()
		ev.rec = nil
	}
}

// reasons turns the matcher's reasons for the profile at index profile
// into the contract's, without duplicates, with their facts when the
// evaluation has Sources.
func (ev *Evaluation) reasons(profile int, rs []match.Reason) []schemas.MatchReason {
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
		if ev.Sources != nil {
			mr.Facts = ev.Sources(profile, r.Reads)
		}
		out = append(out, mr)
	}
	return out
}

// RowwiseMatches evaluates profiles one at a time over Go structs (the
// engine's reference path), for cross-checks against Verdicts. Like
// Verdicts, it keeps only the matches whose arm is open at the patient's
// site (see Site).
func RowwiseMatches(c *Catalog, profiles []match.Profile) []match.Match {
	all := c.engine.Rowwise(profiles)
	out := all[:0]
	for _, m := range all {
		if _, ok := c.Site(m.ProtocolNo, m.ArmCode, m.Tenant); ok {
			out = append(out, m)
		}
	}
	return out
}
