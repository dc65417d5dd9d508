package trialmatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/filter"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/schemas"
)

func TestMain(m *testing.M) {
	runners.DisablePrismSDFSplit()
	ptest.MainWithDefault(m, "prism")
}

func init() {
	register.Function3x0(keyByMatch)
	register.Function3x0(latestActive)
	register.Function1x1(tenantOf)
	register.Function2x1(recordKey)
}

// keyByMatch keys a record by tenant/patient/protocol with its decision
// tick and action.
func keyByMatch(ts beam.EventTime, r schemas.ApprovedPatient, emit func(string, string)) {
	emit(r.Tenant+"/"+r.PatientID+"/"+r.ProtocolNo, fmt.Sprintf("%020d %s", int64(ts), r.Action))
}

// latestActive emits the key when its latest record is NEW.
func latestActive(key string, actions func(*string) bool, emit func(string)) {
	var all []string
	var a string
	for actions(&a) {
		all = append(all, a)
	}
	sort.Strings(all)
	if last := all[len(all)-1]; last[len(last)-3:] == "NEW" {
		emit(key)
	}
}

func tenantOf(r schemas.ApprovedPatient) string { return r.Tenant }

func values[T any](xs []*T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = *x
	}
	return out
}

// expectedActive computes, without Beam, which (tenant, patient, protocol)
// are eligible at the end: every patient's facts folded, the open-trial
// decisions at the end of the span, the engine's row-wise evaluation.
func expectedActive(t *testing.T, d *synth.Dataset, end time.Time) []string {
	t.Helper()
	states, keys, err := spv.FoldAll(d.Facts)
	if err != nil {
		t.Fatal(err)
	}
	decs, err := opentrials.AllAt(d.Trials, d.Regulatory, end)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Build(catalog.NewCache(), decs, end)
	if err != nil {
		t.Fatal(err)
	}
	profiles := make([]match.Profile, len(keys))
	for i, k := range keys {
		profiles[i] = states[k].Profile
	}
	set := map[string]bool{}
	for _, m := range catalog.RowwiseMatches(cat, profiles) {
		set[m.Tenant+"/"+m.PatientID+"/"+m.ProtocolNo] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPipelineEndToEnd(t *testing.T) {
	for _, e := range []trialmatch.Execution{trialmatch.Streaming, trialmatch.Batch} {
		t.Run(e.String(), func(t *testing.T) { testEndToEnd(t, e) })
	}
}

func testEndToEnd(t *testing.T, e trialmatch.Execution) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 400, 10, 12*time.Hour
	d := synth.Generate(c)
	end := c.Start.Add(c.Span)
	want := expectedActive(t, d, end)
	if len(want) == 0 {
		t.Fatal("the data set yields no match; the test would prove nothing")
	}

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts:      beam.Create(s, values(d.Facts)...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}, trialmatch.Config{Shards: 4, Tick: 10 * time.Minute, Execution: e})

	keyed := beam.ParDo(s, keyByMatch, out.Matches)
	active := beam.ParDo(s, latestActive, beam.GroupByKey(s, keyed))
	passert.Equals(s, active, beam.CreateList(s, want))
	passert.Empty(s, out.DeadLetters)
	// Every tenant's records stay the tenant's: the output covers exactly the
	// tenants of the input and nothing else.
	passert.Equals(s, filter.Distinct(s, beam.ParDo(s, tenantOf, out.Matches)), beam.CreateList(s, d.Tenants))
	start := time.Now()
	ptest.RunAndValidate(t, p)
	t.Logf("%d facts, %d trials: %d active matches expected; pipeline took %v", len(d.Facts), len(d.Trials), len(want), time.Since(start))
}

// recordKey renders every field of a record that does not depend on the
// wall clock, with its event time.
func recordKey(ts beam.EventTime, r schemas.ApprovedPatient) string {
	r.MatchTime = time.Time{}
	b, _ := json.Marshal(r)
	return fmt.Sprintf("%d %s", int64(ts), b)
}

// Batch and streaming execution publish the same records at the same event
// times, retractions included.
func TestBatchEqualsStreaming(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 600, 12, 24*time.Hour
	d := synth.Generate(c)

	p, s := beam.NewPipelineWithRoot()
	in := trialmatch.Inputs{
		Facts:      beam.Create(s, values(d.Facts)...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}
	streaming := trialmatch.Build(s.Scope("streaming"), in, trialmatch.Config{Shards: 4, Tick: 5 * time.Minute, Execution: trialmatch.Streaming})
	batch := trialmatch.Build(s.Scope("batch"), in, trialmatch.Config{Shards: 3, Tick: 5 * time.Minute, Execution: trialmatch.Batch})
	want := beam.ParDo(s, recordKey, streaming.Matches)
	passert.Equals(s, beam.ParDo(s, recordKey, batch.Matches), want)
	passert.NonEmpty(s, want)
	passert.Equals(s, stats.Sum(s, batch.Folded), int64(len(d.Facts)))
	ptest.RunAndValidate(t, p)
}

// Batch execution needs neither state nor timers, so it runs on the direct
// runner too.
func TestBatchOnDirect(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 200, 8, 12*time.Hour
	d := synth.Generate(c)
	end := c.Start.Add(c.Span)
	want := expectedActive(t, d, end)

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts:      beam.Create(s, values(d.Facts)...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}, trialmatch.Config{Shards: 2, Tick: 10 * time.Minute, Execution: trialmatch.Batch})
	keyed := beam.ParDo(s, keyByMatch, out.Matches)
	passert.Equals(s, beam.ParDo(s, latestActive, beam.GroupByKey(s, keyed)), beam.CreateList(s, want))
	if _, err := direct.Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}
