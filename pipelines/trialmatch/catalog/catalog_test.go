package catalog_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
)

func decisions(t *testing.T, d *synth.Dataset, at time.Time) []opentrials.Decision {
	t.Helper()
	decs, err := opentrials.AllAt(d.Trials, d.Regulatory, at)
	if err != nil {
		t.Fatal(err)
	}
	return decs
}

func profiles(t *testing.T, d *synth.Dataset) []match.Profile {
	t.Helper()
	states, keys, err := spv.FoldAll(d.Facts)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]match.Profile, len(keys))
	for i, k := range keys {
		out[i] = states[k].Profile
	}
	return out
}

// The vectorised verdicts agree with the engine's row-at-a-time evaluation,
// and closed arms never match.
func TestVerdictsAgreeWithRowwise(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials = 3000, 20
	d := synth.Generate(c)
	end := c.Start.Add(c.Span)
	decs := decisions(t, d, end)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cat, err := catalog.Build(catalog.NewCache(), decs, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Rejected()) != 0 {
		t.Fatalf("synthetic trials rejected: %v", cat.Rejected())
	}
	ps := profiles(t, d)
	at := make([]time.Time, len(ps))
	for i := range at {
		at[i] = end
	}
	vs, err := cat.Verdicts(mem, ps, at)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	n := 0
	for _, v := range vs {
		for _, e := range v.Eligible {
			got[v.Tenant+"/"+v.PatientID+"/"+e.ProtocolNo+"/"+e.ArmCode] = true
			n++
			if site, _ := cat.Site(e.ProtocolNo, e.ArmCode, v.Tenant); site != e.Site {
				t.Fatalf("eligibility %s %s names site %q, want %q", e.ProtocolNo, e.ArmCode, e.Site, site)
			}
			open := false
			for _, a := range cat.OpenArmsFor(v.Tenant)[e.ProtocolNo] {
				open = open || a == e.ArmCode
			}
			if e.ArmCode != "" && !open {
				t.Fatalf("match on closed arm %s %s", e.ProtocolNo, e.ArmCode)
			}
		}
	}
	if n == 0 {
		t.Fatal("no patient matched any synthetic trial")
	}
	// Independent check: the engine's row-wise path over Go structs.
	want := map[string]bool{}
	for _, m := range catalog.RowwiseMatches(cat, ps) {
		if m.Level == match.LevelStep {
			continue
		}
		want[m.Tenant+"/"+m.PatientID+"/"+m.ProtocolNo+"/"+m.ArmCode] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("rowwise matched %s, vectorised did not", k)
		}
	}
	for k := range got {
		if !want[k] && !strings.HasSuffix(k, "/") {
			t.Errorf("vectorised matched %s, rowwise did not", k)
		}
	}
}

func TestRejectedCTML(t *testing.T) {
	decs := []opentrials.Decision{
		{ProtocolNo: "BAD", Open: true, Version: 1, CTML: `{"protocol_no": "BAD", "treatment_list": {"step": [{"arm": [{"arm_code": "A", "match": [{"clinical": {"favourite_colour": "blue"}}]}]}]}}`},
		{ProtocolNo: "CLOSED", Open: false, Version: 1, CTML: "not even json"},
	}
	cat, err := catalog.Build(catalog.NewCache(), decs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rej := cat.Rejected()
	if len(rej) != 1 || rej["BAD"] == nil {
		t.Fatalf("rejected = %v", rej)
	}
	if msg := rej["BAD"].Error(); !strings.Contains(msg, "favourite_colour") {
		t.Fatalf("rejection does not name the field: %s", msg)
	}
	if cat.Protocols() != 0 {
		t.Fatal("a rejected or closed trial is in the engine")
	}
}
