package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// replayDataset runs the batch replay of one worker over a whole data set
// (every fact, the open-trial changelog computed as the table stage does)
// and returns its records, match time aside, in the order published.
func replayDataset(t *testing.T, d *synth.Dataset, tick time.Duration) ([]string, *engine) {
	t.Helper()
	r := &replay{byTick: map[int64][]item{}}
	add := func(it item) {
		k := tickOf(it.ts, tick.Milliseconds())
		r.byTick[k] = append(r.byTick[k], it)
	}
	versions := map[string][]*schemas.Trial{}
	events := map[string][]*schemas.RegulatoryEvent{}
	for _, v := range d.Trials {
		versions[v.ProtocolNo] = append(versions[v.ProtocolNo], v)
	}
	for _, e := range d.Regulatory {
		events[e.ProtocolNo] = append(events[e.ProtocolNo], e)
	}
	for protocol, vs := range versions {
		var prev *opentrials.Decision
		for _, at := range opentrials.ChangePoints(vs, events[protocol]) {
			dec, err := opentrials.At(protocol, vs, events[protocol], at)
			if err != nil {
				t.Fatal(err)
			}
			if prev != nil && prev.Equal(dec) {
				continue
			}
			prev = &dec
			add(item{kind: kindDecision, ts: at.UnixMilli(), decision: prev})
		}
	}
	for _, f := range d.Facts {
		add(item{kind: kindFact, ts: f.EventTime.UnixMilli(), fact: f})
	}
	var out []string
	r.send = func(p part) {
		for _, o := range p.out {
			rec := o.rec
			rec.MatchTime = time.Time{}
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d %s", o.ts, b))
		}
	}
	r.dead = func(deadletter.Record) { t.Fatal("a dead letter from the synthetic data set") }
	eng := newEngine(catalog.NewCompiler())
	eng.hold = true
	r.run(context.Background(), eng, "test")
	if r.err != nil {
		t.Fatal(r.err)
	}
	return out, eng
}

// Re-judging a patient whose profile did not change against just the
// trials whose decision changed publishes exactly the records (reasons,
// retractions, event times, order) that re-judging every patient against
// every open trial does.
func TestRejudgeChangedOnlyEqualsAll(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 800, 16, 72*time.Hour
	d := synth.Generate(c)
	got, eng := replayDataset(t, d, time.Minute)
	if eng.judged.changedOnly == 0 {
		t.Fatal("no patient was re-judged against the changed trials only; the test proves nothing")
	}
	defer func() { rejudgeAll = false }()
	rejudgeAll = true
	want, full := replayDataset(t, d, time.Minute)
	if full.judged.changedOnly != 0 {
		t.Fatal("rejudgeAll did not turn re-judging by changed trials off")
	}
	if len(want) == 0 {
		t.Fatal("the data set publishes nothing")
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("record %d differs:\n got  %s\n want %s", i, got[i], want[i])
			}
		}
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	t.Logf("%d records; %d verdicts against every trial and %d against the changed ones only (%d verdicts when all are re-judged)",
		len(got), eng.judged.all, eng.judged.changedOnly, full.judged.all)
}

// A patient re-judged at a table change on a later day than its last
// verdict is re-judged against every trial: criteria depend on the day
// (age), so its ledger no longer stands for its eligibility. Here the
// patient turns 18 on the day another trial opens, with no fact that day.
func TestRejudgeOnAnotherDayJudgesAll(t *testing.T) {
	day0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	day1 := day0.AddDate(0, 0, 1)
	trial := func(protocol, criteria string) string {
		return `{"protocol_no":"` + protocol + `","status":"Open to Accrual","treatment_list":{"step":[{"step_code":"1","arm":[` +
			`{"arm_code":"A","arm_suspended":"N","match":[{"and":[{"clinical":` + criteria + `}]}]}]}]}}`
	}
	decision := func(protocol, criteria string, open bool) *opentrials.Decision {
		return &opentrials.Decision{ProtocolNo: protocol, Open: open, Version: 1, CTML: trial(protocol, criteria),
			CTMLFormat: "json", ApprovalReference: "IRB-1"}
	}
	birth := int32(day1.AddDate(-18, 0, 0).Unix() / 86400)
	breast := "Breast"
	facts := []*schemas.PatientFact{
		{FactID: "f1", Tenant: "t1", PatientID: "p1", EventTime: day0.Add(time.Hour), Kind: schemas.KindDemographics,
			Demographics: &schemas.Demographics{BirthDate: &birth}},
		{FactID: "f2", Tenant: "t1", PatientID: "p1", EventTime: day0.Add(time.Hour), Kind: schemas.KindDiagnosis,
			Diagnosis: &schemas.Diagnosis{OncotreePrimaryDiagnosis: breast}},
	}
	items := map[int64][]item{}
	add := func(it item) {
		k := tickOf(it.ts, time.Minute.Milliseconds())
		items[k] = append(items[k], it)
	}
	add(item{kind: kindDecision, ts: day0.UnixMilli(), decision: decision("AGE-1", `{"oncotree_primary_diagnosis":"Breast","age_numerical":">=18"}`, true)})
	add(item{kind: kindDecision, ts: day0.UnixMilli(), decision: decision("OTHER-1", `{"oncotree_primary_diagnosis":"Melanoma"}`, false)})
	add(item{kind: kindDecision, ts: day1.Add(12 * time.Hour).UnixMilli(), decision: decision("OTHER-1", `{"oncotree_primary_diagnosis":"Melanoma"}`, true)})
	for _, f := range facts {
		add(item{kind: kindFact, ts: f.EventTime.UnixMilli(), fact: f})
	}
	var got []string
	r := &replay{byTick: items, dead: func(d deadletter.Record) { t.Fatalf("dead letter: %+v", d) }}
	r.send = func(p part) {
		for _, o := range p.out {
			got = append(got, fmt.Sprintf("%s %s %s", o.rec.ProtocolNo, o.rec.Action, o.rec.EventTime.Format(time.RFC3339)))
		}
	}
	eng := newEngine(catalog.NewCompiler())
	eng.hold = true
	r.run(context.Background(), eng, "test")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := []string{"AGE-1 NEW " + day1.Add(12*time.Hour).Format(time.RFC3339)}
	if !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
}

// A regulatory event must end after it starts; the dead letter says which
// event and both times.
func TestValidRegulatoryInterval(t *testing.T) {
	from := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	e := &schemas.RegulatoryEvent{EventID: "r9", ProtocolNo: "T", Scope: "TRIAL", Action: "APPROVED", ValidFrom: from, ValidTo: schemas.Ptr(from)}
	err := validRegulatory("T", e)
	if err == nil || !strings.Contains(err.Error(), "r9") || !strings.Contains(err.Error(), "valid_to 2026-01-02T03:00:00Z is not after valid_from") {
		t.Fatalf("validRegulatory = %v, want the event and its interval named", err)
	}
	e.ValidTo = schemas.Ptr(from.Add(time.Hour))
	if err := validRegulatory("T", e); err != nil {
		t.Fatalf("validRegulatory of a valid event = %v", err)
	}
}
