package join

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"
)

func init() {
	RegisterTableFunc(distinctValid)
	register.Function2x0(stampVersion)
	register.Function3x0(fmtChangeAt)
	register.Emitter3[beam.EventTime, string, Version]()
	beam.RegisterType(typeOf[tableRow]())
}

// tableRow is a test version: key, validity [From, To) (To 0: Forever) and
// payload.
type tableRow struct {
	Key      string
	From, To int64
	Data     string
}

func (r tableRow) version() Version {
	to := r.To
	if to == 0 {
		to = Forever
	}
	return Version{From: r.From, To: to, Data: []byte(r.Data)}
}

// stampVersion keys a test version, at its From.
func stampVersion(r tableRow, emit func(beam.EventTime, string, Version)) {
	emit(mtime.FromMilliseconds(r.From), r.Key, r.version())
}

// distinctValid is the tests' table function: the distinct payloads valid
// at the time, sorted and joined by "+".
func distinctValid(_ string, valid []Version, _ int64) ([]byte, error) {
	seen := map[string]bool{}
	var out []string
	for _, v := range valid {
		if d := string(v.Data); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return []byte(strings.Join(out, "+")), nil
}

func fmtChangeAt(ts beam.EventTime, c Change, emit func(string)) {
	emit(fmt.Sprintf("%s@%d:%s", c.Key, ts.Milliseconds(), c.Data))
}

// bruteTable is the model of TemporalTable over input that is all there
// before any change point is evaluated: per key, the table function at
// every distinct From and finite To, in order, repeats dropped.
func bruteTable(rows []tableRow) []string {
	byKey := map[string][]Version{}
	for _, r := range rows {
		byKey[r.Key] = append(byKey[r.Key], r.version())
	}
	var out []string
	for key, vs := range byKey {
		var points []int64
		for _, v := range vs {
			points = append(points, v.From)
			if v.To != Forever {
				points = append(points, v.To)
			}
		}
		sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
		prev := "\x00none"
		for i, at := range points {
			if i > 0 && points[i-1] == at {
				continue
			}
			var valid []Version
			for _, v := range vs {
				if v.From <= at && at < v.To {
					valid = append(valid, v)
				}
			}
			b, _ := distinctValid(key, valid, at)
			if string(b) == prev {
				continue
			}
			prev = string(b)
			out = append(out, fmt.Sprintf("%s@%d:%s", key, at, b))
		}
	}
	return out
}

// TestTemporalTableStream checks the streaming table's order of change
// points, expiry (an earlier version shows again), repeats dropped, and a
// version arriving behind the key's clock evaluated 1 ms after the latest
// time already evaluated, so that a key never has two changes at one time:
// U's second version arrives after U's change point 3000 was evaluated
// without it (as a trial's approval can arrive after the trial on another
// topic); were it emitted at 3000 too, consumers could apply the two
// changes in either order.
func TestTemporalTableStream(t *testing.T) {
	cfg := teststream.NewConfig()
	add := func(ts int64, rows ...tableRow) {
		for _, r := range rows {
			if err := cfg.AddElements(ts, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(1000,
		tableRow{"T", 1000, 0, "a"},
		tableRow{"T", 2000, 5000, "b"},
		tableRow{"T", 6000, 0, "a"}, // the same value: no change emitted
		tableRow{"T2", 500, 1500, "x"},
		tableRow{"U", 3000, 0, "u"})
	if err := cfg.AdvanceWatermark(10000); err != nil {
		t.Fatal(err)
	}
	// Valid from 4000, but T has been evaluated up to 6000 already.
	add(10000, tableRow{"T", 4000, 0, "c"}, tableRow{"U", 3000, 0, "v"})
	if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}

	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, stampVersion, teststream.Create(s, cfg))
	got := strs(s, fmtChangeAt, TemporalTable(s, in, distinctValid))
	passert.Equals(s, got, "T@1000:a", "T@2000:a+b", "T@5000:a", "T@6001:a+c", "T2@500:x", "T2@1500:", "U@3000:u", "U@3001:u+v")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

func randomTableRows(r *rand.Rand, n int) []tableRow {
	rows := make([]tableRow, n)
	for i := range rows {
		from := r.Int64N(50) * 100
		row := tableRow{Key: fmt.Sprintf("k%d", r.IntN(4)), From: from, Data: fmt.Sprintf("d%d", r.IntN(5))}
		if r.IntN(2) == 0 {
			row.To = from + (1+r.Int64N(20))*100
		}
		rows[i] = row
	}
	return rows
}

// TestTemporalTableProperty compares both executions of TemporalTable with
// the brute-force model on random versions (bounded input: every version is
// there before the first change point is evaluated).
func TestTemporalTableProperty(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		rows := randomTableRows(rand.New(rand.NewPCG(seed, 7)), 60)
		want := bruteTable(rows)
		for _, bounded := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed%d/bounded=%v", seed, bounded), func(t *testing.T) {
				p, s := beam.NewPipelineWithRoot()
				in := beam.ParDo(s, stampVersion, beam.CreateList(s, rows))
				var opts []TableOption
				if bounded {
					opts = append(opts, Bounded())
				}
				passert.Equals(s, strs(s, fmtChangeAt, TemporalTable(s, in, distinctValid, opts...)), toAny(want)...)
				if err := ptest.Run(p); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestTemporalTableBoundedDirect runs the bounded table on the direct
// runner, which has no state or timers.
func TestTemporalTableBoundedDirect(t *testing.T) {
	rows := randomTableRows(rand.New(rand.NewPCG(9, 9)), 40)
	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, stampVersion, beam.CreateList(s, rows))
	passert.Equals(s, strs(s, fmtChangeAt, TemporalTable(s, in, distinctValid, Bounded())), toAny(bruteTable(rows))...)
	if _, err := direct.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
