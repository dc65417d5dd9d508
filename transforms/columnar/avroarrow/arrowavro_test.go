package avroarrow_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	arrowavro "github.com/apache/arrow-go/v18/arrow/avro"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
)

// TestLayoutMatchesArrowAvro checks the decoder's unprojected, nested layout
// against arrow-go's own Avro mapping (arrow/avro.ArrowSchemaFromAvroJSON)
// for every contract. The mappings agree except in two deliberate ways:
// enums use int32 dictionary indices (arrow-go: the smallest width), and
// uuid stays a string (arrow-go: the arrow.uuid extension type, which would
// need every id parsed). Field metadata is not compared.
func TestLayoutMatchesArrowAvro(t *testing.T) {
	for _, c := range schemas.All() {
		want, err := arrowavro.ArrowSchemaFromAvroJSON(c.Schema())
		if err != nil {
			t.Logf("%s: arrow/avro cannot map it: %v", c.File, err)
			continue
		}
		d, err := avroarrow.New(c.Schema())
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		got := d.Schema()
		if got.NumFields() != want.NumFields() {
			t.Fatalf("%s: %d fields, arrow/avro %d", c.File, got.NumFields(), want.NumFields())
		}
		for i := range got.Fields() {
			g, w := got.Field(i), want.Field(i)
			if g.Name != w.Name || g.Nullable != w.Nullable || !sameType(g.Type, w.Type) {
				t.Errorf("%s field %d:\n got %s %v nullable=%v\nwant %s %v nullable=%v", c.File, i, g.Name, g.Type, g.Nullable, w.Name, w.Type, w.Nullable)
			}
		}
	}
}

func sameType(g, w arrow.DataType) bool {
	switch wt := w.(type) {
	case arrow.ExtensionType:
		return wt.ExtensionName() == "arrow.uuid" && g.ID() == arrow.STRING
	case *arrow.DictionaryType:
		gt, ok := g.(*arrow.DictionaryType)
		return ok && arrow.TypeEqual(gt.ValueType, wt.ValueType)
	case *arrow.StructType:
		gt, ok := g.(*arrow.StructType)
		if !ok || gt.NumFields() != wt.NumFields() {
			return false
		}
		for i := range wt.Fields() {
			gf, wf := gt.Field(i), wt.Field(i)
			if gf.Name != wf.Name || gf.Nullable != wf.Nullable || !sameType(gf.Type, wf.Type) {
				return false
			}
		}
		return true
	case *arrow.ListType:
		gt, ok := g.(*arrow.ListType)
		return ok && sameType(gt.Elem(), wt.Elem())
	case *arrow.MapType:
		gt, ok := g.(*arrow.MapType)
		return ok && sameType(gt.ItemType(), wt.ItemType())
	}
	return arrow.TypeEqual(g, w)
}
