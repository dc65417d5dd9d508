package avroarrow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/trialflow/trialflow/schemas/registry/compat"
)

type opcode uint8

const (
	oSeq opcode = iota // run kids in order: skipped or flattened records
	oSkipBool
	oSkipVarint
	oSkipBytes
	oSkipFixed
	oSkipArray
	oSkipMap
	oSkipUnion
	oSetNull // append a null to every column in nulls
	oBool
	oInt
	oIntLong
	oIntF32
	oIntF64
	oLong
	oLongF32
	oLongF64
	oF32
	oF32F64
	oF64
	oBytes
	oFixed
	oDecBytes
	oDecFixed
	oEnum
	oStruct
	oList
	oMap
	oUnion
	oOpt      // union of null (kids[n]) and a value into one leaf column
	oOptNulls // union of null (kids[n]: a counter bump for each leaf or list column in nulls) and a value
	oUnionWrap
	oDefault
	oFail
)

// op is one step of a compiled decode program: it reads one writer value.
type op struct {
	code    opcode
	col     *column
	n       int // fixed size, union child index, minimum encoded item size
	kids    []op
	nulls   []*column
	enumMap []int32
	def     []byte
	path    string
	err     error
}

// compiler turns a resolution plan (compat.Resolve, the one set of Avro
// resolution rules) into a decode program over the Arrow columns. It
// decides nothing about resolution: which reader field, union branch or
// enum symbol a writer value goes to is the plan's. What it adds is the
// Arrow side: sinks, nullable unions, flattening, and that a problem
// outside the projection, or in a writer union branch, fails only the
// records that meet it.
type compiler struct {
	stack map[*node]bool
	// nodes finds the layout view of a schema node of either side.
	nodes map[*compat.Schema]*node
}

func newCompiler(reader, writer *node) *compiler {
	c := &compiler{stack: map[*node]bool{}, nodes: map[*compat.Schema]*node{}}
	c.index(reader)
	c.index(writer)
	return c
}

func (c *compiler) index(n *node) {
	if _, ok := c.nodes[n.src]; ok {
		return
	}
	c.nodes[n.src] = n
	if n.items != nil {
		c.index(n.items)
	}
	for _, b := range n.branches {
		c.index(b)
	}
	for _, f := range n.fields {
		c.index(f.typ)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// resolve compiles plan p (reading a value written as p.Writer into reader
// type p.Reader), sent to s.
func (c *compiler) resolve(p *compat.Plan, s *sink, path string) (op, error) {
	w, r := c.nodes[p.Writer], c.nodes[p.Reader]
	if s == nil {
		return c.skip(w, path)
	}
	if w.kind == kUnion {
		o := op{code: oUnion, path: path, kids: make([]op, len(w.branches))}
		resolved := 0
		for i, bp := range p.Branches {
			k, err := c.branch(bp, s, path)
			if err != nil {
				// Schema resolution only fails when the writer actually
				// uses this branch, so the error is deferred to decode time.
				k = op{code: oFail, path: path, err: fmt.Errorf("%w: %v", ErrIncompatible, err)}
			} else {
				resolved++
			}
			o.kids[i] = k
		}
		if resolved == 0 {
			return op{}, fmt.Errorf("%w: at %q no branch of writer %s can be read as %s", ErrIncompatible, path, w, r)
		}
		optional(&o)
		return o, nil
	}
	return c.branch(p, s, path)
}

// branch resolves a non-union writer type.
func (c *compiler) branch(p *compat.Plan, s *sink, path string) (op, error) {
	w, r := c.nodes[p.Writer], c.nodes[p.Reader]
	if r.kind != kUnion {
		return c.value(p, s, path)
	}
	if p.Problem != "" {
		return op{}, fmt.Errorf("%w: at %q %s", ErrIncompatible, path, p.Problem)
	}
	if _, ok := nullableInner(r); ok {
		if w.kind == kNull {
			return nullOp(s, path), nil
		}
		return c.value(p.Target, s, path)
	}
	if s.col == nil || s.col.kind != cUnion {
		return op{}, fmt.Errorf("at %q: internal: union reader without a union column", path)
	}
	idx := p.ReaderBranch
	k, err := c.value(p.Target, &sink{col: s.col.fieldCols[idx]}, path)
	if err != nil {
		return op{}, err
	}
	return op{code: oUnionWrap, col: s.col, n: idx, kids: []op{k}, path: path}, nil
}

// optional turns a union of null and a value into one leaf column into
// oOpt, and one of null and a value into leaf and list columns into
// oOptNulls, which handle the null inline (counter bumps) instead of
// dispatching to a null op.
func optional(o *op) {
	if len(o.kids) != 2 {
		return
	}
	for i := range 2 {
		null, val := &o.kids[i], &o.kids[1-i]
		if null.code == oSetNull && len(null.nulls) == 1 && null.nulls[0].kind < cStruct &&
			val.col == null.nulls[0] && val.code != oFail {
			o.code, o.n, o.col = oOpt, i, val.col
			return
		}
	}
	// A nullable record in a flattened layout: its null is a counter bump
	// on each column below it.
	for i := range 2 {
		null, val := &o.kids[i], &o.kids[1-i]
		if null.code == oSetNull && null.n == 1 && val.code != oFail {
			o.code, o.n, o.nulls = oOptNulls, i, null.nulls
			return
		}
	}
}

// setNull appends a null to every column in cols. Its n is 1 when all of
// them are leaves or lists, whose null is a counter bump.
func setNull(cols []*column, path string) op {
	o := op{code: oSetNull, nulls: cols, path: path, n: 1}
	for _, c := range cols {
		if c.kind >= cStruct {
			o.n = 0
		}
	}
	return o
}

func nullOp(s *sink, path string) op {
	if s.col != nil {
		return setNull([]*column{s.col}, path)
	}
	return setNull(s.all, path)
}

// value resolves non-union writer and reader types.
func (c *compiler) value(p *compat.Plan, s *sink, path string) (op, error) {
	w, r := c.nodes[p.Writer], c.nodes[p.Reader]
	if p.Problem != "" {
		return op{}, fmt.Errorf("%w: at %q %s", ErrIncompatible, path, p.Problem)
	}
	col := s.col
	if col == nil && r.kind != kRecord {
		return op{}, fmt.Errorf("at %q: internal: flattened sink for %s", path, r)
	}
	o := op{col: col, path: path}
	switch r.kind {
	case kNull:
		return setNull([]*column{col}, path), nil
	case kBoolean:
		o.code = oBool
	case kInt:
		o.code = oInt
	case kLong:
		o.code = map[kind]opcode{kInt: oIntLong, kLong: oLong}[w.kind]
	case kFloat:
		o.code = map[kind]opcode{kInt: oIntF32, kLong: oLongF32, kFloat: oF32}[w.kind]
	case kDouble:
		o.code = map[kind]opcode{kInt: oIntF64, kLong: oLongF64, kFloat: oF32F64, kDouble: oF64}[w.kind]
	case kBytes, kString:
		o.code = oBytes
		if col.kind == cFixed { // decimal: a string writer's bytes are read as its bytes
			o.code = oDecBytes
		}
	case kFixed:
		o.code, o.n = oFixed, w.size
		if r.logical == lDecimal {
			o.code = oDecFixed
		}
	case kEnum:
		o.code = oEnum
		o.enumMap = make([]int32, len(p.Symbols))
		for i, j := range p.Symbols {
			o.enumMap[i] = int32(j)
		}
	case kArray:
		k, err := c.resolve(p.Items, &sink{col: col.kids[0]}, path+"[]")
		if err != nil {
			return op{}, err
		}
		o.code, o.kids, o.n = oList, []op{k}, minSize(w.items, map[*node]bool{})
	case kMap:
		k, err := c.resolve(p.Items, &sink{col: col.kids[1]}, path+"{}")
		if err != nil {
			return op{}, err
		}
		o.code, o.kids, o.n = oMap, []op{k}, 1+minSize(w.items, map[*node]bool{})
	case kRecord:
		return c.record(p, s, path)
	default:
		return op{}, fmt.Errorf("%w: at %q writer %s cannot be read as %s", ErrIncompatible, path, w, r)
	}
	return o, nil
}

func (c *compiler) record(p *compat.Plan, s *sink, path string) (op, error) {
	w, r := c.nodes[p.Writer], c.nodes[p.Reader]
	if c.stack[w] {
		return op{}, fmt.Errorf("%w: recursive writer type %s", ErrUnsupported, w.name)
	}
	c.stack[w] = true
	defer delete(c.stack, w)
	o := op{code: oSeq, path: path}
	childSink := func(i int) *sink {
		if s.col != nil {
			if k := s.col.fieldCols[i]; k != nil {
				return &sink{col: k}
			}
			return nil
		}
		return s.flat[i]
	}
	if s.col != nil {
		o.code, o.col = oStruct, s.col
	}
	for i, fp := range p.Fields {
		wf := w.fields[i]
		fpath := join(path, wf.name)
		if fp.Reader < 0 {
			k, err := c.skip(wf.typ, fpath)
			if err != nil {
				return op{}, err
			}
			o.kids = append(o.kids, k)
			continue
		}
		k, err := c.resolve(fp.Plan, childSink(fp.Reader), fpath)
		if err != nil {
			return op{}, err
		}
		o.kids = append(o.kids, k)
	}
	for _, i := range p.Missing {
		rf := r.fields[i]
		cs := childSink(i)
		if cs == nil {
			continue // not projected: its default does not matter
		}
		fpath := join(path, rf.name)
		if p.MissingWithoutDefault(i) {
			return op{}, fmt.Errorf("%w: reader field %q is missing from writer %s and has no default", ErrIncompatible, fpath, w.name)
		}
		def, err := encodeDefault(nil, rf.typ, rf.def)
		if err != nil {
			return op{}, fmt.Errorf("avroarrow: default of %q: %w", fpath, err)
		}
		// The default is encoded as the reader type: read it as itself.
		k, err := c.resolve(compat.Resolve(rf.typ.src, rf.typ.src), cs, fpath)
		if err != nil {
			return op{}, err
		}
		o.kids = append(o.kids, op{code: oDefault, def: def, kids: []op{k}, path: fpath})
	}
	return o, nil
}

// skip compiles skipping a writer value.
func (c *compiler) skip(w *node, path string) (op, error) {
	switch w.kind {
	case kNull:
		return op{code: oSeq, path: path}, nil
	case kBoolean:
		return op{code: oSkipBool, path: path}, nil
	case kInt, kLong, kEnum:
		return op{code: oSkipVarint, path: path}, nil
	case kFloat:
		return op{code: oSkipFixed, n: 4, path: path}, nil
	case kDouble:
		return op{code: oSkipFixed, n: 8, path: path}, nil
	case kBytes, kString:
		return op{code: oSkipBytes, path: path}, nil
	case kFixed:
		return op{code: oSkipFixed, n: w.size, path: path}, nil
	case kArray, kMap:
		k, err := c.skip(w.items, path+"[]")
		if err != nil {
			return op{}, err
		}
		if w.kind == kMap {
			return op{code: oSkipMap, kids: []op{k}, n: 1 + minSize(w.items, map[*node]bool{}), path: path}, nil
		}
		return op{code: oSkipArray, kids: []op{k}, n: minSize(w.items, map[*node]bool{}), path: path}, nil
	case kUnion:
		o := op{code: oSkipUnion, path: path}
		for _, b := range w.branches {
			k, err := c.skip(b, path)
			if err != nil {
				return op{}, err
			}
			o.kids = append(o.kids, k)
		}
		return o, nil
	case kRecord:
		if c.stack[w] {
			return op{}, fmt.Errorf("%w: recursive writer type %s", ErrUnsupported, w.name)
		}
		c.stack[w] = true
		defer delete(c.stack, w)
		o := op{code: oSeq, path: path}
		for _, f := range w.fields {
			k, err := c.skip(f.typ, join(path, f.name))
			if err != nil {
				return op{}, err
			}
			// Merge runs of fixed-size skips into one.
			if n := len(o.kids); n > 0 && k.code == oSkipFixed && o.kids[n-1].code == oSkipFixed {
				o.kids[n-1].n += k.n
				continue
			}
			if k.code == oSeq && len(k.kids) == 0 {
				continue
			}
			o.kids = append(o.kids, k)
		}
		return o, nil
	}
	return op{}, fmt.Errorf("%w: cannot skip %s", ErrUnsupported, w)
}

// minSize is the smallest number of bytes a value of w takes on the wire.
func minSize(w *node, seen map[*node]bool) int {
	switch w.kind {
	case kNull:
		return 0
	case kFloat:
		return 4
	case kDouble:
		return 8
	case kFixed:
		return w.size
	case kRecord:
		if seen[w] {
			return 0
		}
		seen[w] = true
		defer delete(seen, w)
		s := 0
		for _, f := range w.fields {
			s += minSize(f.typ, seen)
		}
		return s
	}
	return 1
}

// encodeDefault encodes a JSON field default as Avro binary of type n.
func encodeDefault(dst []byte, n *node, raw json.RawMessage) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return encodeJSON(dst, n, v)
}

func appendLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func encodeJSON(dst []byte, n *node, v any) ([]byte, error) {
	mismatch := fmt.Errorf("default %v does not match %s", v, n)
	switch n.kind {
	case kNull:
		if v != nil {
			return nil, mismatch
		}
		return dst, nil
	case kBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, mismatch
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case kInt, kLong:
		num, ok := v.(json.Number)
		if !ok {
			return nil, mismatch
		}
		i, err := num.Int64()
		if err != nil {
			f, ferr := num.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return nil, mismatch
			}
			i = int64(f)
		}
		if n.kind == kInt && (i < math.MinInt32 || i > math.MaxInt32) {
			return nil, mismatch
		}
		return appendLong(dst, i), nil
	case kFloat, kDouble:
		num, ok := v.(json.Number)
		if !ok {
			return nil, mismatch
		}
		f, err := num.Float64()
		if err != nil {
			return nil, mismatch
		}
		if n.kind == kFloat {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case kBytes, kFixed:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch
		}
		var b []byte
		for _, r := range s {
			if r > 255 {
				return nil, mismatch
			}
			b = append(b, byte(r))
		}
		if n.kind == kFixed {
			if len(b) != n.size {
				return nil, mismatch
			}
			return append(dst, b...), nil
		}
		return append(appendLong(dst, int64(len(b))), b...), nil
	case kString:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch
		}
		return append(appendLong(dst, int64(len(s))), s...), nil
	case kEnum:
		s, ok := v.(string)
		if !ok {
			return nil, mismatch
		}
		for i, sym := range n.symbols {
			if sym == s {
				return appendLong(dst, int64(i)), nil
			}
		}
		return nil, mismatch
	case kArray:
		a, ok := v.([]any)
		if !ok {
			return nil, mismatch
		}
		if len(a) > 0 {
			dst = appendLong(dst, int64(len(a)))
			for _, e := range a {
				var err error
				if dst, err = encodeJSON(dst, n.items, e); err != nil {
					return nil, err
				}
			}
		}
		return append(dst, 0), nil
	case kMap:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch
		}
		if len(m) > 0 {
			dst = appendLong(dst, int64(len(m)))
			for k, e := range m {
				dst = append(appendLong(dst, int64(len(k))), k...)
				var err error
				if dst, err = encodeJSON(dst, n.items, e); err != nil {
					return nil, err
				}
			}
		}
		return append(dst, 0), nil
	case kRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, mismatch
		}
		for _, f := range n.fields {
			fv, ok := m[f.name]
			var err error
			switch {
			case ok:
				dst, err = encodeJSON(dst, f.typ, fv)
			case f.def != nil:
				dst, err = encodeDefault(dst, f.typ, f.def)
			default:
				err = fmt.Errorf("default of record %s lacks field %q", n.name, f.name)
			}
			if err != nil {
				return nil, err
			}
		}
		return dst, nil
	case kUnion:
		// A union default is a value of its first branch.
		return encodeJSON(append(dst, 0), n.branches[0], v)
	}
	return nil, mismatch
}
