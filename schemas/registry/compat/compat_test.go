package compat

import (
	"strings"
	"testing"
)

func mustParse(t testing.TB, s string) *Schema {
	t.Helper()
	sch, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return sch
}

func rec(name, fields string) string {
	return `{"type":"record","name":"` + name + `","namespace":"t","fields":[` + fields + `]}`
}

// TestResolutionRules checks every rule both ways: a reads b (data written
// with b read with a) and b reads a.
func TestResolutionRules(t *testing.T) {
	tests := []struct {
		name       string
		a, b       string
		aReadsB    bool
		bReadsA    bool
		msg        string // substring of the first message when a cannot read b
		reverseMsg string // substring of the first message when b cannot read a
	}{
		{"same primitive", `"int"`, `"int"`, true, true, "", ""},
		{"null vs boolean", `"null"`, `"boolean"`, false, false, "reader type null cannot read writer type boolean", ""},
		{"long reads int", `"long"`, `"int"`, true, false, "", "reader type int cannot read writer type long"},
		{"float reads int", `"float"`, `"int"`, true, false, "", "reader type int cannot read writer type float"},
		{"double reads int", `"double"`, `"int"`, true, false, "", ""},
		{"float reads long", `"float"`, `"long"`, true, false, "", ""},
		{"double reads long", `"double"`, `"long"`, true, false, "", ""},
		{"double reads float", `"double"`, `"float"`, true, false, "", ""},
		{"int vs string", `"int"`, `"string"`, false, false, "reader type int cannot read writer type string", "reader type string cannot read writer type int"},
		{"string and bytes", `"string"`, `"bytes"`, true, true, "", ""},
		{"logical type ignored", `{"type":"long","logicalType":"timestamp-millis"}`, `"long"`, true, true, "", ""},
		{"array items promote", `{"type":"array","items":"long"}`, `{"type":"array","items":"int"}`, true, false, "", "reader type int cannot read writer type long"},
		{"array vs map", `{"type":"array","items":"int"}`, `{"type":"map","values":"int"}`, false, false, "reader type array<int> cannot read writer type map<int>", ""},
		{"map values", `{"type":"map","values":"double"}`, `{"type":"map","values":"float"}`, true, false, "", ""},
		{"fixed same", `{"type":"fixed","name":"F","size":16}`, `{"type":"fixed","name":"F","size":16}`, true, true, "", ""},
		{"fixed size", `{"type":"fixed","name":"F","size":16}`, `{"type":"fixed","name":"F","size":8}`, false, false, "has size 16", "has size 8"},
		{"fixed name", `{"type":"fixed","name":"F","size":4}`, `{"type":"fixed","name":"G","size":4}`, false, false, "names differ", ""},
		{"fixed alias", `{"type":"fixed","name":"F","size":4,"aliases":["G"]}`, `{"type":"fixed","name":"G","size":4}`, true, false, "", ""},
		{"fixed namespace ignored", `{"type":"fixed","name":"a.F","size":4}`, `{"type":"fixed","name":"b.F","size":4}`, true, true, "", ""},
		{"enum added symbol", `{"type":"enum","name":"E","symbols":["A","B","C"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, true, false, "", "lacks writer symbols [C]"},
		{"enum default", `{"type":"enum","name":"E","symbols":["A","U"],"default":"U"}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, true, false, "", "lacks writer symbols [U]"},
		{"enum name", `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"X","symbols":["A"]}`, false, false, "names differ", ""},
		{"enum alias", `{"type":"enum","name":"E","aliases":["X"],"symbols":["A"]}`, `{"type":"enum","name":"X","symbols":["A"]}`, true, false, "", ""},
		{"record added field with default",
			rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`),
			rec("R", `{"name":"a","type":"int"}`), true, true, "", ""},
		{"record added field without default",
			rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string"}`),
			rec("R", `{"name":"a","type":"int"}`), false, true, `field "b": reader field has no default`, ""},
		{"record field type change",
			rec("R", `{"name":"a","type":"string"}`),
			rec("R", `{"name":"a","type":"int"}`), false, false, `field "a": reader type string cannot read writer type int`, `field "a": reader type int cannot read writer type string`},
		{"record field promotion",
			rec("R", `{"name":"a","type":"long"}`),
			rec("R", `{"name":"a","type":"int"}`), true, false, "", ""},
		{"record field alias (rename)",
			rec("R", `{"name":"b","aliases":["a"],"type":"int"}`),
			rec("R", `{"name":"a","type":"int"}`), true, false, "", `field "a": reader field has no default`},
		{"record name",
			rec("R", `{"name":"a","type":"int"}`),
			rec("S", `{"name":"a","type":"int"}`), false, false, "names differ", ""},
		{"record alias",
			`{"type":"record","name":"R","namespace":"t","aliases":["S"],"fields":[{"name":"a","type":"int"}]}`,
			rec("S", `{"name":"a","type":"int"}`), true, false, "", ""},
		{"record full-name alias",
			`{"type":"record","name":"R","namespace":"t","aliases":["old.S"],"fields":[{"name":"a","type":"int"}]}`,
			`{"type":"record","name":"S","namespace":"old","fields":[{"name":"a","type":"int"}]}`, true, false, "", ""},
		{"nested record field",
			rec("R", `{"name":"v","type":{"type":"record","name":"V","fields":[{"name":"exon","type":"string"}]}}`),
			rec("R", `{"name":"v","type":{"type":"record","name":"V","fields":[{"name":"exon","type":"int"}]}}`),
			false, false, `field "v.exon": reader type string cannot read writer type int`, `field "v.exon"`},
		{"nested record in optional union",
			rec("R", `{"name":"v","type":["null",{"type":"record","name":"V","fields":[{"name":"exon","type":"string"}]}],"default":null}`),
			rec("R", `{"name":"v","type":["null",{"type":"record","name":"V","fields":[{"name":"exon","type":"int"}]}],"default":null}`),
			false, false, `field "v.exon": reader type string cannot read writer type int`, ""},
		{"union reads its branch", `["null","string"]`, `"string"`, true, false, "", "reader type string cannot read writer type null"},
		{"union reads promoted branch", `["null","long"]`, `"int"`, true, false, "", ""},
		{"union lacks branch", `["null","string"]`, `"int"`, false, false, "has no branch that can read writer type int", ""},
		{"union added branch", `["null","string","int"]`, `["null","string"]`, true, false, "", "has no branch that can read writer type int"},
		{"union vs union promotion", `["null","double"]`, `["null","float"]`, true, false, "", ""},
		{"array of union", `{"type":"array","items":["null","string"]}`, `{"type":"array","items":"string"}`, true, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustParse(t, tt.a), mustParse(t, tt.b)
			got := Check(a, b)
			if (len(got) == 0) != tt.aReadsB {
				t.Errorf("a reads b: got %v, want compatible=%v", got, tt.aReadsB)
			}
			if tt.msg != "" && (len(got) == 0 || !strings.Contains(got[0].String(), tt.msg)) {
				t.Errorf("a reads b: messages %v, want one containing %q", got, tt.msg)
			}
			rev := Check(b, a)
			if (len(rev) == 0) != tt.bReadsA {
				t.Errorf("b reads a: got %v, want compatible=%v", rev, tt.bReadsA)
			}
			if tt.reverseMsg != "" && (len(rev) == 0 || !strings.Contains(rev[0].String(), tt.reverseMsg)) {
				t.Errorf("b reads a: messages %v, want one containing %q", rev, tt.reverseMsg)
			}
		})
	}
}

const listV1 = `{"type":"record","name":"Node","fields":[
	{"name":"value","type":"int"},
	{"name":"next","type":["null","Node"],"default":null}]}`

func TestRecursiveTypes(t *testing.T) {
	v1 := mustParse(t, listV1)
	v2 := mustParse(t, `{"type":"record","name":"Node","fields":[
		{"name":"value","type":"long"},
		{"name":"label","type":"string","default":""},
		{"name":"next","type":["null","Node"],"default":null}]}`)
	if got := Check(v2, v1); len(got) != 0 {
		t.Errorf("v2 reads v1: %v", got)
	}
	got := Check(v1, v2)
	if len(got) == 0 || !strings.Contains(got[0].String(), `field "value": reader type int cannot read writer type long`) {
		t.Errorf("v1 reads v2: %v, want the long->int problem on field value", got)
	}
	if got := Check(v1, v1); len(got) != 0 {
		t.Errorf("v1 reads itself: %v", got)
	}
	// Mutual recursion through an array.
	tree := mustParse(t, `{"type":"record","name":"Tree","fields":[
		{"name":"kids","type":{"type":"array","items":{"type":"record","name":"Kid","fields":[
			{"name":"t","type":["null","Tree"]}]}}}]}`)
	if got := Check(tree, tree); len(got) != 0 {
		t.Errorf("tree reads itself: %v", got)
	}
	if got := tree.Canonical(); got != `{"name":"Tree","type":"record","fields":[{"name":"kids","type":{"type":"array","items":{"name":"Kid","type":"record","fields":[{"name":"t","type":["null","Tree"]}]}}}]}` {
		t.Errorf("canonical tree = %s", got)
	}
}

func TestCheckLevel(t *testing.T) {
	// v1 {a}, v2 {a, b default}, v3 {a, b} (b's default dropped): v3 reads v2
	// but not v1, which lacks b.
	v1 := mustParse(t, rec("R", `{"name":"a","type":"int"}`))
	v2 := mustParse(t, rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`))
	v3 := mustParse(t, rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string"}`))
	// v4 drops a (no default in v1..v3): old readers cannot read it.
	v4 := mustParse(t, rec("R", `{"name":"b","type":"string","default":""}`))
	hist := []*Schema{v1, v2}
	tests := []struct {
		level     Level
		candidate *Schema
		history   []*Schema
		ok        bool
		want      string
	}{
		{Backward, v3, hist, true, ""},
		{BackwardTransitive, v3, hist, false, `field "b": reader field has no default`},
		{Forward, v3, hist, true, ""},
		{ForwardTransitive, v3, hist, true, ""},
		{Full, v3, hist, true, ""},
		{FullTransitive, v3, hist, false, `field "b"`},
		{None, v3, hist, true, ""},
		{Backward, v4, hist, true, ""},
		{Forward, v4, hist, false, `field "a": reader field has no default`},
		{ForwardTransitive, v4, hist, false, `field "a"`},
		{Full, v4, hist, false, `field "a"`},
		{None, v4, hist, true, ""},
		{Backward, v3, nil, true, ""},
	}
	for _, tt := range tests {
		got := CheckLevel(tt.level, tt.candidate, tt.history)
		if (len(got) == 0) != tt.ok {
			t.Errorf("%s: got %v, want ok=%v", tt.level, got, tt.ok)
			continue
		}
		if tt.want != "" && !strings.Contains(got[0].String(), tt.want) {
			t.Errorf("%s: got %v, want a message containing %q", tt.level, got, tt.want)
		}
	}
	// The transitive failure names the version it is against.
	got := CheckLevel(BackwardTransitive, v3, hist)
	if got[0].Against != 0 || got[0].Direction != "BACKWARD" {
		t.Errorf("transitive failure: against %d direction %s, want 0 BACKWARD", got[0].Against, got[0].Direction)
	}
}

func TestParseLevel(t *testing.T) {
	for _, l := range Levels {
		got, err := ParseLevel(strings.ToLower(string(l)))
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %q, %v", l, got, err)
		}
	}
	if _, err := ParseLevel("SIDEWAYS"); err == nil {
		t.Error("ParseLevel(SIDEWAYS): no error")
	}
}
