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
	root       *criteria.Node
	paths      [][]*criteria.Node
	pathAtoms  [][][]int // atoms of each leaf of each path (vectorized)
}

// Engine matches patient profiles against the open arms of a set of trials.
// It is safe for concurrent use.
type Engine struct {
	onClosed, onDeceased bool
	today                int32
	svCutover            *int32
	maxPaths             int
	ageTh                map[float64]int32 // age -> birth-date threshold
	clauses              []*clause
	protocols            []string
	vec                  *vplan
	negText              map[*criteria.Genomic]string
	pool                 sync.Pool // *vstate, per-batch scratch
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
		if seen[t.ProtocolNo] {
			return nil, fmt.Errorf("match: trial %q given twice", t.ProtocolNo)
		}
		seen[t.ProtocolNo] = true
		if !t.Open() && !e.onClosed {
			continue
		}
		n := len(e.clauses)
		for _, st := range t.Steps {
			allSuspended := len(st.Arms) > 0
			for _, a := range st.Arms {
				allSuspended = allSuspended && a.Suspended
			}
			if st.Match != nil && (e.onClosed || !allSuspended) {
				if err := e.add(&clause{trial: t, level: LevelStep, stepCode: st.Code, internalID: st.InternalID, suspended: allSuspended, root: st.Match}); err != nil {
					return nil, err
				}
			}
			for _, a := range st.Arms {
				if a.Match != nil && (e.onClosed || !a.Suspended) {
					if err := e.add(&clause{trial: t, level: LevelArm, stepCode: st.Code, armCode: a.Code, internalID: a.InternalID, suspended: a.Suspended, root: a.Match}); err != nil {
						return nil, err
					}
				}
				for _, d := range a.DoseLevels {
					closed := a.Suspended || d.Suspended
					if d.Match != nil && (e.onClosed || !closed) {
						if err := e.add(&clause{trial: t, level: LevelDose, stepCode: st.Code, armCode: a.Code, doseCode: d.Code, internalID: d.InternalID, suspended: closed, root: d.Match}); err != nil {
							return nil, err
						}
					}
				}
			}
		}
		if len(e.clauses) > n {
			e.protocols = append(e.protocols, t.ProtocolNo)
		}
	}
	e.vec = e.plan()
	e.negText = map[*criteria.Genomic]string{}
	for _, a := range e.vec.atoms {
		if a.kind == akGenomic && a.gen.Negate {
			e.negText[a.gen] = "!" + genomicText(a.gen)
		}
	}
	return e, nil
}

func (e *Engine) add(c *clause) error {
	paths, err := dnf(c.root, e.maxPaths)
	if err != nil {
		return fmt.Errorf("match: trial %q %s (arm %q, dose level %q): %w", c.trial.ProtocolNo, c.level, c.armCode, c.doseCode, err)
	}
	c.paths = paths
	e.clauses = append(e.clauses, c)
	return nil
}

// Protocols lists the protocols that have at least one clause to match.
func (e *Engine) Protocols() []string { return append([]string(nil), e.protocols...) }

// Clauses reports how many match trees (steps, arms, dose levels) are
// compiled.
func (e *Engine) Clauses() int { return len(e.clauses) }

// newMatch builds the Match of clause c for profile p, its reasons appended
// to *arena (lt, when not nil, answers leaf truths without re-evaluating).
func (e *Engine) newMatch(c *clause, p *Profile, arena *[]Reason, lt leafTruther) Match {
	var m Match
	e.fillMatch(&m, c, p, arena, lt)
	return m
}

// fillMatch is newMatch into *m (no copy of the struct).
func (e *Engine) fillMatch(m *Match, c *clause, p *Profile, arena *[]Reason, lt leafTruther) {
	start := len(*arena)
	*arena = e.reasons(*arena, c, p, lt)
	m.Tenant, m.PatientID, m.SampleID = p.Tenant, p.PatientID, p.SampleID
	m.ProtocolNo, m.Level, m.StepCode = c.trial.ProtocolNo, c.level, c.stepCode
	m.ArmCode, m.DoseLevel, m.InternalID = c.armCode, c.doseCode, c.internalID
	m.Suspended, m.Reasons = c.suspended, (*arena)[start:len(*arena):len(*arena)]
}

// leafTruther reports whether leaf li of match path pi of clause c holds
// (True) for the current row, and caches per-row alteration texts.
type leafTruther interface {
	leafTruth(c *clause, pi, li int) Truth
	alterations() []string
}

// reasons appends the reasons of a clause that holds for p to out.
func (e *Engine) reasons(out []Reason, c *clause, p *Profile, lt leafTruther) []Reason {
	type memo struct {
		n *criteria.Node
		t Truth
	}
	var small [16]memo
	cache := small[:0]
	var alts []string
	if lt != nil {
		alts = lt.alterations()
	}
	leaf := func(pi, li int, n *criteria.Node) Truth {
		if lt != nil {
			return lt.leafTruth(c, pi, li)
		}
		for _, m := range cache {
			if m.n == n {
				return m.t
			}
		}
		t := e.eval(n, p, nil)
		cache = append(cache, memo{n, t})
		return t
	}
	for pi, path := range c.paths {
		holds := true
		for li, n := range path {
			if leaf(pi, li, n) != True {
				holds = false
				break
			}
		}
		if !holds {
			continue
		}
		genomic := false
		for _, n := range path {
			g := n.Genomic
			if g == nil {
				continue
			}
			genomic = true
			if g.Negate {
				out = append(out, Reason{Type: ReasonGenomic, Alteration: e.negatedText(g), MatchLevel: matchLevel(g), Path: pi, Criterion: n.Path, Variant: -1})
				continue
			}
			for vi := range p.Variants {
				v := &p.Variants[vi]
				if e.variantMatches(g, v, p.ReportDate) {
					var alt string
					// The text depends on the leaf only for signatures and
					// unstructured SVs; otherwise reuse it within the row.
					perVariant := vi < len(alts) && v.VariantCategory != string(criteria.Signature) &&
						(v.VariantCategory != string(criteria.SV) || e.structured(v, p.ReportDate))
					if perVariant && alts[vi] != "" {
						alt = alts[vi]
					} else {
						alt = e.alteration(g, v, p.ReportDate)
						if perVariant {
							alts[vi] = alt
						}
					}
					out = append(out, Reason{Type: ReasonGenomic, Alteration: alt, MatchLevel: matchLevel(g), Path: pi, Criterion: n.Path, Variant: vi})
				}
			}
		}
		if !genomic {
			out = append(out, Reason{Type: ReasonClinical, Path: pi, Criterion: path[0].Path, Variant: -1})
		}
	}
	return out
}

// negatedText is the alteration text of a negated leaf, e.g. "!TP53
// Structural Variation", rendered once at Compile for compiled leaves.
func (e *Engine) negatedText(g *criteria.Genomic) string {
	if t, ok := e.negText[g]; ok {
		return t
	}
	return "!" + genomicText(g)
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

// alteration renders the finding v that satisfied leaf g, as MatchMiner's
// genomic_alteration.
func (e *Engine) alteration(g *criteria.Genomic, v *Variant, reportDate *int32) string {
	switch v.VariantCategory {
	case string(criteria.Signature):
		return signatureText(g.Signatures)
	case string(criteria.SV):
		if !e.structured(v, reportDate) {
			return g.Gene + " Structural Variation"
		}
		l, r := v.LeftPartner, v.RightPartner
		switch {
		case l == "" && r == "":
			l, r = "intergenic", "intergenic"
		case l == "":
			l, r = r, "intergenic"
		case r == "":
			r = "intergenic"
		}
		return l + "-" + r + " Structural Variation"
	case string(criteria.CNV):
		return strings.TrimSpace(v.HugoSymbol + " " + v.CNVCall)
	}
	if v.Wildtype {
		return "wt " + v.HugoSymbol
	}
	if v.ProteinChange == "" && v.VariantClassification == "" {
		return strings.Clone(v.HugoSymbol) // not a view into a record
	}
	switch {
	case v.ProteinChange != "":
		return v.HugoSymbol + " " + v.ProteinChange
	case v.VariantClassification != "":
		return v.HugoSymbol + " " + v.VariantClassification
	}
	return strings.Clone(v.HugoSymbol)
}

// Rowwise matches profiles one at a time over Go structs, evaluating every
// clause's tree directly: the straightforward reference the vectorized
// MatchBatch is checked against. Matches come profile by profile, clauses in
// compile order.
func (e *Engine) Rowwise(profiles []Profile) []Match {
	var out []Match
	var arena []Reason
	for i := range profiles {
		p := &profiles[i]
		if p.Deceased && !e.onDeceased {
			continue
		}
		for _, c := range e.clauses {
			if e.eval(c.root, p, nil) == True {
				arena = arena[len(arena):] // new matches never share a backing array with old ones
				out = append(out, e.newMatch(c, p, &arena, nil))
			}
		}
	}
	return out
}
