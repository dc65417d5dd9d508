package avroarrow

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// proj is a projection tree: nil means "everything below".
type proj struct {
	kids map[string]*proj
}

func buildProjection(paths []string) (*proj, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	root := &proj{kids: map[string]*proj{}}
	for _, p := range paths {
		if p == "" {
			return nil, fmt.Errorf("avroarrow: empty projection path")
		}
		cur := root
		segs := strings.Split(p, ".")
		for i, s := range segs {
			if s == "" {
				return nil, fmt.Errorf("avroarrow: projection %q: empty segment", p)
			}
			next, seen := cur.kids[s]
			last := i == len(segs)-1
			switch {
			case last:
				cur.kids[s] = nil // whole subtree
			case seen && next == nil:
				// An ancestor is already wholly projected.
			default:
				if !seen {
					next = &proj{kids: map[string]*proj{}}
					cur.kids[s] = next
				}
			}
			if last || (seen && next == nil) {
				break
			}
			cur = next
		}
	}
	return root, nil
}

// nullableInner returns T for the union ["null", T] or [T, "null"].
func nullableInner(n *node) (*node, bool) {
	if n.kind != kUnion || len(n.branches) != 2 {
		return nil, false
	}
	a, b := n.branches[0], n.branches[1]
	switch {
	case a.kind == kNull && b.kind != kNull:
		return b, true
	case b.kind == kNull && a.kind != kNull:
		return a, true
	}
	return nil, false
}

// sink is where values of one reader type go: a column, or for flattened
// records one sink per reader field.
type sink struct {
	col  *column
	flat []*sink   // flattened record: per reader field index, nil when not projected
	all  []*column // every column below a flattened record, for null branches
}

// layout is the Arrow side of a decoder: columns built from the reader
// schema and the projection.
type layout struct {
	flatten bool
	cols    []*column
	fields  []arrow.Field
	root    *sink
}

func newLayout(reader *node, pj *proj, flatten bool) (*layout, error) {
	if reader.kind != kRecord {
		return nil, fmt.Errorf("avroarrow: reader schema must be a record, got %s", reader)
	}
	l := &layout{flatten: flatten}
	root, err := l.flatRecord(reader, pj, "", false, map[*node]bool{})
	if err != nil {
		return nil, err
	}
	l.root = root
	if len(l.cols) == 0 {
		return nil, fmt.Errorf("avroarrow: projection selects no columns")
	}
	return l, nil
}

// flatRecord lays out the fields of record r as top-level columns (the root
// record always; nested records too when flattening).
func (l *layout) flatRecord(r *node, pj *proj, prefix string, nullable bool, stack map[*node]bool) (*sink, error) {
	if stack[r] {
		return nil, fmt.Errorf("avroarrow: recursive type %s cannot be laid out as Arrow columns", r.name)
	}
	stack[r] = true
	defer delete(stack, r)
	if err := checkProjection(r, pj, prefix); err != nil {
		return nil, err
	}
	s := &sink{flat: make([]*sink, len(r.fields))}
	for i, f := range r.fields {
		sub, in := pj.child(f.name)
		if !in {
			continue
		}
		path := f.name
		if prefix != "" {
			path = prefix + "." + f.name
		}
		t := f.typ
		nul := nullable
		if inner, ok := nullableInner(t); ok {
			t, nul = inner, true
		}
		if l.flatten && t.kind == kRecord {
			fs, err := l.flatRecord(t, sub, path, nul, stack)
			if err != nil {
				return nil, err
			}
			s.flat[i] = fs
			s.all = append(s.all, fs.all...)
			continue
		}
		c, err := newColumn(f.typ, sub, path, nullable, stack)
		if err != nil {
			return nil, err
		}
		l.cols = append(l.cols, c)
		l.fields = append(l.fields, arrow.Field{Name: path, Type: c.dt, Nullable: c.nullable})
		s.flat[i] = &sink{col: c}
		s.all = append(s.all, c)
	}
	return s, nil
}

func (p *proj) child(name string) (*proj, bool) {
	if p == nil {
		return nil, true
	}
	c, ok := p.kids[name]
	return c, ok
}

func checkProjection(r *node, pj *proj, prefix string) error {
	if pj == nil {
		return nil
	}
	for name := range pj.kids {
		found := false
		for _, f := range r.fields {
			if f.name == name {
				found = true
			}
		}
		if !found {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			return fmt.Errorf("avroarrow: projection %q: record %s has no field %q", p, r.name, name)
		}
	}
	return nil
}

// projThrough passes a projection through arrays, maps and unions to the
// records below; a projection that reaches a non-record type is an error.
func projThrough(n *node, pj *proj, path string) error {
	if pj == nil {
		return nil
	}
	switch n.kind {
	case kRecord:
		return nil
	case kArray, kMap:
		return projThrough(n.items, pj, path)
	case kUnion:
		for _, b := range n.branches {
			if b.kind == kRecord || b.kind == kArray || b.kind == kMap {
				return nil
			}
		}
	}
	return fmt.Errorf("avroarrow: projection below %q: %s has no fields", path, n)
}

// newColumn builds the column of reader type t. forceNullable marks columns
// below a nullable flattened record.
func newColumn(t *node, pj *proj, path string, forceNullable bool, stack map[*node]bool) (*column, error) {
	if err := projThrough(t, pj, path); err != nil {
		return nil, err
	}
	c := &column{path: path, nullable: forceNullable, nullKid: -1, offs: []int32{0}}
	if inner, ok := nullableInner(t); ok {
		t, c.nullable = inner, true
	}
	switch t.kind {
	case kNull:
		c.kind, c.dt, c.nullable = cNull, arrow.Null, true
	case kBoolean:
		c.kind, c.dt = cBool, arrow.FixedWidthTypes.Boolean
	case kInt:
		c.kind, c.dt = cInt32, arrow.PrimitiveTypes.Int32
		switch t.logical {
		case lDate:
			c.dt = arrow.FixedWidthTypes.Date32
		case lTimeMillis:
			c.dt = arrow.FixedWidthTypes.Time32ms
		}
	case kLong:
		c.kind, c.dt = cInt64, arrow.PrimitiveTypes.Int64
		switch t.logical {
		case lTimestampMillis:
			c.dt = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
		case lTimestampMicros:
			c.dt = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case lTimeMicros:
			c.dt = arrow.FixedWidthTypes.Time64us
		}
	case kFloat:
		c.kind, c.dt = cFloat32, arrow.PrimitiveTypes.Float32
	case kDouble:
		c.kind, c.dt = cFloat64, arrow.PrimitiveTypes.Float64
	case kBytes:
		c.kind, c.dt = cBinary, arrow.BinaryTypes.Binary
		if t.logical == lDecimal {
			c.kind, c.width, c.dt = cFixed, 16, &arrow.Decimal128Type{Precision: t.precision, Scale: t.scale}
		}
	case kString:
		c.kind, c.dt = cBinary, arrow.BinaryTypes.String
	case kFixed:
		c.kind, c.width, c.dt = cFixed, t.size, &arrow.FixedSizeBinaryType{ByteWidth: t.size}
		if t.logical == lDecimal {
			c.width, c.dt = 16, &arrow.Decimal128Type{Precision: t.precision, Scale: t.scale}
		}
	case kEnum:
		c.kind, c.symbols = cDict, t.symbols
		c.dt = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	case kArray:
		item, err := newColumn(t.items, pj, path+"[]", false, stack)
		if err != nil {
			return nil, err
		}
		c.kind, c.kids = cList, []*column{item}
		c.dt = arrow.ListOfField(arrow.Field{Name: "item", Type: item.dt, Nullable: item.nullable})
	case kMap:
		key := &column{kind: cBinary, dt: arrow.BinaryTypes.String, path: path + "{key}", nullKid: -1, offs: []int32{0}}
		val, err := newColumn(t.items, pj, path+"{}", false, stack)
		if err != nil {
			return nil, err
		}
		c.kind, c.kids = cMap, []*column{key, val}
		mt := arrow.MapOf(arrow.BinaryTypes.String, val.dt)
		mt.SetItemNullable(val.nullable)
		c.dt = mt
	case kRecord:
		if stack[t] {
			return nil, fmt.Errorf("avroarrow: recursive type %s cannot be laid out as Arrow columns", t.name)
		}
		stack[t] = true
		defer delete(stack, t)
		if err := checkProjection(t, pj, path); err != nil {
			return nil, err
		}
		c.kind = cStruct
		c.fieldCols = make([]*column, len(t.fields))
		var fs []arrow.Field
		for i, f := range t.fields {
			sub, in := pj.child(f.name)
			if !in {
				continue
			}
			k, err := newColumn(f.typ, sub, path+"."+f.name, false, stack)
			if err != nil {
				return nil, err
			}
			c.fieldCols[i] = k
			c.kids = append(c.kids, k)
			fs = append(fs, arrow.Field{Name: f.name, Type: k.dt, Nullable: k.nullable})
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("avroarrow: projection of %q selects no fields", path)
		}
		c.dt = arrow.StructOf(fs...)
	case kUnion:
		c.kind, c.nullable = cUnion, false
		var fs []arrow.Field
		var codes []arrow.UnionTypeCode
		c.fieldCols = make([]*column, len(t.branches))
		for i, b := range t.branches {
			name := unionBranchName(b)
			k, err := newColumn(b, pj, path+"|"+name, false, stack)
			if err != nil {
				return nil, err
			}
			if b.kind == kNull {
				c.nullKid = len(c.kids)
			}
			c.fieldCols[i] = k
			codes = append(codes, arrow.UnionTypeCode(len(c.kids)))
			c.kids = append(c.kids, k)
			fs = append(fs, arrow.Field{Name: name, Type: k.dt, Nullable: k.nullable})
		}
		if forceNullable && c.nullKid < 0 {
			// Below a null flattened record the union needs a null to hold:
			// unions have no validity bitmap, so give it a null child.
			c.nullKid = len(c.kids)
			codes = append(codes, arrow.UnionTypeCode(len(c.kids)))
			c.kids = append(c.kids, &column{kind: cNull, dt: arrow.Null, nullable: true, path: path + "|null", nullKid: -1, offs: []int32{0}})
			fs = append(fs, arrow.Field{Name: "null", Type: arrow.Null, Nullable: true})
		}
		c.dt = arrow.DenseUnionOf(fs, codes)
	}
	return c, nil
}

func unionBranchName(b *node) string {
	switch b.kind {
	case kRecord, kEnum, kFixed:
		return b.name
	}
	return b.kind.String()
}
