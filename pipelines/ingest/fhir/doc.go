// Package fhir turns a FHIR R4 / mCODE bundle into trialflow patient facts
// (schemas.PatientFact), pseudonymising the patient on the way.
//
// # Decoder
//
// A narrow decoder of our own: encoding/json into small structs that name
// only the elements the ingest reads (see decode.go). Unread elements,
// among them every name, telecom and free-text narrative, are skipped by the
// scanner and never become Go strings. A full FHIR model library was not
// chosen: none is pinned in go.mod, the generated R4 models decode every
// element of every resource (names and narrative included), and the narrow
// decoder measured within a small factor of plain encoding/json into
// map[string]any on the same bundles while allocating far less (see
// bench/RESULTS-ingest.md, BenchmarkIngest/parse-*).
//
// Resource types the ingest does not read may reuse element names with
// other shapes; if the one-pass decode meets such a type error it falls back
// to decoding entry by entry and ignores the unread types, so only a shape
// error in a Patient, Condition, Observation or DiagnosticReport rejects the
// bundle. Errors name the JSON path ($.entry[3].resource.code.coding[0]).
//
// # Facts
//
//   - DEMOGRAPHICS from the one Patient: birth date, gender, postal region
//     (first three characters of the home postal code; the 17 ZIP3 areas
//     under 20,000 people become "000" as HIPAA Safe Harbor requires) and
//     the MRN (identifier of type MR) sealed for the tenant. Names,
//     addresses, telecoms and other identifiers are dropped.
//   - VITAL_STATUS when deceased[x] is given.
//   - DIAGNOSIS per primary cancer condition (mCODE primary-cancer-condition
//     profile, or a SNOMED / ICD-10 code in the OncoTree map): OncoTree from
//     SNOMED CT disorder codes or ICD-10 categories, refined by ICD-O-3 /
//     SNOMED morphology (codes.go); stage from the condition's stage summary
//     or a TNM stage group observation (AJCC codes c3A -> IIIA); disease
//     status Metastatic when a secondary cancer condition exists, else the
//     latest mCODE disease status (97509-4).
//   - TUMOR_MARKER per PD-L1 (83053-9), HER2, ER, PR, TMB (94076-7) or MSI
//     (81695-9) observation with a value or result.
//   - VARIANT per 69548-6 observation with a gene (48018-6): c.HGVS
//     (48004-6), p.HGVS (48005-3, three-letter codes rewritten to one
//     letter), allele fraction (81258-6), MAF classification from the
//     Sequence Ontology consequence.
//   - PERFORMANCE_STATUS per ECOG (89247-1) or Karnofsky (89243-0).
//
// Event time is the resource's clinical time (effective, onset, recorded),
// else the issuing DiagnosticReport's time, else the bundle timestamp, else
// the ingest time. All facts of a bundle belong to its one Patient: subject
// references are not followed, since bundles from EMR exports often carry
// references to the source server's ids.
package fhir
