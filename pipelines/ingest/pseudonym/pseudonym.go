package pseudonym

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
)

// MinKeySize is the shortest tenant key accepted, in bytes.
const MinKeySize = 32

// ErrOpen is returned when a sealed MRN does not authenticate.
var ErrOpen = errors.New("sealed MRN: authentication failed")

// Tenant pseudonymises and seals identifiers of one tenant. It is safe for
// concurrent use.
type Tenant struct {
	name     string
	pseudKey []byte
	nonceKey []byte
	aead     cipher.AEAD
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// New returns the Tenant for name under its secret key (at least
// MinKeySize bytes).
func New(name string, key []byte) (*Tenant, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("pseudonym: tenant %q: key of %d bytes is shorter than %d", name, len(key), MinKeySize)
	}
	block, err := aes.NewCipher(derive(key, "trialflow/mrn-seal/v1"))
	if err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	return &Tenant{name: name, pseudKey: derive(key, "trialflow/pseudonym/v1"),
		nonceKey: derive(key, "trialflow/mrn-nonce/v1"), aead: aead}, nil
}

// ParseHexKey decodes a hex tenant key, naming the tenant (not the key) in
// its error.
func ParseHexKey(tenant, s string) ([]byte, error) {
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("pseudonym: tenant %q: key is not hex", tenant)
	}
	return k, nil
}

// Name returns the tenant name.
func (t *Tenant) Name() string { return t.name }

// Pseudonym returns the hex HMAC-SHA256 pseudonym of a source patient id.
func (t *Tenant) Pseudonym(sourceID string) string {
	var buf [sha256.Size]byte
	m := hmac.New(sha256.New, t.pseudKey)
	m.Write([]byte("patient\x00"))
	m.Write([]byte(sourceID))
	return hex.EncodeToString(m.Sum(buf[:0]))
}

func (t *Tenant) mac(key []byte, parts ...string) []byte {
	var m hash.Hash = hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// SealMRN seals an MRN for the tenant (see the package doc).
func (t *Tenant) SealMRN(mrn string) []byte {
	nonce := t.mac(t.nonceKey, t.name, mrn)[:t.aead.NonceSize()]
	out := make([]byte, 0, len(nonce)+len(mrn)+t.aead.Overhead())
	out = append(out, nonce...)
	return t.aead.Seal(out, nonce, []byte(mrn), []byte(t.name))
}

// OpenMRN opens a sealed MRN: the practice's re-identification step.
func (t *Tenant) OpenMRN(sealed []byte) (string, error) {
	n := t.aead.NonceSize()
	if len(sealed) < n+t.aead.Overhead() {
		return "", ErrOpen
	}
	pt, err := t.aead.Open(nil, sealed[:n], sealed[n:], []byte(t.name))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}
