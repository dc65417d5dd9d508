package compat_test

// The resolution corpus: every (reader, writer) schema pair found in the
// tests of compat, avroio and avroarrow and in the fuzz seeds (FuzzParse's
// schemas read themselves), plus probes for the rules the three old
// implementations wrote differently. Each pair carries the answer of the
// Avro specification (1.11, "Schema Resolution"):
//
//   - full: every value the writer can write is readable;
//   - partial: the pair resolves, but some writer values signal an error
//     when read (a writer union branch no reader type matches, an enum
//     symbol the reader lacks and has no default for); the registry, like
//     Java's SchemaCompatibility, calls this incompatible;
//   - none: no value is readable (the schemas do not match).
//
// A pair whose types are not records is wrapped in a record "W" with one
// field "f" on both sides, so that avroarrow (which reads records only) can
// be asked too.

type pair struct {
	name           string
	reader, writer string
	spec           string // "full", "partial" or "none"
	// arrowRecursive: avroarrow rejects recursive schemas (ErrUnsupported);
	// that is a limit of the Arrow layout, not a resolution rule.
	arrowRecursive bool
}

const (
	rdFull    = "full"
	rdPartial = "partial"
	rdNone    = "none"
)

func rec(name, fields string) string {
	return `{"type":"record","name":"` + name + `","namespace":"t","fields":[` + fields + `]}`
}

const listV1 = `{"type":"record","name":"Node","fields":[
	{"name":"value","type":"int"},
	{"name":"next","type":["null","Node"],"default":null}]}`

const listV2 = `{"type":"record","name":"Node","fields":[
	{"name":"value","type":"long"},
	{"name":"label","type":"string","default":""},
	{"name":"next","type":["null","Node"],"default":null}]}`

const tree = `{"type":"record","name":"Tree","fields":[
	{"name":"kids","type":{"type":"array","items":{"type":"record","name":"Kid","fields":[
		{"name":"t","type":["null","Tree"]}]}}}]}`

// From avroio's decoder_test.go.
const (
	visitV1 = `{"type":"record","name":"Visit","namespace":"t","fields":[
		{"name":"id","type":"string"},
		{"name":"count","type":"int"},
		{"name":"dropped","type":{"type":"array","items":"string"}},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
		{"name":"score","type":["null","float"]}]}`
	visitV2 = `{"type":"record","name":"Visit","namespace":"t","fields":[
		{"name":"score","type":["null","double"],"default":null},
		{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B","C"],"default":"C"}},
		{"name":"id","type":"string"},
		{"name":"site","type":"string","default":"unknown"},
		{"name":"count","type":"long"},
		{"name":"tags","type":{"type":"map","values":"int"},"default":{"x":1}},
		{"name":"loc","type":{"type":"record","name":"Loc","fields":[{"name":"lat","type":"double","default":0.5}]},"default":{}}]}`
	visitBad = `{"type":"record","name":"Visit","namespace":"t","fields":[{"name":"id","type":"int"}]}`
)

// From avroarrow's resolve_test.go.
const (
	arrowPromoW = `{"type":"record","name":"R","fields":[
		{"name":"a","type":"int"},{"name":"b","type":"long"},{"name":"c","type":"float"},
		{"name":"d","type":"string"},{"name":"e","type":"bytes"},{"name":"f","type":"int"},
		{"name":"g","type":"long"},{"name":"h","type":"int"}]}`
	arrowPromoR = `{"type":"record","name":"R","fields":[
		{"name":"a","type":"long"},{"name":"b","type":"double"},{"name":"c","type":"double"},
		{"name":"d","type":"bytes"},{"name":"e","type":"string"},{"name":"f","type":"float"},
		{"name":"g","type":"float"},{"name":"h","type":"double"}]}`
	arrowDefW = `{"type":"record","name":"R","fields":[
		{"name":"gone","type":{"type":"array","items":{"type":"map","values":"string"}}},
		{"name":"keep","type":"string"},
		{"name":"gone2","type":["null",{"type":"record","name":"X","fields":[{"name":"x","type":"double"}]}]}]}`
	arrowDefR = `{"type":"record","name":"R","fields":[
		{"name":"i","type":"int","default":7},
		{"name":"keep","type":"string"},
		{"name":"s","type":"string","default":"dflt"},
		{"name":"n","type":["null","long"],"default":null},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["P","Q"]},"default":"Q"},
		{"name":"rec","type":{"type":"record","name":"Y","fields":[{"name":"y","type":"int"},{"name":"z","type":"string","default":"zz"}]},"default":{"y":5}},
		{"name":"arr","type":{"type":"array","items":"long"},"default":[1,2]},
		{"name":"m","type":{"type":"map","values":"boolean"},"default":{"k":true}},
		{"name":"u","type":["int","string"],"default":3},
		{"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"\u00ff\u0001"}]}`
	arrowEnumW       = `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}]}`
	arrowEnumDefault = `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["C","A","X"],"default":"X"}}]}`
	arrowEnumNoDef   = `{"type":"record","name":"R","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["C","A"]}}]}`
	arrowUnionW      = `{"type":"record","name":"R","fields":[
		{"name":"a","type":"int"},
		{"name":"b","type":["null","string"]},
		{"name":"c","type":["int","string","null"]},
		{"name":"d","type":["null","int"]}]}`
	arrowUnionR = `{"type":"record","name":"R","fields":[
		{"name":"a","type":["null","long"]},
		{"name":"b","type":"string"},
		{"name":"c","type":["string","long","null"]},
		{"name":"d","type":["null","double"]}]}`
	arrowAliasW = `{"type":"record","name":"R","fields":[{"name":"old","type":"string"},{"name":"x","type":"int"}]}`
	arrowAliasR = `{"type":"record","name":"R","fields":[{"name":"x","type":"int"},{"name":"new","type":"string","aliases":["old"]}]}`
	arrowRecL   = `{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]}]}`
)

// both returns the pairs (a reads b) and (b reads a).
func both(name, a, b, aReadsB, bReadsA string) []pair {
	return []pair{
		{name: name + " (a reads b)", reader: a, writer: b, spec: aReadsB},
		{name: name + " (b reads a)", reader: b, writer: a, spec: bReadsA},
	}
}

func corpus() []pair {
	var ps []pair
	add := func(p ...pair) { ps = append(ps, p...) }
	// compat's TestResolutionRules, both ways.
	add(both("same primitive", `"int"`, `"int"`, rdFull, rdFull)...)
	add(both("null vs boolean", `"null"`, `"boolean"`, rdNone, rdNone)...)
	add(both("long reads int", `"long"`, `"int"`, rdFull, rdNone)...)
	add(both("float reads int", `"float"`, `"int"`, rdFull, rdNone)...)
	add(both("double reads int", `"double"`, `"int"`, rdFull, rdNone)...)
	add(both("float reads long", `"float"`, `"long"`, rdFull, rdNone)...)
	add(both("double reads long", `"double"`, `"long"`, rdFull, rdNone)...)
	add(both("double reads float", `"double"`, `"float"`, rdFull, rdNone)...)
	add(both("int vs string", `"int"`, `"string"`, rdNone, rdNone)...)
	add(both("string and bytes", `"string"`, `"bytes"`, rdFull, rdFull)...)
	add(both("logical type ignored", `{"type":"long","logicalType":"timestamp-millis"}`, `"long"`, rdFull, rdFull)...)
	add(both("array items promote", `{"type":"array","items":"long"}`, `{"type":"array","items":"int"}`, rdFull, rdNone)...)
	add(both("array vs map", `{"type":"array","items":"int"}`, `{"type":"map","values":"int"}`, rdNone, rdNone)...)
	add(both("map values", `{"type":"map","values":"double"}`, `{"type":"map","values":"float"}`, rdFull, rdNone)...)
	add(both("fixed same", `{"type":"fixed","name":"F","size":16}`, `{"type":"fixed","name":"F","size":16}`, rdFull, rdFull)...)
	add(both("fixed size", `{"type":"fixed","name":"F","size":16}`, `{"type":"fixed","name":"F","size":8}`, rdNone, rdNone)...)
	add(both("fixed name", `{"type":"fixed","name":"F","size":4}`, `{"type":"fixed","name":"G","size":4}`, rdNone, rdNone)...)
	add(both("fixed alias", `{"type":"fixed","name":"F","size":4,"aliases":["G"]}`, `{"type":"fixed","name":"G","size":4}`, rdFull, rdNone)...)
	add(both("fixed namespace ignored", `{"type":"fixed","name":"a.F","size":4}`, `{"type":"fixed","name":"b.F","size":4}`, rdFull, rdFull)...)
	add(both("enum added symbol", `{"type":"enum","name":"E","symbols":["A","B","C"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, rdFull, rdPartial)...)
	add(both("enum default", `{"type":"enum","name":"E","symbols":["A","U"],"default":"U"}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, rdFull, rdPartial)...)
	add(both("enum name", `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"X","symbols":["A"]}`, rdNone, rdNone)...)
	add(both("enum alias", `{"type":"enum","name":"E","aliases":["X"],"symbols":["A"]}`, `{"type":"enum","name":"X","symbols":["A"]}`, rdFull, rdNone)...)
	add(both("record added field with default",
		rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`),
		rec("R", `{"name":"a","type":"int"}`), rdFull, rdFull)...)
	add(both("record added field without default",
		rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string"}`),
		rec("R", `{"name":"a","type":"int"}`), rdNone, rdFull)...)
	add(both("record field type change", rec("R", `{"name":"a","type":"string"}`), rec("R", `{"name":"a","type":"int"}`), rdNone, rdNone)...)
	add(both("record field promotion", rec("R", `{"name":"a","type":"long"}`), rec("R", `{"name":"a","type":"int"}`), rdFull, rdNone)...)
	add(both("record field alias (rename)",
		rec("R", `{"name":"b","aliases":["a"],"type":"int"}`), rec("R", `{"name":"a","type":"int"}`), rdFull, rdNone)...)
	add(both("record name", rec("R", `{"name":"a","type":"int"}`), rec("S", `{"name":"a","type":"int"}`), rdNone, rdNone)...)
	add(both("record alias",
		`{"type":"record","name":"R","namespace":"t","aliases":["S"],"fields":[{"name":"a","type":"int"}]}`,
		rec("S", `{"name":"a","type":"int"}`), rdFull, rdNone)...)
	add(both("record full-name alias",
		`{"type":"record","name":"R","namespace":"t","aliases":["old.S"],"fields":[{"name":"a","type":"int"}]}`,
		`{"type":"record","name":"S","namespace":"old","fields":[{"name":"a","type":"int"}]}`, rdFull, rdNone)...)
	add(both("nested record field",
		rec("R", `{"name":"v","type":{"type":"record","name":"V","fields":[{"name":"exon","type":"string"}]}}`),
		rec("R", `{"name":"v","type":{"type":"record","name":"V","fields":[{"name":"exon","type":"int"}]}}`), rdNone, rdNone)...)
	// Both unions resolve their null branch; only the record branch fails.
	add(both("nested record in optional union",
		rec("R", `{"name":"v","type":["null",{"type":"record","name":"V","fields":[{"name":"exon","type":"string"}]}],"default":null}`),
		rec("R", `{"name":"v","type":["null",{"type":"record","name":"V","fields":[{"name":"exon","type":"int"}]}],"default":null}`), rdPartial, rdPartial)...)
	add(both("union reads its branch", `["null","string"]`, `"string"`, rdFull, rdPartial)...)
	add(both("union reads promoted branch", `["null","long"]`, `"int"`, rdFull, rdNone)...)
	add(both("union lacks branch", `["null","string"]`, `"int"`, rdNone, rdNone)...)
	add(both("union added branch", `["null","string","int"]`, `["null","string"]`, rdFull, rdPartial)...)
	add(both("union vs union promotion", `["null","double"]`, `["null","float"]`, rdFull, rdPartial)...)
	add(both("array of union", `{"type":"array","items":["null","string"]}`, `{"type":"array","items":"string"}`, rdFull, rdPartial)...)

	// compat's TestRecursiveTypes.
	add(pair{name: "recursive list v2 reads v1", reader: listV2, writer: listV1, spec: rdFull, arrowRecursive: true},
		pair{name: "recursive list v1 reads v2", reader: listV1, writer: listV2, spec: rdNone, arrowRecursive: true},
		pair{name: "recursive list reads itself", reader: listV1, writer: listV1, spec: rdFull, arrowRecursive: true},
		pair{name: "mutually recursive tree reads itself", reader: tree, writer: tree, spec: rdFull, arrowRecursive: true},
		pair{name: "avroarrow recursive L reads itself", reader: arrowRecL, writer: arrowRecL, spec: rdFull, arrowRecursive: true})

	// avroio's decoder tests.
	add(pair{name: "visit v2 reads v1", reader: visitV2, writer: visitV1, spec: rdFull},
		pair{name: "visit v2 reads itself", reader: visitV2, writer: visitV2, spec: rdFull},
		pair{name: "visit v1 reads itself", reader: visitV1, writer: visitV1, spec: rdFull},
		// v1's count is an int, v2's a long; v2's kind has C, v1's not; v1's
		// dropped has no default.
		pair{name: "visit v1 reads v2", reader: visitV1, writer: visitV2, spec: rdNone},
		pair{name: "visit v2 reads bad", reader: visitV2, writer: visitBad, spec: rdNone})

	// avroarrow's resolve tests.
	add(pair{name: "arrow promotions", reader: arrowPromoR, writer: arrowPromoW, spec: rdFull},
		pair{name: "arrow defaults and dropped fields", reader: arrowDefR, writer: arrowDefW, spec: rdFull},
		pair{name: "arrow missing default", reader: rec("R", `{"name":"a","type":"int"},{"name":"b","type":"int"}`), writer: rec("R", `{"name":"a","type":"int"}`), spec: rdNone},
		pair{name: "arrow string as int", reader: rec("R", `{"name":"a","type":"int"},{"name":"b","type":"int"}`), writer: rec("R", `{"name":"a","type":"string"}`), spec: rdNone},
		pair{name: "arrow enum with default", reader: arrowEnumDefault, writer: arrowEnumW, spec: rdFull},
		pair{name: "arrow enum without default", reader: arrowEnumNoDef, writer: arrowEnumW, spec: rdPartial},
		pair{name: "arrow unions", reader: arrowUnionR, writer: arrowUnionW, spec: rdPartial},
		pair{name: "arrow aliases and order", reader: arrowAliasR, writer: arrowAliasW, spec: rdFull})

	// Probes: rules the three implementations wrote differently.
	add(
		// Spec: "both schemas are records with the same (unqualified)
		// name"; a record is not read as a differently named record
		// (avroarrow did not compare names outside unions).
		pair{name: "probe nested record renamed", spec: rdNone,
			reader: rec("R", `{"name":"v","type":{"type":"record","name":"V","fields":[{"name":"x","type":"int"}]}}`),
			writer: rec("R", `{"name":"v","type":{"type":"record","name":"U","fields":[{"name":"x","type":"int"}]}}`)},
		pair{name: "probe top-level record renamed", spec: rdNone,
			reader: rec("R", `{"name":"x","type":"int"}`), writer: rec("Q", `{"name":"x","type":"int"}`)},
		pair{name: "probe enum renamed", spec: rdNone,
			reader: rec("R", `{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}`),
			writer: rec("R", `{"name":"e","type":{"type":"enum","name":"X","symbols":["A"]}}`)},
		pair{name: "probe fixed renamed", spec: rdNone,
			reader: rec("R", `{"name":"f","type":{"type":"fixed","name":"F","size":2}}`),
			writer: rec("R", `{"name":"f","type":{"type":"fixed","name":"G","size":2}}`)},
		// Spec: aliases are full names, resolved against the reader's
		// namespace; "old.S" does not name writer "t.S" (avroarrow
		// compared short names).
		pair{name: "probe alias in another namespace", spec: rdNone,
			reader: `{"type":"record","name":"R","namespace":"t","fields":[{"name":"v","type":{"type":"record","name":"V","aliases":["old.S"],"fields":[{"name":"x","type":"int"}]}}]}`,
			writer: `{"type":"record","name":"R","namespace":"t","fields":[{"name":"v","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int"}]}}]}`},
		// Spec: the reader union's first matching branch; a record branch
		// matches by name (or alias), never by kind alone.
		pair{name: "probe union record branch by name only", spec: rdNone,
			reader: rec("R", `{"name":"u","type":["null",{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}]}`),
			writer: rec("R", `{"name":"u","type":{"type":"record","name":"B","fields":[{"name":"x","type":"int"}]}}`)},
		// Spec: the first branch that matches, where promotion is a
		// match: int picks long, the earlier branch, not double.
		pair{name: "probe union first promotable branch", spec: rdFull,
			reader: rec("R", `{"name":"u","type":["long","double"]}`), writer: rec("R", `{"name":"u","type":"int"}`)},
		// Exact kind before promotion: Java's resolver and all three old
		// implementations pick double for a float writer when both exist.
		pair{name: "probe union exact before promoted", spec: rdFull,
			reader: rec("R", `{"name":"u","type":["double","float"]}`), writer: rec("R", `{"name":"u","type":"float"}`)},
		// A matching record branch that cannot read the writer: the spec
		// picks the first match by name and resolves recursively; it does
		// not go on to try another branch.
		pair{name: "probe union named branch unreadable", spec: rdNone,
			reader: rec("R", `{"name":"u","type":["null",{"type":"record","name":"A","fields":[{"name":"x","type":"string"}]}]}`),
			writer: rec("R", `{"name":"u","type":{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}}`)},
		// A writer union none of whose branches is readable.
		pair{name: "probe writer union nothing readable", spec: rdNone,
			reader: rec("R", `{"name":"u","type":"string"}`), writer: rec("R", `{"name":"u","type":["int","boolean"]}`)},
		// The default of an added field is written as the reader's type.
		pair{name: "probe added field with record default", spec: rdFull,
			reader: rec("R", `{"name":"a","type":"int"},{"name":"p","type":{"type":"record","name":"P","fields":[{"name":"q","type":"long","default":4}]},"default":{}}`),
			writer: rec("R", `{"name":"a","type":"int"}`)},
		// Logical types do not take part in resolution (spec: "a logical
		// type ... is resolved as its underlying type"), so a decimal
		// reads plain bytes.
		pair{name: "probe decimal reads bytes", spec: rdFull,
			reader: rec("R", `{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`),
			writer: rec("R", `{"name":"d","type":"bytes"}`)},
		pair{name: "probe decimal reads string", spec: rdFull,
			reader: rec("R", `{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}`),
			writer: rec("R", `{"name":"d","type":"string"}`)},
		pair{name: "probe timestamp reads int", spec: rdFull,
			reader: rec("R", `{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}`),
			writer: rec("R", `{"name":"t","type":"int"}`)},
		// A reader field b aliased to a, beside a reader field a. The
		// specification says aliases rewrite the writer's schema, which
		// here makes no sense (writer a would become b and reader a would
		// lose its data); Java's SchemaCompatibility feeds writer a to both
		// reader fields and then fails b (string from int), which compat
		// did too, while both decoders fed a to a and gave b its default.
		// Settled for the decoders: a writer field feeds the reader field
		// of its own name, and only an unclaimed writer field is found
		// through an alias, so the check and the decode agree.
		pair{name: "probe field name before alias", spec: rdFull,
			reader: rec("R", `{"name":"a","type":"int"},{"name":"b","type":"string","aliases":["a"],"default":""}`),
			writer: rec("R", `{"name":"a","type":"int"}`)},
	)
	return ps
}
