package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/schemas"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden files under testdata/")

// TestExplain checks explain's report against a golden file (issue 17):
// a patient matched, then retracted by a later fact; one matched; one
// never matched; and the same pseudonym in another practice, which sees
// nothing of the first practice's records.
func TestExplain(t *testing.T) {
	dir := t.TempDir()
	w := history.NewWriter(dir)
	defer w.Release()
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	ref := func(kind string, h int) schemas.FactRef {
		return schemas.FactRef{Kind: kind, EventTime: day.Add(time.Duration(h) * time.Hour)}
	}
	why := []schemas.MatchReason{
		{ReasonType: "GENOMIC", Field: "treatment_list.step[0].arm[0].match[0].and[1].genomic", Alteration: schemas.Ptr("EGFR p.L858R"),
			Level: schemas.Ptr("variant"), Facts: []schemas.FactRef{ref("VARIANT", 2), ref("DIAGNOSIS", 1)}},
	}
	recs := []schemas.ApprovedPatient{
		{MatchID: "m1", Tenant: "practice-01", PatientID: "p1", ProtocolNo: "26-101", ArmCode: schemas.Ptr("ARM A"),
			SiteID: schemas.Ptr("practice-01"), Action: "NEW", Reasons: why, TrialVersion: 1,
			ApprovalReference: schemas.Ptr("IRB-26-101"), EventTime: day.Add(2 * time.Hour), MatchTime: day.Add(3 * time.Hour)},
		{MatchID: "m1", Tenant: "practice-01", PatientID: "p1", ProtocolNo: "26-101", ArmCode: schemas.Ptr("ARM A"),
			SiteID: schemas.Ptr("practice-01"), Action: "RETRACTED", RetractionReason: schemas.Ptr("CRITERIA_NOT_MET"), TrialVersion: 1,
			Reasons:   []schemas.MatchReason{{ReasonType: "CLINICAL", Field: "ecog", Facts: []schemas.FactRef{ref("PERFORMANCE_STATUS", 5)}}},
			EventTime: day.Add(5 * time.Hour), MatchTime: day.Add(6 * time.Hour)},
		{MatchID: "m2", Tenant: "practice-01", PatientID: "p2", ProtocolNo: "26-101", ArmCode: schemas.Ptr("ARM A"),
			SiteID: schemas.Ptr("practice-01"), Action: "NEW", Reasons: why, TrialVersion: 1,
			ApprovalReference: schemas.Ptr("IRB-26-101"), EventTime: day.Add(2 * time.Hour), MatchTime: day.Add(3 * time.Hour)},
	}
	for i := range recs {
		if err := w.Add(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, c := range []struct{ tenant, patient string }{{"practice-01", "p1"}, {"practice-01", "p2"}, {"practice-01", "p3"}, {"practice-02", "p1"}} {
		if err := explain(&out, dir, c.tenant, c.patient, "26-101"); err != nil {
			t.Fatal(err)
		}
		out.WriteString("----\n")
	}
	got := bytes.ReplaceAll(out.Bytes(), []byte(dir), []byte("HISTORY"))
	golden := filepath.Join("testdata", "explain.golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-golden to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("explain output differs from %s:\n%s", golden, got)
	}
}
