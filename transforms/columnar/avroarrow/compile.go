package avroarrow

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
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

type compiler struct {
	stack map[*node]bool
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// resolve compiles reading a value written as w into reader type r, sent to s.
func (c *compiler) resolve(w, r *node, s *sink, path string) (op, error) {
	if s == nil {
		return c.skip(w, path)
	}
	if w.kind == kUnion {
		o := op{code: oUnion, path: path, kids: make([]op, len(w.branches))}
		resolved := 0
		for i, wb := range w.branches {
			k, err := c.branch(wb, r, s, path)
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
	return c.branch(w, r, s, path)
}

// branch resolves a non-union writer type.
func (c *compiler) branch(w, r *node, s *sink, path string) (op, error) {
	if r.kind != kUnion {
		return c.value(w, r, s, path)
	}
	if inner, ok := nullableInner(r); ok {
		if w.kind == kNull {
			return nullOp(s, path), nil
		}
		return c.value(w, inner, s, path)
	}
	if s.col == nil || s.col.kind != cUnion {
		return op{}, fmt.Errorf("at %q: internal: union reader without a union column", path)
	}
	idx := pickBranch(w, r)
	if idx < 0 {
		return op{}, fmt.Errorf("%w: at %q writer %s matches no branch of reader %s", ErrIncompatible, path, w, r)
	}
	k, err := c.value(w, r.branches[idx], &sink{col: s.col.fieldCols[idx]}, path)
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

// promotable reports whether a writer primitive can be read as reader kind.
func promotable(w, r kind) bool {
	switch w {
	case kInt:
		return r == kLong || r == kFloat || r == kDouble
	case kLong:
		return r == kFloat || r == kDouble
	case kFloat:
		return r == kDouble
	case kString:
		return r == kBytes
	case kBytes:
		return r == kString
	}
	return false
}

func namesMatch(w, r *node) bool {
	if w.shortName() == r.shortName() {
		return true
	}
	for _, a := range r.aliases {
		if a == w.name || a[strings.LastIndexByte(a, '.')+1:] == w.shortName() {
			return true
		}
	}
	return false
}

func pickBranch(w *node, r *node) int {
	named := w.kind == kRecord || w.kind == kEnum || w.kind == kFixed
	for i, b := range r.branches {
		if b.kind == w.kind && (!named || namesMatch(w, b)) {
			return i
		}
	}
	for i, b := range r.branches {
		if b.kind == w.kind {
			return i
		}
	}
	for i, b := range r.branches {
		if promotable(w.kind, b.kind) {
			return i
		}
	}
	return -1
}

// value resolves non-union writer and reader types.
func (c *compiler) value(w, r *node, s *sink, path string) (op, error) {
	col := s.col
	bad := func() (op, error) {
		return op{}, fmt.Errorf("%w: at %q writer %s cannot be read as %s", ErrIncompatible, path, w, r)
	}
	if w.kind != r.kind && !promotable(w.kind, r.kind) {
		return bad()
	}
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
		if col.kind == cFixed { // decimal
			if w.kind != kBytes {
				return bad()
			}
			o.code = oDecBytes
		}
	case kFixed:
		if w.size != r.size {
			return bad()
		}
		o.code, o.n = oFixed, w.size
		if r.logical == lDecimal {
			o.code = oDecFixed
		}
	case kEnum:
		o.code = oEnum
		o.enumMap = make([]int32, len(w.symbols))
		for i, sym := range w.symbols {
			o.enumMap[i] = -1
			for j, rs := range r.symbols {
				if rs == sym {
					o.enumMap[i] = int32(j)
				}
			}
			if o.enumMap[i] < 0 && r.enumDef >= 0 {
				o.enumMap[i] = int32(r.enumDef)
			}
		}
	case kArray:
		k, err := c.resolve(w.items, r.items, &sink{col: col.kids[0]}, path+"[]")
		if err != nil {
			return op{}, err
		}
		o.code, o.kids, o.n = oList, []op{k}, minSize(w.items, map[*node]bool{})
	case kMap:
		k, err := c.resolve(w.items, r.items, &sink{col: col.kids[1]}, path+"{}")
		if err != nil {
			return op{}, err
		}
		o.code, o.kids, o.n = oMap, []op{k}, 1+minSize(w.items, map[*node]bool{})
	case kRecord:
		return c.record(w, r, s, path)
	default:
		return bad()
	}
	return o, nil
}

func (c *compiler) record(w, r *node, s *sink, path string) (op, error) {
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
	matched := make([]bool, len(r.fields))
	for _, wf := range w.fields {
		ri := -1
		for j, rf := range r.fields {
			if rf.name == wf.name {
				ri = j
			}
		}
		if ri < 0 {
			for j, rf := range r.fields {
				for _, a := range rf.aliases {
					if a == wf.name {
						ri = j
					}
				}
			}
		}
		fp := join(path, wf.name)
		if ri < 0 {
			k, err := c.skip(wf.typ, fp)
			if err != nil {
				return op{}, err
			}
			o.kids = append(o.kids, k)
			continue
		}
		matched[ri] = true
		k, err := c.resolve(wf.typ, r.fields[ri].typ, childSink(ri), fp)
		if err != nil {
			return op{}, err
		}
		o.kids = append(o.kids, k)
	}
	for i, rf := range r.fields {
		cs := childSink(i)
		if matched[i] || cs == nil {
			continue
		}
		fp := join(path, rf.name)
		if rf.def == nil {
			return op{}, fmt.Errorf("%w: reader field %q is missing from writer %s and has no default", ErrIncompatible, fp, w.name)
		}
		def, err := encodeDefault(nil, rf.typ, rf.def)
		if err != nil {
			return op{}, fmt.Errorf("avroarrow: default of %q: %w", fp, err)
		}
		k, err := c.resolve(rf.typ, rf.typ, cs, fp)
		if err != nil {
			return op{}, err
		}
		o.kids = append(o.kids, op{code: oDefault, def: def, kids: []op{k}, path: fp})
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
