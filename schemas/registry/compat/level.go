package compat

import (
	"fmt"
	"strings"
)

// Level is a Schema Registry compatibility level.
type Level string

// The compatibility levels. BACKWARD is the default.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
	Default                  = Backward
)

// Levels lists every level.
var Levels = []Level{None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive}

// ParseLevel accepts a level name, case-insensitively.
func ParseLevel(s string) (Level, error) {
	u := Level(strings.ToUpper(strings.TrimSpace(s)))
	for _, l := range Levels {
		if u == l {
			return l, nil
		}
	}
	return "", fmt.Errorf("invalid compatibility level %q; valid levels are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE", s)
}

// Transitive reports whether the level checks against every earlier
// version rather than the latest only.
func (l Level) Transitive() bool { return strings.HasSuffix(string(l), "_TRANSITIVE") }

// backward: the candidate must read data written with earlier schemas.
func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

// forward: earlier schemas must read data written with the candidate.
func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// CheckLevel lists why candidate may not follow history (oldest first)
// under level: the transitive levels check every earlier schema, the others
// the latest only, and NONE nothing.
func CheckLevel(level Level, candidate *Schema, history []*Schema) []Incompatibility {
	if level == None || len(history) == 0 {
		return nil
	}
	from := len(history) - 1
	if level.Transitive() {
		from = 0
	}
	var out []Incompatibility
	for i := len(history) - 1; i >= from; i-- {
		out = append(out, CheckOne(level, candidate, history[i], i)...)
	}
	return out
}

// CheckOne checks candidate against one earlier schema in the direction(s)
// level asks for; against is recorded in each Incompatibility.
func CheckOne(level Level, candidate, earlier *Schema, against int) []Incompatibility {
	var out []Incompatibility
	if level.backward() {
		for _, in := range Check(candidate, earlier) {
			in.Against, in.Direction = against, "BACKWARD"
			out = append(out, in)
		}
	}
	if level.forward() {
		for _, in := range Check(earlier, candidate) {
			in.Against, in.Direction = against, "FORWARD"
			out = append(out, in)
		}
	}
	return out
}
