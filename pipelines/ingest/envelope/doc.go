// Package envelope seals and opens EMR bundles with envelope encryption and
// decompresses them under a hard size cap.
//
// A sealed object is
//
//	"TFE1" | version (1) | compression (1) | len(wrapped key) (2, big endian) | wrapped key | nonce (12) | AES-256-GCM ciphertext+tag
//
// Each object gets a fresh 256-bit data key. The data key is wrapped by a
// key-encryption key (KEK) held in a KMS and reached through
// gocloud.dev/secrets (localsecrets "base64key://" by default; awskms,
// gcpkms, azurekeyvault, hashivault in production). The KEK never leaves the
// KMS; only the key id travels in the claim check. The associated data of
// the GCM seal binds the header (so the compression byte and the wrapped key
// cannot be swapped), the key id, the object URI and the tenant: an object
// copied to another URI or claimed by another tenant does not open.
//
// Decompress reads gzip or zstd and stops with ErrTooLarge as soon as the
// output passes the caller's cap, so a decompression bomb costs at most
// cap+1 bytes of memory.
//
// The package is a pure-Go core: it never imports Beam. Errors are classified
// with errors.Is against the Err* sentinels; their messages never contain
// plaintext.
package envelope
