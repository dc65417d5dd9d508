package match_test

import (
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/schemas"
)

func TestFold(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	fact := func(id string, dt time.Duration, kind schemas.FactKind) *schemas.PatientFact {
		return &schemas.PatientFact{FactID: id, Tenant: "t", PatientID: "p", EventTime: t0.Add(dt), Kind: kind}
	}
	demo := fact("1", 0, schemas.KindDemographics)
	demo.Demographics = &schemas.Demographics{BirthDate: schemas.Ptr(int32(-3000)), Gender: schemas.Ptr("Female")}
	dx := fact("2", time.Hour, schemas.KindDiagnosis)
	dx.Diagnosis = &schemas.Diagnosis{OncotreePrimaryDiagnosis: "Breast Invasive Ductal Carcinoma", DiseaseStatus: schemas.Ptr("Metastatic")}
	her2pos := fact("3", 2*time.Hour, schemas.KindTumorMarker)
	her2pos.Marker = &schemas.TumorMarker{Marker: "HER2", Result: schemas.Ptr("Positive")}
	her2neg := fact("4", 5*time.Hour, schemas.KindTumorMarker) // later revision wins
	her2neg.Marker = &schemas.TumorMarker{Marker: "HER2", Result: schemas.Ptr("Negative")}
	pdl1 := fact("5", 3*time.Hour, schemas.KindTumorMarker)
	pdl1.Marker = &schemas.TumorMarker{Marker: "PD_L1", LOINC: schemas.Ptr(match.PDL1LOINC), Value: schemas.Ptr(60.0), Scoring: schemas.Ptr("TPS"), Clone: schemas.Ptr("22C3")}
	v := fact("6", 4*time.Hour, schemas.KindVariant)
	v.Variant = &schemas.Variant{HugoSymbol: schemas.Ptr("PIK3CA"), VariantCategory: "MUTATION", ProteinChange: schemas.Ptr("p.H1047R"), Exon: schemas.Ptr(int32(21))}
	msi := fact("7", 4*time.Hour, schemas.KindTumorMarker)
	msi.Marker = &schemas.TumorMarker{Marker: "MSI", Result: schemas.Ptr("MSI-H")}
	line := fact("8", 4*time.Hour, schemas.KindPriorTherapy)
	line.Therapy = &schemas.PriorTherapy{Line: 2}
	ecog := fact("9", 4*time.Hour, schemas.KindPerformance)
	ecog.Performance = &schemas.PerformanceStatus{Scale: "ECOG", Value: 1}
	other := &schemas.PatientFact{FactID: "x", Tenant: "t", PatientID: "someone else", Kind: schemas.KindVital, Vital: &schemas.VitalStatus{Status: "DECEASED"}}

	p := match.Fold([]*schemas.PatientFact{her2neg, v, v, pdl1, demo, other, dx, her2pos, msi, line, ecog})
	if p.Tenant != "t" || p.PatientID != "p" || p.Gender != "Female" || *p.BirthDate != -3000 || p.Deceased {
		t.Errorf("demographics %+v", p)
	}
	if p.OncotreePrimaryDiagnosis != "Breast Invasive Ductal Carcinoma" || p.DiseaseStatus != "Metastatic" || p.HER2 != "Negative" {
		t.Errorf("diagnosis/markers %+v", p)
	}
	if p.PDL1TPS == nil || *p.PDL1TPS != 60 || p.PDL1Clone != "22C3" || p.PDL1CPS != nil {
		t.Errorf("pd-l1 %+v", p)
	}
	if !p.Sequenced || len(p.Variants) != 2 || *p.Variants[0].Exon != 21 || p.Variants[1].SignatureStatus != "Deficient (MMR-D / MSI-H)" {
		t.Errorf("variants %+v", p.Variants)
	}
	if *p.PriorLines != 2 || *p.ECOG != 1 || *p.ReportDate != match.Day(t0) {
		t.Errorf("lines/ecog/report %+v", p)
	}
}
