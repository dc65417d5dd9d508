package history

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadFile feeds corrupted history files to ReadFile: it may return an
// error but must not panic or hang.
func FuzzReadFile(f *testing.F) {
	dir := f.TempDir()
	w := NewWriter(dir)
	in := sample(6)
	for i := range in {
		in[i].Tenant = "t"
		if err := w.Add(&in[i]); err != nil {
			f.Fatal(err)
		}
	}
	files, err := w.Flush()
	w.Release()
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file.Path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[len(b)/3:])
	}
	f.Add([]byte("PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "part-x.parquet")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = ReadFile(path, nil)
	})
}

// FuzzUnescape checks that partition values round trip and that unescape
// never panics.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"practice-01", "a/b", "%2F", "%", "%zz", "tenant=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = unescape(s)
		if got, err := unescape(escape(s)); err != nil || got != s {
			t.Fatalf("unescape(escape(%q)) = %q, %v", s, got, err)
		}
	})
}
