package catalog

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
)

// Cache keeps parsed trials across catalogs, keyed by protocol and version.
// It is not safe for concurrent use (a Compiler guards its own).
type Cache struct {
	parsed map[string]*criteria.Trial
	errs   map[string]error
}

// NewCache returns an empty parse cache.
func NewCache() *Cache {
	return &Cache{parsed: map[string]*criteria.Trial{}, errs: map[string]error{}}
}

func versionKey(protocol string, version int64) string {
	return fmt.Sprintf("%s\x00%d", protocol, version)
}

func (c *Cache) parse(d opentrials.Decision) (*criteria.Trial, error) {
	k := versionKey(d.ProtocolNo, d.Version)
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

// Compiler compiles every trial version it knows into one match engine per
// day (ages depend on the day), open or not, with every arm: what is open
// is the Table's business, applied to the engine's hits. A change of the
// open-trial table then costs a few map updates, not a compilation of every
// open trial; a version the Compiler has not seen before makes it compile
// again, once per day in use. Telling it every version up front (Know),
// as a bounded replay can, means one compilation per day for the whole
// run. It is safe for concurrent use; engines are shared.
type Compiler struct {
	mu    sync.Mutex
	parse *Cache
	known map[*criteria.Trial]int64 // parsed trial version -> version
	gen   int                       // bumped when known grows
	byDay map[int32]*compiled       // the engines of generation gen
}

// maxDays bounds the engines a Compiler keeps: a replay walks forward
// through the days, so only the last few are asked for again.
const maxDays = 8

// compiled is one engine over every known trial version, for one day.
type compiled struct {
	engine *match.Engine
	// loc locates each clause in its trial (see match.Engine.Location).
	loc []clauseLoc
	// byTrial lists each trial version's clauses, in compile order.
	byTrial map[*criteria.Trial][]int32
}

type clauseLoc struct {
	trial           *criteria.Trial
	step, arm, dose int
}

// NewCompiler returns a Compiler that knows no trial yet.
func NewCompiler() *Compiler { return newCompiler(NewCache()) }

func newCompiler(cache *Cache) *Compiler {
	return &Compiler{parse: cache, known: map[*criteria.Trial]int64{}, byDay: map[int32]*compiled{}}
}

// Know parses the trial versions the decisions name (open or not) so that
// the engines compiled next match them. A version whose CTML does not
// parse is left to the Table that meets it open, which reports it.
func (c *Compiler) Know(decisions ...opentrials.Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range decisions {
		_, _ = c.trialLocked(d) // a Table that meets it open reports a parse error
	}
}

// trial returns the parsed trial version of d, knowing it from now on.
func (c *Compiler) trial(d opentrials.Decision) (*criteria.Trial, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trialLocked(d)
}

func (c *Compiler) trialLocked(d opentrials.Decision) (*criteria.Trial, error) {
	t, err := c.parse.parse(d)
	if err != nil {
		return nil, err
	}
	if _, ok := c.known[t]; !ok {
		c.known[t] = d.Version
		c.gen++
		clear(c.byDay)
	}
	return t, nil
}

// engine returns the engine of every known trial version for the day of
// today, compiling it on first use.
func (c *Compiler) engine(today time.Time) (*compiled, error) {
	day := match.Day(today)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byDay[day]; ok {
		return e, nil
	}
	trials := make([]*criteria.Trial, 0, len(c.known))
	for t := range c.known {
		trials = append(trials, t)
	}
	// Protocol order, as one catalog's verdicts list their eligibilities;
	// versions of a protocol by version.
	sort.Slice(trials, func(i, j int) bool {
		if trials[i].ProtocolNo != trials[j].ProtocolNo {
			return trials[i].ProtocolNo < trials[j].ProtocolNo
		}
		return c.known[trials[i]] < c.known[trials[j]]
	})
	e, err := match.Compile(trials, match.WithToday(today), match.WithMatchOnDeceased(false),
		match.WithMatchOnClosed(true), match.WithTrialVersions(true))
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	comp := &compiled{engine: e, loc: make([]clauseLoc, e.Clauses()), byTrial: map[*criteria.Trial][]int32{}}
	for i := range comp.loc {
		t, step, arm, dose, err := e.Location(int32(i))
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		comp.loc[i] = clauseLoc{t, step, arm, dose}
		comp.byTrial[t] = append(comp.byTrial[t], int32(i))
	}
	if len(c.byDay) >= maxDays {
		clear(c.byDay)
	}
	c.byDay[day] = comp
	return comp, nil
}

// Table is the open-trial table as catalogs read it: the decision per
// protocol, and what they derive from it (open arms, per site too),
// brought up to date decision by decision (Set). It is not safe for
// concurrent use, and a Catalog made from it reads it: a catalog is valid
// until the next Set.
type Table struct {
	comp      *Compiler
	decisions map[string]opentrials.Decision
	// trials holds the parsed trial version of each open decision whose
	// CTML parsed; rejected the parse errors of the others.
	trials   map[string]*criteria.Trial
	rejected map[string]error
	open     map[string][]string // protocol -> open arm codes
	// restricted holds the open decisions that name sites; openAt the open
	// arms per site, for every site any of them names (or named); and
	// openNowhere the open arms for a patient whose site none of them
	// names.
	restricted  map[string]opentrials.Decision
	openAt      map[string]map[string][]string
	openNowhere map[string][]string
}

// NewTable returns an empty table whose catalogs use comp's engines.
func NewTable(comp *Compiler) *Table {
	return &Table{
		comp: comp, decisions: map[string]opentrials.Decision{}, trials: map[string]*criteria.Trial{},
		rejected: map[string]error{}, open: map[string][]string{}, restricted: map[string]opentrials.Decision{},
		openAt: map[string]map[string][]string{}, openNowhere: map[string][]string{},
	}
}

// Set makes d the protocol's decision. Its cost does not grow with the
// number of trials (only with the sites named so far).
func (t *Table) Set(d opentrials.Decision) {
	p := d.ProtocolNo
	t.decisions[p] = d
	delete(t.trials, p)
	delete(t.rejected, p)
	delete(t.open, p)
	delete(t.restricted, p)
	delete(t.openNowhere, p)
	for _, m := range t.openAt {
		delete(m, p)
	}
	if !d.Open {
		return
	}
	tr, err := t.comp.trial(d)
	if err != nil {
		t.rejected[p] = err
		return
	}
	t.trials[p] = tr
	var arms []string
	for _, st := range tr.Steps {
		for _, a := range st.Arms {
			if !a.Suspended && d.ArmOpen(a.Code) {
				arms = append(arms, a.Code)
			}
		}
	}
	sort.Strings(arms)
	t.open[p] = arms
	if !d.Restricted() {
		t.openNowhere[p] = arms
		for _, m := range t.openAt {
			m[p] = arms
		}
		return
	}
	t.restricted[p] = d
	for _, site := range d.Sites {
		if t.openAt[site] == nil {
			t.openAt[site] = t.siteOpen(site)
		}
	}
	for site, m := range t.openAt {
		if d.OpenAt(site, "") {
			m[p] = armsAt(d, site, arms)
		}
	}
}

// siteOpen computes the open arms at site from scratch.
func (t *Table) siteOpen(site string) map[string][]string {
	m := maps.Clone(t.openNowhere)
	for p, d := range t.restricted {
		if d.OpenAt(site, "") {
			m[p] = armsAt(d, site, t.open[p])
		}
	}
	return m
}

// armsAt keeps the arms open at site under d.
func armsAt(d opentrials.Decision, site string, arms []string) []string {
	var here []string
	for _, a := range arms {
		if d.OpenAt(site, a) {
			here = append(here, a)
		}
	}
	return here
}

// Catalog returns the catalog of the table's open trials on the day of
// today.
func (t *Table) Catalog(today time.Time) (*Catalog, error) {
	comp, err := t.comp.engine(today)
	if err != nil {
		return nil, err
	}
	return &Catalog{table: t, comp: comp}, nil
}

// CatalogOf is Catalog restricted to the listed protocols: a patient is
// re-judged against the trials that changed only.
func (t *Table) CatalogOf(today time.Time, protocols []string) (*Catalog, error) {
	c, err := t.Catalog(today)
	if err != nil {
		return nil, err
	}
	c.only = map[string]bool{}
	for _, p := range protocols {
		c.only[p] = true
	}
	return c, nil
}

// Catalog is the matching engine for one state of an open-trial table: it
// judges profiles against the open arms of its open trials, as the
// regulatory decisions leave them, on one day.
type Catalog struct {
	table *Table
	comp  *compiled
	// only, when set, restricts the catalog to these protocols.
	only map[string]bool
	// live lists the clauses open under the table (in compile order),
	// once the row-at-a-time path has asked for them.
	live []int32
	done bool
}

// Build is the one-off catalog of decisions on the day of today: a Table
// set to them and its Catalog, with engines of its own.
func Build(cache *Cache, decisions []opentrials.Decision, today time.Time) (*Catalog, error) {
	comp := newCompiler(cache)
	comp.Know(decisions...)
	t := NewTable(comp)
	for _, d := range decisions {
		t.Set(d)
	}
	return t.Catalog(today)
}

// isLive reports whether clause i is open under the table: its trial
// version is the one the protocol's open decision names, and its step
// (some arm of it), arm or dose level is open, in the CTML and under the
// decision.
func (c *Catalog) isLive(i int32) bool {
	l := &c.comp.loc[i]
	p := l.trial.ProtocolNo
	if c.only != nil && !c.only[p] {
		return false
	}
	if c.table.trials[p] != l.trial {
		return false // closed, rejected, or another version
	}
	d := c.table.decisions[p]
	st := &l.trial.Steps[l.step]
	if l.arm < 0 {
		// A step is open unless it has arms and every one is closed.
		for _, a := range st.Arms {
			if !a.Suspended && d.ArmOpen(a.Code) {
				return true
			}
		}
		return len(st.Arms) == 0
	}
	a := &st.Arms[l.arm]
	if a.Suspended || !d.ArmOpen(a.Code) {
		return false
	}
	return l.dose < 0 || !a.DoseLevels[l.dose].Suspended
}

// liveClauses returns the clauses open under the table, in compile order.
func (c *Catalog) liveClauses() []int32 {
	if c.done {
		return c.live
	}
	c.done = true
	if c.only != nil {
		for p := range c.only {
			if tr := c.table.trials[p]; tr != nil {
				for _, i := range c.comp.byTrial[tr] {
					if c.isLive(i) {
						c.live = append(c.live, i)
					}
				}
			}
		}
		slices.Sort(c.live)
		return c.live
	}
	for i := range c.comp.loc {
		if c.isLive(int32(i)) {
			c.live = append(c.live, int32(i))
		}
	}
	return c.live
}

// Site returns the site at which a patient of tenant may be referred to
// the arm of protocol ("" for a step-level match), and whether the arm is
// open there. A patient's care site is their practice: the tenant id is
// the site id. For a trial that names no site the site is "" and the arm
// is open.
func (c *Catalog) Site(protocol, arm, tenant string) (string, bool) {
	d, ok := c.table.restricted[protocol]
	if !ok {
		return "", true
	}
	return tenant, d.OpenAt(tenant, arm)
}

// OpenArmsFor is OpenArms as seen from a patient of tenant: the trials and
// arms open at the patient's site.
func (c *Catalog) OpenArmsFor(tenant string) map[string][]string {
	if m, ok := c.table.openAt[tenant]; ok {
		return m
	}
	return c.table.openNowhere
}

// Rejected returns the open trials left out because their CTML did not
// parse.
func (c *Catalog) Rejected() map[string]error { return c.table.rejected }

// OpenArms returns protocol -> open arm codes, as the decide ledger wants it.
func (c *Catalog) OpenArms() map[string][]string { return c.table.open }

// Protocols returns how many trials the catalog matches against: the open
// ones with an open step, arm or dose level that has criteria.
func (c *Catalog) Protocols() int {
	n, last := 0, ""
	for _, i := range c.liveClauses() {
		if p := c.comp.loc[i].trial.ProtocolNo; p != last {
			n, last = n+1, p
		}
	}
	return n
}

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
// one at a time over Go structs instead of building an Arrow record, for a
// catalog of up to rowwiseClauses clauses: for a handful of profiles (a
// tick's changed patients) building the record costs more than the
// row-at-a-time evaluation it would save. A larger catalog moves the line
// down in proportion (row by row, every clause is evaluated on its own;
// vectorised, criteria shared by many trials are evaluated once), so that
// against 1,000 trials even one profile is evaluated vectorised. Both give
// the same matches (the match package's conformance tests).
const RowwiseBelow = 16

// rowwiseClauses is the catalog size RowwiseBelow was measured at (48
// synthetic trials, about 100 clauses, rounded up).
const rowwiseClauses = 32

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
// their reasons. Batches of at least RowwiseBelow profiles (fewer, against
// a catalog of more than rowwiseClauses clauses) are evaluated vectorised
// over Arrow.
func (c *Catalog) Evaluate(mem memory.Allocator, profiles []match.Profile, at []time.Time) (*Evaluation, error) {
	return c.evaluate(mem, profiles, at, len(profiles)*max(len(c.comp.loc), 1) < RowwiseBelow*rowwiseClauses)
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
	ev := &Evaluation{Verdicts: make([]decide.Verdict, len(profiles)), engine: c.comp.engine}
	for i, p := range profiles {
		ev.Verdicts[i] = decide.Verdict{Tenant: p.Tenant, PatientID: p.PatientID, EventTime: at[i], Deceased: p.Deceased, OpenArms: c.OpenArmsFor(p.Tenant)}
	}
	if len(profiles) == 0 || len(c.comp.loc) == 0 {
		return ev, nil
	}
	if rows {
		// Row-at-a-time matches come with their reasons. A batch may hold
		// one patient more than once (at several event times), so each
		// profile is evaluated on its own, against the open clauses only.
		live := c.liveClauses()
		if len(live) == 0 {
			return ev, nil
		}
		ev.rows = make([][]match.Match, len(profiles))
		for i := range profiles {
			ms, err := c.comp.engine.RowwiseClauses(profiles[i:i+1], live)
			if err != nil {
				return nil, fmt.Errorf("catalog: %w", err)
			}
			for _, m := range ms {
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
	hits, err := c.comp.engine.MatchBatchHits(ev.rec, nil)
	if err != nil {
		ev.Release()
		return nil, fmt.Errorf("catalog: %w", err)
	}
	// The engine holds every known trial version with every arm: keep the
	// hits on clauses open under the table (0 unknown, 1 open, 2 closed).
	open := make([]uint8, len(c.comp.loc))
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
			ci := hits[k].Clause
			if open[ci] == 0 {
				open[ci] = 2
				if c.isLive(ci) {
					open[ci] = 1
				}
			}
			if open[ci] != 1 {
				continue
			}
			m, err := c.comp.engine.Target(ci)
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
	d := c.table.decisions[m.ProtocolNo]
	return decide.Eligible{
		ProtocolNo: m.ProtocolNo, ArmCode: m.ArmCode, DoseLevel: m.DoseLevel, Site: site,
		TrialVersion: d.Version, ApprovalReference: d.ApprovalReference,
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
	all, _ := c.comp.engine.RowwiseClauses(profiles, c.liveClauses()) // live clauses are in range
	out := all[:0]
	for _, m := range all {
		if _, ok := c.Site(m.ProtocolNo, m.ArmCode, m.Tenant); ok {
			out = append(out, m)
		}
	}
	return out
}
