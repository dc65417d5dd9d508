//go:build flink

package nexmark

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"

	"github.com/trialflow/trialflow/runners/flink/flinktest"
)

// Nexmark Q3 and Q8 on Beam's Flink runner (make test-flink), compared with
// Prism's output and with the brute-force results.

func init() { afterTests = flinktest.Stop }

func TestFlinkQ3Q8(t *testing.T) {
	events := Generate(testConfig)
	want := len(RefQ3(events)) + len(RefQ8(events))
	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		persons, auctions, _ := Source(s, testConfig, testConfig.NumEvents)
		q3, _ := Q3(s, persons, auctions)
		q8 := beam.WindowInto(s, window.NewGlobalWindows(), Q8(s, persons, auctions))
		return flinktest.Tagged(s, "q3", q3, "q8", q8)
	})
	if len(got) != want {
		t.Errorf("got %d Q3+Q8 rows, want %d (brute force)", len(got), want)
	}
}
