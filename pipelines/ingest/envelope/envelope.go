package envelope

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"gocloud.dev/secrets"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrAuthFailed: the GCM tag (or the data-key unwrap) did not verify:
	// the object was tampered with, or is opened under the wrong URI,
	// tenant or key id.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrUnknownKey: no key-encryption key is configured under the key id.
	ErrUnknownKey = errors.New("unknown key id")
	// ErrFormat: the object is not a sealed envelope (bad magic, version,
	// lengths or truncation).
	ErrFormat = errors.New("not a sealed envelope")
	// ErrTooLarge: decompressed output passed the cap.
	ErrTooLarge = errors.New("decompressed size exceeds limit")
	// ErrCompression: the compressed stream is corrupt or uses an unknown
	// compression.
	ErrCompression = errors.New("corrupt compressed stream")
)

// Compression names how the plaintext inside an envelope is compressed.
type Compression string

// Supported compressions.
const (
	None Compression = "none"
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

func (c Compression) byte() (byte, error) {
	switch c {
	case None, "":
		return 0, nil
	case Gzip:
		return 1, nil
	case Zstd:
		return 2, nil
	}
	return 0, fmt.Errorf("envelope: compression %q: %w", string(c), ErrCompression)
}

func compressionOf(b byte) (Compression, error) {
	switch b {
	case 0:
		return None, nil
	case 1:
		return Gzip, nil
	case 2:
		return Zstd, nil
	}
	return "", fmt.Errorf("envelope: compression byte %d: %w", b, ErrFormat)
}

const (
	magic      = "TFE1"
	version    = 1
	nonceSize  = 12
	maxWrapped = 4096 // KMS-wrapped 32-byte keys are a few hundred bytes at most
	fixedHead  = len(magic) + 1 + 1 + 2
)

// Keyring finds the key-encryption key named by a key id. It is the one
// thing Open and Seal need from a KMS.
type Keyring interface {
	Keeper(ctx context.Context, keyID string) (*secrets.Keeper, error)
}

// Keepers is a Keyring over already opened keepers, by key id.
type Keepers map[string]*secrets.Keeper

var _ Keyring = Keepers(nil)

// Keeper returns the keeper under keyID or an error wrapping ErrUnknownKey.
func (k Keepers) Keeper(_ context.Context, keyID string) (*secrets.Keeper, error) {
	if kp, ok := k[keyID]; ok {
		return kp, nil
	}
	return nil, fmt.Errorf("envelope: key id %q: %w", keyID, ErrUnknownKey)
}

// OpenKeepers opens one keeper per key id from gocloud.dev/secrets URLs
// (e.g. "base64key://..." or "awskms://..."). The caller must import the
// driver packages it needs and Close the keepers.
func OpenKeepers(ctx context.Context, urls map[string]string) (Keepers, error) {
	ks := Keepers{}
	for id, u := range urls {
		kp, err := secrets.OpenKeeper(ctx, u)
		if err != nil {
			for _, k := range ks {
				k.Close()
			}
			// The URL may hold key material (base64key://): name the id only.
			return nil, fmt.Errorf("envelope: open keeper for key id %q: %w", id, errors.Unwrap(err))
		}
		ks[id] = kp
	}
	return ks, nil
}

// Binding is what a sealed object is bound to: opening it under any other
// binding fails authentication.
type Binding struct {
	URI    string // object URI, as the claim check names it
	Tenant string
	KeyID  string
}

func (b Binding) appendAAD(dst, header []byte) []byte {
	dst = append(dst, header...)
	for _, s := range []string{b.KeyID, b.URI, b.Tenant} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// Seal encrypts plaintext (already compressed as comp says) under a fresh
// data key wrapped by the KEK named in b.KeyID, and returns the object bytes.
func Seal(ctx context.Context, keys Keyring, b Binding, comp Compression, plaintext []byte) ([]byte, error) {
	cb, err := comp.byte()
	if err != nil {
		return nil, err
	}
	kek, err := keys.Keeper(ctx, b.KeyID)
	if err != nil {
		return nil, err
	}
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("envelope: data key: %w", err)
	}
	wrapped, err := kek.Encrypt(ctx, dek)
	if err != nil {
		return nil, fmt.Errorf("envelope: wrap data key with key id %q: %w", b.KeyID, err)
	}
	if len(wrapped) > maxWrapped {
		return nil, fmt.Errorf("envelope: wrapped key of %d bytes exceeds %d: %w", len(wrapped), maxWrapped, ErrFormat)
	}
	out := make([]byte, 0, fixedHead+len(wrapped)+nonceSize+len(plaintext)+16)
	out = append(out, magic...)
	out = append(out, version, cb)
	out = binary.BigEndian.AppendUint16(out, uint16(len(wrapped)))
	out = append(out, wrapped...)
	header := out
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("envelope: nonce: %w", err)
	}
	out = append(out, nonce...)
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	aad := b.appendAAD(nil, header)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return aead, nil
}

// Header is the parsed clear header of a sealed object.
type Header struct {
	Compression Compression
	Wrapped     []byte // the KMS-wrapped data key (aliases the object)
	raw         []byte
	body        []byte // nonce | ciphertext+tag
}

// ParseHeader splits a sealed object into its header and body without any
// key; it fails with ErrFormat on anything that is not a whole envelope.
func ParseHeader(obj []byte) (Header, error) {
	if len(obj) < fixedHead {
		return Header{}, fmt.Errorf("envelope: %d bytes is shorter than the header: %w", len(obj), ErrFormat)
	}
	if string(obj[:4]) != magic {
		return Header{}, fmt.Errorf("envelope: bad magic: %w", ErrFormat)
	}
	if obj[4] != version {
		return Header{}, fmt.Errorf("envelope: version %d unsupported: %w", obj[4], ErrFormat)
	}
	comp, err := compressionOf(obj[5])
	if err != nil {
		return Header{}, err
	}
	n := int(binary.BigEndian.Uint16(obj[6:8]))
	if n == 0 || n > maxWrapped {
		return Header{}, fmt.Errorf("envelope: wrapped key length %d out of range: %w", n, ErrFormat)
	}
	end := fixedHead + n
	if len(obj) < end+nonceSize+16 {
		return Header{}, fmt.Errorf("envelope: truncated at %d of at least %d bytes: %w", len(obj), end+nonceSize+16, ErrFormat)
	}
	return Header{Compression: comp, Wrapped: obj[fixedHead:end], raw: obj[:end], body: obj[end:]}, nil
}

// Open authenticates and decrypts a sealed object bound to b, returning the
// (still compressed) plaintext and its compression. The plaintext is
// appended to dst, which may be nil.
func Open(ctx context.Context, keys Keyring, b Binding, obj, dst []byte) ([]byte, Compression, error) {
	h, err := ParseHeader(obj)
	if err != nil {
		return nil, "", err
	}
	kek, err := keys.Keeper(ctx, b.KeyID)
	if err != nil {
		return nil, "", err
	}
	dek, err := kek.Decrypt(ctx, h.Wrapped)
	if err != nil || len(dek) != 32 {
		// A wrapped key that does not unwrap under this KEK is tampering
		// or a wrong key id; either way the object is not authentic.
		return nil, "", fmt.Errorf("envelope: unwrap data key with key id %q: %w", b.KeyID, ErrAuthFailed)
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, "", err
	}
	var aadBuf [512]byte
	aad := b.appendAAD(aadBuf[:0], h.raw)
	pt, err := aead.Open(dst, h.body[:nonceSize], h.body[nonceSize:], aad)
	if err != nil {
		return nil, "", fmt.Errorf("envelope: open %s: %w", b.URI, ErrAuthFailed)
	}
	return pt, h.Compression, nil
}
