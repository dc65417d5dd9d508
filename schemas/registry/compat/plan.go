package compat

import (
	"fmt"
	"sort"
	"strings"
)

// Plan says how values written with one schema are read as another: it is
// the one place where trialflow applies the Avro specification's
// schema-resolution rules. Check lists a plan's problems; the binary
// transcoder of transforms/avroio and the Arrow builder of
// transforms/columnar/avroarrow execute plans and make no resolution
// decision of their own.
//
// A Plan node resolves one writer type to one reader type. Nodes are
// shared per (reader, writer) pair, so a recursive schema gives a cyclic
// plan. A node whose Problem is set reads no value; elsewhere a problem
// touches only some values (a writer union branch, an enum symbol, a reader
// field without a default), and a consumer that never meets them (a
// projection, a writer that never uses the branch) may still read.
type Plan struct {
	Reader, Writer *Schema

	// Problem, when not empty, says why no value of Writer can be read as
	// Reader, from the reader's point of view.
	Problem string

	// Branches, for a writer union, resolves each writer branch against
	// the reader (a union or not).
	Branches []*Plan

	// ReaderBranch, for a reader union and a writer that is not one, is the
	// index of the reader branch the writer's values go to, and Target
	// resolves the writer against it. ReaderBranch is -1 otherwise.
	ReaderBranch int
	Target       *Plan

	// Items resolves array items and map values.
	Items *Plan

	// Fields, for records, has one entry per writer field in writer
	// order; Missing lists the reader fields the writer lacks, in reader
	// order: they take their defaults.
	Fields  []FieldPlan
	Missing []int

	// Symbols, for enums, has the reader symbol index of each writer
	// symbol: the same symbol, else the reader's default symbol, else -1
	// (the value cannot be read).
	Symbols []int
}

// FieldPlan is what happens to one writer field.
type FieldPlan struct {
	Writer *Field
	// Reader is the index of the reader field that takes the value, -1
	// when the reader skips it.
	Reader int
	Plan   *Plan // nil when skipped
}

// MissingWithoutDefault reports whether reader field i, which the writer
// lacks, has no default to read instead.
func (p *Plan) MissingWithoutDefault(i int) bool { return !p.Reader.Fields[i].HasDefault }

// Resolve builds the plan reading writer's values as reader's. It always
// returns a plan; Problems lists what cannot be read.
func Resolve(reader, writer *Schema) *Plan {
	r := &resolver{memo: map[[2]*Schema]*Plan{}}
	return r.plan(reader, writer)
}

type resolver struct {
	memo map[[2]*Schema]*Plan
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

// namesMatch: the same unqualified name, or a reader alias naming the
// writer's full name (aliases are full names, resolved in the reader's
// namespace at parse time).
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

func named(k Kind) bool { return k == Record || k == Enum || k == Fixed }

// pickBranch is the reader union branch that reads writer type w: the
// first of the same type (a named type by name or alias), else the first
// that w promotes to; -1 when none matches. The specification's "first
// branch that matches" counts promotions as matches; like Java's resolver
// and the earlier implementations, an exact match is preferred.
func pickBranch(r, w *Schema) int {
	for i, b := range r.Branches {
		if b.Kind == w.Kind && (!named(b.Kind) || namesMatch(b, w)) {
			return i
		}
	}
	for i, b := range r.Branches {
		if promotable(b.Kind, w.Kind) {
			return i
		}
	}
	return -1
}

func (rs *resolver) plan(r, w *Schema) *Plan {
	key := [2]*Schema{r, w}
	if p, ok := rs.memo[key]; ok {
		return p
	}
	p := &Plan{Reader: r, Writer: w, ReaderBranch: -1}
	rs.memo[key] = p
	if w.Kind == Union {
		for _, wb := range w.Branches {
			p.Branches = append(p.Branches, rs.plan(r, wb))
		}
		return p
	}
	if r.Kind == Union {
		i := pickBranch(r, w)
		if i < 0 {
			p.Problem = fmt.Sprintf("reader %s has no branch that can read writer type %s", r.Describe(), w.Describe())
			return p
		}
		p.ReaderBranch, p.Target = i, rs.plan(r.Branches[i], w)
		return p
	}
	if r.Kind != w.Kind {
		if !promotable(r.Kind, w.Kind) {
			p.Problem = fmt.Sprintf("reader type %s cannot read writer type %s", r.Describe(), w.Describe())
		}
		return p
	}
	if named(r.Kind) && !namesMatch(r, w) {
		p.Problem = fmt.Sprintf("reader %s cannot read writer %s: names differ and no reader alias names it", r.Describe(), w.Describe())
		return p
	}
	switch r.Kind {
	case Array:
		p.Items = rs.plan(r.Items, w.Items)
	case Map:
		p.Items = rs.plan(r.Values, w.Values)
	case Fixed:
		if r.Size != w.Size {
			p.Problem = fmt.Sprintf("reader %s has size %d, writer %s has size %d", r.Describe(), r.Size, w.Describe(), w.Size)
		}
	case Enum:
		idx := make(map[string]int, len(r.Symbols))
		for i, s := range r.Symbols {
			idx[s] = i
		}
		def := -1
		if r.EnumDefault != nil {
			def = idx[*r.EnumDefault]
		}
		for _, s := range w.Symbols {
			if i, ok := idx[s]; ok {
				p.Symbols = append(p.Symbols, i)
			} else {
				p.Symbols = append(p.Symbols, def)
			}
		}
	case Record:
		rs.record(p, r, w)
	}
	return p
}

// record matches fields: a writer field feeds the reader field of its own
// name; a writer field no reader field is named after feeds the reader
// field that lists it among its aliases; every other writer field is
// skipped. (Java's SchemaCompatibility would also feed a writer field
// claimed by name to a second reader field aliasing it; a value cannot go
// to two fields, so here it does not.)
func (rs *resolver) record(p *Plan, r, w *Schema) {
	byName := make(map[string]int, len(r.Fields))
	for i, f := range r.Fields {
		byName[f.Name] = i
	}
	claimed := make([]bool, len(r.Fields))
	reader := make([]int, len(w.Fields))
	for i, wf := range w.Fields {
		reader[i] = -1
		if ri, ok := byName[wf.Name]; ok {
			reader[i], claimed[ri] = ri, true
		}
	}
	for i, wf := range w.Fields {
		if reader[i] >= 0 {
			continue
		}
	alias:
		for ri, rf := range r.Fields {
			if claimed[ri] {
				continue
			}
			for _, a := range rf.Aliases {
				if a == wf.Name {
					reader[i], claimed[ri] = ri, true
					break alias
				}
			}
		}
	}
	for i, wf := range w.Fields {
		fp := FieldPlan{Writer: wf, Reader: reader[i]}
		if fp.Reader >= 0 {
			fp.Plan = rs.plan(r.Fields[fp.Reader].Type, wf.Type)
		}
		p.Fields = append(p.Fields, fp)
	}
	for i := range r.Fields {
		if !claimed[i] {
			p.Missing = append(p.Missing, i)
		}
	}
}

// Problems lists every value of the plan's writer that its reader cannot
// read, with the dotted field path of each; none means the reader reads
// everything the writer writes.
func (p *Plan) Problems() []Incompatibility {
	l := &lister{memo: map[*Plan][]Incompatibility{}, inProgress: map[*Plan]bool{}}
	l.walk(p, "")
	return l.out
}

type lister struct {
	// memo holds each record plan's findings, with paths relative to it;
	// inProgress the record plans higher up the stack (a recursive type,
	// whose findings the enclosing walk reports).
	memo       map[*Plan][]Incompatibility
	inProgress map[*Plan]bool
	out        []Incompatibility
}

func (l *lister) add(path, msg string) {
	l.out = append(l.out, Incompatibility{Path: path, Message: msg})
}

func (l *lister) walk(p *Plan, path string) {
	if p.Problem != "" {
		l.add(path, p.Problem)
		return
	}
	switch {
	case p.Branches != nil || p.Writer.Kind == Union:
		for _, b := range p.Branches {
			l.walk(b, path)
		}
	case p.Target != nil:
		l.walk(p.Target, path)
	case p.Items != nil:
		l.walk(p.Items, path)
	case p.Writer.Kind == Enum && p.Reader.Kind == Enum:
		var missing []string
		for i, s := range p.Symbols {
			if s < 0 {
				missing = append(missing, p.Writer.Symbols[i])
			}
		}
		if len(missing) > 0 {
			l.add(path, fmt.Sprintf("reader %s lacks writer symbols [%s] and has no default symbol", p.Reader.Describe(), strings.Join(missing, ", ")))
		}
	case p.Writer.Kind == Record && p.Reader.Kind == Record:
		if res, ok := l.memo[p]; ok {
			l.emit(path, res)
			return
		}
		if l.inProgress[p] {
			return
		}
		l.inProgress[p] = true
		saved := l.out
		l.out = nil
		// In reader order, as the reader's fields are checked.
		type entry struct {
			ri int
			fp *FieldPlan
		}
		var order []entry
		for i := range p.Fields {
			if p.Fields[i].Reader >= 0 {
				order = append(order, entry{p.Fields[i].Reader, &p.Fields[i]})
			}
		}
		for _, ri := range p.Missing {
			order = append(order, entry{ri, nil})
		}
		sort.Slice(order, func(a, b int) bool { return order[a].ri < order[b].ri })
		for _, e := range order {
			rf := p.Reader.Fields[e.ri]
			if e.fp == nil {
				if !rf.HasDefault {
					l.add(rf.Name, fmt.Sprintf("reader field has no default and the writer %s has no such field", p.Writer.Describe()))
				}
				continue
			}
			l.walk(e.fp.Plan, rf.Name)
		}
		res := l.out
		l.out = saved
		delete(l.inProgress, p)
		l.memo[p] = res
		l.emit(path, res)
	}
}

func (l *lister) emit(path string, found []Incompatibility) {
	for _, in := range found {
		in.Path = join(path, in.Path)
		l.out = append(l.out, in)
	}
}
