package compat

import "fmt"

// Incompatibility is one reason a reader schema cannot read data written
// with a writer schema.
type Incompatibility struct {
	// Path is the dotted field path from the top-level record
	// ("variant.exon"); empty for the schema root.
	Path string
	// Message says what is wrong, from the reader's point of view.
	Message string
	// Against is the index, in the history given to CheckLevel, of the
	// schema the candidate was checked against (0 from Check).
	Against int
	// Direction is "BACKWARD" when the candidate was the reader and
	// "FORWARD" when it was the writer (empty from Check).
	Direction string
}

func (i Incompatibility) String() string {
	if i.Path == "" {
		return "schema root: " + i.Message
	}
	return fmt.Sprintf("field %q: %s", i.Path, i.Message)
}

// Check lists why data written with writer cannot be read with reader, by
// the schema-resolution rules of the Avro specification; an empty result
// means the pair is compatible. It is the problems of Resolve's plan, the
// same plan the decoders execute, so a pair Check accepts decodes.
//
// The rules: primitives match themselves; int is promoted to long, float
// and double, long to float and double, float to double; string and bytes
// read each other. Named types match when their unqualified names agree or
// the reader lists the writer's full name among its aliases. Fixed types
// must agree in size. A reader enum reads a writer symbol it lacks only
// through its default symbol. Records match field by field, by name or by a
// reader field's alias (a writer field claimed by name is not also
// fed to another reader field's alias); a reader field absent from the writer needs a
// default, and writer fields absent from the reader are skipped. Arrays and
// maps match when their items and values do. A writer union is readable
// when every branch is; a reader union reads a writer type when some branch
// does.
func Check(reader, writer *Schema) []Incompatibility {
	return Resolve(reader, writer).Problems()
}

// Compatible reports whether reader can read everything writer writes.
func Compatible(reader, writer *Schema) bool { return len(Check(reader, writer)) == 0 }
