package decide_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func verdict(hour int, deceased bool, open map[string][]string, elig ...decide.Eligible) decide.Verdict {
	return decide.Verdict{Tenant: "t1", PatientID: "p1", EventTime: t0.Add(time.Duration(hour) * time.Hour),
		Deceased: deceased, Eligible: elig, OpenArms: open}
}

func actions(t *testing.T, l *decide.Ledger, v decide.Verdict) string {
	t.Helper()
	s := ""
	for _, r := range l.Apply(v, t0) {
		if s != "" {
			s += " "
		}
		s += r.Action + ":" + r.ProtocolNo
		if r.RetractionReason != nil {
			s += ":" + *r.RetractionReason
		}
		if r.MatchID != decide.MatchID("t1", "p1", r.ProtocolNo) {
			t.Fatalf("match id not stable for %s", r.ProtocolNo)
		}
	}
	return s
}

func TestLifecycle(t *testing.T) {
	open := map[string][]string{"A": {"ARM 1", "ARM 2"}, "B": {"ARM 1"}}
	a1 := decide.Eligible{ProtocolNo: "A", ArmCode: "ARM 1", TrialVersion: 1}
	a2 := decide.Eligible{ProtocolNo: "A", ArmCode: "ARM 2", TrialVersion: 1}
	b1 := decide.Eligible{ProtocolNo: "B", ArmCode: "ARM 1", TrialVersion: 3}
	l := &decide.Ledger{}
	steps := []struct {
		v    decide.Verdict
		want string
	}{
		{verdict(1, false, open, a1, b1), "NEW:A NEW:B"},
		{verdict(2, false, open, a1, a2, b1), ""}, // still eligible: nothing, NEW only once
		{verdict(3, false, map[string][]string{"A": {"ARM 2"}, "B": {"ARM 1"}}, b1), "RETRACTED:A:ARM_CLOSED"},
		{verdict(4, false, map[string][]string{"A": {"ARM 2"}}, a2), "NEW:A RETRACTED:B:TRIAL_CLOSED"},
		{verdict(5, false, map[string][]string{"A": {"ARM 2"}}), "RETRACTED:A:CRITERIA_NOT_MET"},
		{verdict(6, false, open, a1), "NEW:A"},
		{verdict(5, false, open), ""}, // older than the last verdict: ignored
		{verdict(7, true, open, a1), "RETRACTED:A:DECEASED"},
		{verdict(8, true, open, a1, b1), ""},
	}
	for i, s := range steps {
		if got := actions(t, l, s.v); got != s.want {
			t.Fatalf("step %d: got %q, want %q", i+1, got, s.want)
		}
	}
}

func TestPrefersArmLevelMatch(t *testing.T) {
	l := &decide.Ledger{}
	recs := l.Apply(verdict(1, false, nil,
		decide.Eligible{ProtocolNo: "A"},
		decide.Eligible{ProtocolNo: "A", ArmCode: "ARM 2"},
		decide.Eligible{ProtocolNo: "A", ArmCode: "ARM 1", DoseLevel: "L1"},
	), t0)
	if len(recs) != 1 || *recs[0].ArmCode != "ARM 1" || *recs[0].DoseLevel != "L1" {
		t.Fatalf("recs = %+v", recs)
	}
}

func TestLedgerRoundTrip(t *testing.T) {
	l := &decide.Ledger{}
	l.Apply(verdict(1, false, nil, decide.Eligible{ProtocolNo: "A", ArmCode: "X"}), t0)
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := decide.Unmarshal(b)
	if err != nil || back.Active["A"].ArmCode != "X" || back.LastEvent != l.LastEvent {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := decide.Unmarshal([]byte("[")); err == nil {
		t.Fatal("want error")
	}
}

func ExampleLedger_Apply() {
	l := &decide.Ledger{}
	open := map[string][]string{"26-100": {"ARM A"}}
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	v := decide.Verdict{Tenant: "practice-01", PatientID: "9f2c", EventTime: now, OpenArms: open,
		Eligible: []decide.Eligible{{ProtocolNo: "26-100", ArmCode: "ARM A", TrialVersion: 1}}}
	for _, r := range l.Apply(v, now) {
		fmt.Println(r.Action, r.ProtocolNo, *r.ArmCode)
	}
	v.EventTime, v.Eligible = now.Add(time.Hour), nil
	v.OpenArms = map[string][]string{"26-100": {}} // ARM A closed
	for _, r := range l.Apply(v, now) {
		fmt.Println(r.Action, r.ProtocolNo, *r.RetractionReason)
	}
	// Output:
	// NEW 26-100 ARM A
	// RETRACTED 26-100 ARM_CLOSED
}

// Chosen finds the eligibility a NEW record was published from, the one
// Apply prefers among several for its protocol.
func TestChosen(t *testing.T) {
	elig := []decide.Eligible{
		{ProtocolNo: "B", ArmCode: "ARM 1"},
		{ProtocolNo: "A"},
		{ProtocolNo: "A", ArmCode: "ARM 2"},
		{ProtocolNo: "A", ArmCode: "ARM 1", DoseLevel: "L1"},
		{ProtocolNo: "A", ArmCode: "ARM 1", DoseLevel: "L1"}, // equal: the first wins
	}
	l := &decide.Ledger{}
	recs := l.Apply(verdict(1, false, nil, elig...), t0)
	if len(recs) != 2 {
		t.Fatalf("recs = %+v", recs)
	}
	if k := decide.Chosen(elig, recs[0]); k != 3 {
		t.Fatalf("Chosen(A) = %d, want 3", k)
	}
	if k := decide.Chosen(elig, recs[1]); k != 0 {
		t.Fatalf("Chosen(B) = %d, want 0", k)
	}
	other := recs[0]
	arm := "ARM 9"
	other.ArmCode = &arm
	if k := decide.Chosen(elig, other); k != -1 {
		t.Fatalf("Chosen of a record with an arm the verdict lacks = %d, want -1", k)
	}
	other.ProtocolNo = "Z"
	if k := decide.Chosen(elig, other); k != -1 {
		t.Fatalf("Chosen of a record for another protocol = %d, want -1", k)
	}
}

// Over random verdict sequences the ledger publishes exactly what a
// brute-force model of it says: NEW for an eligible protocol not yet
// published, RETRACTED for a published one no longer eligible (all of them
// once the patient is deceased), nothing for a verdict older than the last.
func TestLedgerAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	protocols := []string{"A", "B", "C", "D"}
	for seq := 0; seq < 500; seq++ {
		l := &decide.Ledger{}
		model := map[string]bool{}
		last := -1
		for step := 0; step < 20; step++ {
			hour := rng.IntN(30)
			deceased := rng.IntN(10) == 0
			var elig []decide.Eligible
			now := map[string]bool{}
			for _, p := range protocols {
				for n := rng.IntN(3); n > 0 && rng.IntN(2) == 0; n-- {
					elig = append(elig, decide.Eligible{ProtocolNo: p, ArmCode: fmt.Sprint("ARM ", n)})
					now[p] = !deceased
				}
			}
			var want []string
			if hour >= last {
				last = hour
				for _, p := range protocols {
					switch {
					case now[p] && !model[p]:
						want = append(want, "NEW:"+p)
					case !now[p] && model[p]:
						want = append(want, "RETRACTED:"+p)
					}
				}
				model = map[string]bool{}
				for p, ok := range now {
					if ok {
						model[p] = true
					}
				}
			}
			var got []string
			for _, r := range l.Apply(verdict(hour, deceased, nil, elig...), t0) {
				got = append(got, r.Action+":"+r.ProtocolNo)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("sequence %d step %d (hour %d, deceased %t, %d eligible): got %v, want %v", seq, step, hour, deceased, len(elig), got, want)
			}
		}
	}
}

// ApplyTo a verdict on some trials publishes what Apply publishes for the
// same verdict with the ledger's active matches of the other trials
// carried in as eligibilities (how the pipeline re-judged a patient
// against the changed trials before ApplyTo), and leaves the same ledger.
func TestApplyToEqualsApplyWithCarry(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	protocols := []string{"A", "B", "C", "D", "E", "F"}
	arms := []string{"", "ARM 1", "ARM 2"}
	open := map[string][]string{}
	for _, p := range protocols {
		open[p] = []string{"ARM 1"}
	}
	for trial := 0; trial < 2000; trial++ {
		var full, part decide.Ledger
		for hour := 0; hour < 8; hour++ {
			only := map[string]bool{}
			for _, p := range protocols {
				if r.IntN(3) == 0 {
					only[p] = true
				}
			}
			var judged []decide.Eligible
			for _, p := range protocols {
				if only[p] && r.IntN(2) == 0 {
					judged = append(judged, decide.Eligible{ProtocolNo: p, ArmCode: arms[r.IntN(len(arms))], TrialVersion: int64(1 + r.IntN(2))})
				}
			}
			deceased := r.IntN(20) == 0
			withCarry := slices.Clone(judged)
			for p, a := range full.Active {
				if !only[p] {
					withCarry = append(withCarry, decide.Eligible{ProtocolNo: p, ArmCode: a.ArmCode, DoseLevel: a.DoseLevel, Site: a.Site, TrialVersion: a.Version})
				}
			}
			want := full.Apply(verdict(hour, deceased, open, withCarry...), t0)
			got := part.ApplyTo(verdict(hour, deceased, open, judged...), only, t0)
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Fatalf("trial %d hour %d, only %v: ApplyTo published\n%s\nApply with carry\n%s", trial, hour, only, g, w)
			}
			if fmt.Sprint(part.Active) != fmt.Sprint(full.Active) || part.LastEvent != full.LastEvent {
				t.Fatalf("trial %d hour %d: ledgers differ: %+v and %+v", trial, hour, part, full)
			}
		}
	}
}
