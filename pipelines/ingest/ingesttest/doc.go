// Package ingesttest holds test helpers of the ingest: the reference FHIR
// bundles, a fixed tenant and key ring, and the list of direct identifiers
// of the reference patients for PHI scans.
package ingesttest
