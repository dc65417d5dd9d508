package avroarrow_test

import (
	"fmt"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
)

// Decode Confluent-framed messages into flattened Arrow columns, projecting
// two fields of a nested record.
func Example() {
	schema := `{"type":"record","name":"Fact","fields":[
		{"name":"patient_id","type":"string"},
		{"name":"note","type":"string"},
		{"name":"variant","type":["null",{"type":"record","name":"Variant","fields":[
			{"name":"hugo_symbol","type":"string"},
			{"name":"protein_change","type":["null","string"]}]}]}]}`
	codec, _ := goavro.NewCodec(schema)
	var msgs [][]byte
	for _, v := range []map[string]any{
		{"patient_id": "p1", "note": "x", "variant": map[string]any{"Variant": map[string]any{
			"hugo_symbol": "EGFR", "protein_change": map[string]any{"string": "p.L858R"}}}},
		{"patient_id": "p2", "note": "y", "variant": nil},
	} {
		msg, _ := codec.BinaryFromNative(wire.AppendHeader(nil, 42), v)
		msgs = append(msgs, msg)
	}

	d, err := avroarrow.New(schema,
		avroarrow.WithSchemaSource(avroarrow.MapSource{42: schema}),
		avroarrow.WithProjection("patient_id", "variant.hugo_symbol", "variant.protein_change"),
		avroarrow.WithFlatten())
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		if err := d.AppendFramed(m); err != nil {
			panic(err)
		}
	}
	rec := d.Flush()
	defer rec.Release()
	for i, f := range rec.Schema().Fields() {
		fmt.Printf("%s: %v\n", f.Name, rec.Column(i))
	}
	// Output:
	// patient_id: ["p1" "p2"]
	// variant.hugo_symbol: ["EGFR" (null)]
	// variant.protein_change: ["p.L858R" (null)]
}
