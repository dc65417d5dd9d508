package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Kind is the type of an Avro schema node.
type Kind int

// The Avro types.
const (
	Null Kind = iota
	Boolean
	Int
	Long
	Float
	Double
	Bytes
	String
	Record
	Enum
	Array
	Map
	Union
	Fixed
)

var kindNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string",
	"record", "enum", "array", "map", "union", "fixed"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

var primitives = map[string]Kind{"null": Null, "boolean": Boolean, "int": Int, "long": Long,
	"float": Float, "double": Double, "bytes": Bytes, "string": String}

// Schema is one node of a parsed Avro schema. Named types (record, enum,
// fixed) are shared: every reference to a name points at the same node, so a
// recursive schema is a cyclic graph.
type Schema struct {
	Kind    Kind
	Name    string   // full name of a record, enum or fixed
	Aliases []string // full names of a named type's aliases
	Doc     string

	Fields      []*Field  // record
	Symbols     []string  // enum
	EnumDefault *string   // enum default symbol, if any
	Items       *Schema   // array
	Values      *Schema   // map
	Branches    []*Schema // union
	Size        int       // fixed

	// Props holds every other attribute (logicalType, precision, scale and
	// custom properties such as "phi"), as decoded JSON with json.Number.
	Props map[string]any

	// Logical is the logical type ("date", "timestamp-millis", "decimal",
	// "uuid", ...) when the schema declares one that is valid for its
	// type; an invalid one is ignored, as the specification says (it
	// stays in Props). Precision and Scale are a decimal's. Logical types
	// take no part in resolution: a value resolves as its underlying type.
	Logical          string
	Precision, Scale int
}

// logicalTypes lists, per logical type, the types it may annotate.
var logicalTypes = map[string][]Kind{
	"date": {Int}, "time-millis": {Int}, "time-micros": {Long},
	"timestamp-millis": {Long}, "timestamp-micros": {Long}, "timestamp-nanos": {Long},
	"local-timestamp-millis": {Long}, "local-timestamp-micros": {Long}, "local-timestamp-nanos": {Long},
	"uuid": {String, Fixed}, "decimal": {Bytes, Fixed}, "duration": {Fixed},
}

// setLogical sets s.Logical from its "logicalType" property when that is
// valid for s: the right underlying type, a uuid or duration fixed of 16
// or 12 bytes, a decimal's precision above 0 and scale from 0 to it.
func setLogical(s *Schema) {
	lt, _ := s.Props["logicalType"].(string)
	kinds, ok := logicalTypes[lt]
	if !ok || !containsKind(kinds, s.Kind) {
		return
	}
	switch {
	case lt == "uuid" && s.Kind == Fixed && s.Size != 16, lt == "duration" && s.Size != 12:
		return
	case lt == "decimal":
		prec, err := intAttr(s.Props, "precision")
		if err != nil || prec <= 0 || prec > math.MaxInt32 {
			return
		}
		scale := int64(0)
		if _, present := s.Props["scale"]; present {
			if scale, err = intAttr(s.Props, "scale"); err != nil || scale < 0 || scale > prec {
				return
			}
		}
		s.Precision, s.Scale = int(prec), int(scale)
	}
	s.Logical = lt
}

func containsKind(list []Kind, k Kind) bool {
	for _, e := range list {
		if e == k {
			return true
		}
	}
	return false
}

// Field is one field of a record.
type Field struct {
	Name       string
	Aliases    []string
	Doc        string
	Type       *Schema
	HasDefault bool
	Default    any    // decoded JSON (json.Number for numbers); nil is JSON null
	Order      string // "ascending" (the default), "descending" or "ignore"
	Props      map[string]any
}

// ShortName is the unqualified part of a named type's full name.
func (s *Schema) ShortName() string {
	if i := strings.LastIndexByte(s.Name, '.'); i >= 0 {
		return s.Name[i+1:]
	}
	return s.Name
}

// Describe names the type for messages: "int", "record org.x.Foo",
// "union [null, string]".
func (s *Schema) Describe() string {
	switch s.Kind {
	case Record, Enum, Fixed:
		return s.Kind.String() + " " + s.Name
	case Array:
		return "array<" + s.Items.Describe() + ">"
	case Map:
		return "map<" + s.Values.Describe() + ">"
	case Union:
		parts := make([]string, len(s.Branches))
		for i, b := range s.Branches {
			parts[i] = b.Describe()
		}
		return "union [" + strings.Join(parts, ", ") + "]"
	}
	return s.Kind.String()
}

// ParseError is returned by Parse; Path locates the problem in the schema
// (field names and type names, dotted).
type ParseError struct {
	Path string
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Path == "" {
		return "avro schema: " + e.Msg
	}
	return fmt.Sprintf("avro schema: at %s: %s", e.Path, e.Msg)
}

// maxSchemaBytes bounds the input so hostile schemas cannot exhaust memory
// or time; real contracts are a few kilobytes.
const maxSchemaBytes = 4 << 20

// Parse parses an Avro schema (JSON) and checks it against the
// specification: names, namespaces, references, unions, enum symbols, fixed
// sizes and field defaults.
func Parse(schemaJSON string) (*Schema, error) {
	return ParseWithReferences(schemaJSON)
}

// ParseWithReferences parses schemaJSON as Parse does, with the named types
// of refs (parsed referenced schemas: Confluent's schema references) known
// by their full names. The result shares the referenced nodes, so its
// Canonical and Normalized forms define them inline, self-contained.
func ParseWithReferences(schemaJSON string, refs ...*Schema) (*Schema, error) {
	names := map[string]*Schema{}
	for _, r := range refs {
		collectNamed(r, names)
	}
	return parse(schemaJSON, names)
}

// collectNamed adds the named types reachable from s to names, the first
// definition of a name winning.
func collectNamed(s *Schema, names map[string]*Schema) {
	if s == nil {
		return
	}
	switch s.Kind {
	case Record, Enum, Fixed:
		if _, ok := names[s.Name]; ok {
			return
		}
		names[s.Name] = s
		for _, f := range s.Fields {
			collectNamed(f.Type, names)
		}
	case Array:
		collectNamed(s.Items, names)
	case Map:
		collectNamed(s.Values, names)
	case Union:
		for _, b := range s.Branches {
			collectNamed(b, names)
		}
	}
}

func parse(schemaJSON string, names map[string]*Schema) (*Schema, error) {
	if len(schemaJSON) > maxSchemaBytes {
		return nil, &ParseError{Msg: fmt.Sprintf("schema is %d bytes, more than the %d allowed", len(schemaJSON), maxSchemaBytes)}
	}
	dec := json.NewDecoder(strings.NewReader(schemaJSON))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, &ParseError{Msg: "invalid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err == nil {
		return nil, &ParseError{Msg: "invalid JSON: trailing data after the schema"}
	}
	p := &parser{names: names}
	s, err := p.parse(root, "", "")
	if err != nil {
		return nil, err
	}
	for _, d := range p.defaults {
		if err := checkDefault(d.f.Type, d.f.Default, 0); err != nil {
			return nil, &ParseError{Path: d.path, Msg: "invalid default: " + err.Error()}
		}
	}
	return s, nil
}

type parser struct {
	names    map[string]*Schema
	defaults []pendingDefault
}

type pendingDefault struct {
	f    *Field
	path string
}

func join(path, name string) string {
	if name == "" {
		return path
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func (p *parser) parse(node any, ns, path string) (*Schema, error) {
	switch n := node.(type) {
	case string:
		return p.ref(n, ns, path)
	case []any:
		return p.union(n, ns, path)
	case map[string]any:
		return p.object(n, ns, path)
	case nil:
		return nil, &ParseError{Path: path, Msg: "type is JSON null; want a type name, an object or a union array"}
	}
	return nil, &ParseError{Path: path, Msg: fmt.Sprintf("type is a JSON %s; want a type name, an object or a union array", jsonKind(node))}
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

func (p *parser) ref(name, ns, path string) (*Schema, error) {
	if k, ok := primitives[name]; ok {
		return &Schema{Kind: k}, nil
	}
	if name == "" {
		return nil, &ParseError{Path: path, Msg: "empty type name"}
	}
	full := fullName(name, ns)
	if s, ok := p.names[full]; ok {
		return s, nil
	}
	if s, ok := p.names[name]; ok {
		return s, nil
	}
	return nil, &ParseError{Path: path, Msg: fmt.Sprintf("unknown type %q", name)}
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func (p *parser) union(branches []any, ns, path string) (*Schema, error) {
	u := &Schema{Kind: Union, Branches: make([]*Schema, 0, len(branches))}
	seen := map[string]bool{}
	for i, b := range branches {
		s, err := p.parse(b, ns, path)
		if err != nil {
			return nil, err
		}
		if s.Kind == Union {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("union branch %d is itself a union; unions may not immediately contain unions", i)}
		}
		key := s.Kind.String()
		if s.Kind == Record || s.Kind == Enum || s.Kind == Fixed {
			key = s.Name
		}
		if seen[key] {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("union has two branches of type %s", key)}
		}
		seen[key] = true
		u.Branches = append(u.Branches, s)
	}
	return u, nil
}

var reserved = map[Kind]map[string]bool{
	Record: {"type": true, "name": true, "namespace": true, "doc": true, "aliases": true, "fields": true},
	Enum:   {"type": true, "name": true, "namespace": true, "doc": true, "aliases": true, "symbols": true, "default": true},
	Fixed:  {"type": true, "name": true, "namespace": true, "doc": true, "aliases": true, "size": true},
	Array:  {"type": true, "items": true, "doc": true},
	Map:    {"type": true, "values": true, "doc": true},
}

var fieldReserved = map[string]bool{"name": true, "type": true, "default": true, "doc": true, "aliases": true, "order": true}

func props(obj map[string]any, res map[string]bool) map[string]any {
	var out map[string]any
	for k, v := range obj {
		if res[k] || k == "doc" {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = v
	}
	return out
}

func (p *parser) object(obj map[string]any, ns, path string) (*Schema, error) {
	t, ok := obj["type"]
	if !ok {
		return nil, &ParseError{Path: path, Msg: `object has no "type"`}
	}
	ts, ok := t.(string)
	if !ok {
		if m, isObj := t.(map[string]any); isObj && len(obj) == 1 {
			return p.object(m, ns, path) // {"type": {...}} wraps a schema
		}
		if a, isArr := t.([]any); isArr && len(obj) == 1 {
			return p.union(a, ns, path)
		}
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf(`"type" is a JSON %s; want a type name`, jsonKind(t))}
	}
	doc, _ := obj["doc"].(string)
	switch ts {
	case "record", "error":
		return p.record(obj, ns, path, doc)
	case "enum":
		return p.enum(obj, ns, path, doc)
	case "fixed":
		s, err := p.named(obj, Fixed, ns, path, doc)
		if err != nil {
			return nil, err
		}
		size, err := intAttr(obj, "size")
		if err != nil {
			return nil, &ParseError{Path: join(path, s.ShortName()), Msg: err.Error()}
		}
		if size < 0 || size > math.MaxInt32 {
			return nil, &ParseError{Path: join(path, s.ShortName()), Msg: fmt.Sprintf("fixed size %d out of range", size)}
		}
		s.Size = int(size)
		setLogical(s)
		return s, nil
	case "array":
		items, ok := obj["items"]
		if !ok {
			return nil, &ParseError{Path: path, Msg: `array has no "items"`}
		}
		it, err := p.parse(items, ns, path)
		if err != nil {
			return nil, err
		}
		return &Schema{Kind: Array, Items: it, Doc: doc, Props: props(obj, reserved[Array])}, nil
	case "map":
		values, ok := obj["values"]
		if !ok {
			return nil, &ParseError{Path: path, Msg: `map has no "values"`}
		}
		v, err := p.parse(values, ns, path)
		if err != nil {
			return nil, err
		}
		return &Schema{Kind: Map, Values: v, Doc: doc, Props: props(obj, reserved[Map])}, nil
	}
	if k, ok := primitives[ts]; ok {
		s := &Schema{Kind: k, Doc: doc, Props: props(obj, map[string]bool{"type": true})}
		setLogical(s)
		return s, nil
	}
	// {"type": "some.Named"} refers to a defined type.
	s, err := p.ref(ts, ns, path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func intAttr(obj map[string]any, key string) (int64, error) {
	v, ok := obj[key]
	if !ok {
		return 0, fmt.Errorf("no %q", key)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%q is a JSON %s; want an integer", key, jsonKind(v))
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%q is %s; want an integer", key, n)
	}
	return i, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func validFullName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !validName(part) {
			return false
		}
	}
	return true
}

// named parses name, namespace and aliases and registers the type, before
// its body is parsed so that the body may refer to it.
func (p *parser) named(obj map[string]any, k Kind, ns, path, doc string) (*Schema, error) {
	name, ok := obj["name"].(string)
	if !ok {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s has no string \"name\"", k)}
	}
	if nsv, ok := obj["namespace"]; ok && nsv != nil {
		s, isStr := nsv.(string)
		if !isStr {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s %q: \"namespace\" is a JSON %s; want a string", k, name, jsonKind(nsv))}
		}
		if s != "" && !validFullName(s) {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s %q: invalid namespace %q", k, name, s)}
		}
		if !strings.Contains(name, ".") {
			ns = s
		}
	}
	if !validFullName(name) {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("invalid %s name %q", k, name)}
	}
	full := fullName(name, ns)
	if _, prim := primitives[full]; prim {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s may not be named %q, a primitive type", k, full)}
	}
	if _, dup := p.names[full]; dup {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s %q is defined twice", k, full)}
	}
	s := &Schema{Kind: k, Name: full, Doc: doc, Props: props(obj, reserved[k])}
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		ns = full[:i]
	} else {
		ns = ""
	}
	aliases, err := stringList(obj, "aliases")
	if err != nil {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s %q: %v", k, full, err)}
	}
	for _, a := range aliases {
		if !validFullName(a) {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("%s %q: invalid alias %q", k, full, a)}
		}
		s.Aliases = append(s.Aliases, fullName(a, ns))
	}
	p.names[full] = s
	return s, nil
}

func stringList(obj map[string]any, key string) ([]string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%q is a JSON %s; want an array of strings", key, jsonKind(v))
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%q holds a JSON %s; want strings", key, jsonKind(e))
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) record(obj map[string]any, ns, path, doc string) (*Schema, error) {
	s, err := p.named(obj, Record, ns, path, doc)
	if err != nil {
		return nil, err
	}
	ns = ""
	if i := strings.LastIndexByte(s.Name, '.'); i >= 0 {
		ns = s.Name[:i]
	}
	fv, ok := obj["fields"]
	if !ok {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("record %q has no \"fields\"", s.Name)}
	}
	fields, ok := fv.([]any)
	if !ok {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("record %q: \"fields\" is a JSON %s; want an array", s.Name, jsonKind(fv))}
	}
	seen := map[string]bool{}
	for i, fe := range fields {
		fo, ok := fe.(map[string]any)
		if !ok {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("record %q: field %d is a JSON %s; want an object", s.Name, i, jsonKind(fe))}
		}
		name, ok := fo["name"].(string)
		if !ok || !validName(name) {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("record %q: field %d has an invalid or missing name %v", s.Name, i, fo["name"])}
		}
		fpath := join(path, name)
		if seen[name] {
			return nil, &ParseError{Path: fpath, Msg: fmt.Sprintf("record %q has two fields named %q", s.Name, name)}
		}
		seen[name] = true
		ft, ok := fo["type"]
		if !ok {
			return nil, &ParseError{Path: fpath, Msg: "field has no \"type\""}
		}
		t, err := p.parse(ft, ns, fpath)
		if err != nil {
			return nil, err
		}
		f := &Field{Name: name, Type: t, Order: "ascending", Props: props(fo, fieldReserved)}
		f.Doc, _ = fo["doc"].(string)
		if f.Aliases, err = stringList(fo, "aliases"); err != nil {
			return nil, &ParseError{Path: fpath, Msg: err.Error()}
		}
		for _, a := range f.Aliases {
			if !validName(a) {
				return nil, &ParseError{Path: fpath, Msg: fmt.Sprintf("invalid field alias %q", a)}
			}
		}
		if o, ok := fo["order"]; ok {
			os, _ := o.(string)
			if os != "ascending" && os != "descending" && os != "ignore" {
				return nil, &ParseError{Path: fpath, Msg: fmt.Sprintf("invalid order %v; want ascending, descending or ignore", o)}
			}
			f.Order = os
		}
		if d, ok := fo["default"]; ok {
			f.HasDefault, f.Default = true, d
			p.defaults = append(p.defaults, pendingDefault{f, fpath})
		}
		s.Fields = append(s.Fields, f)
	}
	return s, nil
}

func (p *parser) enum(obj map[string]any, ns, path, doc string) (*Schema, error) {
	s, err := p.named(obj, Enum, ns, path, doc)
	if err != nil {
		return nil, err
	}
	if _, ok := obj["symbols"]; !ok {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("enum %q has no \"symbols\"", s.Name)}
	}
	syms, err := stringList(obj, "symbols")
	if err != nil {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("enum %q: %v", s.Name, err)}
	}
	seen := map[string]bool{}
	for _, sym := range syms {
		if !validName(sym) {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("enum %q: invalid symbol %q", s.Name, sym)}
		}
		if seen[sym] {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("enum %q: symbol %q appears twice", s.Name, sym)}
		}
		seen[sym] = true
	}
	s.Symbols = syms
	if d, ok := obj["default"]; ok {
		ds, isStr := d.(string)
		if !isStr || !seen[ds] {
			return nil, &ParseError{Path: path, Msg: fmt.Sprintf("enum %q: default %v is not one of its symbols", s.Name, d)}
		}
		s.EnumDefault = &ds
	}
	return s, nil
}

const maxDefaultDepth = 256

// checkDefault reports whether v (decoded JSON) is a valid default for t.
// A union's default must match its first branch.
func checkDefault(t *Schema, v any, depth int) error {
	if depth > maxDefaultDepth {
		return errors.New("default nested too deeply")
	}
	want := func() error {
		return fmt.Errorf("%s is not a valid %s value", short(v), t.Describe())
	}
	switch t.Kind {
	case Null:
		if v != nil {
			return want()
		}
	case Boolean:
		if _, ok := v.(bool); !ok {
			return want()
		}
	case Int, Long:
		n, ok := v.(json.Number)
		if !ok {
			return want()
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<63 {
				return want()
			}
			i = int64(f)
		}
		if t.Kind == Int && (i < math.MinInt32 || i > math.MaxInt32) {
			return want()
		}
	case Float, Double:
		switch x := v.(type) {
		case json.Number:
		case string:
			if x != "NaN" && x != "Infinity" && x != "-Infinity" {
				return want()
			}
		default:
			return want()
		}
	case Bytes, String, Fixed:
		if _, ok := v.(string); !ok {
			return want()
		}
	case Enum:
		s, ok := v.(string)
		if !ok || !contains(t.Symbols, s) {
			return want()
		}
	case Array:
		arr, ok := v.([]any)
		if !ok {
			return want()
		}
		for _, e := range arr {
			if err := checkDefault(t.Items, e, depth+1); err != nil {
				return err
			}
		}
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			return want()
		}
		for _, e := range m {
			if err := checkDefault(t.Values, e, depth+1); err != nil {
				return err
			}
		}
	case Record:
		m, ok := v.(map[string]any)
		if !ok {
			return want()
		}
		for _, f := range t.Fields {
			fv, ok := m[f.Name]
			if !ok {
				if f.HasDefault {
					continue
				}
				return fmt.Errorf("record %s default lacks field %q, which has no default", t.Name, f.Name)
			}
			if err := checkDefault(f.Type, fv, depth+1); err != nil {
				return err
			}
		}
	case Union:
		if len(t.Branches) == 0 {
			return errors.New("an empty union has no valid default")
		}
		if err := checkDefault(t.Branches[0], v, depth+1); err != nil {
			return fmt.Errorf("a union default must match the union's first branch (%s): %w", t.Branches[0].Describe(), err)
		}
	}
	return nil
}

func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Canonical returns the schema's Parsing Canonical Form, as the Avro
// specification defines it: primitives as bare names, full names, only the
// attributes that matter for reading data (type, name, fields, symbols,
// items, values, size) in that order, no whitespace, every named type
// spelled out once and referred to by full name after that.
func (s *Schema) Canonical() string {
	var b bytes.Buffer
	writeSchema(&b, s, map[*Schema]bool{}, false, "")
	return b.String()
}

// Normalized returns the Parsing Canonical Form extended with what a reader
// relies on but the canonical form drops: defaults, aliases, field order,
// enum defaults, logical types and other properties (such as "phi"), each
// object's extra keys sorted. Doc strings, whitespace, key order and
// namespace spelling do not change it. The embedded registry identifies
// schemas by it, so two registrations that a reader could tell apart never
// share an id.
func (s *Schema) Normalized() string {
	var b bytes.Buffer
	writeSchema(&b, s, map[*Schema]bool{}, true, "")
	return b.String()
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // strings always encode
	b.Truncate(b.Len() - 1)
}

func writeValue(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // decoded JSON always encodes
		b.WriteString("null\n")
	}
	b.Truncate(b.Len() - 1)
}

func writeProps(b *bytes.Buffer, p map[string]any) {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(',')
		writeString(b, k)
		b.WriteByte(':')
		writeValue(b, p[k])
	}
}

func writeNames(b *bytes.Buffer, key string, names []string) {
	if len(names) == 0 {
		return
	}
	b.WriteString(`,"` + key + `":[`)
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, n)
	}
	b.WriteByte(']')
}

// writeSchema writes s; ns is the enclosing namespace, which only the
// normalized form uses: there a type in the null namespace nested in a
// namespaced one says "namespace":"" so the output reparses to the same
// names (the Parsing Canonical Form has no such rule).
func writeSchema(b *bytes.Buffer, s *Schema, seen map[*Schema]bool, full bool, ns string) {
	switch s.Kind {
	case Record, Enum, Fixed:
		if seen[s] {
			writeString(b, s.Name)
			return
		}
		seen[s] = true
		b.WriteString(`{"name":`)
		writeString(b, s.Name)
		own := namespaceOf(s.Name)
		if full && own == "" && ns != "" {
			b.WriteString(`,"namespace":""`)
		}
		ns = own
		b.WriteString(`,"type":"` + s.Kind.String() + `"`)
		switch s.Kind {
		case Record:
			b.WriteString(`,"fields":[`)
			for i, f := range s.Fields {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(`{"name":`)
				writeString(b, f.Name)
				b.WriteString(`,"type":`)
				writeSchema(b, f.Type, seen, full, ns)
				if full {
					if f.HasDefault {
						b.WriteString(`,"default":`)
						writeValue(b, f.Default)
					}
					writeNames(b, "aliases", f.Aliases)
					if f.Order != "" && f.Order != "ascending" {
						b.WriteString(`,"order":`)
						writeString(b, f.Order)
					}
					writeProps(b, f.Props)
				}
				b.WriteByte('}')
			}
			b.WriteByte(']')
		case Enum:
			b.WriteString(`,"symbols":[`)
			for i, sym := range s.Symbols {
				if i > 0 {
					b.WriteByte(',')
				}
				writeString(b, sym)
			}
			b.WriteByte(']')
			if full && s.EnumDefault != nil {
				b.WriteString(`,"default":`)
				writeString(b, *s.EnumDefault)
			}
		case Fixed:
			b.WriteString(`,"size":` + strconv.Itoa(s.Size))
		}
		if full {
			writeNames(b, "aliases", s.Aliases)
			writeProps(b, s.Props)
		}
		b.WriteByte('}')
	case Array:
		b.WriteString(`{"type":"array","items":`)
		writeSchema(b, s.Items, seen, full, ns)
		if full {
			writeProps(b, s.Props)
		}
		b.WriteByte('}')
	case Map:
		b.WriteString(`{"type":"map","values":`)
		writeSchema(b, s.Values, seen, full, ns)
		if full {
			writeProps(b, s.Props)
		}
		b.WriteByte('}')
	case Union:
		b.WriteByte('[')
		for i, br := range s.Branches {
			if i > 0 {
				b.WriteByte(',')
			}
			writeSchema(b, br, seen, full, ns)
		}
		b.WriteByte(']')
	default:
		if full && len(s.Props) > 0 {
			b.WriteString(`{"type":"` + s.Kind.String() + `"`)
			writeProps(b, s.Props)
			b.WriteByte('}')
			return
		}
		b.WriteString(`"` + s.Kind.String() + `"`)
	}
}

func namespaceOf(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i]
	}
	return ""
}
