package join

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

var (
	winA = []testRow{{"k1", 1000, "a1"}, {"k1", 2000, "a2"}, {"k2", 3000, "a3"}, {"k3", 12000, "a4"}}
	winB = []testRow{{"k1", 5000, "b1"}, {"k2", 11000, "b2"}, {"k3", 13000, "b3"}, {"k3", 14000, "b4"}}
)

func windowJoinPipeline(s beam.Scope, batched bool) {
	fixed := window.NewFixedWindows(10 * time.Second)
	a := beam.WindowInto(s, fixed, rowsOf(s, winA))
	b := beam.WindowInto(s, fixed, rowsOf(s, winB))
	var opts []WindowOption
	if batched {
		opts = append(opts, Batched(4))
	}
	in := []beam.PCollection{a, b}
	passert.Equals(s, strs(s, fmtTuple, Window(s, Inner, in, opts...)),
		"k1@0-10000:a1,b1", "k1@0-10000:a2,b1", "k3@10000-20000:a4,b3", "k3@10000-20000:a4,b4")
	passert.Equals(s, strs(s, fmtTuple, Window(s, LeftOuter, in, opts...)),
		"k1@0-10000:a1,b1", "k1@0-10000:a2,b1", "k2@0-10000:a3,-", "k3@10000-20000:a4,b3", "k3@10000-20000:a4,b4")
	passert.Equals(s, strs(s, fmtTuple, Window(s, FullOuter, in, opts...)),
		"k1@0-10000:a1,b1", "k1@0-10000:a2,b1", "k2@0-10000:a3,-", "k2@10000-20000:-,b2",
		"k3@10000-20000:a4,b3", "k3@10000-20000:a4,b4")
	passert.Equals(s, strs(s, fmtGroup, CoGroup(s, FullOuter, in, opts...)),
		"k1@0-10000:a1+a2|b1", "k2@0-10000:a3|", "k2@10000-20000:|b2", "k3@10000-20000:a4|b3+b4")
}

func TestWindowJoin(t *testing.T) {
	for _, batched := range []bool{false, true} {
		p, s := beam.NewPipelineWithRoot()
		windowJoinPipeline(s, batched)
		if err := ptest.Run(p); err != nil {
			t.Fatalf("batched=%v: %v", batched, err)
		}
	}
}

// TestWindowJoinDirect runs the batch window join on the direct runner too.
func TestWindowJoinDirect(t *testing.T) {
	for _, batched := range []bool{false, true} {
		p, s := beam.NewPipelineWithRoot()
		windowJoinPipeline(s, batched)
		if _, err := direct.Execute(context.Background(), p); err != nil {
			t.Fatalf("batched=%v: %v", batched, err)
		}
	}
}
