package compat

import (
	"fmt"
	"strings"
)

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
// means the pair is compatible.
//
// The rules: primitives match themselves; int is promoted to long, float
// and double, long to float and double, float to double; string and bytes
// read each other. Named types match when their unqualified names agree or
// the reader lists the writer's full name among its aliases. Fixed types
// must agree in size. A reader enum reads a writer symbol it lacks only
// through its default symbol. Records match field by field, by name or by a
// reader field's alias; a reader field absent from the writer needs a
// default, and writer fields absent from the reader are skipped. Arrays and
// maps match when their items and values do. A writer union is readable
// when every branch is; a reader union reads a writer type when some branch
// does.
func Check(reader, writer *Schema) []Incompatibility {
	c := &checker{inProgress: map[[2]*Schema]bool{}, memo: map[[2]*Schema][]Incompatibility{}}
	c.check(reader, writer, "")
	return c.out
}

// Compatible reports whether reader can read everything writer writes.
func Compatible(reader, writer *Schema) bool { return len(Check(reader, writer)) == 0 }

type checker struct {
	// inProgress holds the named pairs being checked higher up the stack:
	// meeting one again means a recursive type, assumed compatible here
	// (the enclosing check decides).
	inProgress map[[2]*Schema]bool
	// memo holds each record pair's findings, with paths relative to the
	// pair, so that a type used in many places is checked once.
	memo map[[2]*Schema][]Incompatibility
	out  []Incompatibility
}

// emit records findings made relative to a record pair at path.
func (c *checker) emit(path string, found []Incompatibility) {
	for _, in := range found {
		in.Path = join(path, in.Path)
		c.out = append(c.out, in)
	}
}

func (c *checker) add(path, format string, args ...any) {
	c.out = append(c.out, Incompatibility{Path: path, Message: fmt.Sprintf(format, args...)})
}

// try runs a check on the side and returns its findings without recording
// them.
func (c *checker) try(r, w *Schema, path string) []Incompatibility {
	saved := c.out
	c.out = nil
	c.check(r, w, path)
	found := c.out
	c.out = saved
	return found
}

func promotable(r, w Kind) bool {
	switch w {
	case Int:
		return r == Long || r == Float || r == Double
	case Long:
		return r == Float || r == Double
	case Float:
		return r == Double
	case String:
		return r == Bytes
	case Bytes:
		return r == String
	}
	return false
}

// matches is the specification's "matches" for picking a reader union
// branch: same primitive, same name, both arrays, both maps, or promotable.
func matches(r, w *Schema) bool {
	if r.Kind != w.Kind {
		return promotable(r.Kind, w.Kind)
	}
	switch r.Kind {
	case Record, Enum, Fixed:
		return namesMatch(r, w)
	}
	return true
}

func namesMatch(r, w *Schema) bool {
	if r.ShortName() == w.ShortName() {
		return true
	}
	for _, a := range r.Aliases {
		if a == w.Name {
			return true
		}
	}
	return false
}

func (c *checker) check(r, w *Schema, path string) {
	if w.Kind == Union {
		for _, wb := range w.Branches {
			c.check(r, wb, path)
		}
		return
	}
	if r.Kind == Union {
		var candidate []Incompatibility
		haveCandidate := false
		for _, rb := range r.Branches {
			found := c.try(rb, w, path)
			if len(found) == 0 {
				return
			}
			if !haveCandidate && matches(rb, w) {
				candidate, haveCandidate = found, true
			}
		}
		if haveCandidate {
			// The branch the specification would pick explains best.
			c.out = append(c.out, candidate...)
			return
		}
		c.add(path, "reader %s has no branch that can read writer type %s", r.Describe(), w.Describe())
		return
	}
	if r.Kind != w.Kind {
		if !promotable(r.Kind, w.Kind) {
			c.add(path, "reader type %s cannot read writer type %s", r.Describe(), w.Describe())
		}
		return
	}
	switch r.Kind {
	case Array:
		c.check(r.Items, w.Items, path)
	case Map:
		c.check(r.Values, w.Values, path)
	case Fixed:
		if !namesMatch(r, w) {
			c.add(path, "reader %s cannot read writer %s: names differ and no reader alias names it", r.Describe(), w.Describe())
			return
		}
		if r.Size != w.Size {
			c.add(path, "reader %s has size %d, writer %s has size %d", r.Describe(), r.Size, w.Describe(), w.Size)
		}
	case Enum:
		if !namesMatch(r, w) {
			c.add(path, "reader %s cannot read writer %s: names differ and no reader alias names it", r.Describe(), w.Describe())
			return
		}
		if r.EnumDefault != nil {
			return
		}
		var missing []string
		for _, sym := range w.Symbols {
			if !contains(r.Symbols, sym) {
				missing = append(missing, sym)
			}
		}
		if len(missing) > 0 {
			c.add(path, "reader %s lacks writer symbols [%s] and has no default symbol", r.Describe(), strings.Join(missing, ", "))
		}
	case Record:
		if !namesMatch(r, w) {
			c.add(path, "reader %s cannot read writer %s: names differ and no reader alias names it", r.Describe(), w.Describe())
			return
		}
		key := [2]*Schema{r, w}
		if res, ok := c.memo[key]; ok {
			c.emit(path, res)
			return
		}
		if c.inProgress[key] {
			return
		}
		c.inProgress[key] = true
		saved := c.out
		c.out = nil
		for _, rf := range r.Fields {
			wf := writerField(w, rf)
			if wf == nil {
				if !rf.HasDefault {
					c.add(rf.Name, "reader field has no default and the writer %s has no such field", w.Describe())
				}
				continue
			}
			c.check(rf.Type, wf.Type, rf.Name)
		}
		res := c.out
		c.out = saved
		delete(c.inProgress, key)
		c.memo[key] = res
		c.emit(path, res)
	}
}

func writerField(w *Schema, rf *Field) *Field {
	for _, wf := range w.Fields {
		if wf.Name == rf.Name {
			return wf
		}
	}
	for _, a := range rf.Aliases {
		for _, wf := range w.Fields {
			if wf.Name == a {
				return wf
			}
		}
	}
	return nil
}
