package join

import (
	"fmt"
	"time"
)

// Kind selects which rows a join emits.
type Kind int

const (
	// Inner emits only combinations in which every input has a row.
	Inner Kind = iota
	// LeftOuter emits every row of the first (left) input, with the other
	// inputs absent when nothing matched.
	LeftOuter
	// FullOuter emits every row of every input; absent inputs are marked
	// in Tuple.Present.
	FullOuter
)

// String returns the name of the join kind.
func (k Kind) String() string {
	switch k {
	case Inner:
		return "inner"
	case LeftOuter:
		return "left-outer"
	case FullOuter:
		return "full-outer"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MaxInputs is the largest number of inputs a window join accepts.
const MaxInputs = 8

// Tagged is one input row on its way through the shuffle: the input it came
// from, its event time in milliseconds since the Unix epoch and its payload.
type Tagged struct {
	Side   int
	TS     int64
	Data   []byte
	Delete bool
}

// Tuple is one result of a window join: one row (or nothing) per input, for
// one key and one window. Bit i of Present is set when Rows[i] holds a row of
// input i; an absent row is nil. Start and End bound the window in
// milliseconds since the Unix epoch (End exclusive).
type Tuple struct {
	Key        string
	Start, End int64
	Present    uint8
	Rows       [][]byte
}

// Has reports whether input i contributed a row to the tuple.
func (t Tuple) Has(i int) bool { return t.Present&(1<<uint(i)) != 0 }

// Group is the coGroup-style result of a window join: all rows of every input
// for one key and one window. Sides[i] holds the rows of input i in an
// unspecified order.
type Group struct {
	Key        string
	Start, End int64
	Sides      [][][]byte
}

// Pair is one result of an interval or temporal join. Matched is false for a
// left row emitted by an outer join without a partner; Right and RightTS are
// then zero. Times are milliseconds since the Unix epoch.
type Pair struct {
	Key     string
	Left    []byte
	LeftTS  int64
	Right   []byte
	RightTS int64
	Matched bool
}

// Late is a row that arrived after the join had released the state it
// needed (its event time is behind the key's cleanup point by more than the
// allowed lateness). It is emitted on the late side output instead of being
// dropped. Side is 0 for the left input and 1 for the right one. Reason
// says in words which join, which input and how late (the row's event time,
// the cleanup point it was behind, the allowed lateness); it names times
// only, never the key or the payload. LateToDeadLetters turns Late values
// into dead letters.
type Late struct {
	Key    string
	Side   int
	TS     int64
	Data   []byte
	Reason string
}

// Change is one entry of a changelog: an upsert of Data under Key, or a
// deletion of Key when Delete is set. Changelogs feed temporal joins (as
// versions) and broadcast joins (as the small side).
type Change struct {
	Key    string
	Data   []byte
	Delete bool
}

func toMillis(d time.Duration) int64 { return d.Milliseconds() }
