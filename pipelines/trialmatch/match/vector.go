package match

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// The vectorized engine evaluates every clause over a whole batch at once.
// Each distinct criterion (an "atom": one clinical field criterion or one
// genomic leaf) becomes a bitset over the batch's rows, T (known true).
// Under Kleene logic a tree of and/or holds exactly where
//
//	AND: T = T1 & T2      OR: T = T1 | T2
//
// is set (F, known false, only matters under a negation, and negation sits
// inside the atoms: a negated genomic leaf is T = sequenced &^ hit), so
// the hot path computes T only, 64 rows per machine word. Explain and
// Rowwise keep the full three-valued evaluation.
//
// The clauses form one DAG in which identical atoms and subtrees (after
// flattening and sorting and/or children) are a single node, evaluated once
// per batch for every arm using it. The DAG runs a chunk of chunkWords
// words at a time so that the inner nodes' bitsets stay in cache, and the
// chunk's matches are emitted right after, in row-major order.
//
// Atoms are computed through indexes and typed kernels: the diagnosis
// column is looked up once per row in a table (diagnosis name -> atoms it
// satisfies, precomputed from the OncoTree expansion); each finding of the
// batch's variant child table only meets the genomic leaves of its gene (or
// of its category, for structural variants and signatures); numeric
// criteria are comparison loops over the Arrow value buffers; string
// criteria read a per-batch dictionary of the column. Reasons are then
// built, row by row, only for the (row, clause) pairs that hold, by the
// same code as Rowwise, reading leaf truths from the atom bitsets.

type atomKind uint8

const (
	akClinical atomKind = iota // one field of a clinical leaf
	akGenomic
	akAlive // the row may match at all (alive, or WithMatchOnDeceased)
)

type atom struct {
	kind      atomKind
	field     field
	clin      *criteria.Clinical
	gen       *criteria.Genomic
	threshold int32 // age: birth-date threshold
}

type vop uint8

const (
	vAtom vop = iota
	vAnd
	vOr
)

// dnode is a node of the clause DAG: identical subexpressions (the same
// atom, or the same and/or of the same children after flattening) are one
// node, evaluated once per batch and shared by every clause using it.
type dnode struct {
	op   vop
	atom int32
	kids []int32 // sorted, distinct
}

type vplan struct {
	atoms []atom
	// diagTrue maps a diagnosis name to the diagnosis atoms it satisfies;
	// names outside every set satisfy exactly diagNeg (negated sets).
	diagAtoms []int
	diagTrue  map[string][]int32
	diagNeg   []int32
	diagTab   strTab // diagTrue, probed once per row
	// genomic indexes
	byGene  map[string][]int32
	geneTab strTab  // byGene, probed once per finding
	anyGene []int32 // non-SV, non-signature leaves without a gene
	svLeaf  []int32
	sigLeaf []int32
	genAll  []int32
	// leafAtoms maps a leaf to its atoms (the fields of a clinical leaf).
	leafAtoms map[*criteria.Node][]int
	other     []int // clinical atoms other than diagnosis
	alive     int   // the akAlive atom
	// dag holds the clause programs, children before parents;
	// clauseNode[i] is the node of e.clauses[i] (its tree AND alive).
	dag        []dnode
	dagIDs     map[string]int32
	clauseNode []int32
	inner      int // and/or nodes in dag
}

// node interns a DAG node: and/or children are flattened (an AND child of
// an AND is spliced in), sorted and deduplicated, so that the same
// expression written in any order or nesting is one node.
func (p *vplan) node(op vop, atom int32, kids []int32) int32 {
	if op != vAtom {
		var flat []int32
		for _, k := range kids {
			if p.dag[k].op == op {
				flat = append(flat, p.dag[k].kids...)
			} else {
				flat = append(flat, k)
			}
		}
		slices.Sort(flat)
		flat = slices.Compact(flat)
		if len(flat) == 1 {
			return flat[0]
		}
		kids, atom = flat, -1
	}
	key := fmt.Sprint(op, atom, kids)
	if id, ok := p.dagIDs[key]; ok {
		return id
	}
	id := int32(len(p.dag))
	if op != vAtom {
		p.inner++
	}
	p.dag = append(p.dag, dnode{op: op, atom: atom, kids: kids})
	p.dagIDs[key] = id
	return id
}

func genomicKey(g *criteria.Genomic) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v|%q|%v|%q|%q|%q|%q|%q|%q", g.Negate, g.Gene, g.Categories, g.ProteinChange,
		g.WildcardProteinChange, g.VariantClassification, g.CNVCall, g.FusionPartner, g.CategoryName)
	if g.Exon != nil {
		fmt.Fprintf(&b, "|exon=%d", *g.Exon)
	}
	if g.Wildtype != nil {
		fmt.Fprintf(&b, "|wt=%v", *g.Wildtype)
	}
	keys := make([]string, 0, len(g.Signatures))
	for k := range g.Signatures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "|%s=%q", k, g.Signatures[k])
	}
	return b.String()
}

func clinicalKey(c *criteria.Clinical, f field) string {
	set := func(s *criteria.StringSet) string { return fmt.Sprintf("%v%q", s.Negate, s.Values) }
	switch f {
	case fDiagnosis:
		return fmt.Sprintf("dx|%v|%s", c.Diagnosis.Negate, c.DiagnosisName)
	case fAge:
		return "age|" + c.Age.String()
	case fGender:
		return "gender|" + set(c.Gender)
	case fTMB:
		return "tmb|" + c.TMB.String()
	case fER:
		return "er|" + set(c.ER)
	case fPR:
		return "pr|" + set(c.PR)
	case fHER2:
		return "her2|" + set(c.HER2)
	case fDiseaseStatus:
		return "ds|" + set(c.DiseaseStatus)
	case fPriorLines:
		return "lines|" + c.PriorLines.String()
	case fPDL1:
		return fmt.Sprintf("pdl1|%s|%s|%s", c.PDL1.Scoring, c.PDL1.Cmp, c.PDL1.Clone)
	case fECOG:
		s := "ecog|" + c.ECOG.String()
		if c.ECOGMax != nil {
			s += c.ECOGMax.String()
		}
		return s
	case fRegion:
		return "region|" + set(c.Regions)
	}
	return ""
}

func (e *Engine) plan() *vplan {
	e.ageTh = map[float64]int32{}
	p := &vplan{diagTrue: map[string][]int32{}, byGene: map[string][]int32{}, leafAtoms: map[*criteria.Node][]int{},
		dagIDs: map[string]int32{}}
	ids := map[string]int{}
	intern := func(key string, a atom) int {
		if id, ok := ids[key]; ok {
			return id
		}
		id := len(p.atoms)
		ids[key] = id
		p.atoms = append(p.atoms, a)
		return id
	}
	p.alive = intern("alive", atom{kind: akAlive})
	aliveNode := p.node(vAtom, int32(p.alive), nil)
	var compile func(n *criteria.Node) int32
	compile = func(n *criteria.Node) int32 {
		switch n.Kind {
		case criteria.And, criteria.Or:
			op := vAnd
			if n.Kind == criteria.Or {
				op = vOr
			}
			kids := make([]int32, 0, len(n.Children))
			for _, c := range n.Children {
				kids = append(kids, compile(c))
			}
			if len(kids) == 0 { // vacuous: holds wherever the row may match
				return aliveNode
			}
			return p.node(op, -1, kids)
		case criteria.GenomicLeaf:
			id := intern("g|"+genomicKey(n.Genomic), atom{kind: akGenomic, gen: n.Genomic})
			p.leafAtoms[n] = []int{id}
			return p.node(vAtom, int32(id), nil)
		}
		c := n.Clinical
		var kids []int32
		for _, f := range fields(c) {
			a := atom{kind: akClinical, field: f, clin: c}
			if f == fAge {
				a.threshold = ageThreshold(e.today, c.Age.Value)
				e.ageTh[c.Age.Value] = a.threshold
			}
			id := intern(clinicalKey(c, f), a)
			p.leafAtoms[n] = append(p.leafAtoms[n], id)
			kids = append(kids, p.node(vAtom, int32(id), nil))
		}
		if len(kids) == 0 {
			return aliveNode
		}
		return p.node(vAnd, -1, kids)
	}
	p.clauseNode = make([]int32, len(e.clauses))
	for ci, c := range e.clauses {
		p.clauseNode[ci] = p.node(vAnd, -1, []int32{aliveNode, compile(c.root)})
		c.pathAtoms = make([][]int32, len(c.paths))
		for pi, path := range c.paths {
			var ids []int32
			for _, n := range path {
				for _, id := range p.leafAtoms[n] {
					ids = append(ids, int32(id))
				}
			}
			slices.Sort(ids)
			c.pathAtoms[pi] = slices.Compact(ids)
		}
	}
	p.factor()
	names := map[string]bool{}
	for id, a := range p.atoms {
		switch {
		case a.kind == akClinical && a.field == fDiagnosis:
			p.diagAtoms = append(p.diagAtoms, id)
			for _, n := range a.clin.Diagnosis.Values {
				names[n] = true
			}
			if a.clin.Diagnosis.Negate {
				p.diagNeg = append(p.diagNeg, int32(id))
			}
		case a.kind == akAlive:
		case a.kind == akClinical:
			p.other = append(p.other, id)
		default:
			g := a.gen
			p.genAll = append(p.genAll, int32(id))
			if len(g.Signatures) > 0 {
				p.sigLeaf = append(p.sigLeaf, int32(id))
				continue
			}
			if g.HasCategory(criteria.SV) {
				p.svLeaf = append(p.svLeaf, int32(id))
			}
			if len(g.Categories) == 0 || !(len(g.Categories) == 1 && g.Categories[0] == criteria.SV) {
				if g.Gene != "" {
					p.byGene[g.Gene] = append(p.byGene[g.Gene], int32(id))
				} else {
					p.anyGene = append(p.anyGene, int32(id))
				}
			}
		}
	}
	for n := range names {
		p.diagTrue[n] = p.diagMatches(n)
	}
	p.diagTab.build(p.diagTrue)
	p.geneTab.build(p.byGene)
	return p
}

// strTab is a read-only table from a fixed set of strings to their atom
// lists, cheaper than a Go map on the hot path: a string's slot comes from
// its length and its first and last eight bytes (a few loads, one
// multiply), and comparing these words with the slot's decides (they are
// the whole string up to 16 bytes; longer strings compare the rest too).
// Strings sharing a slot go to the next free ones (linear probing); the
// table is at most a quarter full and the multiplier is chosen at build
// time to spread the set's strings, so that a lookup takes one probe
// almost always.
type strTab struct {
	mul   uint64
	shift uint
	slots []strSlot
}

type strSlot struct {
	a, b uint64
	n    int
	s    string
	ids  []int32
	ok   bool
}

// strWords returns the first and last eight bytes of s (fewer bytes, zero
// padded, for a shorter s; up to 16 bytes they determine s with its
// length).
func strWords(s string) (a, b uint64) {
	n := len(s)
	switch {
	case n >= 8:
		a = uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		t := s[n-8:]
		b = uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
	case n >= 4:
		t := s[n-4:]
		a = uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(t[0])<<32 | uint64(t[1])<<40 | uint64(t[2])<<48 | uint64(t[3])<<56
	default:
		for i := 0; i < n; i++ {
			a |= uint64(s[i]) << (8 * uint(i))
		}
	}
	return a, b
}

// strHash mixes a string's words from strWords and its length.
func strHash(a, b uint64, n int) uint64 {
	return a ^ bits.RotateLeft64(b, 29) ^ uint64(n)*0x9e3779b97f4a7c15
}

func (t *strTab) build(m map[string][]int32) {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		a, b := strWords(k)
		keys = append(keys, strHash(a, b, len(k)))
	}
	lg := max(4, bits.Len(uint(len(m)))+2)
	shift := uint(64 - lg)
	seen := map[uint64]bool{}
	// The multiplier with the fewest strings off their first slot.
	bestMul, bestOff := uint64(0), -1
	mul := uint64(0x9e3779b97f4a7c15)
	for try := 0; try < 64 && bestOff != 0; try++ {
		clear(seen)
		off := 0
		for _, k := range keys {
			h := (k * mul) >> shift
			if seen[h] {
				off++
			}
			seen[h] = true
		}
		if bestOff < 0 || off < bestOff {
			bestMul, bestOff = mul, off
		}
		mul = mul*6364136223846793005 + 1442695040888963407 | 1
	}
	*t = strTab{mul: bestMul, shift: shift, slots: make([]strSlot, 1<<lg)}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names) // the same layout on every build
	mask := uint64(len(t.slots) - 1)
	for _, k := range names {
		a, b := strWords(k)
		h := (strHash(a, b, len(k)) * t.mul) >> t.shift
		for t.slots[h].ok {
			h = (h + 1) & mask
		}
		t.slots[h] = strSlot{a: a, b: b, n: len(k), s: k, ids: m[k], ok: true}
	}
}

// get returns the list of s and whether s is in the table.
func (t *strTab) get(s string) ([]int32, bool) {
	a, b := strWords(s)
	mask := uint64(len(t.slots) - 1)
	for h := (strHash(a, b, len(s)) * t.mul) >> t.shift; ; h = (h + 1) & mask {
		sl := &t.slots[h]
		if !sl.ok {
			return nil, false
		}
		if sl.a == a && sl.b == b && sl.n == len(s) && (len(s) <= 16 || sl.s == s) {
			return sl.ids, true
		}
	}
}

// factor shares conjunctions that many AND nodes have in common: the
// pair of kids found together in the most AND nodes becomes an AND node of
// its own, which replaces the pair in each of them, while a pair is shared
// by enough nodes (the clauses of many arms repeat the same few criteria,
// which flattening had spread into each clause's AND). The DAG is then put
// back in children-before-parents order.
func (p *vplan) factor() {
	const minShare, maxPairs = 3, 512
	type pair [2]int32
	count := map[pair]int{}
	for round := 0; round < maxPairs; round++ {
		clear(count)
		for _, d := range p.dag {
			if d.op != vAnd || len(d.kids) < 3 {
				continue
			}
			for i, a := range d.kids {
				for _, b := range d.kids[i+1:] {
					count[pair{min(a, b), max(a, b)}]++
				}
			}
		}
		best, bestN := pair{}, 0
		for k, n := range count {
			if n > bestN || n == bestN && (k[0] < best[0] || k[0] == best[0] && k[1] < best[1]) {
				best, bestN = k, n
			}
		}
		if bestN < minShare {
			break
		}
		key := fmt.Sprint(vAnd, -1, []int32{best[0], best[1]})
		id, ok := p.dagIDs[key]
		if !ok {
			id = int32(len(p.dag))
			p.inner++
			p.dag = append(p.dag, dnode{op: vAnd, atom: -1, kids: []int32{best[0], best[1]}})
			p.dagIDs[key] = id
		}
		for i := range p.dag {
			d := &p.dag[i]
			if d.op != vAnd || len(d.kids) < 3 || !slices.Contains(d.kids, best[0]) || !slices.Contains(d.kids, best[1]) {
				continue
			}
			kids := make([]int32, 0, len(d.kids)-1)
			for _, k := range d.kids {
				if k != best[0] && k != best[1] {
					kids = append(kids, k)
				}
			}
			d.kids = append(kids, id)
		}
	}
	// Children before parents again (new nodes went to the end).
	order := make([]int32, 0, len(p.dag))
	newID := make([]int32, len(p.dag))
	for i := range newID {
		newID[i] = -1
	}
	var visit func(i int32)
	visit = func(i int32) {
		if newID[i] >= 0 {
			return
		}
		for _, k := range p.dag[i].kids {
			visit(k)
		}
		newID[i] = int32(len(order))
		order = append(order, i)
	}
	for i := range p.dag {
		visit(int32(i))
	}
	dag := make([]dnode, len(p.dag))
	for to, from := range order {
		d := p.dag[from]
		kids := make([]int32, len(d.kids))
		for k, c := range d.kids {
			kids[k] = newID[c]
		}
		slices.Sort(kids)
		d.kids = kids
		dag[to] = d
	}
	p.dag = dag
	for ci, n := range p.clauseNode {
		p.clauseNode[ci] = newID[n]
	}
	p.dagIDs = nil // keys no longer match the node ids
}

// diagMatches lists the diagnosis atoms name satisfies (slow path).
func (p *vplan) diagMatches(name string) []int32 {
	var out []int32
	for _, id := range p.diagAtoms {
		if p.atoms[id].clin.Diagnosis.Matches(name) {
			out = append(out, int32(id))
		}
	}
	return out
}

func setBit(b []uint64, i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// String columns that clinical atoms read through a per-batch dictionary.
const (
	sdGender = iota
	sdER
	sdPR
	sdHER2
	sdDisease
	sdRegion
	sdTPSClone
	sdCPSClone
	sdICClone
	numStrDicts
)

// strDict codes one string column of a batch: codes[i] is 0 for a null or
// empty value, else 1 + the index of the value in vals. Atoms over the
// column then judge each distinct value once and read a table per row.
type strDict struct {
	built bool
	codes []uint16
	vals  []string
	m     map[string]uint16
	tab   []bool
}

func (d *strDict) build(col *array.String, n int) {
	d.built = true
	d.codes = slices.Grow(d.codes[:0], n)[:n]
	d.vals = d.vals[:0]
	if d.m == nil {
		d.m = map[string]uint16{}
	}
	clear(d.m)
	last, lastCode := "", uint16(0)
	for i := 0; i < n; i++ {
		if col.IsNull(i) {
			d.codes[i] = 0
			continue
		}
		v := col.Value(i)
		if v == "" {
			d.codes[i] = 0
			continue
		}
		if lastCode != 0 && v == last {
			d.codes[i] = lastCode
			continue
		}
		c, ok := d.m[v]
		if !ok {
			if len(d.vals) >= 1<<16-1 {
				// Too many distinct values for a table: fall back to
				// judging them one by one (code 0xffff, see truthTable).
				c = 1<<16 - 1
			} else {
				v = strings.Clone(v) // the map outlives the record
				d.vals = append(d.vals, v)
				c = uint16(len(d.vals))
				d.m[v] = c
			}
		}
		d.codes[i] = c
		last, lastCode = v, c
	}
}

// truthTable sets tab[code] to whether judge holds for the value of code.
func (d *strDict) truthTable(judge func(string) bool) []bool {
	d.tab = slices.Grow(d.tab[:0], len(d.vals)+1)[:len(d.vals)+1]
	d.tab[0] = false
	for k, v := range d.vals {
		d.tab[k+1] = judge(v)
	}
	return d.tab
}

// chunkWords is how many 64-row words of a batch the clause DAG is
// evaluated over at a time: 2,048 rows, so that the inner nodes' bitsets of
// a chunk stay in cache (the benchmark's 1,000 arms give ~1,300 nodes).
const chunkWords = 32 // at most 32: a node's nonzero words are a uint32 mask

// vstate is the per-batch scratch of the vectorized engine, pooled by the
// engine so that a batch allocates nothing in steady state.
type vstate struct {
	nw    int
	slab  []uint64   // atom bitsets, whole batch
	T     [][]uint64 // per atom: rows the atom is known true for
	inner []uint64   // inner nodes' bitsets, one chunk each
	nodeT [][]uint64 // per DAG node, current chunk (atoms alias T)
	mask  []uint32   // per DAG node: its nonzero words in the chunk (bit k: word k)
	known []uint64
	valid []uint64
	dicts [numStrDicts]strDict
	rep   [1]int32
	tmp   []Hit
	count []int
	hbuf  []Hit // MatchBatch's hits
}

func (e *Engine) getState(n int) *vstate {
	s, _ := e.pool.Get().(*vstate)
	if s == nil {
		s = &vstate{}
	}
	p := e.vec
	nw := (n + 63) / 64
	s.nw = nw
	need := nw * len(p.atoms)
	if cap(s.slab) < need {
		s.slab = make([]uint64, need)
	}
	s.slab = s.slab[:need]
	clear(s.slab)
	s.T = slices.Grow(s.T[:0], len(p.atoms))[:len(p.atoms)]
	for i := range s.T {
		s.T[i] = s.slab[i*nw : (i+1)*nw : (i+1)*nw]
	}
	if in := p.inner * chunkWords; len(s.inner) < in {
		s.inner = make([]uint64, in)
	}
	s.nodeT = slices.Grow(s.nodeT[:0], len(p.dag))[:len(p.dag)]
	s.mask = slices.Grow(s.mask[:0], len(p.dag))[:len(p.dag)]
	s.known = slices.Grow(s.known[:0], nw)[:nw]
	s.valid = slices.Grow(s.valid[:0], nw)[:nw]
	for i := range s.dicts {
		s.dicts[i].built = false
	}
	return s
}

func (e *Engine) putState(s *vstate) {
	if s != nil {
		e.pool.Put(s)
	}
}

// dict returns the dictionary of string column k of the batch.
func (s *vstate) dict(k int, col *array.String, n int) *strDict {
	d := &s.dicts[k]
	if !d.built {
		d.build(col, n)
	}
	return d
}

// MatchBatch matches one record of ProfileSchema against every compiled
// clause. Matches come row by row, clauses in compile order within a row:
// the same matches, in the same order, as Rowwise over the same profiles.
func (e *Engine) MatchBatch(rec arrow.Record) ([]Match, error) {
	b, err := viewBatch(rec)
	if err != nil {
		return nil, err
	}
	hits, st := e.hits(b, nil, true)
	if st == nil {
		return nil, nil
	}
	out := e.materialize(b, hits, st.T)
	st.hbuf = hits[:0]
	e.putState(st)
	return out, nil
}

// Hit says profile Row of a batch satisfies compiled clause Clause.
type Hit struct {
	Row, Clause int32
}

// MatchBatchHits is MatchBatch without building reasons: the (row, clause)
// pairs that match, row by row, clauses in compile order, appended to dst.
// Downstream stages that only need to know whether a match is new (dedup)
// can materialise reasons later with Matches, for the new ones only.
func (e *Engine) MatchBatchHits(rec arrow.Record, dst []Hit) ([]Hit, error) {
	b, err := viewBatch(rec)
	if err != nil {
		return nil, err
	}
	hits, st := e.hits(b, dst, false)
	e.putState(st)
	return hits, nil
}

// Matches builds the matches, with reasons, of hits from MatchBatchHits on
// the same record.
func (e *Engine) Matches(rec arrow.Record, hits []Hit) ([]Match, error) {
	b, err := viewBatch(rec)
	if err != nil {
		return nil, err
	}
	for _, h := range hits {
		if h.Row < 0 || int(h.Row) >= b.n || h.Clause < 0 || int(h.Clause) >= len(e.clauses) {
			return nil, fmt.Errorf("match: hit %+v out of range (%d rows, %d clauses)", h, b.n, len(e.clauses))
		}
	}
	return e.materialize(b, hits, nil), nil
}

// mstate is the scratch of materialize, pooled by the engine.
type mstate struct {
	prof   Profile
	vals   rowValues
	vars   []Variant
	alts   []string
	intern map[altKey]string
}

// materialize builds matches for hits (row-ordered, or at least grouped by
// row, for speed); T, when set, holds the batch's atom bitsets that answer
// leaf truths, else leaves are evaluated on each row.
//
// Allocation: the matches are one slice; reasons go to a few large arena
// slices sized from the reasons per match so far; the identifying strings
// are copied once per row (or, when most rows of the batch match, once per
// column); alteration texts are rendered once per batch.
func (e *Engine) materialize(b *batch, hits []Hit, T [][]uint64) []Match {
	if len(hits) == 0 {
		return nil
	}
	ms, _ := e.mpool.Get().(*mstate)
	if ms == nil {
		ms = &mstate{intern: map[altKey]string{}}
	}
	defer func() {
		clear(ms.intern) // keys point into the record
		clear(ms.vars)
		clear(ms.alts)
		ms.prof = Profile{}
		e.mpool.Put(ms)
	}()
	rows := 0
	last := int32(-1)
	for _, h := range hits {
		if h.Row != last {
			rows, last = rows+1, h.Row
		}
	}
	ids := newIDCopier(b, 4*rows >= b.n)
	out := make([]Match, len(hits))
	var arena []Reason
	reasons, most := 0, 1
	r := rowCtx{p: &ms.prof, T: T, intern: ms.intern}
	last = -1
	for k, h := range hits {
		if h.Row != last {
			last = h.Row
			row := int(h.Row)
			ms.vars = b.rowView(row, &ms.prof, &ms.vals, ms.vars[:0], T == nil)
			ms.prof.Tenant, ms.prof.PatientID, ms.prof.SampleID = ids.row(row)
			ms.alts = slices.Grow(ms.alts[:0], len(ms.vars))[:len(ms.vars)]
			clear(ms.alts)
			r.row, r.alts = row, ms.alts
		}
		if cap(arena)-len(arena) < most {
			// A new arena slice for about the remaining matches' reasons,
			// with room for the most reasons a match has had.
			left := len(hits) - k
			per := 1.0
			if k > 0 {
				per = float64(reasons) / float64(k)
			}
			arena = make([]Reason, 0, int(float64(left)*per*1.03)+16+most)
		}
		c := e.clauses[h.Clause]
		start := len(arena)
		// Reasons are appended in place; should a match have more than
		// room is left, append moves the arena: earlier matches keep the
		// old array, which stays valid.
		arena = e.reasons(arena, c, &r)
		n := len(arena) - start
		reasons += n
		most = max(most, n)
		e.fillMatch(&out[k], c, &ms.prof, arena[start:len(arena):len(arena)])
	}
	return out
}

// idCopier gives the identifying strings of batch rows as strings owned by
// the heap (matches outlive the record): with whole, each column's values
// are copied once and sliced per row; else each row's three strings are
// one copy.
type idCopier struct {
	b     *batch
	whole bool
	cols  [3]struct {
		data string
		offs []int32
		col  *array.String
	}
}

func newIDCopier(b *batch, whole bool) *idCopier {
	c := &idCopier{b: b, whole: whole}
	if whole {
		for k, col := range [3]*array.String{b.tenant, b.patient, b.sample} {
			c.cols[k].data, c.cols[k].offs, c.cols[k].col = string(col.ValueBytes()), col.ValueOffsets(), col
		}
	}
	return c
}

func (c *idCopier) row(i int) (tenant, patient, sample string) {
	if !c.whole {
		t, p, s := c.b.tenant.Value(i), c.b.patient.Value(i), optStr(c.b.sample, i)
		if len(t)+len(p)+len(s) == 0 {
			return "", "", ""
		}
		all := t + p + s
		return all[:len(t)], all[len(t) : len(t)+len(p)], all[len(t)+len(p):]
	}
	var v [3]string
	for k := range c.cols {
		cc := &c.cols[k]
		if k == 2 && cc.col.IsNull(i) {
			continue
		}
		base := cc.offs[0]
		v[k] = cc.data[cc.offs[i]-base : cc.offs[i+1]-base]
	}
	return v[0], v[1], v[2]
}

// hits evaluates every clause over the batch and returns the matching
// (row, clause) pairs in row-major order, with the batch state holding the
// atoms' T bitsets (the caller returns it with putState).
//
// With scratch (and dst nil) the hits go to the state's own buffer.
func (e *Engine) hits(b *batch, dst []Hit, scratch bool) ([]Hit, *vstate) {
	n := b.n
	if n == 0 {
		return dst, nil
	}
	p := e.vec
	st := e.getState(n)
	if scratch && dst == nil {
		dst = st.hbuf[:0]
	}
	T := st.T
	known := st.known

	// Rows that may match at all: the alive pseudo-atom.
	alive := T[p.alive]
	if e.onDeceased {
		for w := range alive {
			alive[w] = ^uint64(0)
		}
		if r := n % 64; r != 0 {
			alive[len(alive)-1] = 1<<uint(r) - 1
		}
	} else {
		boolWords(b.deceased, n, alive, true)
	}

	// Diagnosis atoms through the name index.
	if len(p.diagAtoms) > 0 {
		var miss map[string][]int32
		var last string
		var lastList []int32
		have := false
		for i := 0; i < n; i++ {
			if b.diag.IsNull(i) || b.diag.ValueLen(i) == 0 {
				continue
			}
			name := b.diag.Value(i)
			if !have || name != last {
				list, ok := p.diagTab.get(name)
				if !ok {
					if list, ok = miss[name]; !ok {
						list = p.diagMatches(name)
						if miss == nil {
							miss = map[string][]int32{}
						}
						miss[strings.Clone(name)] = list
					}
				}
				last, lastList, have = name, list, true
			}
			for _, id := range lastList {
				setBit(T[id], i)
			}
		}
	}

	// Other clinical atoms: one typed pass over the column each.
	for _, id := range p.other {
		e.clinicalAtom(&p.atoms[id], b, st, T[id])
	}

	// Genomic atoms through the gene / category index over the variant child table.
	if len(p.genAll) > 0 {
		boolWords(b.sequenced, n, known, false)
		for i := 0; i < n; i++ {
			lo, hi := int(b.offsets[i]), int(b.offsets[i+1])
			if lo == hi {
				continue
			}
			var report *int32
			reportRead := false
			for j := lo; j < hi; j++ {
				var c1, c2 []int32
				cat := b.vCat.Value(j)
				switch cat {
				case string(criteria.SV):
					c1 = p.svLeaf
				case string(criteria.Signature):
					c1 = p.sigLeaf
				default:
					if !b.vHugo.IsNull(j) {
						c1, _ = p.geneTab.get(b.vHugo.Value(j))
					}
					c2 = p.anyGene
				}
				if len(c1) == 0 && len(c2) == 0 {
					continue
				}
				if !reportRead {
					reportRead = true
					if b.report.IsValid(i) {
						st.rep[0] = int32(b.report.Value(i))
						report = &st.rep[0]
					}
				}
				v := b.variantView(j, cat)
				for _, id := range c1 {
					if e.variantMatches(p.atoms[id].gen, &v, report) {
						setBit(T[id], i) // hit
					}
				}
				for _, id := range c2 {
					if e.variantMatches(p.atoms[id].gen, &v, report) {
						setBit(T[id], i) // hit
					}
				}
			}
		}
		for _, id := range p.genAll {
			if p.atoms[id].gen.Negate {
				hit := T[id]
				for w := range hit {
					hit[w] = known[w] &^ hit[w]
				}
			}
		}
	}

	// Clause DAG, children before parents, a chunk of rows at a time; T
	// only (no negation above the atoms, so a clause holds exactly where
	// its T bit is set). Matches of a chunk are emitted row-major: collected
	// clause by clause (contiguous reads), then counting-sorted by row
	// (stable, so clauses stay in compile order within a row).
	nw := st.nw
	tmp := st.tmp[:0]
	if len(st.count) < chunkWords*64+1 {
		st.count = make([]int, chunkWords*64+1)
	}
	count := st.count[:chunkWords*64+1]
	for c0 := 0; c0 < nw; c0 += chunkWords {
		c1 := min(c0+chunkWords, nw)
		cw := c1 - c0
		inner := 0
		for i := range p.dag {
			d := &p.dag[i]
			var t []uint64
			if d.op == vAtom {
				t = T[d.atom][c0:c1:c1]
			} else {
				t = st.inner[inner*chunkWords : inner*chunkWords+cw : inner*chunkWords+cw]
				inner++
			}
			st.nodeT[i] = t
			// Only the words in a node's mask are read: the other words
			// of an inner node's bitset are zero but not written.
			var m uint32
			switch d.op {
			case vAtom:
				for w, x := range t {
					m |= uint32(nonzero(x)) << uint(w)
				}
			case vAnd:
				m = andWords(d.kids, st, t)
			case vOr:
				for _, k := range d.kids {
					m |= st.mask[k]
				}
				for mm := m; mm != 0; mm &= mm - 1 {
					t[bits.TrailingZeros32(mm)] = 0
				}
				for _, k := range d.kids {
					kt := st.nodeT[k]
					for mm := st.mask[k]; mm != 0; mm &= mm - 1 {
						w := bits.TrailingZeros32(mm)
						t[w] |= kt[w]
					}
				}
			}
			st.mask[i] = m
		}
		tmp = tmp[:0]
		for ci, node := range p.clauseNode {
			t := st.nodeT[node]
			for m := st.mask[node]; m != 0; m &= m - 1 {
				k := bits.TrailingZeros32(m)
				x := t[k]
				base := int32((c0 + k) * 64)
				for ; x != 0; x &= x - 1 {
					tmp = append(tmp, Hit{base + int32(bits.TrailingZeros64(x)), int32(ci)})
				}
			}
		}
		if len(tmp) == 0 {
			continue
		}
		clear(count)
		base := int32(c0 * 64)
		for _, h := range tmp {
			count[h.Row-base+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		start := len(dst)
		dst = slices.Grow(dst, len(tmp))[:start+len(tmp)]
		out := dst[start:]
		for _, h := range tmp {
			k := h.Row - base
			out[count[k]] = h
			count[k]++
		}
	}
	st.tmp = tmp
	return dst, st
}

// andWords ANDs the kids' bitsets of the chunk into t, over the words
// nonzero in every kid (the AND of their masks), and returns the mask of
// the nonzero words of t.
func andWords(kids []int32, st *vstate, t []uint64) uint32 {
	m := ^uint32(0)
	for _, k := range kids {
		m &= st.mask[k]
	}
	if m == 0 {
		return 0
	}
	// Branch-free within a word (zero tests would mispredict).
	n := len(t)
	k0 := st.nodeT[kids[0]][:n]
	k1 := st.nodeT[kids[1]][:n]
	rest := kids[2:]
	res := m
	switch len(rest) {
	case 0:
		for ; m != 0; m &= m - 1 {
			w := bits.TrailingZeros32(m)
			x := k0[w] & k1[w]
			t[w] = x
			res &^= uint32(1-nonzero(x)) << uint(w)
		}
	case 1:
		k2 := st.nodeT[rest[0]][:n]
		for ; m != 0; m &= m - 1 {
			w := bits.TrailingZeros32(m)
			x := k0[w] & k1[w] & k2[w]
			t[w] = x
			res &^= uint32(1-nonzero(x)) << uint(w)
		}
	case 2:
		k2, k3 := st.nodeT[rest[0]][:n], st.nodeT[rest[1]][:n]
		for ; m != 0; m &= m - 1 {
			w := bits.TrailingZeros32(m)
			x := k0[w] & k1[w] & k2[w] & k3[w]
			t[w] = x
			res &^= uint32(1-nonzero(x)) << uint(w)
		}
	default:
		for ; m != 0; m &= m - 1 {
			w := bits.TrailingZeros32(m)
			x := k0[w] & k1[w]
			for _, k := range rest {
				x &= st.nodeT[k][w]
			}
			t[w] = x
			res &^= uint32(1-nonzero(x)) << uint(w)
		}
	}
	return res
}

// b2u is 1 for true, else 0 (compiled without a branch).
func b2u(b bool) uint64 {
	var u uint64
	if b {
		u = 1
	}
	return u
}

// nonzero is 1 if x != 0, else 0, without a branch.
func nonzero(x uint64) int { return int((x | -x) >> 63) }

// boolWords fills dst with the values of arr (their complement with not)
// as 64-row words, zero beyond n; like Value, it reads a null row's value
// bit.
func boolWords(arr *array.Boolean, n int, dst []uint64, not bool) {
	clear(dst)
	bm, off := arr.Data().Buffers()[1].Bytes(), arr.Data().Offset()
	if off%8 != 0 || len(bm) < (off+n+7)/8 {
		for i := 0; i < n; i++ {
			if arr.Value(i) != not {
				setBit(dst, i)
			}
		}
		return
	}
	bm = bm[off/8 : (off+n+7)/8]
	for k, x := range bm { // LSB first: byte k holds rows 8k..8k+7
		dst[k>>3] |= uint64(x) << (8 * uint(k&7))
	}
	if not {
		for w := range dst {
			dst[w] = ^dst[w]
		}
	}
	if r := n % 64; r != 0 {
		dst[len(dst)-1] &= 1<<uint(r) - 1
	}
}

// validWords fills dst with arr's validity as 64-row words (bit i%64 of
// word i/64 is row i), zero beyond n.
func validWords(arr arrow.Array, n int, dst []uint64) {
	clear(dst)
	if arr.NullN() == 0 {
		for w := range dst {
			dst[w] = ^uint64(0)
		}
		if r := n % 64; r != 0 {
			dst[len(dst)-1] = 1<<uint(r) - 1
		}
		return
	}
	bm, off := arr.NullBitmapBytes(), arr.Data().Offset()
	if off%8 != 0 || len(bm) < (off+n+7)/8 {
		for i := 0; i < n; i++ {
			if arr.IsValid(i) {
				setBit(dst, i)
			}
		}
		return
	}
	bm = bm[off/8 : (off+n+7)/8]
	for k, x := range bm { // Arrow bitmaps are LSB first: byte k holds rows 8k..8k+7
		dst[k>>3] |= uint64(x) << (8 * uint(k&7))
	}
	if r := n % 64; r != 0 {
		dst[len(dst)-1] &= 1<<uint(r) - 1
	}
}

// cmpWords sets t (or, with and, narrows it) to the valid rows whose value
// compares to x by op: a typed kernel, 64 rows per word, the operator
// chosen once per word.
func cmpWords[V ~int32 | ~float64](vals []V, valid []uint64, op criteria.Op, x float64, t []uint64, and bool) {
	n := len(vals)
	for w := range t {
		base := w * 64
		vs := vals[base:min(base+64, n)]
		var m uint64
		switch op {
		case criteria.OpGE:
			for k, v := range vs {
				m |= b2u(float64(v) >= x) << uint(k)
			}
		case criteria.OpGT:
			for k, v := range vs {
				m |= b2u(float64(v) > x) << uint(k)
			}
		case criteria.OpLE:
			for k, v := range vs {
				m |= b2u(float64(v) <= x) << uint(k)
			}
		case criteria.OpLT:
			for k, v := range vs {
				m |= b2u(float64(v) < x) << uint(k)
			}
		case criteria.OpEQ:
			for k, v := range vs {
				m |= b2u(float64(v) == x) << uint(k)
			}
		}
		m &= valid[w]
		if and {
			t[w] &= m
		} else {
			t[w] = m
		}
	}
}

// tableWords sets t to the rows whose dictionary code is true in tab.
func tableWords(codes []uint16, tab []bool, t []uint64) {
	n := len(codes)
	for w := range t {
		base := w * 64
		var m uint64
		for k, c := range codes[base:min(base+64, n)] {
			if c == 1<<16-1 { // overflowed dictionary: judged by the caller
				continue
			}
			m |= b2u(tab[c]) << uint(k)
		}
		t[w] = m
	}
}

// birthOp turns an age criterion's operator into the comparison of the
// birth date with its threshold (older means an earlier birth date).
func birthOp(op criteria.Op) criteria.Op {
	switch op {
	case criteria.OpGE:
		return criteria.OpLE
	case criteria.OpGT:
		return criteria.OpLT
	case criteria.OpLE:
		return criteria.OpGE
	case criteria.OpLT:
		return criteria.OpGT
	}
	return op
}

// clinicalAtom fills T of one non-diagnosis clinical atom.
func (e *Engine) clinicalAtom(a *atom, b *batch, st *vstate, t []uint64) {
	c := a.clin
	n := b.n
	valid := st.valid
	strs := func(k int, col *array.String, judge func(string) bool) {
		d := st.dict(k, col, n)
		tableWords(d.codes, d.truthTable(judge), t)
		if len(d.vals) >= 1<<16-1 { // overflowed dictionary: judge those rows directly
			for i, code := range d.codes {
				if code == 1<<16-1 && judge(col.Value(i)) {
					setBit(t, i)
				}
			}
		}
	}
	set := func(s *criteria.StringSet) func(string) bool {
		return func(v string) bool { return strField(s, v) == True }
	}
	switch a.field {
	case fAge:
		validWords(b.birth, n, valid)
		cmpWords(b.birth.Date32Values(), valid, birthOp(c.Age.Op), float64(a.threshold), t, false)
	case fGender:
		strs(sdGender, b.gender, set(c.Gender))
	case fTMB:
		validWords(b.tmb, n, valid)
		cmpWords(b.tmb.Float64Values(), valid, c.TMB.Op, c.TMB.Value, t, false)
	case fER:
		strs(sdER, b.er, set(c.ER))
	case fPR:
		strs(sdPR, b.pr, set(c.PR))
	case fHER2:
		strs(sdHER2, b.her2, set(c.HER2))
	case fDiseaseStatus:
		strs(sdDisease, b.disease, set(c.DiseaseStatus))
	case fPriorLines:
		validWords(b.lines, n, valid)
		cmpWords(b.lines.Int32Values(), valid, c.PriorLines.Op, c.PriorLines.Value, t, false)
	case fPDL1:
		col, clone, sd := b.tps, b.tpsClone, sdTPSClone
		switch c.PDL1.Scoring {
		case "CPS":
			col, clone, sd = b.cps, b.cpsClone, sdCPSClone
		case "IC":
			col, clone, sd = b.ic, b.icClone, sdICClone
		}
		validWords(col, n, valid)
		cmpWords(col.Float64Values(), valid, c.PDL1.Cmp.Op, c.PDL1.Cmp.Value, t, false)
		if c.PDL1.Clone == "" {
			return
		}
		// A required clone: rows tested with another antibody (or none
		// recorded) are unknown.
		d := st.dict(sd, clone, n)
		tab := d.truthTable(func(v string) bool { return strings.EqualFold(c.PDL1.Clone, v) })
		for w, x := range t {
			for ; x != 0; x &= x - 1 {
				i := w*64 + bits.TrailingZeros64(x)
				code := d.codes[i]
				ok := code != 0 && (code == 1<<16-1 && strings.EqualFold(c.PDL1.Clone, clone.Value(i)) || code != 1<<16-1 && tab[code])
				if !ok {
					t[w] &^= 1 << uint(i&63)
				}
			}
		}
	case fECOG:
		validWords(b.ecog, n, valid)
		cmpWords(b.ecog.Int32Values(), valid, c.ECOG.Op, c.ECOG.Value, t, false)
		if c.ECOGMax != nil {
			cmpWords(b.ecog.Int32Values(), valid, c.ECOGMax.Op, c.ECOGMax.Value, t, true)
		}
	case fRegion:
		strs(sdRegion, b.region, func(v string) bool { return regionMatches(c.Regions, v) == True })
	}
}
