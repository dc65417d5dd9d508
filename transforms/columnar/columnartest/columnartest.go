// Package columnartest generates realistic patient_facts records for tests
// and benchmarks of the columnar decoder: a mix of fact kinds with the
// strings, codes and numbers ingest produces.
package columnartest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
)

// MatchingColumns are the patient_facts paths the matching core reads, in
// schema order (the order of the decoder's columns).
var MatchingColumns = []string{
	"tenant", "patient_id", "event_time", "kind",
	"demographics.birth_date", "demographics.gender",
	"diagnosis.oncotree_code", "diagnosis.oncotree_primary_diagnosis", "diagnosis.stage", "diagnosis.disease_status",
	"variant.hugo_symbol", "variant.variant_category", "variant.protein_change", "variant.cdna_change",
	"variant.variant_classification", "variant.cnv_call", "variant.left_partner", "variant.right_partner",
	"variant.signature", "variant.signature_status", "variant.wildtype",
	"marker.marker", "marker.value", "marker.result", "marker.scoring",
	"performance.scale", "performance.value",
	"vital.status",
}

var (
	genes     = []string{"EGFR", "KRAS", "BRAF", "ALK", "ROS1", "ERBB2", "TP53", "PIK3CA", "MET", "RET", "NTRK1", "BRCA1", "BRCA2", "IDH1", "FGFR2"}
	proteins  = []string{"p.L858R", "p.G12C", "p.V600E", "p.E746_A750del", "p.T790M", "p.G12D", "p.R175H", "p.H1047R", "p.Q61K"}
	oncotree  = [][2]string{{"LUAD", "Lung Adenocarcinoma"}, {"COAD", "Colon Adenocarcinoma"}, {"BRCA", "Invasive Breast Carcinoma"}, {"MEL", "Melanoma"}, {"PAAD", "Pancreatic Adenocarcinoma"}, {"GBM", "Glioblastoma"}}
	stages    = []string{"I", "IIA", "IIIA", "IIIB", "IV"}
	statuses  = []string{"Metastatic", "Advanced", "Progressing", "Stable"}
	classes   = []string{"Missense_Mutation", "In_Frame_Del", "Nonsense_Mutation", "Frame_Shift_Del", "Splice_Site"}
	cnvCalls  = []string{"High Amplification", "Gain", "Heterozygous deletion", "Homozygous deletion"}
	sigs      = []string{"MMR", "APOBEC", "UVA", "Tobacco", "POLE", "Temozolomide"}
	markers   = []string{"PD_L1", "HER2", "ER", "PR", "TMB", "MSI", "MMR", "OTHER"}
	results   = []string{"Positive", "Negative", "Equivocal", "MSI-H", "MSS", "dMMR", "pMMR"}
	regimens  = []string{"carboplatin/pemetrexed", "osimertinib", "pembrolizumab", "FOLFOX", "docetaxel"}
	genders   = []string{"Male", "Female", "Other", "Unknown"}
	kindsPick = []string{ // weights by repetition
		"VARIANT", "VARIANT", "VARIANT", "VARIANT", "VARIANT", "VARIANT", "VARIANT", "VARIANT",
		"DIAGNOSIS", "DIAGNOSIS", "DIAGNOSIS",
		"TUMOR_MARKER", "TUMOR_MARKER", "TUMOR_MARKER", "TUMOR_MARKER",
		"PERFORMANCE_STATUS", "PERFORMANCE_STATUS",
		"DEMOGRAPHICS", "VITAL_STATUS", "PRIOR_THERAPY",
	}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func opt(r *rand.Rand, pNull float64, v any) any {
	if r.Float64() < pNull {
		return nil
	}
	switch x := v.(type) {
	case string:
		return map[string]any{"string": x}
	case float64:
		return map[string]any{"double": x}
	case int32:
		return map[string]any{"int": x}
	}
	panic(fmt.Sprintf("opt %T", v))
}

func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0x3fff|0x8000, b&0xffffffffffff)
}

// Fact returns one random patient fact as a goavro native value.
func Fact(r *rand.Rand) map[string]any {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kind := pick(r, kindsPick)
	f := map[string]any{
		"fact_id":      uuid(r),
		"tenant":       fmt.Sprintf("practice-%02d", r.IntN(20)),
		"patient_id":   fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()),
		"event_time":   base.Add(-time.Duration(r.Int64N(int64(5 * 365 * 24 * time.Hour)))).Truncate(time.Millisecond),
		"ingest_time":  base.Add(time.Duration(r.Int64N(int64(time.Hour)))).Truncate(time.Millisecond),
		"source":       pick(r, []string{"epic-emr", "foundation-medicine", "caris", "cerner-emr"}),
		"kind":         kind,
		"demographics": nil, "diagnosis": nil, "variant": nil, "marker": nil,
		"performance": nil, "vital": nil, "therapy": nil,
	}
	day := func() time.Time {
		return time.Date(1940+r.IntN(60), 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365))
	}
	switch kind {
	case "DEMOGRAPHICS":
		f["demographics"] = map[string]any{"org.trialflow.facts.Demographics": map[string]any{
			"birth_date":    map[string]any{"int.date": day()},
			"gender":        opt(r, 0.05, pick(r, genders)),
			"postal_region": opt(r, 0.2, fmt.Sprintf("%03d", r.IntN(1000))),
			"mrn_sealed":    map[string]any{"bytes": randBytes(r, 44)},
		}}
	case "DIAGNOSIS":
		ot := pick(r, oncotree)
		f["diagnosis"] = map[string]any{"org.trialflow.facts.Diagnosis": map[string]any{
			"oncotree_code":              opt(r, 0.05, ot[0]),
			"oncotree_primary_diagnosis": ot[1],
			"icdo3_morphology":           opt(r, 0.5, "8140/3"),
			"snomed_code":                opt(r, 0.5, "254637007"),
			"diagnosis_date":             map[string]any{"int.date": day()},
			"stage":                      opt(r, 0.2, pick(r, stages)),
			"disease_status":             opt(r, 0.3, pick(r, statuses)),
		}}
	case "VARIANT":
		cat := pick(r, []string{"MUTATION", "MUTATION", "MUTATION", "CNV", "SV", "SIGNATURE"})
		v := map[string]any{
			"hugo_symbol": opt(r, 0, pick(r, genes)), "variant_category": cat,
			"protein_change": nil, "cdna_change": nil, "variant_classification": nil, "exon": nil,
			"cnv_call": nil, "left_partner": nil, "right_partner": nil, "sv_comment": nil,
			"allele_fraction": nil, "signature": nil, "signature_status": nil, "wildtype": r.IntN(20) == 0,
		}
		switch cat {
		case "MUTATION":
			v["protein_change"] = opt(r, 0.05, pick(r, proteins))
			v["cdna_change"] = opt(r, 0.1, fmt.Sprintf("c.%d%c>%c", 100+r.IntN(3000), "ACGT"[r.IntN(4)], "ACGT"[r.IntN(4)]))
			v["variant_classification"] = opt(r, 0.05, pick(r, classes))
			v["exon"] = opt(r, 0.3, int32(1+r.IntN(30)))
			v["allele_fraction"] = opt(r, 0.2, r.Float64())
		case "CNV":
			v["cnv_call"] = opt(r, 0, pick(r, cnvCalls))
		case "SV":
			v["left_partner"] = opt(r, 0, pick(r, genes))
			v["right_partner"] = opt(r, 0, pick(r, genes))
			v["sv_comment"] = opt(r, 0.7, "fusion detected by RNA-seq")
		case "SIGNATURE":
			v["hugo_symbol"] = nil
			v["signature"] = opt(r, 0, pick(r, sigs))
			v["signature_status"] = opt(r, 0, pick(r, []string{"Yes", "No", "Cannot assess"}))
		}
		f["variant"] = map[string]any{"org.trialflow.facts.Variant": v}
	case "TUMOR_MARKER":
		f["marker"] = map[string]any{"org.trialflow.facts.TumorMarker": map[string]any{
			"marker":  pick(r, markers),
			"loinc":   opt(r, 0.3, "83053-9"),
			"value":   opt(r, 0.3, float64(r.IntN(1000))/10),
			"result":  opt(r, 0.2, pick(r, results)),
			"scoring": opt(r, 0.4, pick(r, []string{"TPS", "CPS", "IHC", "FISH"})),
			"clone":   opt(r, 0.6, pick(r, []string{"22C3", "SP263", "SP142"})),
		}}
	case "PERFORMANCE_STATUS":
		f["performance"] = map[string]any{"org.trialflow.facts.PerformanceStatus": map[string]any{
			"scale": "ECOG", "value": int32(r.IntN(5)),
		}}
	case "VITAL_STATUS":
		dead := r.IntN(5) == 0
		vs := map[string]any{"status": "ALIVE", "death_date": nil}
		if dead {
			vs["status"], vs["death_date"] = "DECEASED", map[string]any{"int.date": day()}
		}
		f["vital"] = map[string]any{"org.trialflow.facts.VitalStatus": vs}
	case "PRIOR_THERAPY":
		f["therapy"] = map[string]any{"org.trialflow.facts.PriorTherapy": map[string]any{
			"line": int32(1 + r.IntN(4)), "regimen": opt(r, 0.1, pick(r, regimens)), "end_date": nil,
		}}
	}
	return f
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Framed returns n random patient facts, Avro-encoded with the patient_facts
// schema and Confluent-framed with schema id.
func Framed(seed uint64, n int, id uint32) ([][]byte, error) {
	codec, err := goavro.NewCodec(schemas.PatientFacts.Schema())
	if err != nil {
		return nil, fmt.Errorf("columnartest: patient_facts codec: %w", err)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([][]byte, n)
	for i := range out {
		msg := wire.AppendHeader(nil, id)
		if out[i], err = codec.BinaryFromNative(msg, Fact(r)); err != nil {
			return nil, fmt.Errorf("columnartest: encode fact %d: %w", i, err)
		}
	}
	return out, nil
}
