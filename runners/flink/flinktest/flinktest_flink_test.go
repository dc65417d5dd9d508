//go:build flink

package flinktest_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/runners/flink/flinktest"
)

func TestMain(m *testing.M) {
	code := ptest.MainRetWithDefault(m, "prism")
	flinktest.Stop()
	os.Exit(code)
}

func keyOf(x int) (string, int) { return fmt.Sprintf("k%d", x%7), x }

func render(k string, n int) string { return fmt.Sprintf("%s=%d", k, n) }

func init() {
	register.Function1x2(keyOf)
	register.Function2x1(render)
}

// TestSmoke: a Create -> ParDo -> GroupByKey/Combine pipeline gives the
// same output on Flink as on Prism.
func TestSmoke(t *testing.T) {
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		xs := make([]int, 1000)
		for i := range xs {
			xs[i] = i
		}
		kv := beam.ParDo(s, keyOf, beam.CreateList(s, xs))
		return beam.ParDo(s, render, stats.SumPerKey(s, kv))
	})
	if len(got) != 7 {
		t.Fatalf("got %d keys, want 7: %v", len(got), got)
	}
}
