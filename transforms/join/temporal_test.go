package join

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

func TestTemporalJoinStream(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{
		{Rows: []sideRow{{1, "T1", 1000, "v1"}, {0, "T1", 500, "l0"}, {0, "T1", 1000, "l1"}, {0, "T1", 4999, "l2"}}},
		// l3 arrives before the version valid at its time.
		{Rows: []sideRow{{0, "T1", 6000, "l3"}}},
		{Watermark: 2000},
		{Rows: []sideRow{{1, "T1", 5000, "v2"}, {1, "T1", 8000, "DEL"}, {1, "T1", 9000, "v3"}}},
		{Rows: []sideRow{{0, "T1", 8500, "l4"}, {0, "T1", 9500, "l5"}, {0, "T2", 3000, "x"}}},
		{Watermark: 10000},
		// Behind T1's cleanup point (9500): late.
		{Rows: []sideRow{{0, "T1", 2000, "l6"}}},
		{Watermark: -1},
	})
	left := beam.ParDo(s, splitSide0, in)
	versions := beam.ParDo(s, sideChange, in)

	inner, late := Temporal(s, Inner, left, versions)
	passert.Equals(s, strs(s, fmtPair, inner),
		"T1:l1@1000,v1@1000", "T1:l2@4999,v1@1000", "T1:l3@6000,v2@5000", "T1:l5@9500,v3@9000")
	passert.Equals(s, strs(s, fmtLate, late), "late:0:T1:l6@2000")

	outer, _ := Temporal(s, LeftOuter, left, versions)
	passert.Equals(s, strs(s, fmtPair, outer),
		"T1:l0@500-", "T1:l1@1000,v1@1000", "T1:l2@4999,v1@1000", "T1:l3@6000,v2@5000",
		"T1:l4@8500-", "T1:l5@9500,v3@9000", "T2:x@3000-")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}

func TestLatestJoinStream(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := sideStream(t, s, []streamStep{
		{Rows: []sideRow{{1, "T1", 1000, "v1"}, {1, "T1", 3000, "v2"}}},
		{Watermark: 5000},
		// Arrives after both versions: meets the newest, v2, where the as-of
		// join would give v1.
		{Rows: []sideRow{{0, "T1", 2000, "c"}, {0, "T9", 6000, "d"}}},
		{Watermark: -1},
	})
	left := beam.ParDo(s, splitSide0, in)
	versions := beam.ParDo(s, sideChange, in)
	joined, _ := Latest(s, LeftOuter, left, versions)
	passert.Equals(s, strs(s, fmtPair, joined), "T1:c@2000,v2@3000", "T9:d@6000-")
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
}
