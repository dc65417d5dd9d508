package catalog_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
)

// synthCatalog builds the catalog of a synthetic data set of n patients at
// its end, and the patients' final profiles.
func synthCatalog(t *testing.T, n int) (*catalog.Catalog, []match.Profile, time.Time) {
	t.Helper()
	c := synth.DefaultConfig()
	c.Patients, c.Trials = n, 20
	d := synth.Generate(c)
	end := c.Start.Add(c.Span)
	cat, err := catalog.Build(catalog.NewCache(), decisions(t, d, end), end)
	if err != nil {
		t.Fatal(err)
	}
	return cat, profiles(t, d), end
}

// Evaluate finds the same eligibilities as Verdicts on both of its paths
// (row at a time below RowwiseBelow profiles, vectorised above), without
// reasons, and WithReasons builds exactly the reasons asked for, equal to
// Verdicts' ones.
func TestEvaluateWithReasons(t *testing.T) {
	cat, ps, end := synthCatalog(t, 1500)
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
	eligible := 0
	for i, v := range all {
		for _, e := range v.Eligible {
			if len(e.Reasons) == 0 {
				t.Fatalf("patient %d protocol %s: eligible without reasons", i, e.ProtocolNo)
			}
			eligible++
		}
	}
	if eligible < 100 {
		t.Fatalf("data set too small: %d eligibilities", eligible)
	}
	// Ask for the reasons of every other eligibility, counted across the
	// whole data set.
	asked := func(offset, i, k int) bool { return (offset+i+k)%2 == 0 }
	check := func(name string, offset int, profiles []match.Profile) {
		t.Helper()
		ev, err := cat.Evaluate(mem, profiles, at[:len(profiles)])
		if err != nil {
			t.Fatal(err)
		}
		defer ev.Release()
		var refs []catalog.Ref
		for i, v := range ev.Verdicts {
			for k, e := range v.Eligible {
				if e.Reasons != nil {
					t.Fatalf("%s: patient %d: Evaluate built reasons before they were asked for", name, offset+i)
				}
				if asked(offset, i, k) {
					refs = append(refs, catalog.Ref{Profile: i, Eligible: k})
				}
			}
		}
		if err := ev.WithReasons(refs); err != nil {
			t.Fatal(err)
		}
		for i, v := range ev.Verdicts {
			want := all[offset+i]
			if len(v.Eligible) != len(want.Eligible) {
				t.Fatalf("%s: patient %d: %d eligible, Verdicts gives %d", name, offset+i, len(v.Eligible), len(want.Eligible))
			}
			for k, e := range v.Eligible {
				w := want.Eligible[k]
				if !asked(offset, i, k) {
					if e.Reasons != nil {
						t.Fatalf("%s: patient %d protocol %s: reasons not asked for", name, offset+i, e.ProtocolNo)
					}
					w.Reasons = nil
				}
				if !reflect.DeepEqual(e, w) {
					t.Fatalf("%s: patient %d: got %+v, want %+v", name, offset+i, e, w)
				}
			}
		}
	}
	check("vectorised", 0, ps)
	for off := 0; off+catalog.RowwiseBelow-1 <= len(ps); off += catalog.RowwiseBelow - 1 {
		check("row at a time", off, ps[off:off+catalog.RowwiseBelow-1])
	}
	ev, err := cat.Evaluate(mem, ps[:3], at[:3])
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Release()
	if err := ev.WithReasons([]catalog.Ref{{Profile: 3}}); err == nil {
		t.Fatal("WithReasons accepted a profile outside the batch")
	}
}

// One patient may appear several times in a batch, at several event times
// (a tick replay collects each patient's successive profiles): each
// occurrence gets its own verdict, on both paths.
func TestEvaluateRepeatedPatient(t *testing.T) {
	cat, ps, _ := synthCatalog(t, 600)
	// The first patient with an eligibility, then the same patient with no
	// diagnosis (eligible for nothing), then the first again.
	all, err := cat.Verdicts(memory.DefaultAllocator, ps, make([]time.Time, len(ps)))
	if err != nil {
		t.Fatal(err)
	}
	first := -1
	for i, v := range all {
		if len(v.Eligible) > 0 {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("no patient is eligible for anything")
	}
	bare := ps[first]
	bare.OncotreePrimaryDiagnosis, bare.Variants = "", nil
	for _, n := range []int{3, catalog.RowwiseBelow + 3} {
		batch := []match.Profile{bare, ps[first], bare}
		for len(batch) < n {
			batch = append(batch, bare)
		}
		ev, err := cat.Evaluate(memory.DefaultAllocator, batch, make([]time.Time, n))
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Verdicts[0].Eligible) != 0 || len(ev.Verdicts[2].Eligible) != 0 {
			t.Fatalf("%d profiles: the bare profile is eligible for %+v", n, ev.Verdicts[0].Eligible)
		}
		if got, want := names(ev.Verdicts[1]), names(all[first]); !reflect.DeepEqual(got, want) {
			t.Fatalf("%d profiles: the repeated patient is eligible for %v, want %v", n, got, want)
		}
		ev.Release()
	}
}

func names(v decide.Verdict) []string {
	var out []string
	for _, e := range v.Eligible {
		out = append(out, e.ProtocolNo+"/"+e.ArmCode+"/"+e.DoseLevel)
	}
	return out
}
