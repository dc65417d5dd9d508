package criteria

import (
	"fmt"
	"strings"
)

// Trial is one CTML trial document as a typed tree.
type Trial struct {
	ProtocolNo string
	NCTID      string
	// Status is the accrual status as written (from _summary.status[0].value
	// when present, else from status).
	Status string
	Steps  []Step
}

// Open reports whether the trial is open to accrual (case-insensitive, as
// MatchMiner compares it).
func (t *Trial) Open() bool {
	return strings.EqualFold(strings.TrimSpace(t.Status), "open to accrual")
}

// Step is a treatment step. Match is nil when the step has no criteria.
type Step struct {
	Code       string
	InternalID string
	Match      *Node
	Arms       []Arm
}

// Arm is a treatment arm. Match is nil when the arm has no criteria.
type Arm struct {
	Code        string
	Description string
	InternalID  string
	Suspended   bool
	Match       *Node
	DoseLevels  []DoseLevel
}

// DoseLevel is a dose level of an arm. Match is nil when it has no criteria.
type DoseLevel struct {
	Code        string
	Description string
	InternalID  string
	Suspended   bool
	Match       *Node
}

// Kind tells which of a Node's fields is set.
type Kind uint8

// Node kinds.
const (
	And Kind = iota + 1
	Or
	ClinicalLeaf
	GenomicLeaf
)

func (k Kind) String() string {
	switch k {
	case And:
		return "and"
	case Or:
		return "or"
	case ClinicalLeaf:
		return "clinical"
	case GenomicLeaf:
		return "genomic"
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Node is a node of a match tree: an and/or of children, or a leaf.
type Node struct {
	Kind     Kind
	Children []*Node   // And, Or
	Clinical *Clinical // ClinicalLeaf
	Genomic  *Genomic  // GenomicLeaf
	// Path locates the node in its trial document, e.g.
	// "treatment_list.step[0].arm[1].match[0].and[1].clinical".
	Path string
}

// Op is a comparison operator of a numeric expression.
type Op uint8

// Comparison operators.
const (
	OpEQ Op = iota + 1
	OpGE
	OpGT
	OpLE
	OpLT
)

func (o Op) String() string {
	return [...]string{"?", "==", ">=", ">", "<=", "<"}[o]
}

// Cmp is a numeric comparison such as ">=18".
type Cmp struct {
	Op    Op
	Value float64
}

// Holds reports whether x satisfies the comparison.
func (c Cmp) Holds(x float64) bool {
	switch c.Op {
	case OpEQ:
		return x == c.Value
	case OpGE:
		return x >= c.Value
	case OpGT:
		return x > c.Value
	case OpLE:
		return x <= c.Value
	case OpLT:
		return x < c.Value
	}
	return false
}

func (c Cmp) String() string { return fmt.Sprintf("%s%g", c.Op, c.Value) }

// StringSet is a categorical clinical criterion: the value must (or, when
// Negate, must not) be one of Values. Comparison ignores case, except for
// diagnosis names (Exact), which MatchMiner compares exactly.
type StringSet struct {
	Values []string
	Negate bool
	Exact  bool
	index  map[string]struct{} // Exact lookups, built by the parser
}

// NewExactSet returns a case-sensitive set indexed for fast lookups.
func NewExactSet(values []string, negate bool) *StringSet {
	s := &StringSet{Values: values, Negate: negate, Exact: true, index: make(map[string]struct{}, len(values))}
	for _, v := range values {
		s.index[v] = struct{}{}
	}
	return s
}

// Matches reports whether v satisfies the criterion.
func (s *StringSet) Matches(v string) bool {
	in := false
	switch {
	case s.Exact && s.index != nil:
		_, in = s.index[v]
	case s.Exact:
		for _, x := range s.Values {
			if x == v {
				in = true
				break
			}
		}
	default:
		for _, x := range s.Values {
			if strings.EqualFold(x, v) {
				in = true
				break
			}
		}
	}
	return in != s.Negate
}

// PDL1 is our extension: a PD-L1 expression threshold.
type PDL1 struct {
	Scoring string // "TPS", "CPS" or "IC"
	Cmp     Cmp
	Clone   string // optional antibody clone, e.g. 22C3; empty for any
}

// Clinical is a clinical leaf; every set field must hold (fields are AND-ed,
// as in MatchMiner).
type Clinical struct {
	// Diagnosis is oncotree_primary_diagnosis expanded to every subtype name;
	// DiagnosisName is the value as written (without '!').
	Diagnosis     *StringSet
	DiagnosisName string
	// Age compares the age in (possibly fractional) years at "today".
	Age           *Cmp
	Gender        *StringSet
	TMB           *Cmp
	ER, PR, HER2  *StringSet
	DiseaseStatus *StringSet
	PriorLines    *Cmp
	// Extensions (not MatchMiner CTML).
	PDL1    *PDL1
	ECOG    *Cmp
	ECOGMax *Cmp // second bound of an ECOG range such as "0-2"
	Regions *StringSet
}

// Category is a genomic variant category as the data names it.
type Category string

// Variant categories in patient data.
const (
	Mutation  Category = "MUTATION"
	CNV       Category = "CNV"
	SV        Category = "SV"
	Signature Category = "SIGNATURE"
)

// Genomic is a genomic leaf: it holds when the patient has an alteration
// matching every set field; when Negate (any value written with '!'), it
// holds when the patient has NO alteration matching the other fields
// (MatchMiner's exclusion meaning).
type Genomic struct {
	Negate bool
	// Gene is hugo_symbol; "" when absent or written "None".
	Gene string
	// Categories lists the accepted categories (Any Variation = MUTATION, CNV).
	Categories []Category
	// CategoryName is variant_category as written, without '!'.
	CategoryName          string
	ProteinChange         string
	WildcardProteinChange string // prefix such as "p.V600"
	VariantClassification string
	CNVCall               string // canonical, see CanonicalCNV
	Exon                  *int
	Wildtype              *bool
	FusionPartner         string // may be "any_gene" or "intergenic"
	// Signatures maps a signature name (MMR, APOBEC, POLE, TOBACCO,
	// TEMOZOLOMIDE, UVA) to the status required, e.g. MMR ->
	// "Deficient (MMR-D / MSI-H)", APOBEC -> "Yes".
	Signatures map[string]string
}

// HasCategory reports whether c is accepted (true when none is required).
func (g *Genomic) HasCategory(c Category) bool {
	if len(g.Categories) == 0 {
		return true
	}
	for _, x := range g.Categories {
		if x == c {
			return true
		}
	}
	return false
}

// VariantLevel reports whether the leaf names a specific variant rather than
// just a gene (MatchMiner's "variant" versus "gene" match level).
func (g *Genomic) VariantLevel() bool {
	return g.ProteinChange != "" || g.WildcardProteinChange != "" || g.Exon != nil ||
		g.CNVCall != "" || g.FusionPartner != "" || g.VariantClassification != ""
}

// CanonicalCNV maps the CNV call spellings of CTML and of sequencing
// reports onto one canonical form.
func CanonicalCNV(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "high amplification", "high level amplification", "amplification":
		return "High level amplification"
	case "low amplification", "gain":
		return "Gain"
	case "homozygous deletion":
		return "Homozygous deletion"
	case "heterozygous deletion":
		return "Heterozygous deletion"
	}
	return strings.TrimSpace(v)
}

// Walk calls fn for n and every node below it, depth first.
func Walk(n *Node, fn func(*Node)) {
	if n == nil {
		return
	}
	fn(n)
	for _, c := range n.Children {
		Walk(c, fn)
	}
}
