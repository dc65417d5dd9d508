package schemas_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/schemas"
)

func sampleFacts() []*schemas.PatientFact {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	base := func(kind schemas.FactKind) *schemas.PatientFact {
		return &schemas.PatientFact{FactID: "6f1b1c1e-0000-4000-8000-000000000001", Tenant: "practice-a",
			PatientID: "9c2f", EventTime: at, IngestTime: at.Add(time.Minute), Source: "emr", Kind: kind}
	}
	d := base(schemas.KindDemographics)
	d.Demographics = &schemas.Demographics{BirthDate: schemas.Ptr(int32(-3650)), Gender: schemas.Ptr("Female"),
		PostalRegion: schemas.Ptr("021"), MRNSealed: []byte{1, 2, 3}}
	dx := base(schemas.KindDiagnosis)
	dx.Diagnosis = &schemas.Diagnosis{OncotreeCode: schemas.Ptr("LUAD"), OncotreePrimaryDiagnosis: "Lung Adenocarcinoma",
		Stage: schemas.Ptr("IV"), DiagnosisDate: schemas.Ptr(int32(19000))}
	v := base(schemas.KindVariant)
	v.Variant = &schemas.Variant{HugoSymbol: schemas.Ptr("EGFR"), VariantCategory: "MUTATION",
		ProteinChange: schemas.Ptr("p.L858R"), Exon: schemas.Ptr(int32(21)), AlleleFraction: schemas.Ptr(0.31)}
	m := base(schemas.KindTumorMarker)
	m.Marker = &schemas.TumorMarker{Marker: "PD_L1", LOINC: schemas.Ptr("83053-9"), Value: schemas.Ptr(55.0),
		Scoring: schemas.Ptr("TPS"), Clone: schemas.Ptr("22C3")}
	p := base(schemas.KindPerformance)
	p.Performance = &schemas.PerformanceStatus{Scale: "ECOG", Value: 1}
	vs := base(schemas.KindVital)
	vs.Vital = &schemas.VitalStatus{Status: "DECEASED", DeathDate: schemas.Ptr(int32(19500))}
	th := base(schemas.KindPriorTherapy)
	th.Therapy = &schemas.PriorTherapy{Line: 2, Regimen: schemas.Ptr("carboplatin/pemetrexed")}
	return []*schemas.PatientFact{d, dx, v, m, p, vs, th}
}

func TestPatientFactAvroRoundTrip(t *testing.T) {
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sampleFacts() {
		body, err := f.AppendAvro(codec, nil)
		if err != nil {
			t.Fatalf("%s: %v", f.Kind, err)
		}
		native, rest, err := codec.NativeFromBinary(body)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%s: decode: %v (rest %d)", f.Kind, err, len(rest))
		}
		got, err := schemas.PatientFactFromNative(native)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(f, got); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", f.Kind, diff)
		}
	}
}

func TestPatientFactFromNativeRejectsWrongTypes(t *testing.T) {
	if _, err := schemas.PatientFactFromNative("x"); err == nil {
		t.Fatal("want error")
	}
	if _, err := schemas.PatientFactFromNative(map[string]any{"event_time": "yesterday"}); err == nil {
		t.Fatal("want error for a non-time event_time")
	}
}
