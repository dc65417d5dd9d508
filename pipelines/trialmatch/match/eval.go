package match

import (
	"fmt"
	"strings"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// Truth is a three-valued truth value (Kleene logic).
type Truth uint8

// Truth values.
const (
	False Truth = iota
	Unknown
	True
)

func (t Truth) String() string { return [...]string{"false", "unknown", "true"}[t] }

func and3(a, b Truth) Truth {
	if a < b {
		return a
	}
	return b
}

func or3(a, b Truth) Truth {
	if a > b {
		return a
	}
	return b
}

func not3(a Truth) Truth { return 2 - a }

func truth(b bool) Truth {
	if b {
		return True
	}
	return False
}

// field names one criterion of a clinical leaf; a clinical leaf is the AND
// of its set fields.
type field uint8

const (
	fDiagnosis field = iota
	fAge
	fGender
	fTMB
	fER
	fPR
	fHER2
	fDiseaseStatus
	fPriorLines
	fPDL1
	fECOG
	fRegion
	numFields
)

var fieldNames = [numFields]string{"oncotree_primary_diagnosis", "age_numerical", "gender", "tmb_numerical",
	"er_status", "pr_status", "her2_status", "disease_status", "prior_lines_numerical", "pdl1", "ecog", "region"}

// has reports whether field f of c is set.
func has(c *criteria.Clinical, f field) bool {
	switch f {
	case fDiagnosis:
		return c.Diagnosis != nil
	case fAge:
		return c.Age != nil
	case fGender:
		return c.Gender != nil
	case fTMB:
		return c.TMB != nil
	case fER:
		return c.ER != nil
	case fPR:
		return c.PR != nil
	case fHER2:
		return c.HER2 != nil
	case fDiseaseStatus:
		return c.DiseaseStatus != nil
	case fPriorLines:
		return c.PriorLines != nil
	case fPDL1:
		return c.PDL1 != nil
	case fECOG:
		return c.ECOG != nil
	case fRegion:
		return c.Regions != nil
	}
	return false
}

// fields lists the set fields of c in a fixed order.
func fields(c *criteria.Clinical) []field {
	var fs []field
	for f := field(0); f < numFields; f++ {
		if has(c, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// describe renders a clinical criterion for explanations.
func describe(c *criteria.Clinical, f field) string {
	neg := func(s *criteria.StringSet) string {
		if s.Negate {
			return "not "
		}
		return ""
	}
	switch f {
	case fDiagnosis:
		return "diagnosis " + neg(c.Diagnosis) + c.DiagnosisName
	case fAge:
		return "age " + c.Age.String()
	case fGender:
		return "gender " + neg(c.Gender) + strings.Join(c.Gender.Values, "/")
	case fTMB:
		return "TMB " + c.TMB.String()
	case fER:
		return "ER " + neg(c.ER) + strings.Join(c.ER.Values, "/")
	case fPR:
		return "PR " + neg(c.PR) + strings.Join(c.PR.Values, "/")
	case fHER2:
		return "HER2 " + neg(c.HER2) + strings.Join(c.HER2.Values, "/")
	case fDiseaseStatus:
		return "disease status " + neg(c.DiseaseStatus) + strings.Join(c.DiseaseStatus.Values, "/")
	case fPriorLines:
		return "prior lines " + c.PriorLines.String()
	case fPDL1:
		s := "PD-L1 " + c.PDL1.Scoring + " " + c.PDL1.Cmp.String()
		if c.PDL1.Clone != "" {
			s += " (clone " + c.PDL1.Clone + ")"
		}
		return s
	case fECOG:
		s := "ECOG " + c.ECOG.String()
		if c.ECOGMax != nil {
			s += " and " + c.ECOGMax.String()
		}
		return s
	case fRegion:
		return "region " + neg(c.Regions) + strings.Join(c.Regions.Values, "/")
	}
	return fieldNames[f]
}

// ageCmp turns an age comparison into a birth-date comparison: the patient
// is at least N years old iff born on or before today minus N years
// (fractional years are months, as MatchMiner computes them).
func ageThreshold(today int32, age float64) int32 {
	years := int(age)
	months := int(roundHalfEven((age - float64(years)) * 12))
	t := epochDay(today)
	y, m, d := t.Date()
	// Clamp the day to the target month's length (relativedelta semantics).
	ty, tm := y-years, int(m)-months
	for tm < 1 {
		tm += 12
		ty--
	}
	last := daysIn(ty, tm)
	if d > last {
		d = last
	}
	return dayOf(ty, tm, d)
}

// ageThreshold is ageThreshold at the engine's today, precomputed at Compile.
func (e *Engine) ageThreshold(age float64) int32 {
	if th, ok := e.ageTh[age]; ok {
		return th
	}
	return ageThreshold(e.today, age)
}

func birthHolds(op criteria.Op, birth, threshold int32) bool {
	switch op {
	case criteria.OpGE:
		return birth <= threshold
	case criteria.OpGT:
		return birth < threshold
	case criteria.OpLE:
		return birth >= threshold
	case criteria.OpLT:
		return birth > threshold
	case criteria.OpEQ:
		return birth == threshold
	}
	return false
}

func strField(s *criteria.StringSet, v string) Truth {
	if v == "" {
		return Unknown
	}
	return truth(s.Matches(v))
}

func regionMatches(s *criteria.StringSet, region string) Truth {
	if region == "" {
		return Unknown
	}
	in := false
	for _, r := range s.Values {
		if strings.HasPrefix(region, r) {
			in = true
			break
		}
	}
	return truth(in != s.Negate)
}

// clinicalField evaluates one criterion of a clinical leaf on a profile.
func (e *Engine) clinicalField(c *criteria.Clinical, f field, p *Profile) Truth {
	switch f {
	case fDiagnosis:
		return strField(c.Diagnosis, p.OncotreePrimaryDiagnosis)
	case fAge:
		if p.BirthDate == nil {
			return Unknown
		}
		return truth(birthHolds(c.Age.Op, *p.BirthDate, e.ageThreshold(c.Age.Value)))
	case fGender:
		return strField(c.Gender, p.Gender)
	case fTMB:
		if p.TMB == nil {
			return Unknown
		}
		return truth(c.TMB.Holds(*p.TMB))
	case fER:
		return strField(c.ER, p.ER)
	case fPR:
		return strField(c.PR, p.PR)
	case fHER2:
		return strField(c.HER2, p.HER2)
	case fDiseaseStatus:
		return strField(c.DiseaseStatus, p.DiseaseStatus)
	case fPriorLines:
		if p.PriorLines == nil {
			return Unknown
		}
		return truth(c.PriorLines.Holds(float64(*p.PriorLines)))
	case fPDL1:
		v, clone := p.PDL1(c.PDL1.Scoring)
		return pdl1Holds(c.PDL1, v, clone)
	case fECOG:
		if p.ECOG == nil {
			return Unknown
		}
		return truth(ecogHolds(c, *p.ECOG))
	case fRegion:
		return regionMatches(c.Regions, p.PostalRegion)
	}
	return Unknown
}

func ecogHolds(c *criteria.Clinical, v int32) bool {
	ok := c.ECOG.Holds(float64(v))
	if c.ECOGMax != nil {
		ok = ok && c.ECOGMax.Holds(float64(v))
	}
	return ok
}

// PDL1 returns the PD-L1 score of a scoring method (TPS, CPS or IC) and the
// clone of the assay that gave it.
func (p *Profile) PDL1(scoring string) (*float64, string) {
	switch scoring {
	case "CPS":
		return p.PDL1CPS, p.PDL1CPSClone
	case "IC":
		return p.PDL1IC, p.PDL1ICClone
	}
	return p.PDL1TPS, p.PDL1TPSClone
}

func pdl1Holds(c *criteria.PDL1, v *float64, clone string) Truth {
	if v == nil {
		return Unknown
	}
	if c.Clone != "" && clone != "" && !strings.EqualFold(c.Clone, clone) {
		// Tested with another antibody: the required assay is missing.
		return Unknown
	}
	if c.Clone != "" && clone == "" {
		return Unknown
	}
	return truth(c.Cmp.Holds(*v))
}

const aminoAcids = "ACDEFGHIKLMNPQRSTVWY"

// wildcardMatches is MatchMiner's ^prefix[ACDEFGHIKLMNPQRSTVWY]$ (case
// insensitive): the prefix followed by exactly one amino acid.
func wildcardMatches(prefix, change string) bool {
	if len(change) != len(prefix)+1 || !strings.EqualFold(change[:len(prefix)], prefix) {
		return false
	}
	c := change[len(prefix)]
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	return strings.IndexByte(aminoAcids, c) >= 0
}

// commentMentions is MatchMiner's unstructured-SV regex
// (.*\Wgene\W.*)|(^gene\W.*)|(.*\Wgene$), case-insensitive: gene appears
// delimited by non-word characters or the ends.
func commentMentions(comment, gene string) bool {
	if gene == "" || len(comment) < len(gene) {
		return false
	}
	lc, lg := strings.ToLower(comment), strings.ToLower(gene)
	for from := 0; ; {
		i := strings.Index(lc[from:], lg)
		if i < 0 {
			return false
		}
		i += from
		end := i + len(lg)
		before := i == 0 || !isWord(lc[i-1])
		after := end == len(lc) || !isWord(lc[end])
		// The regex needs at least one delimiter: a comment that is exactly
		// the gene does not match.
		if before && after && !(i == 0 && end == len(lc)) {
			return true
		}
		from = i + 1
	}
}

func isWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// svSide is one side of a structured-SV query.
func svSide(want, have string) bool {
	switch {
	case want == "":
		return true
	case strings.EqualFold(want, "intergenic"):
		return have == ""
	case strings.EqualFold(strings.ReplaceAll(want, " ", "_"), "any_gene"):
		return have != ""
	}
	return have == want
}

// structured reports whether an SV finding is judged on its partner genes
// (true) or by a gene mention in its free-text comment (false).
func (e *Engine) structured(v *Variant, reportDate *int32) bool {
	if e.svCutover != nil {
		return reportDate != nil && *reportDate >= *e.svCutover
	}
	return v.LeftPartner != "" || v.RightPartner != "" || v.SVComment == ""
}

// variantMatches reports whether finding v satisfies every field of leaf g
// (the leaf's negation is applied by the caller).
func (e *Engine) variantMatches(g *criteria.Genomic, v *Variant, reportDate *int32) bool {
	if len(g.Signatures) > 0 {
		if v.VariantCategory != string(criteria.Signature) {
			return false
		}
		for name, status := range g.Signatures {
			if !strings.EqualFold(v.Signature, name) || !strings.EqualFold(v.SignatureStatus, status) {
				return false
			}
		}
		return true
	}
	if !g.HasCategory(criteria.Category(v.VariantCategory)) {
		return false
	}
	if v.VariantCategory == string(criteria.SV) {
		if e.structured(v, reportDate) {
			if !(svSide(g.Gene, v.LeftPartner) && svSide(g.FusionPartner, v.RightPartner)) &&
				!(svSide(g.Gene, v.RightPartner) && svSide(g.FusionPartner, v.LeftPartner)) {
				return false
			}
		} else if !commentMentions(v.SVComment, g.Gene) {
			return false
		}
	} else {
		if g.Gene != "" && v.HugoSymbol != g.Gene {
			return false
		}
		if g.FusionPartner != "" {
			return false
		}
	}
	if g.ProteinChange != "" && v.ProteinChange != g.ProteinChange {
		return false
	}
	if g.WildcardProteinChange != "" && !wildcardMatches(g.WildcardProteinChange, v.ProteinChange) {
		return false
	}
	if g.VariantClassification != "" && v.VariantClassification != g.VariantClassification {
		return false
	}
	if g.CNVCall != "" && criteria.CanonicalCNV(v.CNVCall) != g.CNVCall {
		return false
	}
	if g.Exon != nil && (v.Exon == nil || int(*v.Exon) != *g.Exon) {
		return false
	}
	if g.Wildtype != nil && v.Wildtype != *g.Wildtype {
		return false
	}
	return true
}

// genomicKnown says whether absence of a finding is a known "no": only
// when a genomic report exists (a marker test such as MSI by IHC alone
// does not say that KRAS is not mutated).
func genomicKnown(p *Profile) bool { return p.Sequenced }

// genomicLeaf evaluates a genomic leaf on a profile.
func (e *Engine) genomicLeaf(g *criteria.Genomic, p *Profile) Truth {
	hit := false
	for i := range p.Variants {
		if e.variantMatches(g, &p.Variants[i], p.ReportDate) {
			hit = true
			break
		}
	}
	switch {
	case hit:
		return truth(!g.Negate)
	case !genomicKnown(p):
		return Unknown
	}
	return truth(g.Negate)
}

// override forces the value of one clinical field or genomic leaf, for
// explanations.
type override struct {
	node  *criteria.Node
	field field // ignored for genomic leaves
	value Truth
}

// eval evaluates a match tree on a profile, three-valued.
func (e *Engine) eval(n *criteria.Node, p *Profile, ov *override) Truth {
	switch n.Kind {
	case criteria.And:
		t := True
		for _, c := range n.Children {
			if t = and3(t, e.eval(c, p, ov)); t == False {
				return False
			}
		}
		return t
	case criteria.Or:
		t := False
		for _, c := range n.Children {
			if t = or3(t, e.eval(c, p, ov)); t == True {
				return True
			}
		}
		return t
	case criteria.ClinicalLeaf:
		t := True
		for f := field(0); f < numFields; f++ {
			if !has(n.Clinical, f) {
				continue
			}
			v := e.clinicalField(n.Clinical, f, p)
			if ov != nil && ov.node == n && ov.field == f {
				v = ov.value
			}
			if t = and3(t, v); t == False {
				return False
			}
		}
		return t
	case criteria.GenomicLeaf:
		if ov != nil && ov.node == n {
			return ov.value
		}
		return e.genomicLeaf(n.Genomic, p)
	}
	return Unknown
}

// dnf expands a match tree into its conjunctive paths (MatchMiner's match
// paths), each a list of leaves. It fails beyond limit paths.
func dnf(n *criteria.Node, limit int) ([][]*criteria.Node, error) {
	switch n.Kind {
	case criteria.ClinicalLeaf, criteria.GenomicLeaf:
		return [][]*criteria.Node{{n}}, nil
	case criteria.Or:
		var out [][]*criteria.Node
		for _, c := range n.Children {
			ps, err := dnf(c, limit)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
			if len(out) > limit {
				return nil, fmt.Errorf("match tree at %s expands to more than %d paths", n.Path, limit)
			}
		}
		return out, nil
	case criteria.And:
		out := [][]*criteria.Node{nil}
		for _, c := range n.Children {
			ps, err := dnf(c, limit)
			if err != nil {
				return nil, err
			}
			if len(out)*len(ps) > limit {
				return nil, fmt.Errorf("match tree at %s expands to more than %d paths", n.Path, limit)
			}
			next := make([][]*criteria.Node, 0, len(out)*len(ps))
			for _, a := range out {
				for _, b := range ps {
					path := make([]*criteria.Node, 0, len(a)+len(b))
					path = append(append(path, a...), b...)
					next = append(next, path)
				}
			}
			out = next
		}
		return out, nil
	}
	return nil, fmt.Errorf("match tree node %s has kind %v", n.Path, n.Kind)
}
