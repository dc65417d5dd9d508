package catalog_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
)

// VerdictsKnown gives the same eligibilities as Verdicts on both of its
// paths (row at a time below RowwiseBelow profiles, vectorised above), and
// leaves out exactly the reasons of known protocols.
func TestVerdictsKnown(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials = 1500, 20
	d := synth.Generate(c)
	end := c.Start.Add(c.Span)
	cat, err := catalog.Build(catalog.NewCache(), decisions(t, d, end), end)
	if err != nil {
		t.Fatal(err)
	}
	ps := profiles(t, d)
	at := make([]time.Time, len(ps))
	for i := range at {
		at[i] = end
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	all, err := cat.Verdicts(mem, ps, at)
	if err != nil {
		t.Fatal(err)
	}
	// Every other distinct eligible protocol of a patient is "published".
	published := map[int]map[string]bool{}
	withReasons := 0
	for i, v := range all {
		published[i] = map[string]bool{}
		seen := map[string]bool{}
		for _, e := range v.Eligible {
			if len(e.Reasons) == 0 {
				t.Fatalf("patient %d protocol %s: eligible without reasons", i, e.ProtocolNo)
			}
			if !seen[e.ProtocolNo] {
				seen[e.ProtocolNo] = true
				published[i][e.ProtocolNo] = len(seen)%2 == 0
			}
			if !published[i][e.ProtocolNo] {
				withReasons++
			}
		}
	}
	if withReasons == 0 || withReasons == len(all) {
		t.Fatalf("data set too small: %d eligibilities with reasons", withReasons)
	}
	knownAt := func(offset int) catalog.Known {
		return func(i int, protocol string) bool { return published[offset+i][protocol] }
	}
	check := func(name string, offset int, got []decide.Verdict) {
		t.Helper()
		for i, v := range got {
			want := all[offset+i]
			if len(v.Eligible) != len(want.Eligible) {
				t.Fatalf("%s: patient %d: %d eligible, Verdicts gives %d", name, offset+i, len(v.Eligible), len(want.Eligible))
			}
			for k, e := range v.Eligible {
				w := want.Eligible[k]
				if published[offset+i][e.ProtocolNo] {
					if e.Reasons != nil {
						t.Fatalf("%s: patient %d protocol %s is known but has reasons", name, offset+i, e.ProtocolNo)
					}
					w.Reasons = nil
				}
				if !reflect.DeepEqual(e, w) {
					t.Fatalf("%s: patient %d: got %+v, want %+v", name, offset+i, e, w)
				}
			}
		}
	}
	got, err := cat.VerdictsKnown(mem, ps, at, knownAt(0))
	if err != nil {
		t.Fatal(err)
	}
	check("vectorised", 0, got)
	for off := 0; off+catalog.RowwiseBelow-1 <= len(ps); off += catalog.RowwiseBelow - 1 {
		small := ps[off : off+catalog.RowwiseBelow-1]
		got, err := cat.VerdictsKnown(mem, small, at[:len(small)], knownAt(off))
		if err != nil {
			t.Fatal(err)
		}
		check("row at a time", off, got)
	}
}
