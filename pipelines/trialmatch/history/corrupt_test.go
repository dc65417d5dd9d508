package history

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReadFileCorruptFiles reads deterministic corruptions of a history
// file (truncations, overwritten lengths, flipped bytes): ReadFile returns
// or fails within a bound, it never panics or exhausts memory. The fuzz
// target FuzzReadFile explores further.
func TestReadFileCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(dir)
	in := sample(6)
	for i := range in {
		in[i].Tenant, in[i].EventTime = "t", day0
		if err := w.Add(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	files, err := w.Flush()
	w.Release()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(1))
	path := filepath.Join(t.TempDir(), "part-x.parquet")
	for it := 0; it < 1500; it++ {
		m := append([]byte(nil), b...)
		switch r.Intn(4) {
		case 0:
			m = m[r.Intn(len(m)):]
		case 1:
			m = m[:r.Intn(len(m))]
		case 2:
			v := []byte{0xff, 0xff, 0xff, 0x7f}
			if r.Intn(2) == 0 {
				r.Read(v)
			}
			copy(m[r.Intn(len(m)-4):], v)
		}
		for k := 0; k < 1+r.Intn(3) && len(m) > 0; k++ {
			m[r.Intn(len(m))] = byte(r.Intn(256))
		}
		if err := os.WriteFile(path, m, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = ReadFile(path, nil)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("corruption %d: ReadFile did not return in 10 s", it)
		}
	}
}
