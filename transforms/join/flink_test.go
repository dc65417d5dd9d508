//go:build flink

package join

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"

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

func TestFlinkBroadcastAndReplicate(t *testing.T) {
	flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		in := sideStream(t, s, []streamStep{
			{Rows: []sideRow{{1, "armA", 1000, "50"}}},
			{Watermark: 1500},
			{Rows: []sideRow{{0, "b1", 2000, "p1:60,p2:40"}}},
			{Watermark: 2500},
			{Rows: []sideRow{{1, "armB", 3000, "30"}}},
			{Watermark: 3500},
			{Rows: []sideRow{{1, "armA", 4000, "DEL"}}},
			{Watermark: 4500},
			{Rows: []sideRow{{0, "b2", 5000, "p3:35"}}},
			{Watermark: 100000},
			{Rows: []sideRow{{1, "armC", 100000, "0"}}},
			{Watermark: -1},
		})
		out := Broadcast(s, beam.ParDo(s, sideChange, in), beam.ParDo(s, sideBatch, in), minAgeEval, Shards(3), StateTTL(10*time.Second))
		rows := []testRow{{Key: "a", TS: 5, Data: "x"}, {Key: "b", TS: 9, Data: "y"}}
		rep := beam.ParDo(s, fmtShardRow, Replicate(s, beam.ParDo(s, stampTestRow, beam.CreateList(s, rows)), 3))
		return flinktest.Tagged(s, "broadcast", beam.ParDo(s, bytesToString, out), "replicate", rep)
	})
}
