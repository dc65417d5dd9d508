package trialmatch_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/digest"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.Function1x1(describe)
	register.Function1x1(deadCode)
}

var h0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func at(hours float64) time.Time { return h0.Add(time.Duration(hours * float64(time.Hour))) }

// describe renders a record as "tenant patient protocol ACTION[:reason]".
func describe(r schemas.ApprovedPatient) string {
	s := fmt.Sprintf("%s %s %s %s", r.Tenant, r.PatientID, r.ProtocolNo, r.Action)
	if r.RetractionReason != nil {
		s += ":" + *r.RetractionReason
	}
	if r.Action == "NEW" && r.ArmCode != nil {
		s += " " + *r.ArmCode
	}
	return s
}

func deadCode(r deadletter.Record) string { return r.Stage + " " + r.ReasonCode }

func ctml(protocol string, arms ...map[string]any) string {
	var list []any
	for _, a := range arms {
		list = append(list, a)
	}
	b, _ := json.Marshal(map[string]any{
		"protocol_no": protocol, "status": "Open to Accrual",
		"treatment_list": map[string]any{"step": []any{map[string]any{"step_code": "1", "arm": list}}},
	})
	return string(b)
}

func arm(code string, match ...any) map[string]any {
	return map[string]any{"arm_code": code, "arm_suspended": "N", "match": []any{map[string]any{"and": match}}}
}

func clin(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"clinical": m}
}

func gen(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"genomic": m}
}

type factBuilder struct {
	n     int
	facts []schemas.PatientFact
}

func (b *factBuilder) add(tenant, patient string, hours float64, fill func(*schemas.PatientFact)) {
	b.n++
	f := schemas.PatientFact{FactID: fmt.Sprintf("f%04d", b.n), Tenant: tenant, PatientID: patient,
		EventTime: at(hours), IngestTime: at(hours), Source: "test"}
	fill(&f)
	b.facts = append(b.facts, f)
}

func (b *factBuilder) patient(tenant, patient string, hours float64, diagnosis string) {
	b.add(tenant, patient, hours, func(f *schemas.PatientFact) {
		f.Kind = schemas.KindDemographics
		f.Demographics = &schemas.Demographics{BirthDate: schemas.Ptr(int32(h0.AddDate(-60, 0, 0).Unix() / 86400)), Gender: schemas.Ptr("Female")}
	})
	b.add(tenant, patient, hours, func(f *schemas.PatientFact) {
		f.Kind = schemas.KindDiagnosis
		f.Diagnosis = &schemas.Diagnosis{OncotreePrimaryDiagnosis: diagnosis}
	})
}

func (b *factBuilder) variant(tenant, patient string, hours float64, gene, protein string) {
	b.add(tenant, patient, hours, func(f *schemas.PatientFact) {
		f.Kind = schemas.KindVariant
		f.Variant = &schemas.Variant{HugoSymbol: &gene, VariantCategory: "MUTATION", ProteinChange: &protein}
	})
}

func (b *factBuilder) marker(tenant, patient string, hours float64, name, result string, value *float64) {
	b.add(tenant, patient, hours, func(f *schemas.PatientFact) {
		f.Kind = schemas.KindTumorMarker
		f.Marker = &schemas.TumorMarker{Marker: name, Value: value}
		if result != "" {
			f.Marker.Result = &result
		}
	})
}

// Retractions (arm closed, patient deceased, contradicting result), a late
// approval that re-matches stored profiles, tenant isolation and dead
// letters, with every record checked.
func TestPipelineScenarios(t *testing.T) {
	for _, e := range []trialmatch.Execution{trialmatch.Streaming, trialmatch.Batch} {
		t.Run(e.String(), func(t *testing.T) { testScenarios(t, e) })
	}
}

func testScenarios(t *testing.T, e trialmatch.Execution) {
	trials := []schemas.Trial{
		{ProtocolNo: "T1", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("T1",
			arm("ARM A", clin("age_numerical", ">=18", "oncotree_primary_diagnosis", "Lung"),
				gen("hugo_symbol", "EGFR", "protein_change", "p.L858R", "variant_category", "Mutation")),
			arm("ARM B", clin("age_numerical", ">=18", "oncotree_primary_diagnosis", "Breast", "her2_status", "Positive")))},
		{ProtocolNo: "T2", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("T2",
			arm("ARM A", clin("oncotree_primary_diagnosis", "_SOLID_", "tmb_numerical", ">=10")))},
		{ProtocolNo: "BAD", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("BAD",
			arm("ARM A", clin("shoe_size", "42")))},
	}
	armA := "ARM A"
	reg := []schemas.RegulatoryEvent{
		{EventID: "r1", ProtocolNo: "T1", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB-T1"},
		{EventID: "r2", ProtocolNo: "T1", Scope: "ARM", ArmCode: &armA, Action: "CLOSED", ValidFrom: at(10), EventTime: at(10), Reference: "CLOSE-A"},
		{EventID: "r3", ProtocolNo: "T2", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(8), EventTime: at(8), Reference: "IRB-T2"},
		{EventID: "r4", ProtocolNo: "T1", Scope: "ARM", Action: "CLOSED", ValidFrom: at(3), EventTime: at(3), Reference: "no arm code"},
		// Ends before it starts: a dead letter, not a closure of T2.
		{EventID: "r5", ProtocolNo: "T2", Scope: "TRIAL", Action: "CLOSED", ValidFrom: at(9), ValidTo: schemas.Ptr(at(8.5)), EventTime: at(9), Reference: "backwards"},
	}
	b := &factBuilder{}
	b.patient("A", "p1", 2, "Lung Adenocarcinoma")
	b.variant("A", "p1", 2.5, "EGFR", "p.L858R")
	b.patient("A", "p2", 2, "Breast Invasive Ductal Carcinoma")
	b.marker("A", "p2", 2.5, "HER2", "Positive", nil)
	b.marker("A", "p2", 5, "HER2", "Negative", nil) // contradicts the match
	b.patient("A", "p3", 2, "Breast Invasive Ductal Carcinoma")
	b.marker("A", "p3", 2.5, "HER2", "Positive", nil)
	b.add("A", "p3", 6, func(f *schemas.PatientFact) {
		f.Kind = schemas.KindVital
		f.Vital = &schemas.VitalStatus{Status: "DECEASED"}
	})
	b.patient("A", "p4", 2, "Colon Adenocarcinoma")
	b.marker("A", "p4", 2.5, "TMB", "", schemas.Ptr(20.0)) // T2 is approved only at 8h
	// Tenant B has a patient with the same pseudonym as tenant A's p1.
	b.patient("B", "p1", 3, "Breast Invasive Ductal Carcinoma")
	b.marker("B", "p1", 3.5, "HER2", "Positive", nil)
	// Bad input.
	b.add("", "p9", 4, func(f *schemas.PatientFact) { f.Kind = schemas.KindVital })
	b.add("A", "p1", 4, func(f *schemas.PatientFact) { f.Kind = schemas.KindUnknown })

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts:      beam.CreateList(s, b.facts),
		Trials:     beam.CreateList(s, trials),
		Regulatory: beam.CreateList(s, reg),
	}, trialmatch.Config{Shards: 3, Tick: time.Minute, Execution: e})

	passert.Equals(s, beam.ParDo(s, describe, out.Matches),
		"A p1 T1 NEW ARM A",
		"A p1 T1 RETRACTED:ARM_CLOSED",
		"A p2 T1 NEW ARM B",
		"A p2 T1 RETRACTED:CRITERIA_NOT_MET",
		"A p3 T1 NEW ARM B",
		"A p3 T1 RETRACTED:DECEASED",
		"A p4 T2 NEW ARM A",
		"B p1 T1 NEW ARM B",
	)
	passert.Equals(s, beam.ParDo(s, deadCode, out.DeadLetters),
		"trialmatch.KeyFacts invalid_record",
		"trialmatch.PatientView invalid_record",
		"trialmatch.OpenTrials invalid_record",
		"trialmatch.OpenTrials invalid_record",
		"trialmatch.OpenTrials invalid_record",
	)
	// Conservation, from the outputs: 19 facts in = 17 folded + 2 dead.
	passert.Equals(s, stats.Sum(s, out.Folded), int64(len(b.facts)-2))
	ptest.RunAndValidate(t, p)
}

// The file sinks: Parquet history per tenant and date, and digests per
// tenant and window.
func TestSinks(t *testing.T) {
	for _, e := range []trialmatch.Execution{trialmatch.Streaming, trialmatch.Batch} {
		t.Run(e.String(), func(t *testing.T) { testSinks(t, e) })
	}
}

func testSinks(t *testing.T, e trialmatch.Execution) {
	b := &factBuilder{}
	b.patient("A", "p1", 2, "Lung Adenocarcinoma")
	b.variant("A", "p1", 2.5, "EGFR", "p.L858R")
	b.patient("B", "p2", 3, "Breast Invasive Ductal Carcinoma")
	b.marker("B", "p2", 3.5, "HER2", "Positive", nil)
	trials := []schemas.Trial{{ProtocolNo: "T1", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: ctml("T1",
		arm("ARM A", clin("oncotree_primary_diagnosis", "Lung"), gen("hugo_symbol", "EGFR", "variant_category", "Mutation")),
		arm("ARM B", clin("oncotree_primary_diagnosis", "Breast", "her2_status", "Positive")))}}
	reg := []schemas.RegulatoryEvent{{EventID: "r1", ProtocolNo: "T1", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB"}}

	dir := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts: beam.CreateList(s, b.facts), Trials: beam.CreateList(s, trials), Regulatory: beam.CreateList(s, reg),
	}, trialmatch.Config{Shards: 2, Execution: e})
	trialmatch.Sinks(s, out, trialmatch.SinkConfig{HistoryDir: filepath.Join(dir, "history"), DigestDir: filepath.Join(dir, "digests")})
	ptest.RunAndValidate(t, p)

	hist, err := history.Read(filepath.Join(dir, "history"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("history holds %d records, want 2", len(hist))
	}
	for _, tenant := range []string{"A", "B"} {
		files, _ := filepath.Glob(filepath.Join(dir, "digests", "tenant="+tenant, "*.json"))
		if len(files) != 1 {
			t.Fatalf("tenant %s: %d digest files, want 1", tenant, len(files))
		}
		var d digest.Digest
		raw, _ := os.ReadFile(files[0])
		if err := json.Unmarshal(raw, &d); err != nil || d.Tenant != tenant || d.New != 1 {
			t.Fatalf("tenant %s digest: %+v %v", tenant, d, err)
		}
	}
}
