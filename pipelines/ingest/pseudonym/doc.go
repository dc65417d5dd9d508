// Package pseudonym turns a source patient id into a stable per-tenant
// pseudonym and seals the MRN so that only the owning practice can read it.
//
// Pseudonym: hex(HMAC-SHA256(K_p, "patient\x00" || source id)), with
// K_p = HMAC-SHA256(tenant key, "trialflow/pseudonym/v1"). The same patient
// of the same tenant always gets the same pseudonym; different tenants get
// unrelated pseudonyms; without the tenant key the pseudonym cannot be
// reversed or recomputed.
//
// Sealed MRN: AES-256-GCM under K_s = HMAC-SHA256(tenant key,
// "trialflow/mrn-seal/v1") with a synthetic nonce (the first 12 bytes of
// HMAC-SHA256(K_n, tenant || MRN)) and the tenant as associated data, as
// nonce || ciphertext || tag. Deterministic sealing keeps facts re-delivered
// from the same bundle byte-identical (and golden files stable); it reveals
// only that two sealed MRNs are equal, which the pseudonym reveals anyway.
//
// Downstream need for the sealed MRN: a match in approved_patients names a
// pseudonym; the practice (which holds its own tenant key) opens
// demographics.mrn_sealed with Tenant.OpenMRN to find the patient in its own
// EMR and contact them. Nobody else, trialflow included, can.
package pseudonym
