package bundle_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
)

type fixture struct {
	bucket string
	store  *bundle.Buckets
	in     *bundle.Ingester
	keys   envelope.Keepers
}

func newFixture(t *testing.T, opts ...bundle.Option) *fixture {
	t.Helper()
	dir := t.TempDir()
	bucket := "file://" + dir
	store := bundle.NewBuckets(bucket)
	t.Cleanup(func() { store.Close() })
	tn, err := pseudonym.New(ingesttest.Tenant, ingesttest.TenantKey())
	if err != nil {
		t.Fatal(err)
	}
	tn2, err := pseudonym.New("practice-2", []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	keys := ingesttest.Keys()
	return &fixture{bucket: bucket, store: store, keys: keys,
		in: bundle.NewIngester(store, keys, bundle.TenantMap{ingesttest.Tenant: tn, "practice-2": tn2}, opts...)}
}

func (f *fixture) seal(t *testing.T, json []byte, comp envelope.Compression) bundle.ClaimCheck {
	t.Helper()
	cc, err := bundle.Seal(context.Background(), f.store, f.keys, bundle.SealOptions{
		Tenant: ingesttest.Tenant, KeyID: ingesttest.KeyID, Compression: comp, Bucket: f.bucket}, json)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func TestIngestReferenceBundles(t *testing.T) {
	f := newFixture(t)
	bundles := ingesttest.Bundles(t)
	for i, name := range ingesttest.Names(bundles) {
		comp := []envelope.Compression{envelope.Zstd, envelope.Gzip, envelope.None}[i%3]
		cc := f.seal(t, bundles[name], comp)
		b, _ := cc.Marshal()
		cc2, err := bundle.ParseClaimCheck(b)
		if err != nil {
			t.Fatal(err)
		}
		facts, err := f.in.Ingest(context.Background(), cc2)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, _ := fhir.Facts(bundles[name], mustTenant(t))
		if len(facts) != len(want) || len(facts) == 0 {
			t.Errorf("%s: %d facts, want %d", name, len(facts), len(want))
		}
	}
}

func mustTenant(t *testing.T) *pseudonym.Tenant {
	tn, err := pseudonym.New(ingesttest.Tenant, ingesttest.TenantKey())
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func TestIngestBadInput(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, bundle.WithMaxBundle(1<<20))
	good := []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":"p","gender":"male"}}]}`)
	dir := strings.TrimPrefix(f.bucket, "file://")
	overwrite := func(cc bundle.ClaimCheck, mutate func([]byte) []byte) {
		key := strings.TrimPrefix(cc.URI, f.bucket+"/")
		p := filepath.Join(dir, filepath.FromSlash(key))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, mutate(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		claim func() bundle.ClaimCheck
		want  error
		msg   string
	}{
		{"tampered ciphertext", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Zstd)
			// Tamper and fix the checksum, as an attacker who can write both would.
			var obj []byte
			overwrite(cc, func(b []byte) []byte { b[len(b)-5] ^= 1; obj = b; return b })
			cc.SHA256 = sha(obj)
			return cc
		}, envelope.ErrAuthFailed, "authentication failed"},
		{"unknown key id", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Zstd)
			cc.KeyID = "kek-retired"
			return cc
		}, envelope.ErrUnknownKey, `unknown key id`},
		{"checksum mismatch", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Gzip)
			cc.SHA256 = strings.Repeat("0", 64)
			return cc
		}, bundle.ErrChecksum, "checksum mismatch"},
		{"size mismatch", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Gzip)
			cc.Size++
			return cc
		}, bundle.ErrSizeMismatch, "claim check says"},
		{"decompression bomb", func() bundle.ClaimCheck {
			return f.seal(t, make([]byte, 8<<20), envelope.Zstd)
		}, envelope.ErrTooLarge, "decompressed size exceeds 1048576"},
		{"gzip bomb", func() bundle.ClaimCheck {
			return f.seal(t, make([]byte, 8<<20), envelope.Gzip)
		}, envelope.ErrTooLarge, "decompressed size exceeds 1048576"},
		{"malformed JSON", func() bundle.ClaimCheck {
			return f.seal(t, []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","id":}}]}`), envelope.Zstd)
		}, fhir.ErrMalformed, "$.entry[0].resource.id"},
		{"no patient", func() bundle.ClaimCheck {
			return f.seal(t, []byte(`{"resourceType":"Bundle","entry":[]}`), envelope.Zstd)
		}, fhir.ErrMissingPatient, "no Patient"},
		{"object missing", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Zstd)
			cc.URI = f.bucket + "/nowhere.tfe"
			return cc
		}, bundle.ErrNotFound, "not found"},
		{"outside buckets", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Zstd)
			cc.URI = "file:///etc/passwd"
			return cc
		}, bundle.ErrOutsideBucket, "outside"},
		{"unknown tenant", func() bundle.ClaimCheck {
			cc := f.seal(t, good, envelope.Zstd)
			cc.Tenant = "practice-9"
			return cc
		}, bundle.ErrUnknownTenant, "practice-9"},
		{"claim for another tenant", func() bundle.ClaimCheck {
			// Sealed for practice-1 but claimed by another configured tenant.
			cc := f.seal(t, good, envelope.Zstd)
			cc.Tenant = "practice-2"
			return cc
		}, envelope.ErrAuthFailed, "authentication failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.in.Ingest(ctx, c.claim())
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %q does not say %q", err, c.msg)
			}
			if !bundle.Permanent(err) {
				t.Fatalf("%v not classified permanent", err)
			}
		})
	}
}

func TestClaimCheckParse(t *testing.T) {
	for _, in := range []string{``, `{}`, `{"uri":"file:///x/a","size":1,"sha256":"zz","key_id":"k","tenant":"t"}`,
		`{"uri":"file:///x/a","size":1,"sha256":"` + strings.Repeat("a", 64) + `","key_id":"k","tenant":"t","compression":"lz4"}`,
		strings.Repeat(" ", bundle.MaxClaimBytes+1)} {
		if _, err := bundle.ParseClaimCheck([]byte(in)); !errors.Is(err, bundle.ErrBadClaim) {
			t.Errorf("%.40q: err = %v", in, err)
		}
	}
}

func FuzzParseClaimCheck(f *testing.F) {
	f.Add([]byte(`{"uri":"file:///x/a","size":1,"sha256":"` + strings.Repeat("a", 64) + `","key_id":"k","tenant":"t","compression":"zstd"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, err := bundle.ParseClaimCheck(b)
		if err != nil {
			if !errors.Is(err, bundle.ErrBadClaim) {
				t.Fatalf("unclassified %v", err)
			}
			return
		}
		if cc.Validate() != nil {
			t.Fatal("parsed claim check does not validate")
		}
	})
}

// TestIngestConcurrent: one Ingester (pooled decoders and buffers) used
// from many goroutines gives each caller its own, correct facts.
func TestIngestConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bundles := ingesttest.Bundles(t)
	type job struct {
		cc   bundle.ClaimCheck
		want int
	}
	var jobs []job
	for i, name := range ingesttest.Names(bundles) {
		comp := []envelope.Compression{envelope.Zstd, envelope.Gzip, envelope.None}[i%3]
		want, _ := fhir.Facts(bundles[name], mustTenant(t))
		jobs = append(jobs, job{f.seal(t, bundles[name], comp), len(want)})
	}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func(g int) {
			for i := 0; i < 20; i++ {
				j := jobs[(g+i)%len(jobs)]
				fs, err := f.in.Ingest(ctx, j.cc)
				if err == nil && len(fs) != j.want {
					err = errors.New("wrong fact count")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
