package runners

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

type mapStateFn struct {
	Seen state.Map[string, int]
}

func (f *mapStateFn) ProcessElement(sp state.Provider, k string, v int, emit func(string)) error {
	if err := f.Seen.Put(sp, k, v); err != nil {
		return err
	}
	emit(k)
	return nil
}

func finalizeFn(bf beam.BundleFinalization, v int, emit func(int)) {
	bf.RegisterCallback(0, func() error { return nil })
	emit(v)
}

func init() {
	register.DoFn4x1[state.Provider, string, int, func(string), error](&mapStateFn{})
	register.Function3x0(finalizeFn)
	register.Emitter1[string]()
	register.Emitter1[int]()
}

func keyed(v int) (string, int) { return "k", v }

func init() { register.Function1x2(keyed) }

func TestUnsupportedOnFlink(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	in := beam.Create(s, 1, 2, 3)
	beam.ParDo(s.Scope("Remember"), &mapStateFn{Seen: state.MakeMapState[string, int]("seen")}, beam.ParDo(s, keyed, in))
	err := Unsupported("flink", p)
	if err == nil || !strings.Contains(err.Error(), "MapState") || !strings.Contains(err.Error(), "Remember") {
		t.Fatalf("Unsupported(flink, MapState pipeline) = %v, want an error naming the transform and MapState", err)
	}
	if err := Unsupported("direct", p); err == nil || !strings.Contains(err.Error(), "user state") {
		t.Errorf("Unsupported(direct, MapState pipeline) = %v, want a user state error", err)
	}
	for _, r := range []string{"prism", "universal", "dataflow"} {
		if err := Unsupported(r, p); err != nil {
			t.Errorf("Unsupported(%s) = %v, want nil", r, err)
		}
	}

	p2, s2 := beam.NewPipelineWithRoot()
	beam.ParDo(s2.Scope("Commit"), finalizeFn, beam.Create(s2, 1))
	if err := Unsupported("flink", p2); err == nil || !strings.Contains(err.Error(), "bundle finalization") {
		t.Fatalf("Unsupported(flink, finalizing pipeline) = %v, want a bundle finalization error", err)
	}

	// Run refuses before anything is submitted.
	if _, err := Run(context.Background(), p2, WithRunner("flink")); err == nil {
		t.Fatal("Run(flink) of a finalizing pipeline succeeded")
	}
}
