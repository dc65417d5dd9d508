package trialmatch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/engine"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
)

// replayDataset runs the batch replay of one engine over a whole data set
// (every fact, the open-trial changelog computed as the table stage does)
// and returns its records, match time aside, in the order published, and
// what the engine counted.
func replayDataset(t *testing.T, d *synth.Dataset, tick time.Duration, rejudgeAll bool) ([]string, *engine.Counts) {
	t.Helper()
	r := engine.NewReplay()
	add := func(it engine.Item) { r.Add(tickOf(it.TS, tick.Milliseconds()), it) }
	decisions, err := opentrials.Changelog(d.Trials, d.Regulatory)
	if err != nil {
		t.Fatal(err)
	}
	for i := range decisions {
		add(engine.Item{Kind: engine.Decision, TS: decisions[i].At.UnixMilli(), Decision: &decisions[i]})
	}
	for _, f := range d.Facts {
		add(engine.Item{Kind: engine.Fact, TS: f.EventTime.UnixMilli(), Fact: f})
	}
	var out []string
	n := &engine.Counts{}
	eng := engine.New(catalog.NewCompiler(), n)
	eng.RejudgeAll = rejudgeAll
	if err := r.Run(eng, func(p engine.Part) {
		for _, o := range p.Out {
			rec := o.Rec
			rec.MatchTime = time.Time{}
			b, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d %s", o.Tick, b))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(n.Rejections) > 0 {
		t.Fatalf("%d facts of the synthetic data set rejected, the first: %v", len(n.Rejections), n.Rejections[0].Err)
	}
	return out, n
}

// Re-judging a patient whose profile did not change against just the
// trials whose decision changed publishes exactly the records (reasons,
// retractions, event times, order) that re-judging every patient against
// every open trial does.
func TestRejudgeChangedOnlyEqualsAll(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 800, 16, 72*time.Hour
	d := synth.Generate(c)
	got, n := replayDataset(t, d, time.Minute, false)
	if n.JudgedChangedOnly == 0 {
		t.Fatal("no patient was re-judged against the changed trials only; the test proves nothing")
	}
	want, full := replayDataset(t, d, time.Minute, true)
	if full.JudgedChangedOnly != 0 {
		t.Fatal("RejudgeAll did not turn re-judging by changed trials off")
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
		len(got), n.JudgedAll, n.JudgedChangedOnly, full.JudgedAll)
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
	r := engine.NewReplay()
	add := func(it engine.Item) { r.Add(tickOf(it.TS, time.Minute.Milliseconds()), it) }
	add(engine.Item{Kind: engine.Decision, TS: day0.UnixMilli(), Decision: decision("AGE-1", `{"oncotree_primary_diagnosis":"Breast","age_numerical":">=18"}`, true)})
	add(engine.Item{Kind: engine.Decision, TS: day0.UnixMilli(), Decision: decision("OTHER-1", `{"oncotree_primary_diagnosis":"Melanoma"}`, false)})
	add(engine.Item{Kind: engine.Decision, TS: day1.Add(12 * time.Hour).UnixMilli(), Decision: decision("OTHER-1", `{"oncotree_primary_diagnosis":"Melanoma"}`, true)})
	for _, f := range facts {
		add(engine.Item{Kind: engine.Fact, TS: f.EventTime.UnixMilli(), Fact: f})
	}
	var got []string
	n := &engine.Counts{}
	if err := r.Run(engine.New(catalog.NewCompiler(), n), func(p engine.Part) {
		for _, o := range p.Out {
			got = append(got, fmt.Sprintf("%s %s %s", o.Rec.ProtocolNo, o.Rec.Action, o.Rec.EventTime.Format(time.RFC3339)))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(n.Rejections) > 0 {
		t.Fatalf("rejected: %+v", n.Rejections)
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
