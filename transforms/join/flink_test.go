//go:build flink

package join

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/runners/flink/flinktest"
)

// Each join transform on Beam's Flink runner (make test-flink), its output
// compared with Prism's on the same input. The inputs are those of the
// Prism tests beside each transform.

func init() { afterTests = flinktest.Stop }

func TestFlinkWindowJoin(t *testing.T) {
	flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		fixed := window.NewFixedWindows(10 * time.Second)
		in := []beam.PCollection{beam.WindowInto(s, fixed, rowsOf(s, winA)), beam.WindowInto(s, fixed, rowsOf(s, winB))}
		return flinktest.Tagged(s,
			"inner", strs(s, fmtTuple, Window(s, Inner, in)),
			"left", strs(s, fmtTuple, Window(s, LeftOuter, in)),
			"full", strs(s, fmtTuple, Window(s, FullOuter, in)),
			"full-batched", strs(s, fmtTuple, Window(s, FullOuter, in, Batched(4))),
			"cogroup", strs(s, fmtGroup, CoGroup(s, FullOuter, in)))
	})
}

func TestFlinkIntervalJoin(t *testing.T) {
	flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := sideStream(t, s, []streamStep{
			{Rows: []sideRow{{0, "k1", 1000, "a1"}, {1, "k1", 1500, "b1"}, {1, "k1", 4000, "b2"}}},
			{Watermark: 1000},
			{Rows: []sideRow{{0, "k1", 3500, "a2"}, {0, "k2", 2000, "a3"}}},
			{Watermark: 10000},
			{Rows: []sideRow{{0, "k1", 5000, "a4"}, {1, "k1", 9000, "b3"}}},
			{Watermark: -1},
		})
		left, right := beam.ParDo(s, splitSide0, in), beam.ParDo(s, splitSide1, in)
		inner, late := Interval(s, Inner, left, right, 0, 2*time.Second)
		outer, _ := Interval(s, LeftOuter, left, right, 0, 2*time.Second)
		return flinktest.Tagged(s, "inner", strs(s, fmtPair, inner), "late", strs(s, fmtLate, late),
			"left", strs(s, fmtPair, outer))
	})
}

func TestFlinkTemporalJoin(t *testing.T) {
	flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := sideStream(t, s, []streamStep{
			{Rows: []sideRow{{1, "T1", 1000, "v1"}, {0, "T1", 500, "l0"}, {0, "T1", 1000, "l1"}, {0, "T1", 4999, "l2"}}},
			{Rows: []sideRow{{0, "T1", 6000, "l3"}}},
			{Watermark: 2000},
			{Rows: []sideRow{{1, "T1", 5000, "v2"}, {1, "T1", 8000, "DEL"}, {1, "T1", 9000, "v3"}}},
			{Rows: []sideRow{{0, "T1", 8500, "l4"}, {0, "T1", 9500, "l5"}, {0, "T2", 3000, "x"}}},
			{Watermark: 10000},
			{Rows: []sideRow{{0, "T1", 2000, "l6"}}},
			{Watermark: -1},
		})
		left, versions := beam.ParDo(s, splitSide0, in), beam.ParDo(s, sideChange, in)
		inner, late := Temporal(s, Inner, left, versions)
		outer, _ := Temporal(s, LeftOuter, left, versions)
		latest, _ := Latest(s, LeftOuter, left, versions)
		return flinktest.Tagged(s, "inner", strs(s, fmtPair, inner), "late", strs(s, fmtLate, late),
			"left", strs(s, fmtPair, outer), "latest", strs(s, fmtPair, latest))
	})
}

func TestFlinkTemporalTable(t *testing.T) {
	rows := randomTableRows(rand.New(rand.NewPCG(1, 7)), 60)
	want := bruteTable(rows)
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := beam.ParDo(s, stampVersion, beam.CreateList(s, rows))
		return flinktest.Tagged(s,
			"stateful", strs(s, fmtChangeAt, TemporalTable(s, in, distinctValid)),
			"bounded", strs(s, fmtChangeAt, TemporalTable(s, in, distinctValid, Bounded())))
	})
	if len(got) != 2*len(want) {
		t.Errorf("got %d changes, want %d for each form", len(got), len(want))
	}
}

// TestStream on Flink: the TestStream tests above (interval, temporal,
// broadcast) are not in make test-flink. Beam's Go validates-runner suite
// skips its TestStream tests on Flink ("With TestStream Flink adds extra
// length prefixs some data types, causing SDK side failures",
// sdks/go/test/integration/integration.go at v2.77.0, flinkFilters). The
// tests below feed the same transforms from beam.Create, each row stamped
// with its event time by a ParDo, so they compare on-time results only:
// with a bounded input the watermark stays at -inf until every row is read,
// and nothing is late on either runner.

func init() {
	register.Function2x0(stampSide)
	register.Emitter2[beam.EventTime, sideRow]()
}

func stampSide(r sideRow, emit func(beam.EventTime, sideRow)) {
	emit(mtime.FromMilliseconds(r.TS), r)
}

// sideRows is sideStream's bounded stand-in: rows at their event times.
func sideRows(s beam.Scope, rows []sideRow) beam.PCollection {
	return beam.ParDo(s, stampSide, beam.CreateList(s, rows))
}

// checkBoundedOutput fails a join's tagged output over bounded input that
// is empty or has late rows.
func checkBoundedOutput(t *testing.T, got []string) {
	t.Helper()
	for _, g := range got {
		if strings.HasPrefix(g, "late") {
			t.Errorf("late output from a bounded input: %s", g)
		}
	}
	if len(got) == 0 {
		t.Error("no output")
	}
}

func TestFlinkIntervalJoinBounded(t *testing.T) {
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := sideRows(s, []sideRow{
			{0, "k1", 1000, "a1"}, {1, "k1", 1500, "b1"}, {1, "k1", 4000, "b2"},
			{0, "k1", 3500, "a2"}, {0, "k2", 2000, "a3"},
			{0, "k1", 5000, "a4"}, {1, "k1", 9000, "b3"},
		})
		left, right := beam.ParDo(s, splitSide0, in), beam.ParDo(s, splitSide1, in)
		inner, late := Interval(s, Inner, left, right, 0, 2*time.Second)
		outer, _ := Interval(s, LeftOuter, left, right, 0, 2*time.Second)
		return flinktest.Tagged(s, "inner", strs(s, fmtPair, inner), "late", strs(s, fmtLate, late),
			"left", strs(s, fmtPair, outer))
	})
	checkBoundedOutput(t, got)
}

func TestFlinkTemporalJoinBounded(t *testing.T) {
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := sideRows(s, []sideRow{
			{1, "T1", 1000, "v1"}, {0, "T1", 500, "l0"}, {0, "T1", 1000, "l1"}, {0, "T1", 4999, "l2"},
			{0, "T1", 6000, "l3"},
			{1, "T1", 5000, "v2"}, {1, "T1", 8000, "DEL"}, {1, "T1", 9000, "v3"},
			{0, "T1", 8500, "l4"}, {0, "T1", 9500, "l5"}, {0, "T2", 3000, "x"},
			{0, "T1", 2000, "l6"},
		})
		left, versions := beam.ParDo(s, splitSide0, in), beam.ParDo(s, sideChange, in)
		inner, late := Temporal(s, Inner, left, versions)
		outer, _ := Temporal(s, LeftOuter, left, versions)
		return flinktest.Tagged(s, "inner", strs(s, fmtPair, inner), "late", strs(s, fmtLate, late),
			"left", strs(s, fmtPair, outer))
	})
	checkBoundedOutput(t, got)
}

// TestFlinkReplicate: join.Replicate (a stateless KV<int, T> fan-out)
// from beam.Create, as in TestReplicate.
func TestFlinkReplicate(t *testing.T) {
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		rows := []testRow{{Key: "a", TS: 5, Data: "x"}, {Key: "b", TS: 9, Data: "y"}}
		return beam.ParDo(s, fmtShardRow, Replicate(s, beam.ParDo(s, stampTestRow, beam.CreateList(s, rows)), 3))
	})
	want := []string{"0:x@5", "0:y@9", "1:x@5", "1:y@9", "2:x@5", "2:y@9"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestFlinkBroadcastBounded: Broadcast evaluates a batch against the table
// as it stands when the batch is processed, so without TestStream's
// ordering the input is one whose output does not depend on the order:
// upserts only, each arm once, and a TTL longer than the input's span, so
// each (batch, arm) pair is evaluated exactly once, either when the batch
// comes or when the arm does. Fails on Flink (2026-12-03): Prism gives the 7
// rows, Flink none and no error; without StateTTL the Flink job does not
// end within 4 minutes. Not in make test-flink (docs/runners.md).
func TestFlinkBroadcastBounded(t *testing.T) {
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := sideRows(s, []sideRow{
			{1, "armA", 1000, "50"}, {0, "b1", 2000, "p1:60,p2:40"}, {1, "armB", 3000, "30"},
			{0, "b2", 5000, "p3:35"}, {1, "armC", 6000, "0"},
		})
		out := Broadcast(s, beam.ParDo(s, sideChange, in), beam.ParDo(s, sideBatch, in), minAgeEval, Shards(3), StateTTL(time.Hour))
		return beam.ParDo(s, bytesToString, out)
	})
	want := []string{"p1:armA", "p1:armB", "p1:armC", "p2:armB", "p2:armC", "p3:armB", "p3:armC"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}
