package history

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

var day0 = time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)

// sample returns n matches over 3 tenants and 3 days, with every optional
// field both set and unset.
func sample(n int) []schemas.ApprovedPatient {
	out := make([]schemas.ApprovedPatient, n)
	for i := range out {
		tenant := fmt.Sprintf("practice-%02d", i%3+1)
		a := schemas.ApprovedPatient{
			MatchID:      fmt.Sprintf("m-%05d", i),
			Tenant:       tenant,
			PatientID:    fmt.Sprintf("%s-p%04d", tenant, i),
			ProtocolNo:   fmt.Sprintf("17-%03d", i%7),
			Action:       "NEW",
			TrialVersion: int64(i%4 + 1),
			EventTime:    day0.Add(time.Duration(i%5) * 13 * time.Hour).Add(time.Duration(i) * time.Millisecond),
			MatchTime:    day0.Add(time.Duration(i%5)*13*time.Hour + time.Minute),
		}
		if i%2 == 0 {
			a.ArmCode, a.SiteID = schemas.Ptr("A"), schemas.Ptr("site-1")
			a.Reasons = []schemas.MatchReason{
				{ReasonType: "GENOMIC", Field: "hugo_symbol", Alteration: schemas.Ptr("BRAF V600E"), Level: schemas.Ptr("arm"),
					Facts: []schemas.FactRef{{Kind: "VARIANT", EventTime: day0}, {Kind: "DIAGNOSIS", EventTime: day0.Add(time.Duration(i) * time.Second)}}},
				{ReasonType: "CLINICAL", Field: "oncotree_primary_diagnosis"},
			}
		}
		if i%3 == 0 {
			a.DoseLevel, a.ApprovalReference = schemas.Ptr("DL1"), schemas.Ptr("IRB-2026-1")
		}
		if i%4 == 3 {
			a.Action, a.RetractionReason = "RETRACTED", schemas.Ptr("arm closed")
		}
		out[i] = a
	}
	return out
}

func sortByID(ms []schemas.ApprovedPatient) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].MatchID < ms[j].MatchID })
}

func TestWriterRoundTripAndMemory(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	in := sample(100)
	w := NewWriter(dir, WithAllocator(mem))
	for i := range in {
		if err := w.Add(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Buffered(); got != len(in) {
		t.Fatalf("Buffered = %d, want %d", got, len(in))
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	w.Release()
	if w.Buffered() != 0 {
		t.Fatal("rows still buffered after Flush")
	}
	rows := 0
	for _, f := range files {
		rows += f.Rows
	}
	if rows != len(in) {
		t.Fatalf("files hold %d rows, want %d", rows, len(in))
	}
	got, err := Read(dir, WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	sortByID(got)
	if d := cmp.Diff(in, got); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}

func TestPartitioningAndTenantIsolation(t *testing.T) {
	dir := t.TempDir()
	in := sample(60)
	w := NewWriter(dir)
	defer w.Release()
	for i := range in {
		if err := w.Add(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	want := map[Partition]int{}
	for i := range in {
		want[PartitionOf(&in[i])]++
	}
	if len(files) != len(want) {
		t.Fatalf("%d files, want one per partition (%d)", len(files), len(want))
	}
	for _, f := range files {
		p := Partition{f.Tenant, f.Date}
		dir := filepath.Join(dir, "tenant="+f.Tenant, "date="+f.Date)
		if filepath.Dir(f.Path) != dir || !strings.HasPrefix(filepath.Base(f.Path), "part-") {
			t.Errorf("file %s is not in %s", f.Path, dir)
		}
		rows, err := ReadFile(f.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != want[p] || f.Rows != want[p] {
			t.Errorf("%s: %d rows (File says %d), want %d", f.Path, len(rows), f.Rows, want[p])
		}
		for _, r := range rows {
			if r.Tenant != f.Tenant {
				t.Errorf("%s holds a row of tenant %s", f.Path, r.Tenant)
			}
			if PartitionOf(&r) != p {
				t.Errorf("%s holds a row of partition %v", f.Path, PartitionOf(&r))
			}
		}
	}
	// Flushing again writes nothing; a second batch adds files beside the
	// first instead of replacing them.
	if files, err := w.Flush(); err != nil || len(files) != 0 {
		t.Fatalf("second Flush = %v, %v; want nothing", files, err)
	}
	more := sample(61)[60:]
	more[0].MatchID = "m-extra"
	if err := w.Add(&more[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(in)+1 {
		t.Fatalf("Read %d rows, want %d", len(all), len(in)+1)
	}
}

func TestReadRejectsForeignRows(t *testing.T) {
	dir := t.TempDir()
	in := sample(3) // practice-01, -02, -03
	w := NewWriter(dir)
	defer w.Release()
	for i := range in {
		if err := w.Add(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	// Plant practice-01's file in practice-02's partition of the same date.
	src := files[0]
	b, err := os.ReadFile(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	other := Partition{Tenant: "practice-02", Date: src.Date}.Path(dir)
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "part-planted.parquet"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Read(dir)
	if err == nil || !strings.Contains(err.Error(), "belongs to tenant") {
		t.Fatalf("Read of a planted file: err = %v, want a partition error", err)
	}
}

func TestEscapedTenant(t *testing.T) {
	dir := t.TempDir()
	a := sample(1)[0]
	a.Tenant = "../evil/tenant=x%"
	w := NewWriter(dir)
	defer w.Release()
	if err := w.Add(&a); err != nil {
		t.Fatal(err)
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(dir, files[0].Path)
	if err != nil || strings.HasPrefix(rel, "..") || strings.Count(filepath.ToSlash(rel), "/") != 2 {
		t.Fatalf("file %s escapes its partition layout (rel %q)", files[0].Path, rel)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Tenant != a.Tenant {
		t.Fatalf("Read = %+v", got)
	}
}

func TestMaxRowsPerFile(t *testing.T) {
	dir := t.TempDir()
	in := sample(30)
	for i := range in {
		in[i].Tenant, in[i].EventTime = "practice-01", day0 // one partition
	}
	w := NewWriter(dir, WithMaxRowsPerFile(8))
	defer w.Release()
	for i := range in {
		if err := w.Add(&in[i]); err != nil {
			t.Fatal(err)
		}
		if w.Buffered() >= 8 {
			t.Fatalf("%d rows buffered, limit 8", w.Buffered())
		}
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 { // 8 + 8 + 8 + 6
		t.Fatalf("%d files, want 4", len(files))
	}
	got, err := Read(dir)
	if err != nil || len(got) != len(in) {
		t.Fatalf("Read = %d rows, %v", len(got), err)
	}
}

func TestValidate(t *testing.T) {
	good := sample(1)[0]
	for name, mod := range map[string]func(*schemas.ApprovedPatient){
		"no tenant":     func(a *schemas.ApprovedPatient) { a.Tenant = "" },
		"no event time": func(a *schemas.ApprovedPatient) { a.EventTime = time.Time{} },
		"bad action":    func(a *schemas.ApprovedPatient) { a.Action = "MAYBE" },
	} {
		a := good
		mod(&a)
		err := NewWriter(t.TempDir()).Add(&a)
		if err == nil || deadletter.CodeOf(err) != deadletter.InvalidRecord {
			t.Errorf("%s: err = %v, want an invalid_record error", name, err)
		}
	}
}

func TestReadMissingDirAndTemporaryFiles(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), "nope"))
	if err != nil || len(got) != 0 {
		t.Fatalf("Read(missing) = %v, %v", got, err)
	}
	dir := t.TempDir()
	p := Partition{"practice-01", "2026-01-05"}.Path(dir)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, ".part-123.tmp"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(dir); err != nil || len(got) != 0 {
		t.Fatalf("Read with only a temporary file = %v, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(p, "part-bad.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "part-bad.parquet") {
		t.Fatalf("Read of a corrupt file: err = %v, want one naming the file", err)
	}
}

func TestUnescape(t *testing.T) {
	for _, s := range []string{"", "practice-01", "a/b", "%", "tenant=x", "ü漢", "\x00\xff"} {
		got, err := unescape(escape(s))
		if err != nil || got != s {
			t.Errorf("unescape(escape(%q)) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"%", "%4", "%zz"} {
		if _, err := unescape(bad); err == nil {
			t.Errorf("unescape(%q) succeeded", bad)
		}
	}
}
