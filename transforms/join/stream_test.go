package join

// Streaming tests on Prism with TestStream: session merges of out-of-order
// rows, watermark holds, empty windows, late rows, skewed keys and
// deterministic output.

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/filter"
)

func init() {
	register.Function3x0(fmtPairAt)
	register.Function3x0(fmtTupleAt)
	register.Function2x0(leftIDOfPair)
	register.Function2x0(leftIDOfLate)
	register.Function1x1(hasReason)
}

// fmtPairAt formats a pair with the event time it was emitted at.
func fmtPairAt(ts beam.EventTime, p Pair, emit func(string)) {
	emit(fmt.Sprintf("%s t=%d", pairString(p), ts.Milliseconds()))
}

// fmtTupleAt formats a tuple with the event time it was emitted at.
func fmtTupleAt(ts beam.EventTime, t Tuple, emit func(string)) {
	emit(fmt.Sprintf("%s t=%d", tupleString(t), ts.Milliseconds()))
}

// leftIDOfPair and leftIDOfLate name the left row a result accounts for.
func leftIDOfPair(p Pair, emit func(string)) { emit(p.Key + "/" + string(p.Left)) }

func leftIDOfLate(l Late, emit func(string)) {
	if l.Side == 0 {
		emit(l.Key + "/" + string(l.Data))
	}
}

// TestSessionMergeOutOfOrder: rows of two inputs open two sessions of one
// key that do not meet, then an out-of-order row (behind rows already seen)
// bridges the gap, so the sessions merge into one and the rows join.
func TestSessionMergeOutOfOrder(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{
		// k1: [1000,3000) and [4500,6500) with a 2 s gap do not overlap.
		// k2: the same shape, never bridged.
		{Rows: []sideRow{{0, "k1", 1000, "a1"}, {1, "k1", 4500, "b1"}, {0, "k2", 1000, "x1"}, {1, "k2", 4500, "y1"}}},
		{Watermark: 900},
		// Arrives after b1 but lies before it: [2800,4800) overlaps both.
		{Rows: []sideRow{{0, "k1", 2800, "a2"}}},
		{Watermark: 2000},
		{Watermark: -1},
	})
	sess := window.NewSessions(2 * time.Second)
	left := beam.WindowInto(s, sess, beam.ParDo(s, splitSide0, in))
	right := beam.WindowInto(s, sess, beam.ParDo(s, splitSide1, in))
	ins := []beam.PCollection{left, right}
	passert.Equals(s, strs(s, fmtTuple, Window(s, Inner, ins)),
		"k1@1000-6500:a1,b1", "k1@1000-6500:a2,b1")
	passert.Equals(s, strs(s, fmtTuple, Window(s, FullOuter, ins)),
		"k1@1000-6500:a1,b1", "k1@1000-6500:a2,b1", "k2@1000-3000:x1,-", "k2@4500-6500:-,y1")
	passert.Equals(s, strs(s, fmtGroup, CoGroup(s, LeftOuter, ins)),
		"k1@1000-6500:a1+a2|b1", "k2@1000-3000:x1|")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

// TestIntervalWatermarkHold: a left outer interval join keeps an unmatched
// left row until the watermark passes a.ts+upper; a right row that arrives
// before then (at the inclusive bound) still matches, and the row is never
// emitted unmatched. A row that stays unmatched is emitted at its cleanup
// time, after a.ts+upper. Both paths.
func TestIntervalWatermarkHold(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			in := sideStream(t, s, []streamStep{
				{Rows: []sideRow{{0, "k1", 1000, "a1"}, {0, "k2", 1000, "c1"}}},
				// Just before a.ts+upper = 3000: nothing may be emitted yet.
				{Watermark: 2999},
				{Rows: []sideRow{{1, "k1", 3000, "b1"}}},
				{Watermark: -1},
			})
			left := beam.ParDo(s, splitSide0, in)
			right := beam.ParDo(s, splitSide1, in)
			var opts []IntervalOption
			if batched {
				opts = append(opts, Batched(4))
			}
			joined, late := Interval(s, LeftOuter, left, right, 0, 2*time.Second, opts...)
			// Cleanup runs at the first whole second after 3000 (CleanupEvery 1 s).
			passert.Equals(s, strs(s, fmtPairAt, joined), "k1:a1@1000,b1@3000 t=3000", "k2:c1@1000- t=4000")
			passert.Empty(s, late)
			if err := ptest.Run(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTemporalWaitsForWatermark: a left row is not joined when it arrives
// but when the watermark reaches its time; a version that arrives later yet
// before that watermark, and is valid at the row's time, is the one used.
func TestTemporalWaitsForWatermark(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{
		{Rows: []sideRow{{1, "T", 1000, "v1"}, {0, "T", 5000, "l1"}, {0, "U", 5000, "m1"}}},
		{Watermark: 3000},
		// Valid from 4000: supersedes v1 for l1. v3 is after l1.
		{Rows: []sideRow{{1, "T", 4000, "v2"}, {1, "T", 6000, "v3"}, {1, "U", 4999, "w1"}}},
		{Watermark: -1},
	})
	left := beam.ParDo(s, splitSide0, in)
	versions := beam.ParDo(s, sideChange, in)
	joined, late := Temporal(s, LeftOuter, left, versions)
	passert.Equals(s, strs(s, fmtPairAt, joined), "T:l1@5000,v2@4000 t=5000", "U:m1@5000,w1@4999 t=5000")
	passert.Empty(s, late)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

// TestEmptyWindows: a window with rows on one input only gives no inner
// output and the outer rows of that input; a window with no rows at all
// (30-40 s, crossed by the watermark) gives nothing. Row and batched paths.
func TestEmptyWindows(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			in := sideStream(t, s, []streamStep{
				{Rows: []sideRow{{0, "k1", 1000, "a1"}, {1, "k1", 2000, "b1"}}},
				{Watermark: 10000},
				{Rows: []sideRow{{0, "k2", 11000, "a2"}}},
				{Watermark: 20000},
				{Rows: []sideRow{{1, "k3", 21000, "b3"}}},
				{Watermark: 30000},
				{Watermark: 40000},
				{Rows: []sideRow{{0, "k4", 41000, "a4"}, {1, "k4", 49000, "b4"}}},
				{Watermark: -1},
			})
			fixed := window.NewFixedWindows(10 * time.Second)
			ins := []beam.PCollection{
				beam.WindowInto(s, fixed, beam.ParDo(s, splitSide0, in)),
				beam.WindowInto(s, fixed, beam.ParDo(s, splitSide1, in)),
			}
			var opts []WindowOption
			if batched {
				opts = append(opts, Batched(2))
			}
			passert.Equals(s, strs(s, fmtTupleAt, Window(s, Inner, ins, opts...)),
				"k1@0-10000:a1,b1 t=9999", "k4@40000-50000:a4,b4 t=49999")
			passert.Equals(s, strs(s, fmtTuple, Window(s, LeftOuter, ins, opts...)),
				"k1@0-10000:a1,b1", "k2@10000-20000:a2,-", "k4@40000-50000:a4,b4")
			passert.Equals(s, strs(s, fmtTuple, Window(s, FullOuter, ins, opts...)),
				"k1@0-10000:a1,b1", "k2@10000-20000:a2,-", "k3@20000-30000:-,b3", "k4@40000-50000:a4,b4")
			if err := ptest.Run(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// lateSteps feed TestLateRowsConserved: k1's cleanup point reaches 5000
// (timers at 3000 and 5000) before a2, b2 and a3 arrive; with 1 s allowed
// lateness rows before 4000 are late.
var lateSteps = []streamStep{
	{Rows: []sideRow{{0, "k1", 1000, "a1"}, {1, "k1", 1500, "b1"}}},
	{Watermark: 10000},
	{Rows: []sideRow{
		{0, "k1", 3500, "a2"}, // late: left row behind 5000-1000
		{1, "k1", 3000, "b2"}, // late: right row
		{0, "k1", 4500, "a3"}, // within the allowed lateness: kept, unmatched
		{1, "k1", 4600, "b3"}, // within it too: meets a3
		{0, "k1", 9000, "a4"}, // on time, unmatched
	}},
	{Watermark: -1},
}

// TestLateRowsConserved: rows later than the allowed lateness go to the late
// output with a reason, rows within it are still joined, and every left row
// is accounted for exactly once: in = joined or unmatched + late.
func TestLateRowsConserved(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			in := sideStream(t, s, lateSteps)
			left := beam.ParDo(s, splitSide0, in)
			right := beam.ParDo(s, splitSide1, in)
			opts := []IntervalOption{AllowedLateness(time.Second)}
			if batched {
				opts = append(opts, Batched(2))
			}
			joined, late := Interval(s, LeftOuter, left, right, 0, 2*time.Second, opts...)
			passert.Equals(s, strs(s, fmtPair, joined),
				"k1:a1@1000,b1@1500", "k1:a3@4500,b3@4600", "k1:a4@9000-")
			passert.Equals(s, strs(s, fmtLate, late), "late:0:k1:a2@3500", "late:1:k1:b2@3000")
			passert.True(s, late, hasReason)

			// Conservation: every left row is in exactly one of the outputs.
			var ids []string
			for _, st := range lateSteps {
				for _, r := range st.Rows {
					if r.Side == 0 {
						ids = append(ids, r.Key+"/"+r.Data)
					}
				}
			}
			accounted := beam.Flatten(s,
				filter.Distinct(s, strs(s, leftIDOfPair, joined)),
				strs(s, leftIDOfLate, late))
			passert.EqualsList(s, accounted, ids)
			if err := ptest.Run(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func hasReason(l Late) bool { return l.Reason != "" }

// shiftSteps moves the rows and watermarks of steps by d ms.
func shiftSteps(steps []streamStep, d int64) []streamStep {
	out := make([]streamStep, len(steps))
	for i, st := range steps {
		out[i] = st
		if st.Watermark >= 0 {
			out[i].Watermark += d
		}
		out[i].Rows = make([]sideRow, len(st.Rows))
		for j, r := range st.Rows {
			r.TS += d
			out[i].Rows[j] = r
		}
	}
	return out
}

// skewedSteps draws rows of two inputs where one hot key holds most rows,
// and feeds them in event-time order with local disorder: each chunk is
// shuffled and the watermark only advances to the earliest time still to
// come, so no row is late.
func skewedSteps(r *rand.Rand, n int) ([]streamStep, [2][]testRow) {
	var rows []sideRow
	var bySide [2][]testRow
	for i := 0; i < n; i++ {
		side := r.IntN(2)
		k := "hot"
		if r.IntN(5) == 0 {
			k = fmt.Sprintf("k%d", r.IntN(8))
		}
		row := sideRow{Side: side, Key: k, TS: r.Int64N(40000), Data: fmt.Sprintf("r%d", i)}
		rows = append(rows, row)
		bySide[side] = append(bySide[side], testRow{Key: row.Key, TS: row.TS, Data: row.Data})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].TS < rows[j].TS })
	var steps []streamStep
	const chunk = 25
	for i := 0; i < len(rows); i += chunk {
		c := append([]sideRow(nil), rows[i:min(i+chunk, len(rows))]...)
		r.Shuffle(len(c), func(a, b int) { c[a], c[b] = c[b], c[a] })
		steps = append(steps, streamStep{Rows: c})
		if i+chunk < len(rows) {
			steps = append(steps, streamStep{Watermark: rows[i+chunk].TS - 1})
		}
	}
	return append(steps, streamStep{Watermark: -1}), bySide
}

// TestSkewedKeys: with one hot key holding about 80% of the rows, streamed
// out of order, window joins (row and batched) and interval joins (row and
// batched) give the brute-force result.
func TestSkewedKeys(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	steps, inputs := skewedSteps(r, 240)

	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, steps)
	left := beam.ParDo(s, splitSide0, in)
	right := beam.ParDo(s, splitSide1, in)
	fixed := window.NewFixedWindows(5 * time.Second)
	ins := []beam.PCollection{beam.WindowInto(s, fixed, left), beam.WindowInto(s, fixed, right)}
	for _, kind := range []Kind{Inner, FullOuter} {
		want := bruteWindow(kind, inputs[:], fixedWindows(5000))
		equalsStrings(s, strs(s, fmtTuple, Window(s, kind, ins)), want)
		equalsStrings(s, strs(s, fmtTuple, Window(s, kind, ins, Batched(3))), want)
	}
	for _, batched := range []bool{false, true} {
		opts := []IntervalOption{}
		if batched {
			opts = append(opts, Batched(3))
		}
		joined, late := Interval(s, LeftOuter, left, right, -time.Second, 2*time.Second, opts...)
		got := beam.Flatten(s, strs(s, fmtPair, joined), strs(s, fmtLate, late))
		equalsStrings(s, got, bruteInterval(LeftOuter, inputs[0], inputs[1], -1000, 2000))
	}
	if err := ptest.Run(p); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
}

// TestDeterministicOutput runs one streaming pipeline (session window join,
// interval and temporal joins, out-of-order and late rows) twice and
// compares the outputs, with their event times, line by line.
func TestDeterministicOutput(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	steps, _ := skewedSteps(r, 150)
	// The late rows come after the skewed ones in event time.
	steps = append(steps[:len(steps)-1], shiftSteps(lateSteps, 100000)...)
	dir := t.TempDir()
	run := func(name string) []string {
		path := filepath.Join(dir, name)
		p, s := beam.NewPipelineWithRoot()
		in := sideStream(t, s, steps)
		left := beam.ParDo(s, splitSide0, in)
		right := beam.ParDo(s, splitSide1, in)
		sess := window.NewSessions(time.Second)
		w := Window(s, FullOuter, []beam.PCollection{beam.WindowInto(s, sess, left), beam.WindowInto(s, sess, right)})
		iv, ivLate := Interval(s, LeftOuter, left, right, -time.Second, time.Second, AllowedLateness(500*time.Millisecond))
		tj, tjLate := Temporal(s, LeftOuter, left, beam.ParDo(s, sideChange, in))
		out := beam.Flatten(s, strs(s, fmtTupleAt, w), strs(s, fmtPairAt, iv), strs(s, fmtLate, ivLate),
			strs(s, fmtPairAt, tj), strs(s, fmtLate, tjLate))
		textio.Write(s, path, out)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var lines []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		// The order of elements in a PCollection is not defined; the
		// multiset, with event times, must be.
		sort.Strings(lines)
		return lines
	}
	first, second := run("first.txt"), run("second.txt")
	if len(first) == 0 {
		t.Fatal("the pipeline produced no output")
	}
	if len(first) != len(second) {
		t.Fatalf("run 1 gave %d lines, run 2 %d", len(first), len(second))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("line %d differs: %q vs %q", i, first[i], second[i])
		}
	}
}

// TestStatefulJoinsDirect documents that the stateful joins need a runner
// with state and timers.
func TestStatefulJoinsDirect(t *testing.T) {
	t.Skip("the direct runner has no state or timers: Interval, Temporal, Latest, Broadcast and TemporalTable without Bounded run on Prism (see the other tests)")
}
