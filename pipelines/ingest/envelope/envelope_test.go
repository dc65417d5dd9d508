package envelope_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"gocloud.dev/secrets/localsecrets"

	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
)

func testKeys(t testing.TB) envelope.Keepers {
	t.Helper()
	var k1, k2 [32]byte
	for i := range k1 {
		k1[i], k2[i] = byte(i), byte(255-i)
	}
	return envelope.Keepers{"kek-1": localsecrets.NewKeeper(k1), "kek-2": localsecrets.NewKeeper(k2)}
}

var bind = envelope.Binding{URI: "file:///bundles/t1/a.tfe", Tenant: "t1", KeyID: "kek-1"}

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	plain := bytes.Repeat([]byte(`{"resourceType":"Bundle","entry":[]}`), 100)
	for _, comp := range []envelope.Compression{envelope.None, envelope.Gzip, envelope.Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			packed, err := envelope.Compress(plain, comp)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := envelope.Seal(ctx, keys, bind, comp, packed)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(obj, []byte("resourceType")) {
				t.Fatal("plaintext visible in sealed object")
			}
			pt, gotComp, err := envelope.Open(ctx, keys, bind, obj, nil)
			if err != nil {
				t.Fatal(err)
			}
			if gotComp != comp {
				t.Fatalf("compression %q, want %q", gotComp, comp)
			}
			out, err := envelope.Decompress(nil, pt, gotComp, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, plain) {
				t.Fatal("round trip changed the bundle")
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	obj, err := envelope.Seal(ctx, keys, bind, envelope.None, []byte(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := append([]byte(nil), obj...)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name string
		b    envelope.Binding
		obj  []byte
		want error
		msg  string
	}{
		{"tampered ciphertext", bind, flip(len(obj) - 20), envelope.ErrAuthFailed, "authentication failed"},
		{"tampered tag", bind, flip(len(obj) - 1), envelope.ErrAuthFailed, "authentication failed"},
		{"tampered wrapped key", bind, flip(10), envelope.ErrAuthFailed, "authentication failed"},
		{"compression byte swapped", bind, func() []byte { b := append([]byte(nil), obj...); b[5] = 2; return b }(), envelope.ErrAuthFailed, "authentication failed"},
		{"other URI", envelope.Binding{URI: "file:///bundles/t1/b.tfe", Tenant: "t1", KeyID: "kek-1"}, obj, envelope.ErrAuthFailed, "authentication failed"},
		{"other tenant", envelope.Binding{URI: bind.URI, Tenant: "t2", KeyID: "kek-1"}, obj, envelope.ErrAuthFailed, "authentication failed"},
		{"other key", envelope.Binding{URI: bind.URI, Tenant: "t1", KeyID: "kek-2"}, obj, envelope.ErrAuthFailed, "authentication failed"},
		{"unknown key id", envelope.Binding{URI: bind.URI, Tenant: "t1", KeyID: "kek-9"}, obj, envelope.ErrUnknownKey, `key id "kek-9"`},
		{"truncated", bind, obj[:20], envelope.ErrFormat, "truncated"},
		{"not an envelope", bind, []byte(`{"resourceType":"Bundle"}`), envelope.ErrFormat, "bad magic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := envelope.Open(ctx, keys, c.b, c.obj, nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err %q does not say %q", err, c.msg)
			}
		})
	}
}

func TestDecompressBomb(t *testing.T) {
	bomb := make([]byte, 64<<20) // 64 MiB of zeros compresses to a few KiB
	for _, comp := range []envelope.Compression{envelope.Gzip, envelope.Zstd, envelope.None} {
		t.Run(string(comp), func(t *testing.T) {
			packed, err := envelope.Compress(bomb, comp)
			if err != nil {
				t.Fatal(err)
			}
			out, err := envelope.Decompress(nil, packed, comp, 1<<20)
			if !errors.Is(err, envelope.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "decompressed size exceeds 1048576") {
				t.Fatalf("message %q", err)
			}
			if cap(out) > 2<<20 {
				t.Fatalf("decoder buffered %d bytes for a 1 MiB cap", cap(out))
			}
		})
	}
}

func TestDecompressCorrupt(t *testing.T) {
	for _, comp := range []envelope.Compression{envelope.Gzip, envelope.Zstd} {
		packed, _ := envelope.Compress([]byte("hello hello hello hello"), comp)
		packed = packed[:len(packed)/2]
		if _, err := envelope.Decompress(nil, packed, comp, 1<<20); !errors.Is(err, envelope.ErrCompression) {
			t.Errorf("%s truncated: err = %v, want ErrCompression", comp, err)
		}
	}
	if _, err := envelope.Decompress(nil, []byte("x"), "lz4", 10); !errors.Is(err, envelope.ErrCompression) {
		t.Errorf("unknown compression: err = %v", err)
	}
}

func TestDecompressExactLimit(t *testing.T) {
	src := bytes.Repeat([]byte("a"), 1000)
	for _, comp := range []envelope.Compression{envelope.Gzip, envelope.Zstd, envelope.None} {
		packed, _ := envelope.Compress(src, comp)
		if out, err := envelope.Decompress(nil, packed, comp, 1000); err != nil || len(out) != 1000 {
			t.Errorf("%s at exact limit: %d bytes, %v", comp, len(out), err)
		}
		if _, err := envelope.Decompress(nil, packed, comp, 999); !errors.Is(err, envelope.ErrTooLarge) {
			t.Errorf("%s one over limit: %v", comp, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	ctx := context.Background()
	keys := testKeys(f)
	obj, _ := envelope.Seal(ctx, keys, bind, envelope.Gzip, []byte("payload"))
	f.Add(obj)
	f.Add(obj[:30])
	f.Add([]byte("TFE1\x01\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, comp, err := envelope.Open(ctx, keys, bind, b, nil)
		if err != nil {
			if !errors.Is(err, envelope.ErrFormat) && !errors.Is(err, envelope.ErrAuthFailed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// Only the genuine object (or one with an equal authenticated
		// content) opens.
		if string(pt) != "payload" || comp != envelope.Gzip {
			t.Fatalf("forged object opened: %q %q", pt, comp)
		}
	})
}

func FuzzDecompress(f *testing.F) {
	for _, comp := range []envelope.Compression{envelope.Gzip, envelope.Zstd} {
		p, _ := envelope.Compress([]byte(`{"resourceType":"Bundle"}`), comp)
		f.Add(p, comp == envelope.Zstd)
		z, _ := envelope.Compress(make([]byte, 1<<20), comp)
		f.Add(z, comp == envelope.Zstd)
	}
	f.Fuzz(func(t *testing.T, b []byte, isZstd bool) {
		comp := envelope.Gzip
		if isZstd {
			comp = envelope.Zstd
		}
		const limit = 64 << 10
		out, err := envelope.Decompress(nil, b, comp, limit)
		if err == nil && len(out) > limit {
			t.Fatalf("%d bytes past the %d cap", len(out), limit)
		}
		if err != nil && !errors.Is(err, envelope.ErrTooLarge) && !errors.Is(err, envelope.ErrCompression) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
