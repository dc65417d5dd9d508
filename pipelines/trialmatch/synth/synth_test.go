package synth_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
)

func small() synth.Config {
	c := synth.DefaultConfig()
	c.Patients, c.Trials = 2000, 12
	return c
}

func TestDeterministic(t *testing.T) {
	a, b := synth.Generate(small()), synth.Generate(small())
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different data sets")
	}
	c := small()
	c.Seed = 7
	if reflect.DeepEqual(a.Facts[0], synth.Generate(c).Facts[0]) {
		t.Fatal("different seeds gave the same first fact")
	}
}

func TestFactsAreValidAvroAndInSpan(t *testing.T) {
	cfg := small()
	d := synth.Generate(cfg)
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		t.Fatal(err)
	}
	end := cfg.Start.Add(cfg.Span)
	var prev time.Time
	tenants := map[string]bool{}
	for _, f := range d.Facts {
		if _, err := f.AppendAvro(codec, nil); err != nil {
			t.Fatalf("fact %s: %v", f.FactID, err)
		}
		if f.EventTime.Before(cfg.Start) || !f.EventTime.Before(end) {
			t.Fatalf("fact %s at %v outside span", f.FactID, f.EventTime)
		}
		if f.EventTime.Before(prev) {
			t.Fatal("facts not sorted by event time")
		}
		prev = f.EventTime
		tenants[f.Tenant] = true
	}
	if len(tenants) != cfg.Tenants {
		t.Fatalf("tenants = %d, want %d", len(tenants), cfg.Tenants)
	}
	tc, _ := schemas.Trials.Codec()
	for _, tr := range d.Trials {
		if _, err := tc.BinaryFromNative(nil, tr.Native()); err != nil {
			t.Fatalf("trial %s: %v", tr.ProtocolNo, err)
		}
	}
	rc, _ := schemas.Regulatory.Codec()
	for _, e := range d.Regulatory {
		if _, err := rc.BinaryFromNative(nil, e.Native()); err != nil {
			t.Fatalf("regulatory %s: %v", e.EventID, err)
		}
	}
}

// Prevalence is realistic: EGFR mutations in roughly 15% of lung cancers.
func TestPrevalence(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients = 20000
	d := synth.Generate(c)
	lung, egfr := map[string]bool{}, map[string]bool{}
	for _, f := range d.Facts {
		if f.Diagnosis != nil && strings.HasPrefix(f.Diagnosis.OncotreePrimaryDiagnosis, "Lung") {
			lung[f.PatientID] = true
		}
		if f.Variant != nil && f.Variant.HugoSymbol != nil && *f.Variant.HugoSymbol == "EGFR" && f.Variant.VariantCategory == "MUTATION" {
			egfr[f.PatientID] = true
		}
	}
	n := 0
	for p := range egfr {
		if lung[p] {
			n++
		}
	}
	frac := float64(n) / float64(len(lung))
	if frac < 0.12 || frac > 0.18 {
		t.Fatalf("EGFR in lung = %.3f, want about 0.15", frac)
	}
}

func TestNoDirectIdentifiers(t *testing.T) {
	d := synth.Generate(small())
	for _, f := range d.Facts {
		if f.Demographics != nil && f.Demographics.MRNSealed != nil {
			t.Fatal("synthetic data must not carry MRNs")
		}
		if len(f.PatientID) != 32 {
			t.Fatalf("patient id %q is not a pseudonym", f.PatientID)
		}
	}
}

func ExampleGenerate() {
	c := synth.DefaultConfig()
	c.Patients, c.Trials = 100, 3
	d := synth.Generate(c)
	fmt.Println(len(d.Tenants), "tenants,", len(d.Trials), "trials, facts sorted:", d.Facts[0].EventTime.Before(d.Facts[len(d.Facts)-1].EventTime))
	// Output: 5 tenants, 3 trials, facts sorted: true
}
