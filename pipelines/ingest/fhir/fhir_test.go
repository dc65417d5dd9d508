package fhir_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
	"github.com/trialflow/trialflow/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ingest")

var ingestTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func tenant(t testing.TB) *pseudonym.Tenant {
	t.Helper()
	p, err := pseudonym.New(ingesttest.Tenant, ingesttest.TenantKey())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGolden turns each reference bundle into facts and compares them with
// testdata/ingest/<bundle>.facts.json (regenerate with -update, then review).
func TestGolden(t *testing.T) {
	bundles := ingesttest.Bundles(t)
	dir := filepath.Join(ingesttest.RepoRoot(t), "testdata", "ingest")
	id := tenant(t)
	for _, name := range ingesttest.Names(bundles) {
		t.Run(name, func(t *testing.T) {
			facts, err := fhir.Facts(bundles[name], id, fhir.WithIngestTime(ingestTime), fhir.WithSource("emr"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(facts, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join(dir, name+".facts.json")
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("facts differ from %s (-want +got):\n%s", path, d)
			}
			// Every fact fits the Avro contract.
			codec, err := schemas.PatientFacts.Codec()
			if err != nil {
				t.Fatal(err)
			}
			for i := range facts {
				if _, err := facts[i].AppendAvro(codec, nil); err != nil {
					t.Errorf("fact %d: %v", i, err)
				}
			}
		})
	}
}

// TestFactsContent checks the facts that matter for matching, independent
// of the golden files.
func TestFactsContent(t *testing.T) {
	bundles := ingesttest.Bundles(t)
	id := tenant(t)
	count := func(fs []schemas.PatientFact, k schemas.FactKind) int {
		n := 0
		for _, f := range fs {
			if f.Kind == k {
				n++
			}
		}
		return n
	}
	t.Run("genomics report", func(t *testing.T) {
		fs, err := fhir.Facts(bundles["genomics-reporting-oncology-report-example"], id, fhir.WithIngestTime(ingestTime))
		if err != nil {
			t.Fatal(err)
		}
		if n := count(fs, schemas.KindVariant); n != 12 {
			t.Fatalf("%d variants, want 12", n)
		}
		var pik3ca bool
		for _, f := range fs {
			if v := f.Variant; v != nil && *v.HugoSymbol == "PIK3CA" && v.ProteinChange != nil && *v.ProteinChange == "p.H1047R" {
				pik3ca = *v.CDNAChange == "c.3140A>G" && *v.VariantClassification == "Missense_Mutation" &&
					f.EventTime.Equal(time.Date(2019, 9, 15, 15, 35, 5, 722e6, time.UTC))
			}
		}
		if !pik3ca {
			t.Error("PIK3CA p.H1047R c.3140A>G missense at the report's issued time not found")
		}
	})
	t.Run("mcode patient", func(t *testing.T) {
		fs, err := fhir.Facts(bundles["mcode-ctms-patient_data"], id, fhir.WithIngestTime(ingestTime))
		if err != nil {
			t.Fatal(err)
		}
		var dx *schemas.Diagnosis
		var ecog, stk11 bool
		for _, f := range fs {
			switch {
			case f.Diagnosis != nil:
				dx = f.Diagnosis
			case f.Performance != nil && f.Performance.Scale == "ECOG":
				ecog = f.Performance.Value == 3
			case f.Variant != nil:
				stk11 = *f.Variant.HugoSymbol == "STK11"
			}
		}
		if dx == nil || *dx.OncotreeCode != "BRCA" || *dx.Stage != "IIIA" || *dx.DiseaseStatus != "Metastatic" {
			t.Errorf("diagnosis %+v", dx)
		}
		if !ecog || !stk11 {
			t.Errorf("ECOG 3 %v, STK11 %v", ecog, stk11)
		}
		if n := count(fs, schemas.KindVariant); n != 1 {
			t.Errorf("%d variants, want 1 (the bundle repeats the same observation)", n)
		}
		if d := fs[0].Demographics; d == nil || *d.PostalRegion != "019" || *d.Gender != "Female" {
			t.Errorf("demographics %+v", d)
		}
		mrn, err := id.OpenMRN(fs[0].Demographics.MRNSealed)
		if err != nil || mrn != "1e208b6b-77f1-4808-a32b-9f9caf1ec334" {
			t.Errorf("sealed MRN opens to %q, %v", mrn, err)
		}
	})
	t.Run("eom patient", func(t *testing.T) {
		fs, err := fhir.Facts(bundles["mcode-ctms-eom_patient_1"], id, fhir.WithIngestTime(ingestTime))
		if err != nil {
			t.Fatal(err)
		}
		markers := map[string]int{}
		for _, f := range fs {
			if f.Marker != nil {
				markers[f.Marker.Marker+"="+*f.Marker.Result]++
			}
		}
		want := map[string]int{"HER2=Negative": 2, "ER=Positive": 1, "ER=Negative": 1, "PR=Negative": 2}
		if d := cmp.Diff(want, markers); d != "" {
			t.Errorf("markers (-want +got):\n%s", d)
		}
	})
}

// TestPseudonymStable: the same bundle gives the same facts (ids included);
// another tenant key gives other pseudonyms and ids.
func TestPseudonymStable(t *testing.T) {
	b := ingesttest.Bundles(t)["mcode-ctms-eom_patient_1"]
	a1, _ := fhir.Facts(b, tenant(t), fhir.WithIngestTime(ingestTime))
	a2, _ := fhir.Facts(b, tenant(t), fhir.WithIngestTime(ingestTime))
	if d := cmp.Diff(a1, a2); d != "" {
		t.Fatalf("not deterministic:\n%s", d)
	}
	other, _ := pseudonym.New("practice-2", bytes.Repeat([]byte{9}, 32))
	b1, _ := fhir.Facts(b, other, fhir.WithIngestTime(ingestTime))
	if b1[0].PatientID == a1[0].PatientID || b1[0].FactID == a1[0].FactID {
		t.Fatal("pseudonym or fact id shared across tenants")
	}
}

// TestNoPHIInFacts: no name, identifier, phone or address of the source
// patients appears in the facts, in JSON or Avro form.
func TestNoPHIInFacts(t *testing.T) {
	bundles := ingesttest.Bundles(t)
	ids := ingesttest.Identifiers(t, bundles)
	if len(ids) < 10 {
		t.Fatalf("only %d identifiers extracted", len(ids))
	}
	codec, _ := schemas.PatientFacts.Codec()
	for name, b := range bundles {
		fs, err := fhir.Facts(b, tenant(t))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(fs)
		ingesttest.ScanPHI(t, name+" facts (JSON)", js, ids)
		for i := range fs {
			avro, _ := fs[i].AppendAvro(codec, nil)
			ingesttest.ScanPHI(t, name+" facts (Avro)", avro, ids)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name, in string
		want     error
		msg      string
	}{
		{"syntax error", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"x"}},{"resource":{"code":{"coding":[{"code":"1",}]}}}]}`,
			fhir.ErrMalformed, "$.entry[1].resource.code.coding[0]"},
		{"truncated", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Pat`, fhir.ErrMalformed, "$.entry[0].resource"},
		{"wrong type", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"x","birthDate":19660803}}]}`,
			fhir.ErrMalformed, "$.entry[0].resource.birthDate"},
		{"empty", ``, fhir.ErrMalformed, "$"},
		{"not a bundle", `{"resourceType":"Patient","id":"x"}`, fhir.ErrNotBundle, "$.resourceType"},
		{"no patient", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o"}}]}`, fhir.ErrMissingPatient, "no Patient"},
		{"patient without id", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"Doe"}]}}]}`, fhir.ErrMissingPatient, "no Patient"},
		{"two patients", `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"a"}},{"resource":{"resourceType":"Patient","id":"b"}}]}`, fhir.ErrManyPatients, "$.entry[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := fhir.Facts([]byte(c.in), tenant(t))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %q does not name %q", err, c.msg)
			}
			if strings.Contains(err.Error(), "Doe") || strings.Contains(err.Error(), "19660803") {
				t.Fatalf("error quotes bundle content: %v", err)
			}
		})
	}
}

// TestOtherResourceShapes: resource types the ingest does not read may use
// element names with other shapes (Location.address is one object) without
// rejecting the bundle; the same shape error in a Patient is rejected.
func TestOtherResourceShapes(t *testing.T) {
	ok := `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location","address":{"postalCode":"12345"}}},` +
		`{"resource":{"resourceType":"Patient","id":"p","gender":"male"}}]}`
	fs, err := fhir.Facts([]byte(ok), tenant(t))
	if err != nil || len(fs) != 1 || *fs[0].Demographics.Gender != "Male" {
		t.Fatalf("facts %+v, %v", fs, err)
	}
	bad := strings.Replace(ok, `"Location"`, `"Patient","id":"p"`, 1)
	if _, err := fhir.Facts([]byte(bad), tenant(t)); !errors.Is(err, fhir.ErrMalformed) || !strings.Contains(err.Error(), "$.entry[0].resource.address") {
		t.Fatalf("err = %v", err)
	}
}

func TestPostalRegionSafeHarbor(t *testing.T) {
	in := `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","deceasedDateTime":"2025-02-03",` +
		`"address":[{"use":"work","postalCode":"10001"},{"use":"home","postalCode":"03601-1234"}]}}]}`
	fs, err := fhir.Facts([]byte(in), tenant(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := *fs[0].Demographics.PostalRegion; got != "000" {
		t.Errorf("postal region %q, want 000 (ZIP3 036 covers < 20,000 people)", got)
	}
	if len(fs) != 2 || fs[1].Vital == nil || fs[1].Vital.Status != "DECEASED" || *fs[1].Vital.DeathDate != 20122 {
		t.Errorf("vital status %+v", fs[1:])
	}
}

func FuzzFacts(f *testing.F) {
	for _, b := range ingesttest.Bundles(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location","address":{}}}]}`))
	id, _ := pseudonym.New("t", bytes.Repeat([]byte{1}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := fhir.Facts(b, id, fhir.WithIngestTime(ingestTime))
		if err != nil {
			for _, e := range []error{fhir.ErrMalformed, fhir.ErrNotBundle, fhir.ErrMissingPatient, fhir.ErrManyPatients} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("unclassified error %v", err)
		}
		codec, _ := schemas.PatientFacts.Codec()
		for i := range fs {
			if fs[i].PatientID == "" || fs[i].FactID == "" {
				t.Fatalf("fact %d without ids", i)
			}
			if _, err := fs[i].AppendAvro(codec, nil); err != nil {
				t.Fatalf("fact %d breaks the contract: %v", i, err)
			}
		}
	})
}
