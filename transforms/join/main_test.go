package join

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/trialflow/trialflow/runners"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// See the package doc: Prism v2.77.0's bundle splitting can run one
	// key in two bundles at once and lose state updates.
	runners.DisablePrismSDFSplit()
	code := ptest.MainRetWithDefault(m, "prism")
	afterTests()
	os.Exit(code)
}

// afterTests runs once the tests are done (the flink build tag stops its
// job server there).
var afterTests = func() {}

func init() {
	register.Function2x0(stampRow)
	register.Function2x0(fmtTuple)
	register.Function2x0(fmtGroup)
	register.Function2x0(fmtPair)
	register.Function2x0(fmtLate)
	register.Emitter3[beam.EventTime, string, []byte]()
	register.Emitter1[string]()
	beam.RegisterType(typeOf[testRow]())
}

// testRow is an input row of a test: key, event time in ms, payload.
type testRow struct {
	Key  string
	TS   int64
	Data string
}

func stampRow(r testRow, emit func(beam.EventTime, string, []byte)) {
	emit(mtime.FromMilliseconds(r.TS), r.Key, []byte(r.Data))
}

// rowsOf builds a timestamped PCollection<KV<string, []byte>> from rows.
func rowsOf(s beam.Scope, rows []testRow) beam.PCollection {
	if len(rows) == 0 {
		return beam.ParDo(s, stampRow, beam.CreateList(s, []testRow{}))
	}
	return beam.ParDo(s, stampRow, beam.CreateList(s, rows))
}

func tupleString(t Tuple) string {
	parts := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		if t.Has(i) {
			parts[i] = string(r)
		} else {
			parts[i] = "-"
		}
	}
	return fmt.Sprintf("%s@%d-%d:%s", t.Key, t.Start, t.End, strings.Join(parts, ","))
}

func fmtTuple(t Tuple, emit func(string)) { emit(tupleString(t)) }

func fmtGroup(g Group, emit func(string)) {
	parts := make([]string, len(g.Sides))
	for i, side := range g.Sides {
		ss := make([]string, len(side))
		for j, r := range side {
			ss[j] = string(r)
		}
		sort.Strings(ss)
		parts[i] = strings.Join(ss, "+")
	}
	emit(fmt.Sprintf("%s@%d-%d:%s", g.Key, g.Start, g.End, strings.Join(parts, "|")))
}

func pairString(p Pair) string {
	if !p.Matched {
		return fmt.Sprintf("%s:%s@%d-", p.Key, p.Left, p.LeftTS)
	}
	return fmt.Sprintf("%s:%s@%d,%s@%d", p.Key, p.Left, p.LeftTS, p.Right, p.RightTS)
}

func fmtPair(p Pair, emit func(string)) { emit(pairString(p)) }

func fmtLate(l Late, emit func(string)) {
	emit(fmt.Sprintf("late:%d:%s:%s@%d", l.Side, l.Key, l.Data, l.TS))
}

// strs formats a PCollection of join results as strings in the global window,
// ready for passert.
func strs(s beam.Scope, fn any, col beam.PCollection) beam.PCollection {
	out := beam.ParDo(s, fn, col)
	return beam.WindowInto(s, window.NewGlobalWindows(), out)
}

// sideRow is a test row for a two-input join fed by one TestStream.
type sideRow struct {
	Side int
	Key  string
	TS   int64
	Data string
}

func init() {
	register.Function2x0(splitSide0)
	register.Function2x0(splitSide1)
	register.Function2x0(sideChange)
	beam.RegisterType(typeOf[sideRow]())
	register.Emitter2[beam.EventTime, Change]()
}

func splitSide0(r sideRow, emit func(beam.EventTime, string, []byte)) {
	if r.Side == 0 {
		emit(mtime.FromMilliseconds(r.TS), r.Key, []byte(r.Data))
	}
}

func splitSide1(r sideRow, emit func(beam.EventTime, string, []byte)) {
	if r.Side == 1 {
		emit(mtime.FromMilliseconds(r.TS), r.Key, []byte(r.Data))
	}
}

// sideChange turns side-1 rows into changes; Data "DEL" is a deletion.
func sideChange(r sideRow, emit func(beam.EventTime, Change)) {
	if r.Side == 1 {
		emit(mtime.FromMilliseconds(r.TS), Change{Key: r.Key, Data: []byte(r.Data), Delete: r.Data == "DEL"})
	}
}

// streamStep is one TestStream event: rows at their times, or a watermark
// advance when Rows is empty (Watermark < 0 means infinity).
type streamStep struct {
	Rows      []sideRow
	Watermark int64
}

func sideStream(t *testing.T, s beam.Scope, steps []streamStep) beam.PCollection {
	t.Helper()
	cfg := teststream.NewConfig()
	for _, st := range steps {
		if len(st.Rows) == 0 {
			var err error
			if st.Watermark < 0 {
				err = cfg.AdvanceWatermarkToInfinity()
			} else {
				err = cfg.AdvanceWatermark(st.Watermark)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, r := range st.Rows {
			if err := cfg.AddElements(r.TS, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return teststream.Create(s, cfg)
}
