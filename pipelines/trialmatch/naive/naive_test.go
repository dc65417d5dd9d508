package naive_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/naive"
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
}

// keyByMatch keys a record by tenant/patient/protocol with its event time
// and action, so the latest action sorts last.
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

func values[T any](xs []*T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = *x
	}
	return out
}

// expectedActive computes without Beam which (tenant, patient, protocol)
// are eligible at end: every patient's facts folded, the open-trial
// decisions at end, the row-wise matcher (the same independent evaluation
// as pipelines/trialmatch's end-to-end test).
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
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The naive pipeline's final active set is the independent expectation.
func TestNaiveEndToEnd(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 400, 10, 12*time.Hour
	d := synth.Generate(c)
	want := expectedActive(t, d, c.Start.Add(c.Span))
	if len(want) == 0 {
		t.Fatal("the data set yields no match; the test would prove nothing")
	}

	p, s := beam.NewPipelineWithRoot()
	out := naive.Build(s, naive.Inputs{
		Facts:      beam.Create(s, values(d.Facts)...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}, naive.Config{Tick: 10 * time.Minute})
	active := beam.ParDo(s, latestActive, beam.GroupByKey(s, beam.ParDo(s, keyByMatch, out.Matches)))
	passert.Equals(s, active, beam.CreateList(s, want))
	passert.Empty(s, out.DeadLetters)
	ptest.RunAndValidate(t, p)
	t.Logf("%d facts, %d trials: %d active matches", len(d.Facts), len(d.Trials), len(want))
}

// Facts in = facts folded + dead letters, with invalid facts in the input.
func TestNaiveConservation(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 150, 6, 6*time.Hour
	d := synth.Generate(c)
	facts := values(d.Facts)
	const bad = 5
	for i := 0; i < bad; i++ {
		f := *d.Facts[i*7]
		switch i % 3 {
		case 0:
			f.Tenant = ""
		case 1:
			f.PatientID = ""
		default:
			f.FactID = ""
		}
		facts = append(facts, f)
	}

	p, s := beam.NewPipelineWithRoot()
	out := naive.Build(s, naive.Inputs{
		Facts:      beam.Create(s, facts...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}, naive.Config{})
	passert.Equals(s, stats.Sum(s, out.Folded), int64(len(d.Facts)))
	passert.Count(s, out.DeadLetters, "dead letters", bad)
	passert.NonEmpty(s, out.Matches)
	ptest.RunAndValidate(t, p)
}
