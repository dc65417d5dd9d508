package compat_test

import (
	"fmt"

	"github.com/trialflow/trialflow/schemas/registry/compat"
)

func ExampleCheck() {
	v1, _ := compat.Parse(`{"type":"record","name":"Variant","fields":[
		{"name":"gene","type":"string"},
		{"name":"exon","type":["null","int"],"default":null}]}`)
	v2, _ := compat.Parse(`{"type":"record","name":"Variant","fields":[
		{"name":"gene","type":"string"},
		{"name":"exon","type":["null","long"],"default":null},
		{"name":"vaf","type":"double","default":0}]}`)
	fmt.Println("v2 reads v1:", compat.Check(v2, v1))
	fmt.Println("v1 reads v2:", compat.Check(v1, v2))
	fmt.Println("FULL:", compat.CheckLevel(compat.Full, v2, []*compat.Schema{v1}))
	// Output:
	// v2 reads v1: []
	// v1 reads v2: [field "exon": reader union [null, int] has no branch that can read writer type long]
	// FULL: [field "exon": reader union [null, int] has no branch that can read writer type long]
}

func ExampleSchema_Canonical() {
	s, _ := compat.Parse(`{"type": "record", "name": "Fact", "namespace": "org.trialflow",
		"doc": "docs are not canonical", "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}`)
	fmt.Println(s.Canonical())
	fmt.Println(s.Normalized())
	// Output:
	// {"name":"org.trialflow.Fact","type":"record","fields":[{"name":"at","type":"long"}]}
	// {"name":"org.trialflow.Fact","type":"record","fields":[{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}
}
