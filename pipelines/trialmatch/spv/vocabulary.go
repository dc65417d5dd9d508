package spv

import (
	"strings"
)

// Term is one row of the vocabulary: a tumour marker or signature result as
// patient_facts carries it, and the CTML field and value that MatchMiner's
// transformers compare it with. A fact's result is looked up by marker (or
// signature), scoring method and reported result, ignoring case.
type Term struct {
	// Marker is the patient_facts marker (TumorMarker.marker: TMB, PD_L1,
	// HER2, ER, PR, MSI, MMR) or, for a SIGNATURE variant, "SIGNATURE:" and
	// the signature name (MMR, APOBEC, POLE, TOBACCO, TEMOZOLOMIDE, UVA).
	Marker string
	// Scoring is the scoring method or assay the row applies to (TPS, CPS,
	// IC, IHC, FISH); "" for any.
	Scoring string
	// Reported is the categorical result as reported; "" for a numeric
	// result (TumorMarker.value), which is carried as a number.
	Reported string
	// Field is the CTML field that reads the attribute; Value its value in
	// MatchMiner's vocabulary ("" for a numeric field: the number itself).
	Field, Value string
	// LOINC is the code of the test where mCODE / the FHIR genomics
	// reporting guide gives one (the codes ingest maps from); SNOMED the
	// SNOMED CT code of the reported answer where it has one.
	LOINC, SNOMED string
}

// Vocabulary is the table the fold translates marker and signature results
// with. MatchMiner's own vocabulary for mismatch repair is
// "Deficient (MMR-D / MSI-H)" and "Proficient (MMR-P / MSS)" (its CTML
// transformers map mmr_status / ms_status onto them, and its patient data
// carries MMR_STATUS with these values); its other signatures are "Yes" /
// "No"; receptor statuses are "Positive" / "Negative" (HER2 also
// "Equivocal"). A result not in the table is left out of the profile (the
// criterion stays unknown), never guessed.
var Vocabulary = []Term{
	// Microsatellite instability (LOINC 81695-9) and mismatch repair by IHC.
	{Marker: "MSI", Reported: "MSI-H", Field: "mmr_status", Value: MMRDeficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "MSI-High", Field: "mmr_status", Value: MMRDeficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "High", Field: "mmr_status", Value: MMRDeficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "Positive", Field: "mmr_status", Value: MMRDeficient, LOINC: "81695-9", SNOMED: "10828004"},
	{Marker: "MSI", Reported: "MSI-L", Field: "mmr_status", Value: MMRProficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "MSS", Field: "mmr_status", Value: MMRProficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "Stable", Field: "mmr_status", Value: MMRProficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "Negative", Field: "mmr_status", Value: MMRProficient, LOINC: "81695-9", SNOMED: "260385009"},
	{Marker: "MSI", Reported: "dMMR", Field: "mmr_status", Value: MMRDeficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "pMMR", Field: "mmr_status", Value: MMRProficient, LOINC: "81695-9"},
	{Marker: "MSI", Reported: "Equivocal", Field: "mmr_status", Value: MMRIndeterminate, LOINC: "81695-9", SNOMED: "42425007"},
	{Marker: "MMR", Reported: "dMMR", Field: "mmr_status", Value: MMRDeficient},
	{Marker: "MMR", Reported: "MMR-D", Field: "mmr_status", Value: MMRDeficient},
	{Marker: "MMR", Reported: "Deficient", Field: "mmr_status", Value: MMRDeficient},
	{Marker: "MMR", Reported: "MSI-H", Field: "mmr_status", Value: MMRDeficient},
	{Marker: "MMR", Reported: "pMMR", Field: "mmr_status", Value: MMRProficient},
	{Marker: "MMR", Reported: "MMR-P", Field: "mmr_status", Value: MMRProficient},
	{Marker: "MMR", Reported: "Proficient", Field: "mmr_status", Value: MMRProficient},
	{Marker: "MMR", Reported: "MSS", Field: "mmr_status", Value: MMRProficient},
	{Marker: "MMR", Reported: "Equivocal", Field: "mmr_status", Value: MMRIndeterminate, SNOMED: "42425007"},
	{Marker: "SIGNATURE:MMR", Reported: MMRDeficient, Field: "mmr_status", Value: MMRDeficient},
	{Marker: "SIGNATURE:MMR", Reported: MMRProficient, Field: "mmr_status", Value: MMRProficient},
	{Marker: "SIGNATURE:MMR", Reported: "MSI-H", Field: "mmr_status", Value: MMRDeficient},
	{Marker: "SIGNATURE:MMR", Reported: "MSS", Field: "mmr_status", Value: MMRProficient},
	{Marker: "SIGNATURE:MMR", Reported: "Yes", Field: "mmr_status", Value: MMRDeficient},
	{Marker: "SIGNATURE:MMR", Reported: "No", Field: "mmr_status", Value: MMRProficient},
	{Marker: "SIGNATURE:MMR", Reported: "Cannot assess", Field: "mmr_status", Value: "Cannot assess"},
	{Marker: "SIGNATURE:MMR", Reported: MMRIndeterminate, Field: "mmr_status", Value: MMRIndeterminate},

	// Tumour mutational burden (LOINC 94076-7, mutations per megabase).
	{Marker: "TMB", Field: "tmb_numerical", LOINC: "94076-7"},

	// PD-L1 by immune stain (LOINC 83053-9), one score per scoring method,
	// each with the clone of its own assay (our CTML extensions).
	{Marker: "PD_L1", Scoring: "TPS", Field: "pdl1_tps_numerical", LOINC: "83053-9"},
	{Marker: "PD_L1", Scoring: "CPS", Field: "pdl1_cps_numerical", LOINC: "83053-9"},
	{Marker: "PD_L1", Scoring: "IC", Field: "pdl1_ic_numerical", LOINC: "83053-9"},

	// HER2: an overall interpretation (48676-1), IHC (85319-2, 18474-7) or
	// in situ hybridisation (85318-4).
	{Marker: "HER2", Reported: "Positive", Field: "her2_status", Value: "Positive", LOINC: "48676-1", SNOMED: "10828004"},
	{Marker: "HER2", Reported: "Negative", Field: "her2_status", Value: "Negative", LOINC: "48676-1", SNOMED: "260385009"},
	{Marker: "HER2", Reported: "Equivocal", Field: "her2_status", Value: "Equivocal", LOINC: "48676-1", SNOMED: "42425007"},
	{Marker: "HER2", Scoring: "IHC", Reported: "3+", Field: "her2_status", Value: "Positive", LOINC: "85319-2"},
	{Marker: "HER2", Scoring: "IHC", Reported: "2+", Field: "her2_status", Value: "Equivocal", LOINC: "85319-2"},
	{Marker: "HER2", Scoring: "IHC", Reported: "1+", Field: "her2_status", Value: "Negative", LOINC: "85319-2"},
	{Marker: "HER2", Scoring: "IHC", Reported: "0", Field: "her2_status", Value: "Negative", LOINC: "85319-2"},
	{Marker: "HER2", Scoring: "FISH", Reported: "Amplified", Field: "her2_status", Value: "Positive", LOINC: "85318-4"},
	{Marker: "HER2", Scoring: "FISH", Reported: "Not amplified", Field: "her2_status", Value: "Negative", LOINC: "85318-4"},

	// Hormone receptors by immune stain (ER 85337-4 / 16112-5, PR 85339-0 /
	// 16113-3); a numeric result is the percent of stained nuclei, positive
	// from 1 % (ASCO/CAP).
	{Marker: "ER", Reported: "Positive", Field: "er_status", Value: "Positive", LOINC: "85337-4", SNOMED: "10828004"},
	{Marker: "ER", Reported: "Low Positive", Field: "er_status", Value: "Positive", LOINC: "85337-4"},
	{Marker: "ER", Reported: "Negative", Field: "er_status", Value: "Negative", LOINC: "85337-4", SNOMED: "260385009"},
	{Marker: "PR", Reported: "Positive", Field: "pr_status", Value: "Positive", LOINC: "85339-0", SNOMED: "10828004"},
	{Marker: "PR", Reported: "Low Positive", Field: "pr_status", Value: "Positive", LOINC: "85339-0"},
	{Marker: "PR", Reported: "Negative", Field: "pr_status", Value: "Negative", LOINC: "85339-0", SNOMED: "260385009"},

	// Mutational signatures other than MMR: MatchMiner's Yes / No.
	{Marker: "SIGNATURE:APOBEC", Reported: "Yes", Field: "apobec_signature", Value: "Yes"},
	{Marker: "SIGNATURE:APOBEC", Reported: "No", Field: "apobec_signature", Value: "No"},
	{Marker: "SIGNATURE:POLE", Reported: "Yes", Field: "pole_signature", Value: "Yes"},
	{Marker: "SIGNATURE:POLE", Reported: "No", Field: "pole_signature", Value: "No"},
	{Marker: "SIGNATURE:TOBACCO", Reported: "Yes", Field: "tobacco_signature", Value: "Yes"},
	{Marker: "SIGNATURE:TOBACCO", Reported: "No", Field: "tobacco_signature", Value: "No"},
	{Marker: "SIGNATURE:TEMOZOLOMIDE", Reported: "Yes", Field: "temozolomide_signature", Value: "Yes"},
	{Marker: "SIGNATURE:TEMOZOLOMIDE", Reported: "No", Field: "temozolomide_signature", Value: "No"},
	{Marker: "SIGNATURE:UVA", Reported: "Yes", Field: "uva_signature", Value: "Yes"},
	{Marker: "SIGNATURE:UVA", Reported: "No", Field: "uva_signature", Value: "No"},
}

// MatchMiner's mismatch-repair statuses.
const (
	MMRDeficient     = "Deficient (MMR-D / MSI-H)"
	MMRProficient    = "Proficient (MMR-P / MSS)"
	MMRIndeterminate = "Indeterminate (see note)"
)

type vocabKey struct{ marker, scoring, reported string }

var vocabIndex = func() map[vocabKey]Term {
	m := make(map[vocabKey]Term, len(Vocabulary))
	for _, t := range Vocabulary {
		m[vocabKey{strings.ToUpper(t.Marker), strings.ToUpper(t.Scoring), strings.ToUpper(t.Reported)}] = t
	}
	return m
}()

// Translate returns the vocabulary row for a categorical result of marker
// (or "SIGNATURE:" + name) under scoring: a row for that scoring method
// first, else one for any method.
func Translate(marker, scoring, reported string) (Term, bool) {
	marker, scoring, reported = strings.ToUpper(marker), strings.ToUpper(scoring), strings.ToUpper(strings.TrimSpace(reported))
	if t, ok := vocabIndex[vocabKey{marker, scoring, reported}]; ok {
		return t, true
	}
	t, ok := vocabIndex[vocabKey{marker, "", reported}]
	return t, ok
}
