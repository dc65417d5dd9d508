package compat

import (
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"int"`, `"int"`},
		{`{"type":"int"}`, `"int"`},
		{`{"type":"long","logicalType":"timestamp-millis"}`, `"long"`},
		{` { "type" : "array", "items" : {"type":"string"}, "doc":"x" } `, `{"type":"array","items":"string"}`},
		{`{"values":"int","type":"map"}`, `{"type":"map","values":"int"}`},
		{`["null",{"type":"string"}]`, `["null","string"]`},
		{`{"type":"fixed","name":"F","namespace":"a.b","size":0016,"aliases":["G"]}`, ""}, // leading zero: invalid JSON
		{`{"type":"fixed","name":"F","namespace":"a.b","size":16,"aliases":["G"]}`, `{"name":"a.b.F","type":"fixed","size":16}`},
		{`{"namespace":"x","type":"enum","name":"E","doc":"d","symbols":["A","B"],"default":"A"}`, `{"name":"x.E","type":"enum","symbols":["A","B"]}`},
		{`{"type":"record","name":"R","namespace":"n","doc":"d","fields":[
			{"name":"a","type":"int","default":1,"doc":"x","order":"descending"},
			{"name":"b","type":{"type":"enum","name":"E","symbols":["Z"]}},
			{"name":"c","type":"E"},
			{"name":"d","type":"n.E"},
			{"name":"s","type":"string","phi":true}]}`,
			`{"name":"n.R","type":"record","fields":[{"name":"a","type":"int"},{"name":"b","type":{"name":"n.E","type":"enum","symbols":["Z"]}},{"name":"c","type":"n.E"},{"name":"d","type":"n.E"},{"name":"s","type":"string"}]}`},
		{`{"type":"record","name":"R","fields":[{"name":"s","type":"string","default":"\u00e9<"}]}`, `{"name":"R","type":"record","fields":[{"name":"s","type":"string"}]}`},
		{`{"type":"enum","name":"E","symbols":["\u0041"]}`, `{"name":"E","type":"enum","symbols":["A"]}`},
	}
	for _, tt := range tests {
		s, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%s): no error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		if got := s.Canonical(); got != tt.want {
			t.Errorf("Canonical(%s)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestNormalized(t *testing.T) {
	a := mustParse(t, `{"type":"record","name":"R","namespace":"n","doc":"one","fields":[{"name":"a","type":"int","default":1,"phi":true}]}`)
	b := mustParse(t, `{"fields":[{"phi":true,"default":1,"type":{"type":"int"},"name":"a","doc":"two"}],"name":"n.R","type":"record"}`)
	if a.Normalized() != b.Normalized() {
		t.Errorf("doc, key order and namespace spelling changed Normalized:\n%s\n%s", a.Normalized(), b.Normalized())
	}
	want := `{"name":"n.R","type":"record","fields":[{"name":"a","type":"int","default":1,"phi":true}]}`
	if got := a.Normalized(); got != want {
		t.Errorf("Normalized = %s, want %s", got, want)
	}
	for _, other := range []string{
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int","default":2,"phi":true}]}`,
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int","default":1}]}`,
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"int","logicalType":"date"},"default":1,"phi":true}]}`,
	} {
		o := mustParse(t, other)
		if o.Normalized() == a.Normalized() {
			t.Errorf("Normalized did not tell apart %s", other)
		}
		if o.Canonical() != a.Canonical() {
			t.Errorf("Canonical told apart %s", other)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "invalid JSON"},
		{`{"type":"record","name":"R","fields":[}`, "invalid JSON"},
		{`"int" "long"`, "trailing data"},
		{`"Nope"`, `unknown type "Nope"`},
		{`42`, "JSON number"},
		{`null`, "JSON null"},
		{`{"name":"x"}`, `no "type"`},
		{`{"type":"record","fields":[]}`, `has no string "name"`},
		{`{"type":"record","name":"1R","fields":[]}`, "invalid record name"},
		{`{"type":"record","name":"R"}`, `has no "fields"`},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`, "two fields named"},
		{`{"type":"record","name":"R","fields":[{"name":"a"}]}`, `at a: field has no "type"`},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`, `at a: invalid default: "x" is not a valid int`},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":3000000000}]}`, "invalid default"},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":1}]}`, "first branch"},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"up"}]}`, "invalid order"},
		{`{"type":"record","name":"R","fields":[{"name":"v","type":{"type":"record","name":"V","fields":[{"name":"x","type":"Q"}]}}]}`, `at v.x: unknown type "Q"`},
		{`["int","int"]`, "two branches of type int"},
		{`["int",["null"]]`, "itself a union"},
		{`{"type":"enum","name":"E","symbols":["A","A"]}`, "appears twice"},
		{`{"type":"enum","name":"E","symbols":["A"],"default":"B"}`, "not one of its symbols"},
		{`{"type":"enum","name":"E"}`, `no "symbols"`},
		{`{"type":"enum","name":"E","symbols":["a-b"]}`, "invalid symbol"},
		{`{"type":"fixed","name":"F"}`, `no "size"`},
		{`{"type":"fixed","name":"F","size":-1}`, "out of range"},
		{`{"type":"fixed","name":"F","size":"4"}`, "want an integer"},
		{`{"type":"array"}`, `no "items"`},
		{`{"type":"map"}`, `no "values"`},
		{`{"type":"record","name":"int","fields":[]}`, "primitive"},
		{`[{"type":"fixed","name":"F","size":1},{"type":"fixed","name":"F","size":2}]`, "defined twice"},
		{`{"type":"record","name":"R","namespace":"a..b","fields":[]}`, "invalid namespace"},
		{`{"type":7}`, `"type" is a JSON number`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%s): no error, want %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%s) = %v, want it to contain %q", tt.in, err, tt.want)
		}
	}
	if _, err := Parse(`"` + strings.Repeat("a", maxSchemaBytes) + `"`); err == nil {
		t.Error("huge schema: no error")
	}
}

func TestDefaults(t *testing.T) {
	ok := []string{
		`{"type":"record","name":"R","fields":[
			{"name":"n","type":"null","default":null},
			{"name":"b","type":"boolean","default":true},
			{"name":"l","type":"long","default":9007199254740993},
			{"name":"f","type":"float","default":1.5},
			{"name":"d","type":"double","default":"NaN"},
			{"name":"by","type":"bytes","default":"\u00ff"},
			{"name":"s","type":"string","default":""},
			{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"},
			{"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
			{"name":"m","type":{"type":"map","values":"int"},"default":{"k":1}},
			{"name":"u","type":["string","null"],"default":"x"},
			{"name":"r","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":0}]},"default":{"x":1}},
			{"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"ab"}]}`,
		// Recursive type with a default referring to itself.
		`{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"],"default":null}]}`,
	}
	for _, s := range ok {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse: %v", err)
		}
	}
	bad := []string{
		`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"int"},"default":["x"]}]}`,
		`{"type":"record","name":"R","fields":[{"name":"r","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]},"default":{}}]}`,
		`{"type":"record","name":"R","fields":[{"name":"b","type":"boolean","default":null}]}`,
		`{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"B"}]}`,
	}
	for _, s := range bad {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%s): no error", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`"int"`, listV1, `["null","string"]`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"map","values":{"type":"array","items":{"type":"fixed","name":"F","size":3}}},"default":{}}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		canon := s.Canonical()
		s2, err := Parse(canon)
		if err != nil {
			t.Fatalf("canonical form %s of %q does not parse: %v", canon, in, err)
		}
		// The Parsing Canonical Form cannot say that a nested type is in
		// the null namespace; only then may it reparse differently.
		if c2 := s2.Canonical(); c2 != canon && !nullNamespaceInside(s) {
			t.Fatalf("canonical form not stable:\n%s\n%s", canon, c2)
		}
		n := s.Normalized()
		s3, err := Parse(n)
		if err != nil {
			t.Fatalf("normalized form %s of %q does not parse: %v", n, in, err)
		}
		if n3 := s3.Normalized(); n3 != n {
			t.Fatalf("normalized form not stable:\n%s\n%s", n, n3)
		}
		if got := Check(s, s); len(got) != 0 {
			t.Fatalf("schema %q cannot read itself: %v", in, got)
		}
		if got := Check(s, s3); len(got) != 0 {
			t.Fatalf("schema %q cannot read its canonical form: %v", in, got)
		}
	})
}

// nullNamespaceInside reports whether a named type without a namespace is
// nested in a namespaced one.
func nullNamespaceInside(s *Schema) bool {
	seen := map[*Schema]bool{}
	var walk func(s *Schema, ns string) bool
	walk = func(s *Schema, ns string) bool {
		switch s.Kind {
		case Record, Enum, Fixed:
			own := namespaceOf(s.Name)
			if own == "" && ns != "" {
				return true
			}
			if seen[s] {
				return false
			}
			seen[s] = true
			for _, f := range s.Fields {
				if walk(f.Type, own) {
					return true
				}
			}
		case Array:
			return walk(s.Items, ns)
		case Map:
			return walk(s.Values, ns)
		case Union:
			for _, b := range s.Branches {
				if walk(b, ns) {
					return true
				}
			}
		}
		return false
	}
	return walk(s, "")
}

func TestNullNamespaceNested(t *testing.T) {
	s := mustParse(t, `{"type":"record","name":"R","namespace":"n","fields":[{"name":"e","type":{"type":"enum","name":"E","namespace":"","symbols":["A"]}}]}`)
	if got := s.Fields[0].Type.Name; got != "E" {
		t.Fatalf("nested name = %q, want E", got)
	}
	back := mustParse(t, s.Normalized())
	if back.Fields[0].Type.Name != "E" || back.Normalized() != s.Normalized() {
		t.Errorf("normalized form lost the null namespace: %s", s.Normalized())
	}
}

func TestParseWithReferences(t *testing.T) {
	addr, err := Parse(`{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	const person = `{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"home","type":"Address"},{"name":"work","type":"com.acme.Address"}]}`
	if _, err := Parse(person); err == nil {
		t.Fatal("Parse resolved a type no reference defines")
	}
	p, err := ParseWithReferences(person, addr)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fields[0].Type != addr || p.Fields[1].Type != addr {
		t.Error("the references do not share the referenced node")
	}
	want := `{"name":"com.acme.Person","type":"record","fields":[{"name":"home","type":{"name":"com.acme.Address","type":"record","fields":[{"name":"city","type":"string"}]}},{"name":"work","type":"com.acme.Address"}]}`
	if got := p.Canonical(); got != want {
		t.Errorf("Canonical:\n got %s\nwant %s", got, want)
	}
	// A schema may not define again a type a reference defines.
	if _, err := ParseWithReferences(`{"type":"record","name":"Address","namespace":"com.acme","fields":[]}`, addr); err == nil {
		t.Error("a type defined twice was accepted")
	}
}
