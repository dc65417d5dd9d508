package fhir_test

import (
	"testing"

	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/schemas"
)

// PD-L1, TMB and MSI observations (not in the reference bundles) become
// tumour-marker facts with their values and results.
func TestTumourMarkersPDL1TMBMSI(t *testing.T) {
	obs := func(id, loinc, value string) string {
		return `{"resource":{"resourceType":"Observation","id":"` + id + `","status":"final",` +
			`"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-05",` +
			`"code":{"coding":[{"system":"http://loinc.org","code":"` + loinc + `"}]},` + value + `}}`
	}
	bundle := `{"resourceType":"Bundle","type":"collection","entry":[` +
		`{"resource":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1960-02-03"}},` +
		obs("o1", "83053-9", `"valueQuantity":{"value":55,"unit":"%"}`) + `,` +
		obs("o2", "94076-7", `"valueQuantity":{"value":12.5,"unit":"/1e6{Base}"}`) + `,` +
		obs("o3", "81695-9", `"valueCodeableConcept":{"text":"MSI-H"}`) + `]}`
	facts, err := fhir.Facts([]byte(bundle), tenant(t), fhir.WithIngestTime(ingestTime))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*schemas.TumorMarker{}
	for _, f := range facts {
		if f.Kind == schemas.KindTumorMarker {
			got[f.Marker.Marker] = f.Marker
		}
	}
	if m := got["PD_L1"]; m == nil || m.Value == nil || *m.Value != 55 {
		t.Errorf("PD-L1: %+v", m)
	}
	if m := got["TMB"]; m == nil || m.Value == nil || *m.Value != 12.5 {
		t.Errorf("TMB: %+v", m)
	}
	if m := got["MSI"]; m == nil || m.Result == nil || *m.Result != "MSI-H" {
		t.Errorf("MSI: %+v", m)
	}
}
