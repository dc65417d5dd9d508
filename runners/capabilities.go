package runners

import (
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
)

// A Feature is something a DoFn may need that not every runner provides to
// Go pipelines.
type Feature string

const (
	State                Feature = "user state"
	EventTimeTimers      Feature = "event-time timers"
	BundleFinalization   Feature = "bundle finalization"
	MapState             Feature = "MapState"
	SetState             Feature = "SetState"
	OrderedListState     Feature = "OrderedListState"
	ProcessingTimeTimers Feature = "processing-time timers"
)

// lacks is what each runner cannot run for the Go SDK, with the Beam issue
// or test filter that says so (docs/runners.md). Beam's own Go
// validates-runner suite skips these on Flink (sdks/go/test/integration,
// flinkFilters).
var lacks = map[string]map[Feature]string{
	// Beam's Go direct runner executes DoFns in process without the state,
	// timer or finalization handlers of the portable runners, so a DoFn
	// that asks for them fails at its first element with a nil pointer
	// inside Beam (its validates-runner suite skips them: directFilters).
	"direct": {
		State:                "Beam's Go direct runner has no user state (directFilters: TestValueState, TestBagState, ...); run it on prism (the default), or use a stateless form where the transform has one (join.TemporalTable with join.Bounded)",
		EventTimeTimers:      "Beam's Go direct runner has no timers (directFilters: TestTimers.*); run it on prism (the default)",
		ProcessingTimeTimers: "Beam's Go direct runner has no timers (directFilters: TestTimers.*); run it on prism (the default)",
		BundleFinalization:   "Beam's Go direct runner has no bundle finalization (directFilters: TestParDoBundleFinalizer.*); run it on prism (the default)",
	},
	"flink": {
		BundleFinalization:   "Beam's portable Flink runner rejects bundle finalization in batch (github.com/apache/beam/issues/19526, under #19525) and in streaming runs the callbacks only after a Flink checkpoint, which a Go pipeline cannot turn on; kafkaio commits group offsets this way",
		MapState:             "Beam's Flink runner has no map-based state for the Go SDK (flinkFilters: TestMapState)",
		SetState:             "Beam's Flink runner has no map-based state for the Go SDK (flinkFilters: TestSetState)",
		OrderedListState:     "Beam's Flink runner has no OrderedListState for the Go SDK (flinkFilters: TestOrderedListState)",
		ProcessingTimeTimers: "Beam's Flink runner does not fire Go processing-time timers (flinkFilters: TestTimers_ProcessingTime)",
	},
}

// wrongOn lists DoFns (by name, as Beam's graph reports it) that run on a
// runner without an error but with wrong results, with the evidence. A
// pipeline using one is refused like a missing feature: a refusal is
// better than a silently empty output.
var wrongOn = map[string]map[string]string{
	// join.Broadcast was here until its shard rows got a coder of their
	// own (docs/runners.md): none is known today.
	"flink": {},
}

// Unsupported reports, for a runner whose gaps are known (direct, flink),
// the first transform of p that needs a feature the runner lacks, naming
// the transform and the feature. It returns nil for other runners. Check
// calls it; Run calls Check before any work.
func Unsupported(runner string, p *beam.Pipeline) error {
	gaps, ok := lacks[strings.ToLower(runner)]
	if !ok {
		return nil
	}
	edges, _, err := p.Build()
	if err != nil {
		return fmt.Errorf("runners: build pipeline: %w", err)
	}
	for _, e := range edges {
		if e.DoFn == nil {
			continue
		}
		if why, ok := wrongOn[strings.ToLower(runner)][e.DoFn.Name()]; ok {
			return fmt.Errorf("runners: --runner=%s cannot run transform %s (DoFn %s): %s", runner, e.Scope(), e.DoFn.Name(), why)
		}
		var need []Feature
		if pe := e.DoFn.ProcessElementFn(); pe != nil {
			if _, ok := pe.BundleFinalization(); ok {
				need = append(need, BundleFinalization)
			}
		}
		if len(e.DoFn.PipelineState()) > 0 {
			need = append(need, State)
		}
		for _, st := range e.DoFn.PipelineState() {
			switch st.StateType() {
			case state.TypeMap:
				need = append(need, MapState)
			case state.TypeSet:
				need = append(need, SetState)
			case state.TypeOrderedList:
				need = append(need, OrderedListState)
			}
		}
		pts, _ := e.DoFn.PipelineTimers()
		for _, pt := range pts {
			for _, d := range pt.Timers() {
				switch d {
				case timers.ProcessingTimeDomain:
					need = append(need, ProcessingTimeTimers)
				case timers.EventTimeDomain:
					need = append(need, EventTimeTimers)
				}
			}
		}
		for _, f := range need {
			if why, ok := gaps[f]; ok {
				return fmt.Errorf("runners: --runner=%s cannot run transform %s (DoFn %s): it needs %s; %s",
					runner, e.Scope(), e.DoFn.Name(), f, why)
			}
		}
	}
	return nil
}
