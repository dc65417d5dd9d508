package avroio

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// Bounds that keep hostile payloads from exhausting time, memory or stack.
const (
	maxDepth      = 512     // nesting of records, arrays, maps and unions
	maxZeroItems  = 1 << 20 // items of zero-byte types (null, empty records) per payload
	maxBlockItems = 1 << 31 // items in one array or map block
)

type op uint8

const (
	opNull op = iota
	opBool
	opVarint // int or long, copied (an int is read as a long unchanged)
	opIntToFloat
	opIntToDouble
	opLongToFloat
	opLongToDouble
	opFloat
	opDouble
	opFloatToDouble
	opBytes // bytes or string, copied
	opFixed
	opEnum
	opArray
	opMap
	opRecord
	opWriterUnion // writer union: read branch index, resolve that branch
	opToUnion     // writer non-union, reader union: write the reader's branch index first
)

// node resolves one writer type to one reader type.
type node struct {
	op    op
	size  int     // fixed
	enums []int64 // enum: reader index per writer symbol, -1 when unreadable
	items *node   // array items, map values, opToUnion's branch

	// record
	fields   []fieldStep // in writer order
	defaults [][]byte    // per reader field: its default's encoding, nil when the writer has the field
	inOrder  bool        // writer fields map to increasing reader fields and no default is needed
	nReader  int

	// opWriterUnion: per writer branch
	branches   []*node
	readerIdx  []int64 // reader branch index to write, -1 when the reader is not a union
	unreadable []string
	readerIdx1 int64 // opToUnion: reader branch index

	writer *compat.Schema // for skipping and messages
}

type fieldStep struct {
	name   string
	reader int   // reader field index, -1 to skip
	n      *node // when reader >= 0
	skip   *compat.Schema
}

// compiler turns a resolution plan (compat.Resolve) into transcoding
// nodes, one node per plan node, so recursive schemas compile to cyclic
// programs. It decides nothing: which reader field, union branch or enum
// symbol a writer value goes to is the plan's.
type compiler struct {
	memo map[*compat.Plan]*node
}

// compile returns the program executing plan p. A
// plan node that reads nothing is an error; a writer union branch or an
// enum symbol the reader cannot read fails the values that use it.
func compile(p *compat.Plan) (*node, error) {
	c := &compiler{memo: map[*compat.Plan]*node{}}
	return c.node(p, "")
}

func (c *compiler) node(p *compat.Plan, path string) (*node, error) {
	if n, ok := c.memo[p]; ok {
		return n, nil
	}
	if p.Problem != "" {
		return nil, fmt.Errorf("%s: %s", at(path), p.Problem)
	}
	r, w := p.Reader, p.Writer
	n := &node{writer: w}
	c.memo[p] = n
	if w.Kind == compat.Union {
		n.op = opWriterUnion
		for _, bp := range p.Branches {
			// The writer-union node writes the reader's branch index
			// itself, then runs the branch's target.
			target := bp
			if bp.ReaderBranch >= 0 && bp.Problem == "" {
				target = bp.Target
			}
			b, err := c.node(target, path)
			if err != nil {
				n.branches = append(n.branches, nil)
				n.readerIdx = append(n.readerIdx, -1)
				n.unreadable = append(n.unreadable, bp.Writer.Describe())
				continue
			}
			idx := int64(-1)
			if bp.ReaderBranch >= 0 {
				idx = int64(bp.ReaderBranch)
			}
			n.branches = append(n.branches, b)
			n.readerIdx = append(n.readerIdx, idx)
			n.unreadable = append(n.unreadable, "")
		}
		return n, nil
	}
	if p.ReaderBranch >= 0 {
		b, err := c.node(p.Target, path)
		if err != nil {
			return nil, err
		}
		n.op, n.items, n.readerIdx1 = opToUnion, b, int64(p.ReaderBranch)
		return n, nil
	}
	switch {
	case r.Kind == w.Kind:
	case r.Kind == compat.Long && w.Kind == compat.Int:
		n.op = opVarint
		return n, nil
	case r.Kind == compat.Float && w.Kind == compat.Int:
		n.op = opIntToFloat
		return n, nil
	case r.Kind == compat.Double && w.Kind == compat.Int:
		n.op = opIntToDouble
		return n, nil
	case r.Kind == compat.Float && w.Kind == compat.Long:
		n.op = opLongToFloat
		return n, nil
	case r.Kind == compat.Double && w.Kind == compat.Long:
		n.op = opLongToDouble
		return n, nil
	case r.Kind == compat.Double && w.Kind == compat.Float:
		n.op = opFloatToDouble
		return n, nil
	case (r.Kind == compat.String || r.Kind == compat.Bytes) && (w.Kind == compat.String || w.Kind == compat.Bytes):
		n.op = opBytes
		return n, nil
	default:
		return nil, fmt.Errorf("%s: internal: plan without a problem for reader %s and writer %s", at(path), r.Describe(), w.Describe())
	}
	switch w.Kind {
	case compat.Null:
		n.op = opNull
	case compat.Boolean:
		n.op = opBool
	case compat.Int, compat.Long:
		n.op = opVarint
	case compat.Float:
		n.op = opFloat
	case compat.Double:
		n.op = opDouble
	case compat.Bytes, compat.String:
		n.op = opBytes
	case compat.Fixed:
		n.op, n.size = opFixed, w.Size
	case compat.Enum:
		n.op = opEnum
		for _, s := range p.Symbols {
			n.enums = append(n.enums, int64(s))
		}
	case compat.Array, compat.Map:
		n.op = opArray
		if w.Kind == compat.Map {
			n.op = opMap
		}
		items, err := c.node(p.Items, path+"[]")
		if err != nil {
			return nil, err
		}
		n.items = items
	case compat.Record:
		if err := c.record(n, p, path); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (c *compiler) record(n *node, p *compat.Plan, path string) error {
	r := p.Reader
	n.op, n.nReader = opRecord, len(r.Fields)
	n.defaults = make([][]byte, len(r.Fields))
	n.inOrder = len(p.Missing) == 0
	prev := -1
	for _, fp := range p.Fields {
		step := fieldStep{name: fp.Writer.Name, reader: fp.Reader, skip: fp.Writer.Type}
		if fp.Reader >= 0 {
			sub, err := c.node(fp.Plan, join(path, r.Fields[fp.Reader].Name))
			if err != nil {
				return err
			}
			step.n = sub
			if fp.Reader < prev {
				n.inOrder = false
			}
			prev = fp.Reader
		}
		n.fields = append(n.fields, step)
	}
	for _, i := range p.Missing {
		rf := r.Fields[i]
		if p.MissingWithoutDefault(i) {
			return fmt.Errorf("%s: reader field has no default and the writer lacks it", at(join(path, rf.Name)))
		}
		d, err := appendDefault(nil, rf.Type, rf.Default)
		if err != nil {
			return fmt.Errorf("%s: default: %w", at(join(path, rf.Name)), err)
		}
		n.defaults[i] = d
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func at(path string) string {
	if path == "" {
		return "schema root"
	}
	return fmt.Sprintf("field %q", path)
}

// appendDefault encodes a field default (decoded JSON) as Avro binary of s.
func appendDefault(dst []byte, s *compat.Schema, v any) ([]byte, error) {
	switch s.Kind {
	case compat.Null:
		return dst, nil
	case compat.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want a boolean, got %T", v)
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case compat.Int, compat.Long:
		num, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want an integer, got %T", v)
		}
		i, err := num.Int64()
		if err != nil {
			return nil, err
		}
		return binary.AppendVarint(dst, i), nil
	case compat.Float, compat.Double:
		num, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("want a number, got %T", v)
		}
		f, err := num.Float64()
		if err != nil {
			return nil, err
		}
		if s.Kind == compat.Float {
			return binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
	case compat.String:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %T", v)
		}
		dst = binary.AppendVarint(dst, int64(len(str)))
		return append(dst, str...), nil
	case compat.Bytes, compat.Fixed:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string of code points 0-255, got %T", v)
		}
		var b []byte
		for _, r := range str {
			if r > 255 {
				return nil, fmt.Errorf("code point %U above 255 in a bytes default", r)
			}
			b = append(b, byte(r))
		}
		if s.Kind == compat.Fixed {
			if len(b) != s.Size {
				return nil, fmt.Errorf("fixed default has %d bytes, want %d", len(b), s.Size)
			}
			return append(dst, b...), nil
		}
		dst = binary.AppendVarint(dst, int64(len(b)))
		return append(dst, b...), nil
	case compat.Enum:
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want an enum symbol, got %T", v)
		}
		for i, sym := range s.Symbols {
			if sym == str {
				return binary.AppendVarint(dst, int64(i)), nil
			}
		}
		return nil, fmt.Errorf("unknown enum symbol %q", str)
	case compat.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want an array, got %T", v)
		}
		if len(arr) > 0 {
			dst = binary.AppendVarint(dst, int64(len(arr)))
			for _, it := range arr {
				var err error
				if dst, err = appendDefault(dst, s.Items, it); err != nil {
					return nil, err
				}
			}
		}
		return append(dst, 0), nil
	case compat.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want an object, got %T", v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			dst = binary.AppendVarint(dst, int64(len(keys)))
			for _, k := range keys {
				dst = binary.AppendVarint(dst, int64(len(k)))
				dst = append(dst, k...)
				var err error
				if dst, err = appendDefault(dst, s.Values, m[k]); err != nil {
					return nil, err
				}
			}
		}
		return append(dst, 0), nil
	case compat.Record:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want an object, got %T", v)
		}
		for _, f := range s.Fields {
			fv, ok := m[f.Name]
			if !ok {
				if !f.HasDefault {
					return nil, fmt.Errorf("record default lacks field %q", f.Name)
				}
				fv = f.Default
			}
			var err error
			if dst, err = appendDefault(dst, f.Type, fv); err != nil {
				return nil, err
			}
		}
		return dst, nil
	case compat.Union:
		if len(s.Branches) == 0 {
			return nil, fmt.Errorf("empty union")
		}
		dst = binary.AppendVarint(dst, 0)
		return appendDefault(dst, s.Branches[0], v)
	}
	return nil, fmt.Errorf("unsupported type %s", s.Describe())
}

// run transcodes one writer value from src into dst.
type run struct {
	src       []byte
	off       int
	zeroItems int
	err       error
	scratch   []byte
}

// fail records the first problem of a record, once, in words: what is
// wrong with the record (by code), where, and why. Callers add the
// "avroio: schema id N: " context.
func (r *run) fail(code deadletter.Code, format string, args ...any) {
	if r.err != nil {
		return
	}
	what := "invalid record"
	switch code {
	case deadletter.TruncatedPayload:
		what = "record truncated"
	case deadletter.IncompatibleSchema:
		what = "record unreadable by the reader schema"
	}
	r.err = deadletter.Errorf(code, "%s at payload byte %d: %s", what, r.off, fmt.Sprintf(format, args...))
}

// nbytes says n bytes in words.
func nbytes(n int) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.Itoa(n) + " bytes"
}

// length reads the length of a string, bytes or map key and reports
// whether that many bytes are left.
func (r *run) length(what string) (int, bool) {
	l := r.varint(what + " length")
	if r.err != nil {
		return 0, false
	}
	if l < 0 {
		r.fail(deadletter.InvalidPayload, "a %s of negative length %d", what, l)
		return 0, false
	}
	if left := len(r.src) - r.off; l > int64(left) {
		r.fail(deadletter.TruncatedPayload, "a length of %s runs past the end (%s left)", nbytes(int(l)), nbytes(left))
		return 0, false
	}
	return int(l), true
}

func (r *run) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.src)-r.off < n {
		r.fail(deadletter.TruncatedPayload, "a %s needs %s (%s left)", what, nbytes(n), nbytes(len(r.src)-r.off))
		return false
	}
	return true
}

func (r *run) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.src[r.off:])
	if n == 0 {
		r.fail(deadletter.TruncatedPayload, "the %s ends inside its varint", what)
		return 0
	}
	if n < 0 {
		r.fail(deadletter.InvalidPayload, "the %s varint overflows 64 bits", what)
		return 0
	}
	r.off += n
	return v
}

func (r *run) value(dst []byte, n *node, depth int) []byte {
	if r.err != nil {
		return dst
	}
	if depth > maxDepth {
		r.fail(deadletter.InvalidPayload, "values nested deeper than %d levels", maxDepth)
		return dst
	}
	switch n.op {
	case opNull:
	case opBool:
		if r.need(1, "boolean") {
			if b := r.src[r.off]; b > 1 {
				r.fail(deadletter.InvalidPayload, "a boolean byte is 0x%02x, not 0 or 1", b)
				return dst
			}
			dst = append(dst, r.src[r.off])
			r.off++
		}
	case opVarint:
		start := r.off
		v := r.varint("integer")
		if r.err == nil && n.writer.Kind == compat.Int && (v < math.MinInt32 || v > math.MaxInt32) {
			r.fail(deadletter.InvalidPayload, "an int of %d is outside the 32-bit range", v)
		}
		dst = append(dst, r.src[start:r.off]...)
	case opIntToFloat, opLongToFloat:
		v := r.varint("integer")
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(v)))
	case opIntToDouble, opLongToDouble:
		v := r.varint("integer")
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(v)))
	case opFloat:
		if r.need(4, "float") {
			dst = append(dst, r.src[r.off:r.off+4]...)
			r.off += 4
		}
	case opDouble:
		if r.need(8, "double") {
			dst = append(dst, r.src[r.off:r.off+8]...)
			r.off += 8
		}
	case opFloatToDouble:
		if r.need(4, "float") {
			f := math.Float32frombits(binary.LittleEndian.Uint32(r.src[r.off:]))
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(f)))
			r.off += 4
		}
	case opBytes:
		start := r.off
		if l, ok := r.length("string or bytes"); ok {
			r.off += l
			dst = append(dst, r.src[start:r.off]...)
		}
	case opFixed:
		if r.need(n.size, "fixed") {
			dst = append(dst, r.src[r.off:r.off+n.size]...)
			r.off += n.size
		}
	case opEnum:
		i := r.varint("enum index")
		if r.err != nil {
			return dst
		}
		if i < 0 || i >= int64(len(n.enums)) {
			r.fail(deadletter.InvalidPayload, "enum index %d is not one of the %d symbols", i, len(n.enums))
			return dst
		}
		if n.enums[i] < 0 {
			r.fail(deadletter.IncompatibleSchema, "enum symbol %q unknown to the reader, which has no default", n.writer.Symbols[i])
			return dst
		}
		dst = binary.AppendVarint(dst, n.enums[i])
	case opArray, opMap:
		dst = r.blocks(dst, n, depth)
	case opRecord:
		dst = r.record(dst, n, depth)
	case opWriterUnion:
		i := r.varint("union index")
		if r.err != nil {
			return dst
		}
		if i < 0 || i >= int64(len(n.branches)) {
			r.fail(deadletter.InvalidPayload, "union branch index %d is not one of the %d branches", i, len(n.branches))
			return dst
		}
		if n.branches[i] == nil {
			r.fail(deadletter.IncompatibleSchema, "the writer's union branch %s is not readable", n.unreadable[i])
			return dst
		}
		if n.readerIdx[i] >= 0 {
			dst = binary.AppendVarint(dst, n.readerIdx[i])
		}
		dst = r.value(dst, n.branches[i], depth+1)
	case opToUnion:
		dst = binary.AppendVarint(dst, n.readerIdx1)
		dst = r.value(dst, n.items, depth+1)
	}
	return dst
}

func (r *run) blocks(dst []byte, n *node, depth int) []byte {
	minSize := minBytes(n.items.writer)
	if n.op == opMap {
		minSize++ // the key's length
	}
	for r.err == nil {
		count := r.varint("block count")
		if r.err != nil {
			return dst
		}
		if count == 0 {
			return append(dst, 0)
		}
		if count < 0 {
			if count == math.MinInt64 {
				r.fail(deadletter.InvalidPayload, "an array or map block count overflows")
				return dst
			}
			count = -count
			size := r.varint("block size")
			if r.err == nil && size < 0 {
				r.fail(deadletter.InvalidPayload, "an array or map block has a negative byte size %d", size)
			}
		}
		if count > maxBlockItems {
			r.fail(deadletter.InvalidPayload, "an array or map block of %d items is over the limit of %d", count, maxBlockItems)
			return dst
		}
		if minSize > 0 {
			if count > int64(len(r.src)-r.off)/int64(minSize) {
				r.fail(deadletter.TruncatedPayload, "an array or map block of %d items cannot fit in the %d bytes left", count, len(r.src)-r.off)
				return dst
			}
		} else {
			r.zeroItems += int(count)
			if r.zeroItems > maxZeroItems {
				r.fail(deadletter.InvalidPayload, "more than %d items of a type that takes no bytes", maxZeroItems)
				return dst
			}
		}
		dst = binary.AppendVarint(dst, count)
		for i := int64(0); i < count && r.err == nil; i++ {
			if n.op == opMap {
				start := r.off
				l, ok := r.length("map key")
				if !ok {
					return dst
				}
				r.off += l
				dst = append(dst, r.src[start:r.off]...)
			}
			dst = r.value(dst, n.items, depth+1)
		}
	}
	return dst
}

func (r *run) record(dst []byte, n *node, depth int) []byte {
	if n.inOrder {
		for i := range n.fields {
			f := &n.fields[i]
			if f.reader < 0 {
				r.skip(f.skip, depth+1)
			} else {
				dst = r.value(dst, f.n, depth+1)
			}
		}
		return dst
	}
	// Out of order or with defaults: transcode the writer's fields after
	// dst, note where each reader field landed, then lay them out in
	// reader order.
	base := len(dst)
	type seg struct{ start, end int }
	segs := make([]seg, n.nReader)
	for i := range n.fields {
		f := &n.fields[i]
		if f.reader < 0 {
			r.skip(f.skip, depth+1)
			continue
		}
		start := len(dst)
		dst = r.value(dst, f.n, depth+1)
		segs[f.reader] = seg{start - base, len(dst) - base}
	}
	if r.err != nil {
		return dst
	}
	r.scratch = append(r.scratch[:0], dst[base:]...)
	dst = dst[:base]
	for i := 0; i < n.nReader; i++ {
		if d := n.defaults[i]; d != nil {
			dst = append(dst, d...)
			continue
		}
		dst = append(dst, r.scratch[segs[i].start:segs[i].end]...)
	}
	return dst
}

// skip reads over one value of writer type s.
func (r *run) skip(s *compat.Schema, depth int) {
	if r.err != nil {
		return
	}
	if depth > maxDepth {
		r.fail(deadletter.InvalidPayload, "values nested deeper than %d levels", maxDepth)
		return
	}
	switch s.Kind {
	case compat.Null:
	case compat.Boolean:
		if r.need(1, "boolean") {
			if b := r.src[r.off]; b > 1 {
				r.fail(deadletter.InvalidPayload, "a boolean byte is 0x%02x, not 0 or 1", b)
				return
			}
			r.off++
		}
	case compat.Int:
		if v := r.varint("int"); r.err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
			r.fail(deadletter.InvalidPayload, "an int of %d is outside the 32-bit range", v)
		}
	case compat.Long:
		r.varint("long")
	case compat.Enum:
		i := r.varint("enum index")
		if r.err == nil && (i < 0 || i >= int64(len(s.Symbols))) {
			r.fail(deadletter.InvalidPayload, "enum index %d is not one of the %d symbols", i, len(s.Symbols))
		}
	case compat.Float:
		if r.need(4, "float") {
			r.off += 4
		}
	case compat.Double:
		if r.need(8, "double") {
			r.off += 8
		}
	case compat.Bytes, compat.String:
		if l, ok := r.length("string or bytes"); ok {
			r.off += l
		}
	case compat.Fixed:
		if r.need(s.Size, "fixed") {
			r.off += s.Size
		}
	case compat.Record:
		for _, f := range s.Fields {
			r.skip(f.Type, depth+1)
		}
	case compat.Union:
		i := r.varint("union index")
		if r.err == nil && (i < 0 || i >= int64(len(s.Branches))) {
			r.fail(deadletter.InvalidPayload, "union branch index %d is not one of the %d branches", i, len(s.Branches))
			return
		}
		if r.err == nil {
			r.skip(s.Branches[i], depth+1)
		}
	case compat.Array, compat.Map:
		items := s.Items
		minSize := 0
		if s.Kind == compat.Map {
			items, minSize = s.Values, 1
		}
		minSize += minBytes(items)
		for r.err == nil {
			count := r.varint("block count")
			if r.err != nil || count == 0 {
				return
			}
			if count < 0 {
				if count == math.MinInt64 {
					r.fail(deadletter.InvalidPayload, "an array or map block count overflows")
					return
				}
				count = -count
				if size := r.varint("block size"); r.err == nil && size < 0 {
					r.fail(deadletter.InvalidPayload, "an array or map block has a negative byte size %d", size)
					return
				}
			}
			if count > maxBlockItems || minSize > 0 && count > int64(len(r.src)-r.off)/int64(minSize) {
				r.fail(deadletter.TruncatedPayload, "an array or map block of %d items cannot fit in the %d bytes left", count, len(r.src)-r.off)
				return
			}
			if minSize == 0 {
				r.zeroItems += int(count)
				if r.zeroItems > maxZeroItems {
					r.fail(deadletter.InvalidPayload, "more than %d items of a type that takes no bytes", maxZeroItems)
					return
				}
			}
			for i := int64(0); i < count && r.err == nil; i++ {
				if s.Kind == compat.Map {
					r.skip(stringSchema, depth+1)
				}
				r.skip(items, depth+1)
			}
		}
	}
}

var stringSchema = &compat.Schema{Kind: compat.String}

// minBytes is the fewest bytes a value of s takes (0 or 1 is enough for
// bounding block counts).
func minBytes(s *compat.Schema) int { return minBytesDepth(s, 0) }

func minBytesDepth(s *compat.Schema, depth int) int {
	if depth > 32 {
		return 0
	}
	switch s.Kind {
	case compat.Null:
		return 0
	case compat.Fixed:
		if s.Size == 0 {
			return 0
		}
		return 1
	case compat.Record:
		for _, f := range s.Fields {
			if minBytesDepth(f.Type, depth+1) > 0 {
				return 1
			}
		}
		return 0
	}
	return 1
}
