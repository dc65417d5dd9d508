package ingesttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gocloud.dev/secrets/localsecrets"

	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
)

// Tenant and keys of the tests (never use outside tests).
const (
	Tenant = "practice-1"
	KeyID  = "kek-test-1"
)

// TenantKey is the test tenant's pseudonym key.
func TenantKey() []byte { return bytes.Repeat([]byte{0x5a}, 32) }

// Keys returns the test key ring: KeyID under a fixed localsecrets key.
func Keys() envelope.Keepers {
	var k [32]byte
	for i := range k {
		k[i] = byte(3*i + 1)
	}
	return envelope.Keepers{KeyID: localsecrets.NewKeeper(k)}
}

// KeeperURL is the localsecrets URL of Keys()[KeyID].
func KeeperURL() string {
	var k [32]byte
	for i := range k {
		k[i] = byte(3*i + 1)
	}
	return "base64key://" + base64.URLEncoding.EncodeToString(k[:])
}

// RepoRoot walks up from the working directory to the directory holding
// go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("ingesttest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ReferenceDir is ../shared/reference/fhir beside the repository root (as CI
// lays it out), else /work/shared/reference/fhir; it skips the test when
// neither exists.
func ReferenceDir(t testing.TB) string {
	t.Helper()
	for _, d := range []string{
		filepath.Join(RepoRoot(t), "..", "shared", "reference", "fhir"),
		"/work/shared/reference/fhir",
	} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("reference FHIR bundles not found: want ../shared/reference/fhir beside the repository root (or /work/shared/reference/fhir)")
	return ""
}

// Bundles returns the reference bundles by file name without .json.
func Bundles(t testing.TB) map[string][]byte {
	t.Helper()
	dir := ReferenceDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Skipf("no reference bundles in %s", dir)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

// Names returns the sorted keys of Bundles.
func Names(m map[string][]byte) []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// Identifiers extracts the direct identifiers of every Patient in the
// bundles: names, identifier values (MRN, SSN, licence, passport),
// telecoms, address lines, cities and full postal codes, and string
// extensions (e.g. mother's maiden name). Strings shorter than 4 bytes are
// left out (they would match by chance).
func Identifiers(t testing.TB, bundles map[string][]byte) []string {
	t.Helper()
	set := map[string]bool{}
	add := func(v any) {
		if s, ok := v.(string); ok && len(s) >= 4 {
			set[s] = true
		}
	}
	for name, b := range bundles {
		var root map[string]any
		if err := json.Unmarshal(b, &root); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		entries, _ := root["entry"].([]any)
		for _, e := range entries {
			r, _ := e.(map[string]any)["resource"].(map[string]any)
			if r["resourceType"] != "Patient" {
				continue
			}
			for _, n := range list(r["name"]) {
				add(n["family"])
				add(n["text"])
				for _, g := range n["given"].([]any) {
					add(g)
				}
			}
			for _, id := range list(r["identifier"]) {
				add(id["value"])
			}
			for _, tc := range list(r["telecom"]) {
				add(tc["value"])
			}
			for _, a := range list(r["address"]) {
				add(a["city"])
				add(a["postalCode"])
				if ls, ok := a["line"].([]any); ok {
					for _, l := range ls {
						add(l)
					}
				}
			}
			for _, x := range list(r["extension"]) {
				add(x["valueString"])
			}
		}
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func list(v any) []map[string]any {
	arr, _ := v.([]any)
	var out []map[string]any
	for _, a := range arr {
		if m, ok := a.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// ScanPHI reports every identifier found in text, naming where.
func ScanPHI(t testing.TB, where string, text []byte, ids []string) {
	t.Helper()
	if n := ContainsPHI(text, ids); n > 0 {
		t.Errorf("PHI leak: %s contains a source identifier (%d bytes)", where, n)
	}
}

// hexRun matches the hex digests, pseudonyms and content-addressed object
// names that outputs legitimately carry.
var hexRun = regexp.MustCompile(`[0-9a-fA-F]{16,}`)

// ContainsPHI reports the length of the first source identifier found in
// text, or 0. Runs of 16 or more hex digits are blanked first: they are
// digests and pseudonyms, which cannot carry an identifier in clear, and a
// short numeric identifier (a postal code such as 01951) would otherwise
// match inside one by chance about once in a thousand runs.
func ContainsPHI(text []byte, ids []string) int {
	masked := hexRun.ReplaceAll(text, []byte("#"))
	for _, id := range ids {
		in := masked
		if hexRun.MatchString(id) {
			in = text // an identifier that is itself a long hex run
		}
		if bytes.Contains(in, []byte(id)) {
			return len(id)
		}
	}
	return 0
}

// SHA256Hex is the hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
