package bundle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
	"github.com/trialflow/trialflow/schemas"
)

// Ingest errors; match them with errors.Is (the envelope and fhir
// sentinels pass through too).
var (
	ErrChecksum         = errors.New("checksum mismatch")
	ErrUnknownTenant    = errors.New("unknown tenant")
	ErrCompressionClaim = errors.New("compression differs from the sealed header")
)

// Default limits.
const (
	DefaultMaxObject = 64 << 20  // sealed object
	DefaultMaxBundle = 256 << 20 // decompressed FHIR JSON
)

// Tenants finds a tenant's pseudonymiser by name.
type Tenants interface {
	Tenant(name string) (*pseudonym.Tenant, error)
}

// TenantMap is Tenants over a map.
type TenantMap map[string]*pseudonym.Tenant

var _ Tenants = TenantMap(nil)

// Tenant implements Tenants.
func (m TenantMap) Tenant(name string) (*pseudonym.Tenant, error) {
	if t, ok := m[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("bundle: tenant %q: %w", name, ErrUnknownTenant)
}

// TenantsFromHex builds a TenantMap from hex keys by tenant name.
func TenantsFromHex(keys map[string]string) (TenantMap, error) {
	m := TenantMap{}
	for name, hx := range keys {
		k, err := pseudonym.ParseHexKey(name, hx)
		if err != nil {
			return nil, err
		}
		t, err := pseudonym.New(name, k)
		if err != nil {
			return nil, err
		}
		m[name] = t
	}
	return m, nil
}

// Option configures an Ingester.
type Option interface{ apply(*Ingester) }

type optFunc func(*Ingester)

func (f optFunc) apply(in *Ingester) { f(in) }

// WithMaxObject caps the sealed object size (default DefaultMaxObject).
func WithMaxObject(n int64) Option { return optFunc(func(in *Ingester) { in.maxObject = n }) }

// WithMaxBundle caps the decompressed bundle size (default DefaultMaxBundle).
func WithMaxBundle(n int64) Option { return optFunc(func(in *Ingester) { in.maxBundle = n }) }

// WithFHIROptions passes options to fhir.Facts (source, ingest time).
func WithFHIROptions(opts ...fhir.Option) Option {
	return optFunc(func(in *Ingester) { in.fhirOpts = append(in.fhirOpts, opts...) })
}

// Ingester turns claim checks into patient facts. It is safe for
// concurrent use.
type Ingester struct {
	store     Store
	keys      envelope.Keyring
	tenants   Tenants
	maxObject int64
	maxBundle int64
	fhirOpts  []fhir.Option
	dec       envelope.Decompressor
	bufs      sync.Pool // *[]byte scratch for plaintext and decompressed JSON
}

// NewIngester returns an Ingester reading objects from store, unwrapping
// data keys with keys and pseudonymising with tenants.
func NewIngester(store Store, keys envelope.Keyring, tenants Tenants, opts ...Option) *Ingester {
	in := &Ingester{store: store, keys: keys, tenants: tenants, maxObject: DefaultMaxObject, maxBundle: DefaultMaxBundle}
	for _, o := range opts {
		o.apply(in)
	}
	return in
}

// Ingest fetches, verifies, opens, decompresses and parses the bundle the
// claim check names. Errors name the stage and wrap a sentinel of this
// package, envelope or fhir; I/O errors other than ErrNotFound are
// transient and worth a retry (see Permanent).
func (in *Ingester) Ingest(ctx context.Context, cc ClaimCheck) ([]schemas.PatientFact, error) {
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	if cc.Size > in.maxObject {
		return nil, fmt.Errorf("bundle: %s: sealed object of %d bytes exceeds %d: %w", cc.URI, cc.Size, in.maxObject, envelope.ErrTooLarge)
	}
	obj, err := in.store.Read(ctx, cc.URI, cc.Size)
	if err != nil {
		return nil, err
	}
	return in.Process(ctx, cc, obj)
}

// Process is Ingest on an object already fetched.
func (in *Ingester) Process(ctx context.Context, cc ClaimCheck, obj []byte) ([]schemas.PatientFact, error) {
	sum := sha256.Sum256(obj)
	want, _ := hex.DecodeString(cc.SHA256)
	if string(sum[:]) != string(want) {
		return nil, fmt.Errorf("bundle: %s: sha256 of the object differs from the claim check: %w", cc.URI, ErrChecksum)
	}
	tenant, err := in.tenants.Tenant(cc.Tenant)
	if err != nil {
		return nil, err
	}
	// Facts copy what they keep out of the JSON, so the plaintext and
	// decompression buffers are reused across bundles.
	ptBuf, jsBuf := in.buf(), in.buf()
	defer in.bufs.Put(ptBuf)
	defer in.bufs.Put(jsBuf)
	pt, comp, err := envelope.Open(ctx, in.keys, envelope.Binding{URI: cc.URI, Tenant: cc.Tenant, KeyID: cc.KeyID}, obj, (*ptBuf)[:0])
	if err != nil {
		return nil, err
	}
	*ptBuf = pt[:0]
	if cc.Compression != "" && envelope.Compression(cc.Compression) != comp {
		return nil, fmt.Errorf("bundle: %s: claim check says %s, sealed header says %s: %w", cc.URI, cc.Compression, comp, ErrCompressionClaim)
	}
	data := pt
	if comp != envelope.None {
		data, err = in.dec.Decompress((*jsBuf)[:0], pt, comp, in.maxBundle)
		if err != nil {
			return nil, fmt.Errorf("bundle: %s: %w", cc.URI, err)
		}
		*jsBuf = data[:0]
	} else if int64(len(pt)) > in.maxBundle {
		return nil, fmt.Errorf("bundle: %s: decompressed size exceeds %d bytes: %w", cc.URI, in.maxBundle, envelope.ErrTooLarge)
	}
	facts, err := fhir.Facts(data, tenant, in.fhirOpts...)
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", cc.URI, err)
	}
	return facts, nil
}

func (in *Ingester) buf() *[]byte {
	if b, ok := in.bufs.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

// Permanent reports whether an Ingest error is a property of the input (a
// dead letter) rather than a transient failure worth retrying.
func Permanent(err error) bool {
	for _, e := range []error{ErrBadClaim, ErrNotFound, ErrOutsideBucket, ErrSizeMismatch, ErrChecksum,
		ErrUnknownTenant, ErrCompressionClaim, envelope.ErrAuthFailed, envelope.ErrUnknownKey, envelope.ErrFormat,
		envelope.ErrTooLarge, envelope.ErrCompression, fhir.ErrMalformed, fhir.ErrNotBundle,
		fhir.ErrMissingPatient, fhir.ErrManyPatients} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// SealOptions say how Seal seals a bundle.
type SealOptions struct {
	Tenant      string
	KeyID       string
	Compression envelope.Compression // default zstd
	// Bucket is the bucket URL the object goes to; the key is
	// <tenant>/<128 random bits, hex>.tfe unless URI is set (a random
	// name says nothing about the content, and sealing the same bundle
	// twice never overwrites an object an earlier claim check names).
	Bucket string
	URI    string
}

// SealObject compresses and seals a FHIR bundle and returns the sealed
// object and its claim check, without writing it.
func SealObject(ctx context.Context, keys envelope.Keyring, o SealOptions, bundleJSON []byte) ([]byte, ClaimCheck, error) {
	comp := o.Compression
	if comp == "" {
		comp = envelope.Zstd
	}
	uri := o.URI
	if uri == "" {
		if o.Bucket == "" {
			return nil, ClaimCheck{}, fmt.Errorf("bundle: seal: need a bucket URL or an object URI")
		}
		var id [16]byte
		if _, err := rand.Read(id[:]); err != nil {
			return nil, ClaimCheck{}, fmt.Errorf("bundle: seal: object name: %w", err)
		}
		uri = ObjectURI(o.Bucket, o.Tenant+"/"+hex.EncodeToString(id[:])+".tfe")
	}
	packed, err := envelope.Compress(bundleJSON, comp)
	if err != nil {
		return nil, ClaimCheck{}, err
	}
	obj, err := envelope.Seal(ctx, keys, envelope.Binding{URI: uri, Tenant: o.Tenant, KeyID: o.KeyID}, comp, packed)
	if err != nil {
		return nil, ClaimCheck{}, err
	}
	sum := sha256.Sum256(obj)
	cc := ClaimCheck{URI: uri, Size: int64(len(obj)), SHA256: hex.EncodeToString(sum[:]), KeyID: o.KeyID,
		Tenant: o.Tenant, Compression: string(comp), Offset: -1}
	return obj, cc, cc.Validate()
}

// Seal is SealObject followed by writing the object with w: what
// `trialflow bundle seal` does for each input file.
func Seal(ctx context.Context, w Writer, keys envelope.Keyring, o SealOptions, bundleJSON []byte) (ClaimCheck, error) {
	obj, cc, err := SealObject(ctx, keys, o, bundleJSON)
	if err != nil {
		return cc, err
	}
	if err := w.Write(ctx, cc.URI, obj); err != nil {
		return cc, err
	}
	return cc, nil
}
