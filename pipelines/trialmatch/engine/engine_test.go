package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/engine"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
)

// trial is an open one-arm trial for patients whose primary diagnosis is
// dx.
func trial(protocol, dx string) *opentrials.Decision {
	ctml := `{"protocol_no":"` + protocol + `","status":"Open to Accrual","treatment_list":{"step":[{"step_code":"1","arm":[` +
		`{"arm_code":"A","arm_suspended":"N","match":[{"and":[{"clinical":{"oncotree_primary_diagnosis":"` + dx + `"}}]}]}]}]}}`
	return &opentrials.Decision{ProtocolNo: protocol, Open: true, Version: 1, CTML: ctml, CTMLFormat: "json", ApprovalReference: "IRB-1"}
}

func diagnosis(id, patient, dx string, at time.Time) *schemas.PatientFact {
	return &schemas.PatientFact{FactID: id, Tenant: "t1", PatientID: patient, EventTime: at, Kind: schemas.KindDiagnosis,
		Diagnosis: &schemas.Diagnosis{OncotreePrimaryDiagnosis: dx}}
}

func gender(id, patient, g string, at time.Time) *schemas.PatientFact {
	return &schemas.PatientFact{FactID: id, Tenant: "t1", PatientID: patient, EventTime: at, Kind: schemas.KindDemographics,
		Demographics: &schemas.Demographics{Gender: &g}}
}

func fact(f *schemas.PatientFact) engine.Item {
	return engine.Item{Kind: engine.Fact, TS: f.EventTime.UnixMilli(), Fact: f}
}

// step runs one tick and returns its records as "patient protocol action".
func step(t *testing.T, e *engine.Engine, s *engine.Shard, tick time.Time, items ...engine.Item) ([]string, engine.Changes) {
	t.Helper()
	var got []string
	ch, err := e.Step(s, tick.UnixMilli(), items, func(r schemas.ApprovedPatient) {
		line := r.PatientID + " " + r.ProtocolNo + " " + r.Action
		if r.RetractionReason != nil {
			line += ":" + *r.RetractionReason
		}
		got = append(got, line)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, ch
}

// One tick without a runner: a one-trial catalog and a couple of facts
// publish NEW; a later fact that makes the patient ineligible publishes
// RETRACTED; the observer counts each step.
func TestStepNewThenRetracted(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	n := &engine.Counts{}
	e := engine.New(catalog.NewCompiler(), n)
	s := engine.NewShard(catalog.NewCompiler())

	got, ch := step(t, e, s, t0.Add(time.Minute),
		fact(diagnosis("f1", "p1", "Breast", t0.Add(30*time.Second))),
		fact(gender("f2", "p1", "Female", t0.Add(40*time.Second))),
		engine.Item{Kind: engine.Decision, TS: t0.UnixMilli(), Decision: trial("BR-1", "Breast")})
	if want := []string{"p1 BR-1 NEW"}; !slices.Equal(got, want) {
		t.Fatalf("tick 1 published %q, want %q", got, want)
	}
	if !ch.Table || ch.Folded != 2 || len(ch.Patients) != 1 {
		t.Fatalf("tick 1 changed %+v, want the table, 2 facts folded and one patient", ch)
	}

	got, ch = step(t, e, s, t0.Add(2*time.Minute), fact(diagnosis("f3", "p1", "Melanoma", t0.Add(90*time.Second))))
	if want := []string{"p1 BR-1 RETRACTED:CRITERIA_NOT_MET"}; !slices.Equal(got, want) {
		t.Fatalf("tick 2 published %q, want %q", got, want)
	}
	if ch.Table || ch.Folded != 1 || len(ch.Patients) != 1 {
		t.Fatalf("tick 2 changed %+v", ch)
	}

	// The same fact again (at-least-once delivery) changes nothing.
	if got, ch := step(t, e, s, t0.Add(3*time.Minute), fact(diagnosis("f3", "p1", "Melanoma", t0.Add(90*time.Second)))); len(got) != 0 || len(ch.Patients) != 0 {
		t.Fatalf("a redelivered fact published %q, changed %+v", got, ch)
	}
	if n.FactsIn != 4 || n.FactsFolded != 4 || len(n.Rejections) != 0 || n.New != 1 || n.Retracted != 1 || n.JudgedAll != 2 || n.Verdicts != 2 {
		t.Fatalf("observer counted %+v", n)
	}
}

// A fact that does not fold is reported to the observer, what, where and
// why, and the rest of the tick goes on.
func TestStepReportsRejectedFact(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	n := &engine.Counts{}
	e := engine.New(catalog.NewCompiler(), n)
	s := engine.NewShard(catalog.NewCompiler())
	bad := &schemas.PatientFact{FactID: "bad-1", Tenant: "t2", PatientID: "p9", EventTime: t0, Kind: "HOROSCOPE"}
	got, ch := step(t, e, s, t0.Add(time.Minute),
		engine.Item{Kind: engine.Decision, TS: t0.UnixMilli(), Decision: trial("BR-1", "Breast")},
		fact(bad), fact(diagnosis("f1", "p1", "Breast", t0)))
	if want := []string{"p1 BR-1 NEW"}; !slices.Equal(got, want) {
		t.Fatalf("published %q, want %q", got, want)
	}
	if ch.Folded != 1 {
		t.Fatalf("%d facts folded, want 1", ch.Folded)
	}
	if len(n.Rejections) != 1 {
		t.Fatalf("%d rejections, want 1", len(n.Rejections))
	}
	r := n.Rejections[0]
	if r.Fact != bad || r.Step != engine.PatientView || r.Reason != engine.InvalidFact || r.Err == nil {
		t.Fatalf("rejection %+v", r)
	}
	if n.FactsIn != 2 || n.FactsFolded != 1 {
		t.Fatalf("observer counted %d facts in, %d folded; want 2 and 1", n.FactsIn, n.FactsFolded)
	}
}

// The batch replay, which judges changed patients in as few batches as it
// can, publishes exactly what stepping tick by tick does, in the same
// order, and folds as many facts.
func TestReplayEqualsSteps(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 300, 12, 48*time.Hour
	d := synth.Generate(c)
	const tick = int64(5 * 60_000)
	tickOf := func(ts int64) int64 { return (ts + tick - 1) / tick * tick }
	byTick := map[int64][]engine.Item{}
	add := func(it engine.Item) { byTick[tickOf(it.TS)] = append(byTick[tickOf(it.TS)], it) }
	decisions, err := opentrials.Changelog(d.Trials, d.Regulatory)
	if err != nil {
		t.Fatal(err)
	}
	for i := range decisions {
		add(engine.Item{Kind: engine.Decision, TS: decisions[i].At.UnixMilli(), Decision: &decisions[i]})
	}
	for _, f := range d.Facts {
		add(fact(f))
	}
	line := func(tick int64, rec schemas.ApprovedPatient) string {
		rec.MatchTime = time.Time{}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d %s", tick, b)
	}

	var stepped []string
	var stepFolded int64
	e := engine.New(catalog.NewCompiler(), nil)
	s := engine.NewShard(catalog.NewCompiler())
	ticks := make([]int64, 0, len(byTick))
	for k := range byTick {
		ticks = append(ticks, k)
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i] < ticks[j] })
	for _, k := range ticks {
		ch, err := e.Step(s, k, slices.Clone(byTick[k]), func(rec schemas.ApprovedPatient) {
			stepped = append(stepped, line(k, rec))
		})
		if err != nil {
			t.Fatal(err)
		}
		stepFolded += ch.Folded
	}

	var replayed []string
	var replayFolded int64
	r := engine.NewReplay()
	for k, items := range byTick {
		for _, it := range items {
			r.Add(k, it)
		}
	}
	if err := r.Run(engine.New(catalog.NewCompiler(), nil), func(p engine.Part) {
		for _, o := range p.Out {
			replayed = append(replayed, line(o.Tick, o.Rec))
		}
		replayFolded += p.Folded
	}); err != nil {
		t.Fatal(err)
	}

	if len(stepped) == 0 {
		t.Fatal("the data set publishes nothing; the test proves nothing")
	}
	if !slices.Equal(replayed, stepped) {
		for i := range min(len(replayed), len(stepped)) {
			if replayed[i] != stepped[i] {
				t.Fatalf("record %d differs:\n replay %s\n steps  %s", i, replayed[i], stepped[i])
			}
		}
		t.Fatalf("replay published %d records, steps %d", len(replayed), len(stepped))
	}
	if replayFolded != stepFolded || stepFolded != int64(len(d.Facts)) {
		t.Fatalf("replay folded %d facts, steps %d, of %d", replayFolded, stepFolded, len(d.Facts))
	}
	t.Logf("%d records over %d ticks", len(stepped), len(ticks))
}
