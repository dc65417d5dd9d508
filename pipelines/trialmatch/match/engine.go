package match

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// Level is the treatment-list level whose match tree a Match satisfied.
type Level uint8

// Levels of a trial's treatment list.
const (
	LevelStep Level = iota + 1
	LevelArm
	LevelDose
)

func (l Level) String() string {
	switch l {
	case LevelStep:
		return "step"
	case LevelArm:
		return "arm"
	case LevelDose:
		return "dose_level"
	}
	return fmt.Sprintf("Level(%d)", l)
}

// ReasonType is "genomic" or "clinical", as in MatchMiner's trial_match.
type ReasonType string

// Reason types.
const (
	ReasonGenomic  ReasonType = "genomic"
	ReasonClinical ReasonType = "clinical"
)

// Reason is one match reason, like a MatchMiner trial_match document: per
// match path (a conjunction of the match tree's disjunctive normal form)
// that holds, one reason for every finding that satisfies a genomic leaf,
// one for every negated genomic leaf, or one clinical reason when the path
// has no genomic leaf.
type Reason struct {
	Type ReasonType
	// Alteration is MatchMiner's genomic_alteration, e.g. "EGFR p.L858R",
	// "!TP53 Structural Variation", "EML4-ALK Structural Variation".
	Alteration string
	// MatchLevel is "variant", "gene" or "signature" (genomic); "" (clinical).
	MatchLevel string
	// Path is the index of the match path in the clause's normal form.
	Path int
	// Criterion is the CTML location of the leaf, or of the path's first
	// clinical leaf for a clinical reason.
	Criterion string
	// Variant is the index into Profile.Variants of the finding; -1 if none.
	Variant int
	// Reads are the profile attributes the reason rests on: the finding
	// (if any), then every clinical field of the path's clinical leaves.
	// They let a caller that knows where attributes came from name the
	// facts that decided a match (spv.State.Sources).
	Reads []Read
}

// Read names a profile attribute a reason rests on: a clinical criterion's
// field as CTML names it ("age_numerical", "oncotree_primary_diagnosis",
// ...; "pdl1:TPS" for a PD-L1 score by its scoring) or, with Field
// ReadVariant, the finding Profile.Variants[Variant].
type Read struct {
	Field   string
	Variant int
}

// ReadVariant is the Field of a Read that names a finding.
const ReadVariant = "variant"

// clinicalReads lists the clinical fields the leaves of a path read.
func clinicalReads(leaves []leafInfo) []Read {
	var out []Read
	for _, l := range leaves {
		c := l.node.Clinical
		if c == nil {
			continue
		}
		for _, f := range fields(c) {
			name := fieldNames[f]
			if f == fPDL1 {
				name += ":" + c.PDL1.Scoring
			}
			dup := false
			for _, r := range out {
				dup = dup || r.Field == name
			}
			if !dup {
				out = append(out, Read{Field: name, Variant: -1})
			}
		}
	}
	return out
}

// Match is a patient eligible for one level (step, arm or dose level) of a
// trial. MatchMiner evaluates the match trees of the three levels
// independently, and so do we.
type Match struct {
	Tenant     string
	PatientID  string
	SampleID   string
	ProtocolNo string
	Level      Level
	StepCode   string
	ArmCode    string // empty for a step-level match
	DoseLevel  string // level_code; set for dose-level matches
	InternalID string // internal id of the matched step, arm or dose level
	// Suspended is set when the matched arm or dose level is suspended
	// (reported only with WithMatchOnClosed).
	Suspended bool
	Reasons   []Reason
}

// Option configures Compile.
type Option interface{ apply(*Engine) }

type optFunc func(*Engine)

func (f optFunc) apply(e *Engine) { f(e) }

// WithMatchOnClosed also matches trials not open to accrual and suspended
// arms and dose levels (MatchMiner's match_on_closed). Default false.
func WithMatchOnClosed(on bool) Option { return optFunc(func(e *Engine) { e.onClosed = on }) }

// WithMatchOnDeceased also matches deceased patients (MatchMiner's
// match_on_deceased). Default false.
func WithMatchOnDeceased(on bool) Option { return optFunc(func(e *Engine) { e.onDeceased = on }) }

// WithToday freezes the date ages are computed at. Default: the day Compile
// runs.
func WithToday(t time.Time) Option { return optFunc(func(e *Engine) { e.today = Day(t) }) }

// WithStructuredSVCutover judges structural variants the way DFCI's
// MatchMiner does: profiles whose genomic report is dated on or after t are
// matched on partner genes only, older ones on a gene mention in the
// free-text comment only. Without it (our default) each finding is judged
// by its own shape: partner genes when it has them, else its comment.
func WithStructuredSVCutover(t time.Time) Option {
	return optFunc(func(e *Engine) { d := Day(t); e.svCutover = &d })
}

// WithTrialVersions lets Compile take a protocol more than once, as
// several versions of one trial: each is compiled, and a caller tells
// their clauses apart with Location. Without it a repeated protocol is an
// error.
func WithTrialVersions(on bool) Option { return optFunc(func(e *Engine) { e.versions = on }) }

// WithMaxPaths bounds the disjunctive normal form of one match tree (match
// paths, used for reasons). Default 4096.
func WithMaxPaths(n int) Option { return optFunc(func(e *Engine) { e.maxPaths = n }) }

// clause is one compiled match tree of a step, arm or dose level.
type clause struct {
	trial      *criteria.Trial
	level      Level
	stepCode   string
	armCode    string
	doseCode   string
	internalID string
	suspended  bool
	// step, arm and dose locate the clause in trial.Steps (arm and dose
	// are -1 where the clause is above them).
	step, arm, dose int
	root            *criteria.Node
	paths           [][]*criteria.Node
	leaves          [][]leafInfo // per path, per leaf: what reasons need
	reads           [][]Read     // per path: the clinical fields its leaves read
	pathAtoms       [][]int32    // per path: the atoms of all its leaves (vectorized)
}

// leafInfo is what reasons need of one leaf of a match path, rendered once
// at Compile so that building a reason copies strings instead of building
// them.
type leafInfo struct {
	node      *criteria.Node
	gen       *criteria.Genomic // nil for a clinical leaf
	criterion string            // the leaf's CTML location
	level     string            // matchLevel (genomic)
	negText   string            // "!" + genomicText (negated genomic)
	sigText   string            // alteration of a signature finding
	svText    string            // alteration of an unstructured SV finding
}

// Engine matches patient profiles against the open arms of a set of trials.
// It is safe for concurrent use.
type Engine struct {
	onClosed, onDeceased bool
	versions             bool
	today                int32
	svCutover            *int32
	maxPaths             int
	ageTh                map[float64]int32 // age -> birth-date threshold
	clauses              []*clause
	protocols            []string
	vec                  *vplan
	pool                 sync.Pool // *vstate, per-batch scratch
	mpool                sync.Pool // *mstate, materialisation scratch
}

// Compile checks and indexes the trials' match trees: every step, arm and
// dose level that has criteria and is open (or every one, with
// WithMatchOnClosed). Trials not open to accrual are left out unless
// WithMatchOnClosed.
//
// Deliberate differences from MatchMiner: a dose level of a suspended arm
// is closed too; a step without arms is not treated as "all arms suspended".
func Compile(trials []*criteria.Trial, opts ...Option) (*Engine, error) {
	e := &Engine{today: Day(time.Now()), maxPaths: 4096}
	for _, o := range opts {
		o.apply(e)
	}
	seen := map[string]bool{}
	for _, t := range trials {
		if t == nil {
			return nil, fmt.Errorf("match: nil trial")
		}
		if seen[t.ProtocolNo] && !e.versions {
			return nil, fmt.Errorf("match: trial %q given twice", t.ProtocolNo)
		}
		seen[t.ProtocolNo] = true
		if !t.Open() && !e.onClosed {
			continue
		}
		n := len(e.clauses)
		for si, st := range t.Steps {
			allSuspended := len(st.Arms) > 0
			for _, a := range st.Arms {
				allSuspended = allSuspended && a.Suspended
			}
			if st.Match != nil && (e.onClosed || !allSuspended) {
				if err := e.add(&clause{trial: t, level: LevelStep, stepCode: st.Code, internalID: st.InternalID, suspended: allSuspended, step: si, arm: -1, dose: -1, root: st.Match}); err != nil {
					return nil, err
				}
			}
			for ai, a := range st.Arms {
				if a.Match != nil && (e.onClosed || !a.Suspended) {
					if err := e.add(&clause{trial: t, level: LevelArm, stepCode: st.Code, armCode: a.Code, internalID: a.InternalID, suspended: a.Suspended, step: si, arm: ai, dose: -1, root: a.Match}); err != nil {
						return nil, err
					}
				}
				for di, d := range a.DoseLevels {
					closed := a.Suspended || d.Suspended
					if d.Match != nil && (e.onClosed || !closed) {
						if err := e.add(&clause{trial: t, level: LevelDose, stepCode: st.Code, armCode: a.Code, doseCode: d.Code, internalID: d.InternalID, suspended: closed, step: si, arm: ai, dose: di, root: d.Match}); err != nil {
							return nil, err
						}
					}
				}
			}
		}
		if len(e.clauses) > n && (len(e.protocols) == 0 || e.protocols[len(e.protocols)-1] != t.ProtocolNo) {
			e.protocols = append(e.protocols, t.ProtocolNo)
		}
	}
	e.vec = e.plan()
	return e, nil
}

func (e *Engine) add(c *clause) error {
	paths, err := dnf(c.root, e.maxPaths)
	if err != nil {
		return fmt.Errorf("match: trial %q %s (arm %q, dose level %q): %w", c.trial.ProtocolNo, c.level, c.armCode, c.doseCode, err)
	}
	c.paths = paths
	c.leaves = make([][]leafInfo, len(paths))
	c.reads = make([][]Read, len(paths))
	for pi, path := range paths {
		c.leaves[pi] = make([]leafInfo, len(path))
		for li, n := range path {
			l := &c.leaves[pi][li]
			l.node, l.criterion = n, n.Path
			if g := n.Genomic; g != nil {
				l.gen, l.level = g, matchLevel(g)
				l.sigText, l.svText = signatureText(g.Signatures), g.Gene+" Structural Variation"
				if g.Negate {
					l.negText = "!" + genomicText(g)
				}
			}
		}
		c.reads[pi] = clinicalReads(c.leaves[pi])
	}
	e.clauses = append(e.clauses, c)
	return nil
}

// Protocols lists the protocols that have at least one clause to match.
func (e *Engine) Protocols() []string { return append([]string(nil), e.protocols...) }

// Clauses reports how many match trees (steps, arms, dose levels) are
// compiled.
func (e *Engine) Clauses() int { return len(e.clauses) }

// newMatch builds the Match of clause c for the row r, its reasons
// appended to *arena.
func (e *Engine) newMatch(c *clause, r *rowCtx, arena *[]Reason) Match {
	var m Match
	start := len(*arena)
	*arena = e.reasons(*arena, c, r)
	e.fillMatch(&m, c, r.p, (*arena)[start:len(*arena):len(*arena)])
	return m
}

// fillMatch sets *m (no copy of the struct) to the match of clause c for
// profile p with reasons rs.
func (e *Engine) fillMatch(m *Match, c *clause, p *Profile, rs []Reason) {
	m.Tenant, m.PatientID, m.SampleID = p.Tenant, p.PatientID, p.SampleID
	m.ProtocolNo, m.Level, m.StepCode = c.trial.ProtocolNo, c.level, c.stepCode
	m.ArmCode, m.DoseLevel, m.InternalID = c.armCode, c.doseCode, c.internalID
	m.Suspended, m.Reasons = c.suspended, rs
}

// rowCtx is what reasons read of one profile row.
type rowCtx struct {
	// p holds the row's Variants and ReportDate, and every field when T
	// is nil (leaves are then evaluated on p).
	p *Profile
	// T, when set, holds the atom bitsets of the row's batch: a path holds
	// when the bits of all its atoms are set for row. The clauses reasons
	// are asked for then hold for the row (they come from the bitsets).
	T   [][]uint64
	row int
	// alts caches per-variant alteration texts within the row ("" = not
	// yet rendered); nil disables the cache.
	alts []string
	// intern, when set, shares alteration texts across the rows of a
	// batch (its keys may point into the batch's record: clear it before
	// the record goes).
	intern map[altKey]string
	// memo is scratch for the leaf truths of one clause (without T).
	memo []leafMemo
}

// pathHolds reports whether match path pi of c holds for the row.
func (e *Engine) pathHolds(c *clause, pi int, r *rowCtx, memo *[]leafMemo) bool {
	if r.T != nil {
		if len(c.paths) == 1 {
			// The clause holds, and its paths' disjunction is the clause
			// over the same atom bits: its one path holds.
			return true
		}
		w, bit := r.row>>6, uint64(1)<<(uint(r.row)&63)
		for _, id := range c.pathAtoms[pi] {
			if r.T[id][w]&bit == 0 {
				return false // not known true; only truth matters for reasons
			}
		}
		return true
	}
	for _, l := range c.leaves[pi] {
		if e.leafTruth(l.node, r.p, memo) != True {
			return false
		}
	}
	return true
}

type leafMemo struct {
	n *criteria.Node
	t Truth
}

// leafTruth evaluates leaf n on p, remembering the truths of the clause's
// leaves in *memo.
func (e *Engine) leafTruth(n *criteria.Node, p *Profile, memo *[]leafMemo) Truth {
	for _, m := range *memo {
		if m.n == n {
			return m.t
		}
	}
	t := e.eval(n, p, nil)
	*memo = append(*memo, leafMemo{n, t})
	return t
}

// reasons appends the reasons of a clause that holds for row r to out.
func (e *Engine) reasons(out []Reason, c *clause, r *rowCtx) []Reason {
	memo := r.memo[:0]
	defer func() { r.memo = memo[:0] }()
	p := r.p
	for pi := range c.paths {
		if !e.pathHolds(c, pi, r, &memo) {
			continue
		}
		genomic := false
		leaves := c.leaves[pi]
		for li := range leaves {
			l := &leaves[li]
			g := l.gen
			if g == nil {
				continue
			}
			genomic = true
			if g.Negate {
				out = append(out, Reason{Type: ReasonGenomic, Alteration: l.negText, MatchLevel: l.level, Path: pi, Criterion: l.criterion, Variant: -1, Reads: c.reads[pi]})
				continue
			}
			for vi := range p.Variants {
				v := &p.Variants[vi]
				if !e.variantMatches(g, v, p.ReportDate) {
					continue
				}
				var alt string
				// The text depends on the leaf only for signatures and
				// unstructured SVs; otherwise reuse it within the row.
				perVariant := vi < len(r.alts) && v.VariantCategory != string(criteria.Signature) &&
					(v.VariantCategory != string(criteria.SV) || e.structured(v, p.ReportDate))
				if perVariant && r.alts[vi] != "" {
					alt = r.alts[vi]
				} else {
					alt = e.alteration(l, v, p.ReportDate, r.intern)
					if perVariant {
						r.alts[vi] = alt
					}
				}
				reads := append(make([]Read, 0, 1+len(c.reads[pi])), Read{Field: ReadVariant, Variant: vi})
				out = append(out, Reason{Type: ReasonGenomic, Alteration: alt, MatchLevel: l.level, Path: pi, Criterion: l.criterion, Variant: vi, Reads: append(reads, c.reads[pi]...)})
			}
		}
		if !genomic {
			out = append(out, Reason{Type: ReasonClinical, Path: pi, Criterion: leaves[0].criterion, Variant: -1, Reads: c.reads[pi]})
		}
	}
	return out
}

func matchLevel(g *criteria.Genomic) string {
	switch {
	case len(g.Signatures) > 0:
		return "signature"
	case g.VariantLevel():
		return "variant"
	}
	return "gene"
}

// genomicText renders a genomic leaf, e.g. "EGFR p.L858R", "TP53
// Structural Variation", "BRAF p.V600".
func genomicText(g *criteria.Genomic) string {
	if len(g.Signatures) > 0 {
		return signatureText(g.Signatures)
	}
	gene := g.Gene
	if g.FusionPartner != "" {
		gene += "-" + g.FusionPartner
	}
	var what string
	switch {
	case g.ProteinChange != "":
		what = g.ProteinChange
	case g.WildcardProteinChange != "":
		what = g.WildcardProteinChange
	case g.CNVCall != "":
		what = g.CNVCall
	case g.Exon != nil:
		what = fmt.Sprintf("exon %d", *g.Exon)
	case g.Wildtype != nil && *g.Wildtype:
		return "wt " + gene
	case g.VariantClassification != "":
		what = g.VariantClassification
	case g.CategoryName != "":
		what = g.CategoryName
	}
	return strings.TrimSpace(gene + " " + what)
}

func signatureText(sigs map[string]string) string {
	var parts []string
	for _, name := range []string{"MMR", "APOBEC", "POLE", "TOBACCO", "TEMOZOLOMIDE", "UVA"} {
		if st, ok := sigs[name]; ok {
			if name == "MMR" {
				parts = append(parts, st)
			} else {
				parts = append(parts, name+" Signature "+st)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// altKey names the alteration text of a finding whose text does not
// depend on the leaf it satisfied.
type altKey struct {
	kind uint8
	a, b string
}

const (
	altSV       = iota + 1 // a + "-" + b + " Structural Variation"
	altCNV                 // TrimSpace(a + " " + b)
	altWildtype            // "wt " + a
	altChange              // a + " " + b
	altGene                // a
)

func (k altKey) text() string {
	switch k.kind {
	case altSV:
		return k.a + "-" + k.b + " Structural Variation"
	case altCNV:
		return strings.TrimSpace(k.a + " " + k.b)
	case altWildtype:
		return "wt " + k.a
	case altChange:
		return k.a + " " + k.b
	}
	return strings.Clone(k.a) // not a view into a record
}

// alteration renders the finding v that satisfied leaf l, as MatchMiner's
// genomic_alteration; texts are shared through intern when it is set.
func (e *Engine) alteration(l *leafInfo, v *Variant, reportDate *int32, intern map[altKey]string) string {
	var k altKey
	switch v.VariantCategory {
	case string(criteria.Signature):
		return l.sigText
	case string(criteria.SV):
		if !e.structured(v, reportDate) {
			return l.svText
		}
		lp, rp := v.LeftPartner, v.RightPartner
		switch {
		case lp == "" && rp == "":
			lp, rp = "intergenic", "intergenic"
		case lp == "":
			lp, rp = rp, "intergenic"
		case rp == "":
			rp = "intergenic"
		}
		k = altKey{altSV, lp, rp}
	case string(criteria.CNV):
		k = altKey{altCNV, v.HugoSymbol, v.CNVCall}
	default:
		switch {
		case v.Wildtype:
			k = altKey{kind: altWildtype, a: v.HugoSymbol}
		case v.ProteinChange != "":
			k = altKey{altChange, v.HugoSymbol, v.ProteinChange}
		case v.VariantClassification != "":
			k = altKey{altChange, v.HugoSymbol, v.VariantClassification}
		default:
			k = altKey{kind: altGene, a: v.HugoSymbol}
		}
	}
	if intern == nil {
		return k.text()
	}
	if t, ok := intern[k]; ok {
		return t
	}
	t := k.text()
	intern[k] = t
	return t
}

// Rowwise matches profiles one at a time over Go structs, evaluating every
// clause's tree directly: the straightforward reference the vectorized
// MatchBatch is checked against. Matches come profile by profile, clauses in
// compile order.
func (e *Engine) Rowwise(profiles []Profile) []Match {
	return e.rowwise(profiles, len(e.clauses), func(i int) *clause { return e.clauses[i] })
}

// RowwiseClauses is Rowwise over the listed clauses only (indexes as in a
// Hit's Clause), in the order given: a caller that needs a few trials of a
// large engine evaluates just their clauses.
func (e *Engine) RowwiseClauses(profiles []Profile, clauses []int32) ([]Match, error) {
	for _, ci := range clauses {
		if ci < 0 || int(ci) >= len(e.clauses) {
			return nil, fmt.Errorf("match: clause %d out of range (%d clauses)", ci, len(e.clauses))
		}
	}
	return e.rowwise(profiles, len(clauses), func(i int) *clause { return e.clauses[clauses[i]] }), nil
}

// rowwise evaluates the n clauses at(0), ..., at(n-1) on each profile.
func (e *Engine) rowwise(profiles []Profile, n int, at func(int) *clause) []Match {
	var out []Match
	var arena []Reason
	for i := range profiles {
		p := &profiles[i]
		if p.Deceased && !e.onDeceased {
			continue
		}
		r := rowCtx{p: p}
		for k := 0; k < n; k++ {
			if c := at(k); e.eval(c.root, p, nil) == True {
				arena = arena[len(arena):] // new matches never share a backing array with old ones
				out = append(out, e.newMatch(c, &r, &arena))
			}
		}
	}
	return out
}
