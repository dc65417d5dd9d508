package join

import (
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

func TestIntervalJoinStream(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{
		{Rows: []sideRow{{0, "k1", 1000, "a1"}, {1, "k1", 1500, "b1"}, {1, "k1", 4000, "b2"}}},
		{Watermark: 1000},
		// Out of order: a2 arrives after the right row it meets.
		{Rows: []sideRow{{0, "k1", 3500, "a2"}, {0, "k2", 2000, "a3"}}},
		{Watermark: 10000},
		// a4 is behind k1's cleanup point: late. b3 is not.
		{Rows: []sideRow{{0, "k1", 5000, "a4"}, {1, "k1", 9000, "b3"}}},
		{Watermark: -1},
	})
	left := beam.ParDo(s, splitSide0, in)
	right := beam.ParDo(s, splitSide1, in)

	inner, late := Interval(s, Inner, left, right, 0, 2*time.Second)
	passert.Equals(s, strs(s, fmtPair, inner), "k1:a1@1000,b1@1500", "k1:a2@3500,b2@4000")
	passert.Equals(s, strs(s, fmtLate, late), "late:0:k1:a4@5000")

	outer, lateOuter := Interval(s, LeftOuter, left, right, 0, 2*time.Second)
	passert.Equals(s, strs(s, fmtPair, outer),
		"k1:a1@1000,b1@1500", "k1:a2@3500,b2@4000", "k2:a3@2000-")
	passert.Equals(s, strs(s, fmtLate, lateOuter), "late:0:k1:a4@5000")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}
