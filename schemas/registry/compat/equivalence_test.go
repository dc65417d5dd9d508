package compat_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// wrap puts a non-record schema in a record W with one field f.
func wrap(s string) string {
	if strings.Contains(s, `"type":"record"`) && strings.HasPrefix(strings.TrimSpace(s), `{"type":"record"`) {
		return s
	}
	return `{"type":"record","name":"W","fields":[{"name":"f","type":` + s + `}]}`
}

type oneSchema string

func (s oneSchema) SchemaByID(int) (string, error) { return string(s), nil }

// verdicts says what each implementation answers for a pair: compat
// (Check is empty), avroio (the Decoder builds a plan) and avroarrow
// (Compile succeeds; "n/a" when it cannot lay out the reader).
type verdicts struct{ compat, avroio, arrow string }

func yes(ok bool) string {
	if ok {
		return "accept"
	}
	return "reject"
}

func ask(t *testing.T, reader, writer string) verdicts {
	t.Helper()
	var v verdicts
	r, err := compat.Parse(reader)
	if err != nil {
		t.Fatalf("reader does not parse: %v\n%s", err, reader)
	}
	w, err := compat.Parse(writer)
	if err != nil {
		t.Fatalf("writer does not parse: %v\n%s", err, writer)
	}
	v.compat = yes(compat.Compatible(r, w))

	dec, err := avroio.NewDecoder(oneSchema(writer), reader)
	if err != nil {
		t.Fatalf("avroio.NewDecoder: %v", err)
	}
	// An empty payload: a plan that builds fails on the payload ("at
	// payload byte"), a plan that does not fails before reading it.
	_, _, err = dec.Decode(nil, wire.Append(nil, 1, nil))
	planFailed := err != nil && deadletter.CodeOf(err) == deadletter.IncompatibleSchema && !strings.Contains(err.Error(), "payload byte")
	v.avroio = yes(!planFailed)

	d, err := avroarrow.New(reader)
	if err != nil {
		v.arrow = "n/a"
		return v
	}
	_, err = d.Compile(writer)
	switch {
	case errors.Is(err, avroarrow.ErrUnsupported):
		v.arrow = "n/a"
	default:
		v.arrow = yes(err == nil)
	}
	return v
}

// want is what a correct implementation answers for spec: the registry
// checker and avroio accept only what is fully readable; avroarrow, which
// signals an unreadable value when it meets it (as the specification
// does), accepts what is partly readable too.
func want(spec string, arrowRecursive bool) verdicts {
	v := verdicts{compat: yes(spec == rdFull), avroio: yes(spec == rdFull), arrow: yes(spec != rdNone)}
	if arrowRecursive {
		v.arrow = "n/a"
	}
	return v
}

// allPairs is the corpus with the non-record pairs wrapped, plus every
// data contract and every FuzzParse seed reading itself.
func allPairs() []pair {
	var ps []pair
	for _, p := range corpus() {
		p.reader, p.writer = wrap(p.reader), wrap(p.writer)
		ps = append(ps, p)
	}
	for _, c := range schemas.All() {
		ps = append(ps, pair{name: "contract " + c.File, reader: c.Schema(), writer: c.Schema(), spec: rdFull})
	}
	for i, s := range []string{`"int"`, listV1, `["null","string"]`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"map","values":{"type":"array","items":{"type":"fixed","name":"F","size":3}}},"default":{}}]}`,
	} {
		ps = append(ps, pair{name: fmt.Sprintf("FuzzParse seed %d", i), reader: wrap(s), writer: wrap(s), spec: rdFull, arrowRecursive: s == listV1})
	}
	return ps
}

// fixedDisagreements lists every pair where, before compat.Resolve became
// the one resolver, an implementation answered other than the
// specification, with what the old compat, avroio and avroarrow answered.
// All of them now give the specification's answer.
var fixedDisagreements = map[string]verdicts{
	// compat fed writer field a to reader field b through b's alias even
	// though reader field a took it by name (avroio asked compat).
	"probe field name before alias": {compat: "reject", avroio: "reject", arrow: "accept"},

	// avroarrow compared the names of records, enums and fixed types only
	// when picking a union branch, and then fell back to any branch of
	// the same kind: it read a record as a differently named record.
	"fixed name (a reads b)":                 arrowAccepts,
	"fixed name (b reads a)":                 arrowAccepts,
	"fixed alias (b reads a)":                arrowAccepts,
	"enum name (a reads b)":                  arrowAccepts,
	"enum name (b reads a)":                  arrowAccepts,
	"enum alias (b reads a)":                 arrowAccepts,
	"record name (a reads b)":                arrowAccepts,
	"record name (b reads a)":                arrowAccepts,
	"record alias (b reads a)":               arrowAccepts,
	"record full-name alias (b reads a)":     arrowAccepts,
	"probe nested record renamed":            arrowAccepts,
	"probe top-level record renamed":         arrowAccepts,
	"probe enum renamed":                     arrowAccepts,
	"probe fixed renamed":                    arrowAccepts,
	"probe union record branch by name only": arrowAccepts,
	// avroarrow matched an alias by its short name, ignoring namespaces.
	"probe alias in another namespace": arrowAccepts,
	// avroarrow refused a string writer for a decimal reader, though a
	// logical type resolves as its underlying type (bytes reads string).
	"probe decimal reads string": {compat: "accept", avroio: "accept", arrow: "reject"},
}

var arrowAccepts = verdicts{compat: "reject", avroio: "reject", arrow: "accept"}

// TestEquivalence asks compat, avroio and avroarrow, which now all run
// compat.Resolve's plan, about every pair of the corpus, and wants the
// specification's answer from each.
func TestEquivalence(t *testing.T) {
	fixed := 0
	for _, p := range allPairs() {
		got := ask(t, p.reader, p.writer)
		w := want(p.spec, p.arrowRecursive)
		if got != w {
			t.Errorf("%s: got %+v, want %+v (spec %s)", p.name, got, w, p.spec)
		}
		if old, ok := fixedDisagreements[p.name]; ok {
			fixed++
			if old == w {
				t.Errorf("%s: listed as fixed but the old answer %+v was right", p.name, old)
			}
		}
	}
	if fixed != len(fixedDisagreements) {
		t.Errorf("%d of the %d fixed disagreements are in the corpus", fixed, len(fixedDisagreements))
	}
}
