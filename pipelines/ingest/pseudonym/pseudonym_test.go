package pseudonym_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestPseudonymStablePerTenant(t *testing.T) {
	a, _ := pseudonym.New("t1", key(1))
	a2, _ := pseudonym.New("t1", key(1))
	b, _ := pseudonym.New("t2", key(2))
	p := a.Pseudonym("MRN-1")
	if len(p) != 64 || strings.Contains(p, "MRN") {
		t.Fatalf("pseudonym %q", p)
	}
	if a2.Pseudonym("MRN-1") != p {
		t.Fatal("pseudonym not stable")
	}
	if b.Pseudonym("MRN-1") == p || a.Pseudonym("MRN-2") == p {
		t.Fatal("pseudonyms collide across tenants or patients")
	}
}

func TestSealMRN(t *testing.T) {
	a, _ := pseudonym.New("t1", key(1))
	b, _ := pseudonym.New("t2", key(2))
	s := a.SealMRN("Ancora-13")
	if bytes.Contains(s, []byte("Ancora")) {
		t.Fatal("MRN in clear")
	}
	if !bytes.Equal(s, a.SealMRN("Ancora-13")) {
		t.Fatal("sealing not deterministic")
	}
	if got, err := a.OpenMRN(s); err != nil || got != "Ancora-13" {
		t.Fatalf("OpenMRN = %q, %v", got, err)
	}
	if _, err := b.OpenMRN(s); !errors.Is(err, pseudonym.ErrOpen) {
		t.Fatalf("other tenant opened the MRN: %v", err)
	}
	s[len(s)-1] ^= 1
	if _, err := a.OpenMRN(s); !errors.Is(err, pseudonym.ErrOpen) {
		t.Fatalf("tampered MRN opened: %v", err)
	}
	if _, err := a.OpenMRN(nil); !errors.Is(err, pseudonym.ErrOpen) {
		t.Fatal("empty sealed MRN opened")
	}
}

func TestShortKey(t *testing.T) {
	if _, err := pseudonym.New("t1", []byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := pseudonym.ParseHexKey("t1", "zz-secret"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad hex key: %v", err)
	}
}

// The practice re-identifies its own patient from a fact's sealed MRN.
func ExampleTenant_OpenMRN() {
	practice, _ := pseudonym.New("p1", bytes.Repeat([]byte{7}, 32))
	sealed := practice.SealMRN("MRN-000123") // done by ingest
	mrn, err := practice.OpenMRN(sealed)     // done by the practice
	fmt.Println(mrn, err, len(practice.Pseudonym("MRN-000123")))
	// Output: MRN-000123 <nil> 64
}
