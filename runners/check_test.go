package runners_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/transforms/join"
)

func kv(v string) (string, []byte) { return "k", []byte(v) }

func init() { register.Function1x2(kv) }

// A stateful join on the direct runner is refused by Check, and so by Run,
// before any work, naming the transform and the feature; the direct runner
// itself would panic with a nil pointer at the first element. A pipeline
// without state (a windowed join) passes.
func TestCheckRefusesStatefulJoinOnDirect(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	left := beam.ParDo(s, kv, beam.Create(s, "a", "b"))
	right := beam.ParDo(s, kv, beam.Create(s, "c"))
	join.Interval(s.Scope("OrdersPayments"), join.Inner, left, right, -time.Second, time.Second)

	err := runners.Check("direct", p)
	if err == nil || !strings.Contains(err.Error(), "--runner=direct") || !strings.Contains(err.Error(), "OrdersPayments") ||
		!strings.Contains(err.Error(), "user state") {
		t.Fatalf("Check(direct, interval join) = %v, want an error naming the runner, the transform and user state", err)
	}
	if _, err := runners.Run(context.Background(), p, runners.WithRunner("direct")); err == nil ||
		!strings.Contains(err.Error(), "OrdersPayments") {
		t.Fatalf("Run(direct, interval join) = %v, want Check's error", err)
	}
	if err := runners.Check("prism", p); err != nil {
		t.Fatalf("Check(prism, interval join) = %v", err)
	}

	p2, s2 := beam.NewPipelineWithRoot()
	l2 := beam.ParDo(s2, kv, beam.Create(s2, "a"))
	r2 := beam.ParDo(s2, kv, beam.Create(s2, "b"))
	join.Window(s2, join.Inner, []beam.PCollection{l2, r2})
	if err := runners.Check("direct", p2); err != nil {
		t.Fatalf("Check(direct, window join) = %v, want nil", err)
	}
}
