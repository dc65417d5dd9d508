// Package synth generates a synthetic but clinically realistic trialflow data
// set for demos, tests and benchmarks: oncology practices (tenants), patients
// with pseudonymous ids and the facts an EMR and a sequencing lab would report
// about them, trial definitions in CTML, and regulatory events that open and
// close trials and arms over time.
//
// Sites are real: the practices are trial sites (a patient's care site is
// their practice) and further sites are hospitals. Most trials recruit at a
// subset of the sites, approved site by site; now and then a site is
// suspended later, or one arm is put on hold at one site while it stays
// open at the others.
//
// Biomarker prevalence follows published figures closely enough to make
// matching selective: for example EGFR mutations in ~15% of non-small cell
// lung cancer, KRAS G12C in ~13%, ALK fusions in ~4%, PD-L1 TPS >= 50% in
// ~30%; BRAF V600E in ~50% of melanoma; HER2 positive in ~20% and ER positive
// in ~70% of breast cancer; MSI-H in ~15% and KRAS mutations in ~40% of
// colorectal cancer.
//
// Output is deterministic for a seed. No real patient data is involved; the
// generator never produces names, MRNs or addresses.
package synth
