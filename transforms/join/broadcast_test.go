package join

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/runners"
)

func init() {
	register.Function2x0(sideBatch)
	register.Function2x0(bytesToString)
	register.Emitter2[beam.EventTime, Batch]()
	RegisterEvalFunc(minAgeEval)
}

// sideBatch turns a side-0 row "p1:60,p2:40" into a batch named by its key.
func sideBatch(r sideRow, emit func(beam.EventTime, Batch)) {
	if r.Side != 0 {
		return
	}
	var rows [][]byte
	for _, f := range strings.Split(r.Data, ",") {
		rows = append(rows, []byte(f))
	}
	emit(mtime.FromMilliseconds(r.TS), Batch{ID: r.Key, Rows: rows})
}

func bytesToString(b []byte, emit func(string)) { emit(string(b)) }

// minAgeEval matches rows "patient:age" with arms whose table value is a
// minimum age. On re-evaluation it only looks at the changed arms, and
// reports "-patient:arm" for arms that were deleted.
func minAgeEval(table Table, batch Batch, changed []string, emit func([]byte)) {
	arms := changed
	if arms == nil {
		for k := range table {
			arms = append(arms, k)
		}
		sort.Strings(arms)
	}
	for _, row := range batch.Rows {
		patient, ageStr, _ := strings.Cut(string(row), ":")
		age, _ := strconv.Atoi(ageStr)
		for _, arm := range arms {
			v, ok := table[arm]
			if !ok {
				emit([]byte("-" + patient + ":" + arm))
				continue
			}
			if min, _ := strconv.Atoi(string(v)); age >= min {
				emit([]byte(patient + ":" + arm))
			}
		}
	}
}

func TestBroadcastJoinStream(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{
		{Rows: []sideRow{{1, "armA", 1000, "50"}}},
		{Watermark: 1500},
		{Rows: []sideRow{{0, "b1", 2000, "p1:60,p2:40"}}},
		{Watermark: 2500},
		// A new arm re-evaluates the stored batch.
		{Rows: []sideRow{{1, "armB", 3000, "30"}}},
		{Watermark: 3500},
		{Rows: []sideRow{{1, "armA", 4000, "DEL"}}},
		{Watermark: 4500},
		// b2 is new: evaluated against armB only.
		{Rows: []sideRow{{0, "b2", 5000, "p3:35"}}},
		{Watermark: 100000},
		// b1 and b2 expired (TTL 10s): the change re-evaluates nothing.
		{Rows: []sideRow{{1, "armC", 100000, "0"}}},
		{Watermark: -1},
	})
	small := beam.ParDo(s, sideChange, in)
	large := beam.ParDo(s, sideBatch, in)
	out := Broadcast(s, small, large, minAgeEval, Shards(3), StateTTL(10*time.Second))
	passert.Equals(s, beam.ParDo(s, bytesToString, out),
		"p1:armA", "p1:armB", "p2:armB", "-p1:armA", "-p2:armA", "p3:armB")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

func init() {
	register.Function4x0(fmtShardRow)
	register.Function2x0(stampTestRow)
	register.Emitter2[beam.EventTime, testRow]()
}

func stampTestRow(r testRow, emit func(beam.EventTime, testRow)) {
	emit(mtime.FromMilliseconds(r.TS), r)
}

func fmtShardRow(ts beam.EventTime, shard int, r testRow, emit func(string)) {
	emit(fmt.Sprintf("%d:%s@%d", shard, r.Data, ts.Milliseconds()))
}

// TestReplicate sends every element to every shard, keeping its event time.
func TestReplicate(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	rows := []testRow{{Key: "a", TS: 5, Data: "x"}, {Key: "b", TS: 9, Data: "y"}}
	got := beam.ParDo(s, fmtShardRow, Replicate(s, beam.ParDo(s, stampTestRow, beam.CreateList(s, rows)), 3))
	passert.Equals(s, got, "0:x@5", "1:x@5", "2:x@5", "0:y@9", "1:y@9", "2:y@9")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

// join.Broadcast runs on Flink (TestFlinkBroadcastBounded, make
// test-flink) since its shard rows have a coder of their own: runners lets
// it through there, as on Prism.
func TestBroadcastAcceptedOnFlink(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{{Rows: []sideRow{{1, "armA", 1000, "50"}}}, {Watermark: -1}})
	Broadcast(s, beam.ParDo(s, sideChange, in), beam.ParDo(s, sideBatch, in), minAgeEval, Shards(3))
	for _, r := range []string{"flink", "prism"} {
		if err := runners.Unsupported(r, p); err != nil {
			t.Fatalf("Unsupported(%s) = %v", r, err)
		}
	}
}

// The shard row coder keeps every field, nil and empty slices alike as
// empty, and rejects bytes that end early or run on.
func TestShardRowCoderRoundTrips(t *testing.T) {
	for _, r := range []shardRow{
		{},
		{Side: 1, TS: -5, Key: "k", Data: []byte("v"), Delete: true},
		{TS: 1 << 40, Key: "batch-1", Rows: [][]byte{[]byte("a"), {}, []byte("ccc")}},
	} {
		b := encodeShardRow(r)
		got, err := decodeShardRow(b)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if got.Side != r.Side || got.TS != r.TS || got.Key != r.Key || string(got.Data) != string(r.Data) ||
			got.Delete != r.Delete || len(got.Rows) != len(r.Rows) {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
		for i := range r.Rows {
			if string(got.Rows[i]) != string(r.Rows[i]) {
				t.Fatalf("row %d: got %q, want %q", i, got.Rows[i], r.Rows[i])
			}
		}
		for cut := 0; cut < len(b); cut++ {
			if _, err := decodeShardRow(b[:cut]); err == nil {
				t.Fatalf("%+v cut at %d decoded", r, cut)
			}
		}
		if _, err := decodeShardRow(append(b, 0)); err == nil {
			t.Fatalf("%+v with a trailing byte decoded", r)
		}
	}
}
