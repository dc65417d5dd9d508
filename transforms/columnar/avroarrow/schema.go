package avroarrow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trialflow/trialflow/schemas/registry/compat"
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

// node is the Arrow layout's view of one Avro schema node parsed by
// compat.Parse (src), the one Avro parser of trialflow. Named types are
// shared, so the graph is cyclic for recursive schemas.
type node struct {
	src       *compat.Schema
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

// parseSchema parses Avro schema JSON with compat.Parse and makes the
// layout's view of it.
func parseSchema(schemaJSON string) (*node, error) {
	s, err := compat.Parse(schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("avroarrow: %w", err)
	}
	return view(s, map[*compat.Schema]*node{})
}

var kinds = map[compat.Kind]kind{
	compat.Null: kNull, compat.Boolean: kBoolean, compat.Int: kInt, compat.Long: kLong,
	compat.Float: kFloat, compat.Double: kDouble, compat.Bytes: kBytes, compat.String: kString,
	compat.Record: kRecord, compat.Enum: kEnum, compat.Array: kArray, compat.Map: kMap,
	compat.Union: kUnion, compat.Fixed: kFixed,
}

var logicals = map[string]logical{
	"date": lDate, "time-millis": lTimeMillis, "time-micros": lTimeMicros,
	"timestamp-millis": lTimestampMillis, "timestamp-micros": lTimestampMicros,
}

// view makes the node of s, sharing one node per named type.
func view(s *compat.Schema, seen map[*compat.Schema]*node) (*node, error) {
	if n, ok := seen[s]; ok {
		return n, nil
	}
	n := &node{src: s, kind: kinds[s.Kind], name: s.Name, size: s.Size, aliases: s.Aliases, symbols: s.Symbols, enumDef: -1}
	seen[s] = n
	switch {
	case s.Logical == "uuid" && s.Kind == compat.String:
		n.logical = lUUID
	case s.Logical == "decimal" && s.Precision <= 38:
		// Decimal128 holds up to 38 digits; a wider decimal stays bytes.
		n.logical, n.precision, n.scale = lDecimal, int32(s.Precision), int32(s.Scale)
	default:
		n.logical = logicals[s.Logical]
	}
	if s.EnumDefault != nil {
		for i, sym := range s.Symbols {
			if sym == *s.EnumDefault {
				n.enumDef = i
			}
		}
	}
	var err error
	switch s.Kind {
	case compat.Array:
		n.items, err = view(s.Items, seen)
	case compat.Map:
		n.items, err = view(s.Values, seen)
	case compat.Union:
		if len(s.Branches) == 0 {
			return nil, fmt.Errorf("avroarrow: schema: empty union")
		}
		for _, b := range s.Branches {
			bn, err := view(b, seen)
			if err != nil {
				return nil, err
			}
			n.branches = append(n.branches, bn)
		}
	case compat.Record:
		for _, f := range s.Fields {
			ft, err := view(f.Type, seen)
			if err != nil {
				return nil, err
			}
			fld := &field{name: f.Name, typ: ft, aliases: f.Aliases}
			if f.HasDefault {
				if fld.def, err = marshalJSON(f.Default); err != nil {
					return nil, fmt.Errorf("avroarrow: record %s field %q default: %w", s.Name, f.Name, err)
				}
			}
			n.fields = append(n.fields, fld)
		}
	}
	return n, err
}

func marshalJSON(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}
