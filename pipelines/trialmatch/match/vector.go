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
// genomic leaf) becomes two bitsets over the batch's rows, T (known true)
// and F (known false); rows in neither are unknown. Clause trees are then
// Kleene and/or over 64 rows per machine word:
//
//	AND: T = T1 & T2, F = F1 | F2      OR: T = T1 | T2, F = F1 & F2
//
// Atoms are computed through indexes: the diagnosis column is looked up once
// per row in a table (diagnosis name -> atoms it satisfies, precomputed from
// the OncoTree expansion), and each finding of the batch's variant child
// table only meets the genomic leaves of its gene (or of its category, for
// structural variants and signatures). Reasons are then built, row by row,
// only for the rows a clause holds for, by the same code as Rowwise.

type atomKind uint8

const (
	akClinical atomKind = iota // one field of a clinical leaf
	akGenomic
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

type vnode struct {
	op   vop
	atom int
	kids []*vnode
}

type vplan struct {
	atoms []atom
	// diagTrue maps a diagnosis name to the diagnosis atoms it satisfies;
	// names outside every set satisfy exactly diagNeg (negated sets).
	diagAtoms []int
	diagTrue  map[string][]int32
	diagNeg   []int32
	// genomic indexes
	byGene  map[string][]int32
	anyGene []int32 // non-SV, non-signature leaves without a gene
	svLeaf  []int32
	sigLeaf []int32
	genAll  []int32
	// leafAtoms maps a leaf to its atoms (the fields of a clinical leaf).
	leafAtoms map[*criteria.Node][]int
	other     []int // clinical atoms other than diagnosis
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
	p := &vplan{diagTrue: map[string][]int32{}, byGene: map[string][]int32{}, leafAtoms: map[*criteria.Node][]int{}}
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
	var compile func(n *criteria.Node) *vnode
	compile = func(n *criteria.Node) *vnode {
		switch n.Kind {
		case criteria.And, criteria.Or:
			v := &vnode{op: vAnd}
			if n.Kind == criteria.Or {
				v.op = vOr
			}
			for _, c := range n.Children {
				v.kids = append(v.kids, compile(c))
			}
			return v
		case criteria.GenomicLeaf:
			id := intern("g|"+genomicKey(n.Genomic), atom{kind: akGenomic, gen: n.Genomic})
			p.leafAtoms[n] = []int{id}
			return &vnode{op: vAtom, atom: id}
		}
		c := n.Clinical
		v := &vnode{op: vAnd}
		for _, f := range fields(c) {
			a := atom{kind: akClinical, field: f, clin: c}
			if f == fAge {
				a.threshold = ageThreshold(e.today, c.Age.Value)
				e.ageTh[c.Age.Value] = a.threshold
			}
			id := intern(clinicalKey(c, f), a)
			p.leafAtoms[n] = append(p.leafAtoms[n], id)
			v.kids = append(v.kids, &vnode{op: vAtom, atom: id})
		}
		if len(v.kids) == 1 {
			return v.kids[0]
		}
		return v
	}
	for _, c := range e.clauses {
		c.prog = compile(c.root)
		c.pathAtoms = make([][][]int, len(c.paths))
		for pi, path := range c.paths {
			c.pathAtoms[pi] = make([][]int, len(path))
			for li, n := range path {
				c.pathAtoms[pi][li] = p.leafAtoms[n]
			}
		}
	}
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
	return p
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

// scratch hands out word slices of one length.
type scratch struct {
	nw   int
	free [][]uint64
}

func (s *scratch) get() []uint64 {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b
	}
	return make([]uint64, s.nw)
}

func (s *scratch) put(b ...[]uint64) { s.free = append(s.free, b...) }

// MatchBatch matches one record of ProfileSchema against every compiled
// clause. Matches come row by row, clauses in compile order within a row:
// the same matches, in the same order, as Rowwise over the same profiles.
func (e *Engine) MatchBatch(rec arrow.Record) ([]Match, error) {
	b, err := viewBatch(rec)
	if err != nil {
		return nil, err
	}
	hits, T := e.hits(b, nil)
	return e.materialize(b, hits, &batchLeaves{T: T}), nil
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
	hits, _ := e.hits(b, dst)
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

// materialize builds matches for row-ordered hits; lt, when set, answers
// leaf truths from the batch's bitsets.
func (e *Engine) materialize(b *batch, hits []Hit, lt *batchLeaves) []Match {
	if len(hits) == 0 {
		return nil
	}
	out := make([]Match, 0, len(hits))
	arena := make([]Reason, 0, 2*len(hits))
	last := int32(-1)
	var prof Profile
	var leaves leafTruther
	if lt != nil {
		leaves = lt
	}
	for _, h := range hits {
		if h.Row != last {
			prof, last = b.profile(int(h.Row)), h.Row
			if lt != nil {
				lt.alts = slices.Grow(lt.alts[:0], len(prof.Variants))[:len(prof.Variants)]
				clear(lt.alts)
			}
			// Matches outlive the record: own the identifying strings.
			prof.Tenant, prof.PatientID, prof.SampleID = strings.Clone(prof.Tenant), strings.Clone(prof.PatientID), strings.Clone(prof.SampleID)
		}
		if lt != nil {
			lt.row = int(h.Row)
		}
		out = append(out, e.newMatch(e.clauses[h.Clause], &prof, &arena, leaves))
	}
	return out
}

// hits evaluates every clause over the batch and returns the matching
// (row, clause) pairs in row-major order, with the atoms' T bitsets.
func (e *Engine) hits(b *batch, dst []Hit) ([]Hit, [][]uint64) {
	n := b.n
	if n == 0 {
		return dst, nil
	}
	p := e.vec
	nw := (n + 63) / 64
	slab := make([]uint64, 2*nw*len(p.atoms))
	T := make([][]uint64, len(p.atoms))
	F := make([][]uint64, len(p.atoms))
	for i := range p.atoms {
		T[i] = slab[2*i*nw : (2*i+1)*nw]
		F[i] = slab[(2*i+1)*nw : (2*i+2)*nw]
	}
	known := make([]uint64, nw)

	// Diagnosis atoms through the name index.
	if len(p.diagAtoms) > 0 {
		var miss map[string][]int32
		for i := 0; i < n; i++ {
			if b.diag.IsNull(i) || b.diag.ValueLen(i) == 0 {
				continue
			}
			setBit(known, i)
			name := b.diag.Value(i)
			list, ok := p.diagTrue[name]
			if !ok {
				if list, ok = miss[name]; !ok {
					list = p.diagMatches(name)
					if miss == nil {
						miss = map[string][]int32{}
					}
					miss[strings.Clone(name)] = list
				}
			}
			for _, id := range list {
				setBit(T[id], i)
			}
		}
		for _, id := range p.diagAtoms {
			t, f := T[id], F[id]
			for w := range f {
				f[w] = known[w] &^ t[w]
			}
		}
	}

	// Other clinical atoms: one pass over the column each.
	for _, id := range p.other {
		e.clinicalAtom(&p.atoms[id], b, T[id], F[id])
	}

	// Genomic atoms through the gene / category index over the variant child table.
	if len(p.genAll) > 0 {
		clear(known)
		for i := 0; i < n; i++ {
			if b.sequenced.Value(i) {
				setBit(known, i)
			}
		}
		var cand []int32
		for i := 0; i < n; i++ {
			lo, hi := int(b.offsets[i]), int(b.offsets[i+1])
			if lo == hi {
				continue
			}
			var report *int32
			reportRead := false
			for j := lo; j < hi; j++ {
				cat := b.vCat.Value(j)
				cand = cand[:0]
				switch cat {
				case string(criteria.SV):
					cand = append(cand, p.svLeaf...)
				case string(criteria.Signature):
					cand = append(cand, p.sigLeaf...)
				default:
					if !b.vHugo.IsNull(j) {
						cand = append(cand, p.byGene[b.vHugo.Value(j)]...)
					}
					cand = append(cand, p.anyGene...)
				}
				if len(cand) == 0 {
					continue
				}
				if !reportRead {
					report, reportRead = optDate(b.report, i), true
				}
				v := b.variant(j)
				for _, id := range cand {
					if e.variantMatches(p.atoms[id].gen, &v, report) {
						setBit(T[id], i) // hit
					}
				}
			}
		}
		for _, id := range p.genAll {
			hit, f := T[id], F[id]
			if p.atoms[id].gen.Negate {
				for w := range f {
					f[w] = hit[w]
					hit[w] = known[w] &^ hit[w]
				}
			} else {
				for w := range f {
					f[w] = known[w] &^ hit[w]
				}
			}
		}
	}

	// Rows that may match at all.
	alive := make([]uint64, nw)
	for i := 0; i < n; i++ {
		if e.onDeceased || !b.deceased.Value(i) {
			setBit(alive, i)
		}
	}

	// Clause programs.
	sc := &scratch{nw: nw}
	var active []int32 // clauses that hold for some row
	var res [][]uint64
	for ci, c := range e.clauses {
		t, f, owned := evalV(c.prog, T, F, sc)
		r := sc.get()
		anyBit := uint64(0)
		for w := range r {
			r[w] = t[w] & alive[w]
			anyBit |= r[w]
		}
		if owned {
			sc.put(t, f)
		}
		if anyBit != 0 {
			active = append(active, int32(ci))
			res = append(res, r)
		} else {
			sc.put(r)
		}
	}
	// Emit row-major: per block of 4096 rows, collect the pairs clause by
	// clause (contiguous reads), then counting-sort them by row (stable, so
	// clauses stay in compile order within a row).
	const blockWords = 64
	var tmp []Hit
	count := make([]int, blockWords*64+1)
	for w0 := 0; w0 < nw; w0 += blockWords {
		w1 := min(w0+blockWords, nw)
		tmp = tmp[:0]
		for k, r := range res {
			ci := active[k]
			for w := w0; w < w1; w++ {
				for x := r[w]; x != 0; x &= x - 1 {
					tmp = append(tmp, Hit{int32(w*64 + bits.TrailingZeros64(x)), ci})
				}
			}
		}
		if len(tmp) == 0 {
			continue
		}
		clear(count)
		base := int32(w0 * 64)
		for _, h := range tmp {
			count[h.Row-base+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		start := len(dst)
		dst = slices.Grow(dst, len(tmp))[:start+len(tmp)]
		for _, h := range tmp {
			k := h.Row - base
			dst[start+count[k]] = h
			count[k]++
		}
	}
	return dst, T
}

// batchLeaves answers leaf truths from the atom bitsets of one batch row.
type batchLeaves struct {
	T    [][]uint64
	row  int
	alts []string // per-variant alteration texts of the row
}

func (l *batchLeaves) alterations() []string { return l.alts }

func (l *batchLeaves) leafTruth(c *clause, pi, li int) Truth {
	w, bit := l.row>>6, uint64(1)<<(uint(l.row)&63)
	for _, id := range c.pathAtoms[pi][li] {
		if l.T[id][w]&bit == 0 {
			return False // not known true; only truth matters for reasons
		}
	}
	return True
}

var _ leafTruther = (*batchLeaves)(nil)

// evalV evaluates a clause program; owned says the result buffers came
// from sc and may be returned to it.
func evalV(n *vnode, T, F [][]uint64, sc *scratch) (t, f []uint64, owned bool) {
	if n.op == vAtom {
		return T[n.atom], F[n.atom], false
	}
	t, f = sc.get(), sc.get()
	kt, kf, ko := evalV(n.kids[0], T, F, sc)
	copy(t, kt)
	copy(f, kf)
	if ko {
		sc.put(kt, kf)
	}
	for _, k := range n.kids[1:] {
		kt, kf, ko := evalV(k, T, F, sc)
		if n.op == vAnd {
			for w := range t {
				t[w] &= kt[w]
				f[w] |= kf[w]
			}
		} else {
			for w := range t {
				t[w] |= kt[w]
				f[w] &= kf[w]
			}
		}
		if ko {
			sc.put(kt, kf)
		}
	}
	return t, f, true
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

// predAtom sets T and F of a criterion over one fixed-width column: 64 rows
// are combined per word, nulls (unknown) masked out.
func predAtom[V any](vals []V, valid []uint64, n int, pred func(V) bool, t, f []uint64) {
	for w := range t {
		base := w * 64
		end := min(base+64, n)
		var bits uint64
		for i := base; i < end; i++ {
			if pred(vals[i]) {
				bits |= 1 << uint(i-base)
			}
		}
		t[w] = bits & valid[w]
		f[w] = ^bits & valid[w]
	}
}

// strAtom is predAtom over a string column; runs of equal values reuse the
// previous answer.
func strAtom(col *array.String, valid []uint64, n int, s *criteria.StringSet, t, f []uint64) {
	var last string
	var lastV Truth
	have := false
	for i := 0; i < n; i++ {
		if valid[i>>6]&(1<<(uint(i)&63)) == 0 {
			continue
		}
		v := col.Value(i)
		if !have || v != last {
			last, lastV, have = v, strField(s, v), true
		}
		switch lastV {
		case True:
			setBit(t, i)
		case False:
			setBit(f, i)
		}
	}
}

// clinicalAtom fills T and F of one non-diagnosis clinical atom.
func (e *Engine) clinicalAtom(a *atom, b *batch, t, f []uint64) {
	c := a.clin
	n := b.n
	valid := make([]uint64, len(t))
	strs := func(col *array.String, s *criteria.StringSet) {
		validWords(col, n, valid)
		strAtom(col, valid, n, s, t, f)
	}
	switch a.field {
	case fAge:
		validWords(b.birth, n, valid)
		op, th := c.Age.Op, a.threshold
		predAtom(b.birth.Date32Values(), valid, n, func(d arrow.Date32) bool { return birthHolds(op, int32(d), th) }, t, f)
	case fGender:
		strs(b.gender, c.Gender)
	case fTMB:
		validWords(b.tmb, n, valid)
		predAtom(b.tmb.Float64Values(), valid, n, c.TMB.Holds, t, f)
	case fER:
		strs(b.er, c.ER)
	case fPR:
		strs(b.pr, c.PR)
	case fHER2:
		strs(b.her2, c.HER2)
	case fDiseaseStatus:
		strs(b.disease, c.DiseaseStatus)
	case fPriorLines:
		validWords(b.lines, n, valid)
		predAtom(b.lines.Int32Values(), valid, n, func(v int32) bool { return c.PriorLines.Holds(float64(v)) }, t, f)
	case fPDL1:
		for i := 0; i < n; i++ {
			switch pdl1Holds(c.PDL1, optF64(b.tps, i), optF64(b.cps, i), optStr(b.clone, i)) {
			case True:
				setBit(t, i)
			case False:
				setBit(f, i)
			}
		}
	case fECOG:
		validWords(b.ecog, n, valid)
		predAtom(b.ecog.Int32Values(), valid, n, func(v int32) bool { return ecogHolds(c, v) }, t, f)
	case fRegion:
		validWords(b.region, n, valid)
		for i := 0; i < n; i++ {
			if valid[i>>6]&(1<<(uint(i)&63)) == 0 {
				continue
			}
			switch regionMatches(c.Regions, b.region.Value(i)) {
			case True:
				setBit(t, i)
			case False:
				setBit(f, i)
			}
		}
	}
}
