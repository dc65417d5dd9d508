package criteria

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxDocumentSize bounds a CTML document; larger input is rejected before
// decoding.
const MaxDocumentSize = 8 << 20

// maxDepth bounds the nesting of and/or nodes.
const maxDepth = 64

// Error is a CTML error: it names the trial, the path inside the document and
// the field at fault.
type Error struct {
	Trial string // protocol_no, or the source name when it is unknown
	Path  string // e.g. treatment_list.step[0].arm[1].match[0].and[0].genomic
	Field string // e.g. variant_category
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ctml: trial ")
	b.WriteString(strconv.Quote(e.Trial))
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	if e.Field != "" {
		b.WriteString(" field ")
		b.WriteString(strconv.Quote(e.Field))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinel causes wrapped by *Error.
var (
	ErrUnknownField = errors.New("unknown field")
	ErrBadValue     = errors.New("malformed value")
	ErrTooLarge     = errors.New("document too large")
	ErrTooDeep      = errors.New("match tree nested too deeply")
)

// Option configures Parse.
type Option interface{ apply(*parser) }

type optFunc func(*parser)

func (f optFunc) apply(p *parser) { f(p) }

// WithSource names the input (a file name, a Kafka offset) for errors that
// occur before the protocol number is known.
func WithSource(name string) Option { return optFunc(func(p *parser) { p.source = name }) }

// WithOncotree replaces the embedded OncoTree mapping (node name -> the names
// of the node and all its descendants).
func WithOncotree(m map[string][]string) Option {
	return optFunc(func(p *parser) { p.oncotree = m })
}

type parser struct {
	source   string
	trial    string
	oncotree map[string][]string
}

// Parse decodes one CTML trial, JSON or YAML (detected from the first
// non-blank byte), into a typed tree. Unknown fields and malformed values
// are errors of type *Error; nothing is silently ignored except the
// descriptive metadata fields listed in the package documentation.
func Parse(data []byte, opts ...Option) (*Trial, error) {
	p := &parser{source: "<input>"}
	for _, o := range opts {
		o.apply(p)
	}
	if p.oncotree == nil {
		p.oncotree = Oncotree()
	}
	p.trial = p.source
	if len(data) > MaxDocumentSize {
		return nil, p.errf("", "", "%w: %d bytes (limit %d)", ErrTooLarge, len(data), MaxDocumentSize)
	}
	var doc any
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, p.errf("", "", "%w: JSON: %v", ErrBadValue, err)
		}
	} else {
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, p.errf("", "", "%w: YAML: %v", ErrBadValue, err)
		}
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, p.errf("", "", "%w: document is %s, want an object", ErrBadValue, typeName(doc))
	}
	return p.trialDoc(m)
}

func (p *parser) errf(path, field, format string, args ...any) error {
	return &Error{Trial: p.trial, Path: path, Field: field, Err: fmt.Errorf(format, args...)}
}

// Descriptive trial fields accepted and not interpreted.
var trialMeta = set("nct_id", "short_title", "long_title", "title", "phase", "age", "accrual_goal",
	"drug_list", "management_group_list", "principal_investigator", "prior_treatment_requirements",
	"protocol_id", "site_list", "sponsor_list", "staff_list", "summary", "protocol_target_accrual",
	"last_updated", "data_table_4", "program_area_list", "protocol_type", "disease_status_list",
	"investigator_list", "curation_status", "version", "description", "ctml_version")

var stepMeta = set("step_type", "step_description", "step_internal_id", "step_code")
var armMeta = set("arm_description", "arm_info", "arm_type", "arm_eligibility", "arm_status",
	"arm_internal_id", "arm_code", "arm_suspended")
var doseMeta = set("level_description", "level_internal_id", "level_code", "level_suspended", "level_status")

func (p *parser) trialDoc(m map[string]any) (*Trial, error) {
	t := &Trial{}
	pn, ok := m["protocol_no"]
	if !ok {
		return nil, p.errf("", "protocol_no", "%w: missing", ErrBadValue)
	}
	s, ok := scalar(pn)
	if !ok || s == "" {
		return nil, p.errf("", "protocol_no", "%w: want a non-empty string, got %s", ErrBadValue, typeName(pn))
	}
	t.ProtocolNo = s
	p.trial = s
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case k == "protocol_no":
		case k == "status":
			st, ok := scalar(v)
			if !ok {
				return nil, p.errf("", k, "%w: want a string", ErrBadValue)
			}
			if t.Status == "" {
				t.Status = st
			}
		case k == "_summary":
			if st := summaryStatus(v); st != "" {
				t.Status = st
			}
		case k == "nct_id":
			var err error
			if t.NCTID, err = p.optScalar(m, k, ""); err != nil {
				return nil, err
			}
		case k == "treatment_list":
			tl, ok := v.(map[string]any)
			if !ok {
				return nil, p.errf("treatment_list", "", "%w: want an object", ErrBadValue)
			}
			for _, tk := range sortedKeys(tl) {
				if tk != "step" {
					return nil, p.errf("treatment_list", tk, "%w", ErrUnknownField)
				}
			}
			steps, err := p.list(tl["step"], "treatment_list", "step")
			if err != nil {
				return nil, err
			}
			for i, sv := range steps {
				st, err := p.step(sv, fmt.Sprintf("treatment_list.step[%d]", i))
				if err != nil {
					return nil, err
				}
				t.Steps = append(t.Steps, st)
			}
		case strings.HasPrefix(k, "_") || trialMeta[k]:
			// descriptive
		default:
			return nil, p.errf("", k, "%w", ErrUnknownField)
		}
	}
	return t, nil
}

func summaryStatus(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	l, ok := m["status"].([]any)
	if !ok || len(l) == 0 {
		return ""
	}
	e, ok := l[0].(map[string]any)
	if !ok {
		return ""
	}
	s, _ := scalar(e["value"])
	return s
}

// optScalar reads an optional scalar field (a code or an id); a list or an
// object there is an error.
func (p *parser) optScalar(m map[string]any, key, path string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := scalar(v)
	if !ok {
		return "", p.errf(path, key, "%w: want a string or number, got %s", ErrBadValue, typeName(v))
	}
	return s, nil
}

func (p *parser) list(v any, path, field string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, p.errf(path, field, "%w: want a list, got %s", ErrBadValue, typeName(v))
	}
	return l, nil
}

func (p *parser) obj(v any, path string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, p.errf(path, "", "%w: want an object, got %s", ErrBadValue, typeName(v))
	}
	return m, nil
}

func (p *parser) step(v any, path string) (Step, error) {
	var s Step
	m, err := p.obj(v, path)
	if err != nil {
		return s, err
	}
	if s.Code, err = p.optScalar(m, "step_code", path); err != nil {
		return s, err
	}
	if s.InternalID, err = p.optScalar(m, "step_internal_id", path); err != nil {
		return s, err
	}
	for _, k := range sortedKeys(m) {
		switch {
		case k == "match":
			if s.Match, err = p.matchList(m[k], path+".match"); err != nil {
				return s, err
			}
		case k == "arm":
			arms, err := p.list(m[k], path, k)
			if err != nil {
				return s, err
			}
			for i, av := range arms {
				a, err := p.arm(av, fmt.Sprintf("%s.arm[%d]", path, i))
				if err != nil {
					return s, err
				}
				s.Arms = append(s.Arms, a)
			}
		case stepMeta[k] || strings.HasPrefix(k, "_"):
		default:
			return s, p.errf(path, k, "%w", ErrUnknownField)
		}
	}
	return s, nil
}

func (p *parser) suspended(v any, path, field string) (bool, error) {
	if v == nil {
		return false, nil
	}
	if b, ok := v.(bool); ok {
		return b, nil
	}
	s, ok := scalar(v)
	if !ok {
		return false, p.errf(path, field, "%w: want Y or N", ErrBadValue)
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "true":
		return true, nil
	case "n", "no", "false", "":
		return false, nil
	}
	return false, p.errf(path, field, "%w: %q, want Y or N", ErrBadValue, s)
}

func (p *parser) arm(v any, path string) (Arm, error) {
	var a Arm
	m, err := p.obj(v, path)
	if err != nil {
		return a, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"arm_code", &a.Code}, {"arm_description", &a.Description}, {"arm_internal_id", &a.InternalID}} {
		if *f.dst, err = p.optScalar(m, f.key, path); err != nil {
			return a, err
		}
	}
	if a.Suspended, err = p.suspended(m["arm_suspended"], path, "arm_suspended"); err != nil {
		return a, err
	}
	for _, k := range sortedKeys(m) {
		switch {
		case k == "match":
			if a.Match, err = p.matchList(m[k], path+".match"); err != nil {
				return a, err
			}
		case k == "dose_level":
			dls, err := p.list(m[k], path, k)
			if err != nil {
				return a, err
			}
			for i, dv := range dls {
				dpath := fmt.Sprintf("%s.dose_level[%d]", path, i)
				dm, err := p.obj(dv, dpath)
				if err != nil {
					return a, err
				}
				var d DoseLevel
				for _, f := range []struct {
					key string
					dst *string
				}{{"level_code", &d.Code}, {"level_description", &d.Description}, {"level_internal_id", &d.InternalID}} {
					if *f.dst, err = p.optScalar(dm, f.key, dpath); err != nil {
						return a, err
					}
				}
				if d.Suspended, err = p.suspended(dm["level_suspended"], dpath, "level_suspended"); err != nil {
					return a, err
				}
				for _, dk := range sortedKeys(dm) {
					switch {
					case dk == "match":
						if d.Match, err = p.matchList(dm[dk], dpath+".match"); err != nil {
							return a, err
						}
					case doseMeta[dk] || strings.HasPrefix(dk, "_"):
					default:
						return a, p.errf(dpath, dk, "%w", ErrUnknownField)
					}
				}
				a.DoseLevels = append(a.DoseLevels, d)
			}
		case armMeta[k] || strings.HasPrefix(k, "_"):
		default:
			return a, p.errf(path, k, "%w", ErrUnknownField)
		}
	}
	return a, nil
}

// matchList parses a "match" list: its items are AND-ed. An empty list is
// no criteria (nil).
func (p *parser) matchList(v any, path string) (*Node, error) {
	l, err := p.list(v, path, "match")
	if err != nil {
		return nil, err
	}
	var kids []*Node
	for i, item := range l {
		n, err := p.node(item, fmt.Sprintf("%s[%d]", path, i), 0)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	switch len(kids) {
	case 0:
		return nil, nil
	case 1:
		return kids[0], nil
	}
	return &Node{Kind: And, Children: kids, Path: path}, nil
}

// node parses one match-tree object; several keys in one object are AND-ed.
func (p *parser) node(v any, path string, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, p.errf(path, "", "%w (limit %d)", ErrTooDeep, maxDepth)
	}
	m, err := p.obj(v, path)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, p.errf(path, "", "%w: empty match object", ErrBadValue)
	}
	var kids []*Node
	for _, k := range sortedKeys(m) {
		kpath := path + "." + k
		switch k {
		case "and", "or":
			l, err := p.list(m[k], path, k)
			if err != nil {
				return nil, err
			}
			if len(l) == 0 {
				return nil, p.errf(path, k, "%w: empty %s list", ErrBadValue, k)
			}
			n := &Node{Kind: And, Path: kpath}
			if k == "or" {
				n.Kind = Or
			}
			for i, item := range l {
				c, err := p.node(item, fmt.Sprintf("%s[%d]", kpath, i), depth+1)
				if err != nil {
					return nil, err
				}
				n.Children = append(n.Children, c)
			}
			kids = append(kids, n)
		case "clinical":
			cm, err := p.obj(m[k], kpath)
			if err != nil {
				return nil, err
			}
			c, err := p.clinical(cm, kpath)
			if err != nil {
				return nil, err
			}
			kids = append(kids, &Node{Kind: ClinicalLeaf, Clinical: c, Path: kpath})
		case "genomic":
			gm, err := p.obj(m[k], kpath)
			if err != nil {
				return nil, err
			}
			g, err := p.genomic(gm, kpath)
			if err != nil {
				return nil, err
			}
			kids = append(kids, &Node{Kind: GenomicLeaf, Genomic: g, Path: kpath})
		default:
			return nil, p.errf(path, k, "%w (want and, or, clinical or genomic)", ErrUnknownField)
		}
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return &Node{Kind: And, Children: kids, Path: path}, nil
}

func negated(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "!") {
		return strings.TrimSpace(s[1:]), true
	}
	return s, false
}

// parseCmp parses ">=18", "<40", "==40", ">.5"; a bare number is "==".
// An error quotes the input as written.
func parseCmp(in string) (Cmp, error) {
	s := strings.TrimSpace(in)
	var c Cmp
	switch {
	case strings.HasPrefix(s, ">="):
		c.Op, s = OpGE, s[2:]
	case strings.HasPrefix(s, "<="):
		c.Op, s = OpLE, s[2:]
	case strings.HasPrefix(s, "=="):
		c.Op, s = OpEQ, s[2:]
	case strings.HasPrefix(s, ">"):
		c.Op, s = OpGT, s[1:]
	case strings.HasPrefix(s, "<"):
		c.Op, s = OpLT, s[1:]
	case strings.HasPrefix(s, "="):
		c.Op, s = OpEQ, s[1:]
	default:
		c.Op = OpEQ
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return c, fmt.Errorf("%w: %q is not a comparison such as \">=18\"", ErrBadValue, in)
	}
	c.Value = v
	return c, nil
}

// Bounds of numeric criteria: a threshold outside them is a mistake in the
// trial document (a percentage of 150, an ECOG of 7), not a criterion no
// patient meets.
type bounds struct {
	lo, hi float64
	what   string
}

var (
	ageBounds     = bounds{0, 130, "an age in years (0-130)"}
	percentBounds = bounds{0, 100, "a percentage (0-100)"}
	cpsBounds     = bounds{0, 100, "a combined positive score (0-100)"}
	ecogBounds    = bounds{0, 5, "an ECOG grade (0-5)"}
	tmbBounds     = bounds{0, math.Inf(1), "a mutation count per megabase (>= 0)"}
	linesBounds   = bounds{0, 100, "a number of therapy lines (0-100)"}
)

// cmpIn is cmp with the threshold checked against b.
func (p *parser) cmpIn(v any, path, field string, b bounds) (*Cmp, error) {
	c, err := p.cmp(v, path, field)
	if err != nil {
		return nil, err
	}
	if c.Value < b.lo || c.Value > b.hi {
		s, _ := scalar(v)
		return nil, p.errf(path, field, "%w: %q is out of range: want %s", ErrBadValue, s, b.what)
	}
	return c, nil
}

func (p *parser) stringSet(v any, path, field string) (*StringSet, error) {
	s, ok := scalar(v)
	if !ok || strings.TrimSpace(s) == "" {
		if l, isList := v.([]any); isList && len(l) > 0 {
			set := &StringSet{}
			for _, x := range l {
				xs, ok := scalar(x)
				if !ok {
					return nil, p.errf(path, field, "%w: list of strings wanted", ErrBadValue)
				}
				set.Values = append(set.Values, strings.TrimSpace(xs))
			}
			return set, nil
		}
		return nil, p.errf(path, field, "%w: want a non-empty string, got %s", ErrBadValue, typeName(v))
	}
	s, neg := negated(s)
	return &StringSet{Values: []string{s}, Negate: neg}, nil
}

func (p *parser) cmp(v any, path, field string) (*Cmp, error) {
	s, ok := scalar(v)
	if !ok {
		return nil, p.errf(path, field, "%w: want a comparison string such as \">=18\", got %s", ErrBadValue, typeName(v))
	}
	c, err := parseCmp(s)
	if err != nil {
		return nil, p.errf(path, field, "%w", err)
	}
	return &c, nil
}

func (p *parser) clinical(m map[string]any, path string) (*Clinical, error) {
	c := &Clinical{}
	var err error
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "oncotree_primary_diagnosis":
			s, ok := scalar(v)
			if !ok || strings.TrimSpace(s) == "" {
				return nil, p.errf(path, k, "%w: want an OncoTree name", ErrBadValue)
			}
			name, neg := negated(s)
			names, ok := p.oncotree[name]
			if !ok {
				return nil, p.errf(path, k, "%w: %q is not an OncoTree name in the mapping", ErrBadValue, name)
			}
			c.DiagnosisName = name
			c.Diagnosis = NewExactSet(names, neg)
		case "age_numerical":
			if c.Age, err = p.cmpIn(v, path, k, ageBounds); err != nil {
				return nil, err
			}
		case "tmb_numerical":
			if c.TMB, err = p.cmpIn(v, path, k, tmbBounds); err != nil {
				return nil, err
			}
		case "gender":
			if c.Gender, err = p.stringSet(v, path, k); err != nil {
				return nil, err
			}
		case "er_status":
			if c.ER, err = p.stringSet(v, path, k); err != nil {
				return nil, err
			}
		case "pr_status":
			if c.PR, err = p.stringSet(v, path, k); err != nil {
				return nil, err
			}
		case "her2_status":
			if c.HER2, err = p.stringSet(v, path, k); err != nil {
				return nil, err
			}
		case "disease_status":
			if c.DiseaseStatus, err = p.stringSet(v, path, k); err != nil {
				return nil, err
			}
		case "prior_lines_numerical":
			if c.PriorLines, err = p.cmpIn(v, path, k, linesBounds); err != nil {
				return nil, err
			}
		// Extensions.
		case "pdl1_tps_numerical", "pdl1_cps_numerical", "pdl1_ic_numerical":
			b := percentBounds
			if k == "pdl1_cps_numerical" {
				b = cpsBounds
			}
			cm, err := p.cmpIn(v, path, k, b)
			if err != nil {
				return nil, err
			}
			if c.PDL1 == nil {
				c.PDL1 = &PDL1{}
			} else if c.PDL1.Scoring != "" {
				return nil, p.errf(path, k, "%w: only one of pdl1_tps_numerical, pdl1_cps_numerical and pdl1_ic_numerical per clause", ErrBadValue)
			}
			c.PDL1.Scoring = strings.ToUpper(strings.TrimSuffix(strings.TrimPrefix(k, "pdl1_"), "_numerical"))
			c.PDL1.Cmp = *cm
		case "pdl1_clone":
			s, ok := scalar(v)
			if !ok || s == "" {
				return nil, p.errf(path, k, "%w: want an antibody clone such as 22C3", ErrBadValue)
			}
			if c.PDL1 == nil {
				c.PDL1 = &PDL1{}
			}
			c.PDL1.Clone = s
		case "ecog":
			s, ok := scalar(v)
			if !ok {
				return nil, p.errf(path, k, "%w: want a range such as \"0-2\" or a comparison such as \"<=1\"", ErrBadValue)
			}
			if lo, hi, isRange := strings.Cut(s, "-"); isRange {
				l, err1 := strconv.Atoi(strings.TrimSpace(lo))
				h, err2 := strconv.Atoi(strings.TrimSpace(hi))
				if err1 != nil || err2 != nil || l < 0 || h > 5 || l > h {
					return nil, p.errf(path, k, "%w: %q is not an ECOG range within 0-5", ErrBadValue, s)
				}
				c.ECOG = &Cmp{Op: OpGE, Value: float64(l)}
				c.ECOGMax = &Cmp{Op: OpLE, Value: float64(h)}
			} else if c.ECOG, err = p.cmpIn(v, path, k, ecogBounds); err != nil {
				return nil, err
			}
		case "region":
			if c.Regions, err = p.stringSet(v, path, k); err != nil {
				return nil, err
			}
		default:
			return nil, p.errf(path, k, "%w in clinical clause", ErrUnknownField)
		}
	}
	if c.PDL1 != nil && c.PDL1.Scoring == "" {
		return nil, p.errf(path, "pdl1_clone", "%w: pdl1_clone needs pdl1_tps_numerical, pdl1_cps_numerical or pdl1_ic_numerical", ErrBadValue)
	}
	return c, nil
}

var mmrMap = map[string]string{
	"mmr-proficient": "Proficient (MMR-P / MSS)",
	"mmr-deficient":  "Deficient (MMR-D / MSI-H)",
	"msi-h":          "Deficient (MMR-D / MSI-H)",
	"msi-l":          "Proficient (MMR-P / MSS)",
	"mss":            "Proficient (MMR-P / MSS)",
}

var signatureFields = map[string]string{
	"apobec_signature":       "APOBEC",
	"pole_signature":         "POLE",
	"tobacco_signature":      "TOBACCO",
	"temozolomide_signature": "TEMOZOLOMIDE",
	"uva_signature":          "UVA",
}

func (p *parser) genomic(m map[string]any, path string) (*Genomic, error) {
	g := &Genomic{}
	str := func(k string, v any) (string, error) {
		s, ok := scalar(v)
		if !ok {
			return "", p.errf(path, k, "%w: want a string, got %s", ErrBadValue, typeName(v))
		}
		s, neg := negated(s)
		if s == "" {
			return "", p.errf(path, k, "%w: empty", ErrBadValue)
		}
		if neg {
			g.Negate = true
		}
		return s, nil
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "display_name":
			// descriptive
		case "hugo_symbol":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			if !strings.EqualFold(s, "none") {
				g.Gene = s
			}
		case "protein_change":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			g.ProteinChange = s
		case "wildcard_protein_change":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(s, "p.") {
				s = "p." + s
			}
			g.WildcardProteinChange = s
		case "variant_classification":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			g.VariantClassification = s
		case "variant_category":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			g.CategoryName = s
			switch strings.ToLower(s) {
			case "mutation":
				g.Categories = []Category{Mutation}
			case "copy number variation", "cnv":
				g.Categories = []Category{CNV}
			case "structural variation", "sv":
				g.Categories = []Category{SV}
			case "any variation":
				g.Categories = []Category{Mutation, CNV}
			case "signature":
				g.Categories = []Category{Signature}
			default:
				return nil, p.errf(path, k, "%w: %q, want Mutation, Copy Number Variation, Structural Variation, Any Variation or Signature", ErrBadValue, s)
			}
		case "cnv_call":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			g.CNVCall = CanonicalCNV(s)
		case "exon":
			n, ok := integer(v)
			if !ok || n < 0 || n > 10000 {
				return nil, p.errf(path, k, "%w: want an exon number, got %v", ErrBadValue, v)
			}
			g.Exon = &n
		case "wildtype":
			b, ok := boolean(v)
			if !ok {
				return nil, p.errf(path, k, "%w: want true or false, got %v", ErrBadValue, v)
			}
			g.Wildtype = &b
		case "fusion_partner_hugo_symbol":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			g.FusionPartner = s
		case "mmr_status", "ms_status":
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			mapped, ok := mmrMap[strings.ToLower(s)]
			if !ok {
				return nil, p.errf(path, k, "%w: %q, want MMR-Proficient, MMR-Deficient, MSI-H, MSI-L or MSS", ErrBadValue, s)
			}
			if g.Signatures == nil {
				g.Signatures = map[string]string{}
			}
			g.Signatures["MMR"] = mapped
		default:
			name, ok := signatureFields[k]
			if !ok {
				return nil, p.errf(path, k, "%w in genomic clause", ErrUnknownField)
			}
			s, err := str(k, v)
			if err != nil {
				return nil, err
			}
			if g.Signatures == nil {
				g.Signatures = map[string]string{}
			}
			g.Signatures[name] = s
		}
	}
	if g.Gene == "" && len(g.Signatures) == 0 && g.FusionPartner == "" {
		return nil, p.errf(path, "hugo_symbol", "%w: a genomic clause needs a gene, a fusion partner or a signature", ErrBadValue)
	}
	return g, nil
}

// scalar renders a JSON/YAML scalar as a string (ids are often numbers).
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func integer(v any) (int, bool) {
	s, ok := scalar(v)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

func boolean(v any) (bool, bool) {
	if b, ok := v.(bool); ok {
		return b, true
	}
	s, ok := scalar(v)
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y":
		return true, true
	case "false", "no", "n":
		return false, true
	}
	return false, false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
