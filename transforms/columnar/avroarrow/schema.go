package avroarrow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// kind is an Avro type.
type kind uint8

const (
	kNull kind = iota
	kBoolean
	kInt
	kLong
	kFloat
	kDouble
	kBytes
	kString
	kRecord
	kEnum
	kArray
	kMap
	kUnion
	kFixed
)

var kindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "enum", "array", "map", "union", "fixed"}

func (k kind) String() string { return kindNames[k] }

// logical is an Avro logical type that changes the Arrow type of a column.
type logical uint8

const (
	lNone logical = iota
	lDate
	lTimeMillis
	lTimeMicros
	lTimestampMillis
	lTimestampMicros
	lDecimal
	lUUID
)

// node is one parsed Avro schema. Named types are shared, so the graph is
// cyclic for recursive schemas.
type node struct {
	kind      kind
	name      string // full name of a named type
	logical   logical
	precision int32 // decimal
	scale     int32 // decimal
	size      int   // fixed

	fields   []*field // record
	symbols  []string // enum
	enumDef  int      // index of the enum default symbol, -1 when none
	items    *node    // array items, map values
	branches []*node  // union
	aliases  []string // full names
}

type field struct {
	name    string
	typ     *node
	def     json.RawMessage // nil when the field has no default
	aliases []string
}

func (n *node) shortName() string {
	if i := strings.LastIndexByte(n.name, '.'); i >= 0 {
		return n.name[i+1:]
	}
	return n.name
}

// String renders a short description of the type for error messages.
func (n *node) String() string {
	switch n.kind {
	case kRecord, kEnum, kFixed:
		return n.kind.String() + " " + n.name
	case kArray:
		return "array<" + n.items.String() + ">"
	case kMap:
		return "map<" + n.items.String() + ">"
	case kUnion:
		parts := make([]string, len(n.branches))
		for i, b := range n.branches {
			parts[i] = b.String()
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return n.kind.String()
}

// parseSchema parses Avro schema JSON.
func parseSchema(schemaJSON string) (*node, error) {
	dec := json.NewDecoder(strings.NewReader(schemaJSON))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("avroarrow: parse schema JSON: %w", err)
	}
	p := &parser{named: map[string]*node{}}
	n, err := p.parse(root, "")
	if err != nil {
		return nil, fmt.Errorf("avroarrow: schema: %w", err)
	}
	return n, nil
}

type parser struct {
	named map[string]*node
}

var primitives = map[string]kind{
	"null": kNull, "boolean": kBoolean, "int": kInt, "long": kLong, "float": kFloat,
	"double": kDouble, "bytes": kBytes, "string": kString,
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *parser) parse(v any, ns string) (*node, error) {
	switch t := v.(type) {
	case string:
		if k, ok := primitives[t]; ok {
			return &node{kind: k, enumDef: -1}, nil
		}
		if n, ok := p.named[fullName(t, ns)]; ok {
			return n, nil
		}
		if n, ok := p.named[t]; ok {
			return n, nil
		}
		return nil, fmt.Errorf("unknown type %q", t)
	case []any:
		u := &node{kind: kUnion, enumDef: -1}
		for i, b := range t {
			bn, err := p.parse(b, ns)
			if err != nil {
				return nil, fmt.Errorf("union branch %d: %w", i, err)
			}
			if bn.kind == kUnion {
				return nil, fmt.Errorf("union branch %d: unions may not contain unions", i)
			}
			u.branches = append(u.branches, bn)
		}
		if len(u.branches) == 0 {
			return nil, fmt.Errorf("empty union")
		}
		return u, nil
	case map[string]any:
		return p.parseObject(t, ns)
	}
	return nil, fmt.Errorf("unexpected schema JSON %T", v)
}

func (p *parser) parseObject(m map[string]any, ns string) (*node, error) {
	typ, ok := m["type"]
	if !ok {
		return nil, fmt.Errorf("schema object without \"type\"")
	}
	ts, isString := typ.(string)
	if !isString {
		// {"type": {...}} or {"type": [...]}: a wrapped schema.
		return p.parse(typ, ns)
	}
	lt, _ := m["logicalType"].(string)
	switch ts {
	case "record", "error", "enum", "fixed":
		name, _ := m["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s without a name", ts)
		}
		if nsv, ok := m["namespace"].(string); ok && !strings.Contains(name, ".") {
			ns = nsv
		}
		full := fullName(name, ns)
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			ns = full[:i]
		} else {
			ns = ""
		}
		if _, dup := p.named[full]; dup {
			return nil, fmt.Errorf("type %s defined twice", full)
		}
		n := &node{name: full, enumDef: -1}
		if al, ok := m["aliases"].([]any); ok {
			for _, a := range al {
				if s, ok := a.(string); ok {
					n.aliases = append(n.aliases, fullName(s, ns))
				}
			}
		}
		p.named[full] = n
		switch ts {
		case "record", "error":
			n.kind = kRecord
			fs, _ := m["fields"].([]any)
			seen := map[string]bool{}
			for i, f := range fs {
				fm, ok := f.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s field %d is not an object", full, i)
				}
				fname, _ := fm["name"].(string)
				if fname == "" {
					return nil, fmt.Errorf("record %s field %d has no name", full, i)
				}
				if seen[fname] {
					return nil, fmt.Errorf("record %s: duplicate field %q", full, fname)
				}
				seen[fname] = true
				ft, ok := fm["type"]
				if !ok {
					return nil, fmt.Errorf("record %s field %q has no type", full, fname)
				}
				fn, err := p.parse(ft, ns)
				if err != nil {
					return nil, fmt.Errorf("record %s field %q: %w", full, fname, err)
				}
				fld := &field{name: fname, typ: fn}
				if d, ok := fm["default"]; ok {
					raw, err := marshalJSON(d)
					if err != nil {
						return nil, fmt.Errorf("record %s field %q default: %w", full, fname, err)
					}
					fld.def = raw
				}
				if al, ok := fm["aliases"].([]any); ok {
					for _, a := range al {
						if s, ok := a.(string); ok {
							fld.aliases = append(fld.aliases, s)
						}
					}
				}
				n.fields = append(n.fields, fld)
			}
		case "enum":
			n.kind = kEnum
			syms, _ := m["symbols"].([]any)
			for _, s := range syms {
				str, ok := s.(string)
				if !ok {
					return nil, fmt.Errorf("enum %s: symbol %v is not a string", full, s)
				}
				n.symbols = append(n.symbols, str)
			}
			if len(n.symbols) == 0 {
				return nil, fmt.Errorf("enum %s has no symbols", full)
			}
			if d, ok := m["default"].(string); ok {
				for i, s := range n.symbols {
					if s == d {
						n.enumDef = i
					}
				}
				if n.enumDef < 0 {
					return nil, fmt.Errorf("enum %s: default %q is not a symbol", full, d)
				}
			}
		case "fixed":
			n.kind = kFixed
			size, err := intProp(m, "size")
			if err != nil || size < 0 {
				return nil, fmt.Errorf("fixed %s: bad size: %v", full, m["size"])
			}
			n.size = int(size)
			if lt == "decimal" {
				setDecimal(n, m)
			}
		}
		return n, nil
	case "array":
		it, ok := m["items"]
		if !ok {
			return nil, fmt.Errorf("array without items")
		}
		in, err := p.parse(it, ns)
		if err != nil {
			return nil, fmt.Errorf("array items: %w", err)
		}
		return &node{kind: kArray, items: in, enumDef: -1}, nil
	case "map":
		vt, ok := m["values"]
		if !ok {
			return nil, fmt.Errorf("map without values")
		}
		vn, err := p.parse(vt, ns)
		if err != nil {
			return nil, fmt.Errorf("map values: %w", err)
		}
		return &node{kind: kMap, items: vn, enumDef: -1}, nil
	}
	k, ok := primitives[ts]
	if !ok {
		// A named type reference written as {"type": "Name"}.
		return p.parse(ts, ns)
	}
	n := &node{kind: k, enumDef: -1}
	switch {
	case k == kInt && lt == "date":
		n.logical = lDate
	case k == kInt && lt == "time-millis":
		n.logical = lTimeMillis
	case k == kLong && lt == "time-micros":
		n.logical = lTimeMicros
	case k == kLong && lt == "timestamp-millis":
		n.logical = lTimestampMillis
	case k == kLong && lt == "timestamp-micros":
		n.logical = lTimestampMicros
	case k == kString && lt == "uuid":
		n.logical = lUUID
	case k == kBytes && lt == "decimal":
		setDecimal(n, m)
	}
	return n, nil
}

// setDecimal marks n as decimal when its precision and scale are valid and
// fit Decimal128; otherwise the logical type is ignored, as the spec says.
func setDecimal(n *node, m map[string]any) {
	prec, err := intProp(m, "precision")
	if err != nil || prec <= 0 || prec > 38 {
		return
	}
	scale, err := intProp(m, "scale")
	if _, present := m["scale"]; !present {
		scale, err = 0, nil
	}
	if err != nil || scale < 0 || scale > prec {
		return
	}
	n.logical, n.precision, n.scale = lDecimal, int32(prec), int32(scale)
}

func intProp(m map[string]any, key string) (int64, error) {
	num, ok := m[key].(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", key)
	}
	return num.Int64()
}

func marshalJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}
