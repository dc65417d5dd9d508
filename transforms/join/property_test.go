package join

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// randomRows draws n rows over few (skewed) keys and a short time range.
func randomRows(r *rand.Rand, side, n int) []testRow {
	rows := make([]testRow, n)
	for i := range rows {
		k := r.IntN(6)
		if r.IntN(3) == 0 {
			k = 0 // a hot key
		}
		rows[i] = testRow{Key: fmt.Sprintf("k%d", k), TS: r.Int64N(30000), Data: fmt.Sprintf("i%d-%d", side, i)}
	}
	return rows
}

// bruteWindow joins inputs by nested loops over every window of every row.
func bruteWindow(kind Kind, inputs [][]testRow, windows func(ts int64) [][2]int64) []string {
	type wk struct {
		key        string
		start, end int64
	}
	groups := map[wk][][][]byte{}
	for side, rows := range inputs {
		for _, r := range rows {
			for _, w := range windows(r.TS) {
				k := wk{r.Key, w[0], w[1]}
				if groups[k] == nil {
					groups[k] = make([][][]byte, len(inputs))
				}
				groups[k][side] = append(groups[k][side], []byte(r.Data))
			}
		}
	}
	var out []string
	for k, sides := range groups {
		product(kind, sides, func(p uint8, rows [][]byte) {
			out = append(out, tupleString(Tuple{Key: k.key, Start: k.start, End: k.end, Present: p, Rows: rows}))
		})
	}
	return out
}

func fixedWindows(size int64) func(int64) [][2]int64 {
	return func(ts int64) [][2]int64 {
		s := ts - ts%size
		return [][2]int64{{s, s + size}}
	}
}

func slidingWindows(size, period int64) func(int64) [][2]int64 {
	return func(ts int64) [][2]int64 {
		var ws [][2]int64
		for s := ts - ts%period; s > ts-size; s -= period {
			ws = append(ws, [2]int64{s, s + size})
		}
		return ws
	}
}

func bruteInterval(kind Kind, left, right []testRow, lower, upper int64) []string {
	var out []string
	for _, l := range left {
		matched := false
		for _, r := range right {
			if l.Key == r.Key && inInterval(l.TS, r.TS, lower, upper) {
				matched = true
				out = append(out, pairString(Pair{Key: l.Key, Left: []byte(l.Data), LeftTS: l.TS, Right: []byte(r.Data), RightTS: r.TS, Matched: true}))
			}
		}
		if !matched && kind == LeftOuter {
			out = append(out, pairString(Pair{Key: l.Key, Left: []byte(l.Data), LeftTS: l.TS}))
		}
	}
	return out
}

func equalsStrings(s beam.Scope, col beam.PCollection, want []string) {
	if len(want) == 0 {
		passert.Empty(s, col)
		return
	}
	passert.EqualsList(s, col, want)
}

// TestJoinsMatchBruteForce compares window joins (fixed and sliding, every
// kind, row and batched paths) and interval joins (inner and left outer, row
// and batched paths) with nested-loop joins on random data.
func TestJoinsMatchBruteForce(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("JOIN_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	inputs := [][]testRow{randomRows(r, 0, 40), randomRows(r, 1, 30), randomRows(r, 2, 20)}

	p, s := beam.NewPipelineWithRoot()
	cols := make([]beam.PCollection, len(inputs))
	for i, rows := range inputs {
		cols[i] = rowsOf(s, rows)
	}
	type wf struct {
		name  string
		fn    *window.Fn
		brute func(int64) [][2]int64
	}
	for _, w := range []wf{
		{"fixed", window.NewFixedWindows(5 * time.Second), fixedWindows(5000)},
		{"sliding", window.NewSlidingWindows(5*time.Second, 10*time.Second), slidingWindows(10000, 5000)},
	} {
		win := make([]beam.PCollection, len(cols))
		for i, c := range cols {
			win[i] = beam.WindowInto(s, w.fn, c)
		}
		for _, kind := range []Kind{Inner, LeftOuter, FullOuter} {
			want := bruteWindow(kind, inputs, w.brute)
			equalsStrings(s, strs(s, fmtTuple, Window(s, kind, win)), want)
			equalsStrings(s, strs(s, fmtTuple, Window(s, kind, win, Batched(3))), want)
		}
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("seed %d: window joins: %v", seed, err)
	}

	// The interval joins run in a pipeline of their own: in one large
	// pipeline with the window joins, Prism v2.77.0 occasionally lost timer
	// firings or stalled ("no refreshes with non zero pending elements").
	p, s = beam.NewPipelineWithRoot()
	left, right := rowsOf(s, inputs[0]), rowsOf(s, inputs[1])
	lower, upper := -r.Int64N(3000), r.Int64N(3000)
	for _, kind := range []Kind{Inner, LeftOuter} {
		for _, opts := range [][]IntervalOption{nil, {Batched(3)}} {
			joined, late := Interval(s, kind, left, right, time.Duration(lower)*time.Millisecond, time.Duration(upper)*time.Millisecond, opts...)
			// Late rows would show up as unexpected entries.
			got := beam.Flatten(s, strs(s, fmtPair, joined), strs(s, fmtLate, late))
			equalsStrings(s, got, bruteInterval(kind, inputs[0], inputs[1], lower, upper))
		}
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("seed %d: interval joins: %v", seed, err)
	}
}
