// Package criteria parses clinical-trial eligibility criteria written in
// CTML, the trial markup of MatchMiner (Dana-Farber), into a typed tree.
//
// A Trial has steps, each step arms, each arm dose levels; each of the three
// levels may carry its own match tree and (arms, dose levels) a suspended
// flag. A match tree is an and/or of leaves. A "match" list is an implicit
// AND of its items, and several keys in one match object are AND-ed, as
// MatchMiner reads them. JSON and YAML are both accepted.
//
// Clinical leaves (fields AND-ed): oncotree_primary_diagnosis (expanded to
// every subtype through MatchMiner's OncoTree mapping, including the
// pseudo-nodes _SOLID_ and _LIQUID_; "!" excludes; names compare exactly,
// and a name not in the mapping is an error), age_numerical and
// tmb_numerical comparisons (">=18", "<40", "==40"), gender, er_status,
// pr_status, her2_status, disease_status.
//
// Genomic leaves: hugo_symbol ("None" means no gene, as in signature
// clauses), protein_change, wildcard_protein_change (a prefix followed by
// exactly one amino acid, as MatchMiner's regex), variant_category
// (Mutation, Copy Number Variation, Structural Variation, Any Variation),
// variant_classification, cnv_call, exon, wildtype,
// fusion_partner_hugo_symbol (also "any_gene" and "intergenic"),
// mmr_status / ms_status, and the apobec, pole, tobacco, temozolomide and
// uva signatures. A "!" on any genomic value makes the whole leaf an
// exclusion with MatchMiner's meaning: the patient has no alteration that
// matches the other fields.
//
// Our extensions, not MatchMiner CTML, in clinical leaves:
//
//   - prior_lines_numerical: completed lines of systemic therapy (">=1").
//   - pdl1_tps_numerical / pdl1_cps_numerical / pdl1_ic_numerical: PD-L1
//     thresholds (LOINC 83053-9 results scored TPS, CPS or IC), optionally
//     pdl1_clone ("22C3"), compared with the clone of that score's assay.
//   - ecog: an ECOG range "0-2" or a comparison "<=1".
//   - region: site or region eligibility, the first three digits of the
//     postal code (a string or a list).
//
// Numeric criteria are range checked: ages 0-130 years, PD-L1 TPS, CPS and
// IC 0-100, ECOG 0-5, TMB and prior lines >= 0. A threshold outside its
// range, or a comparison that does not parse ("=>18"), is an error that
// quotes the value as written.
//
// Errors: an unknown field or a malformed value is an *Error naming the
// trial (protocol_no), the path inside the document and the field; it is
// never ignored. Only descriptive metadata (titles, descriptions, internal
// ids, keys starting with "_", display_name) is accepted without meaning.
package criteria
