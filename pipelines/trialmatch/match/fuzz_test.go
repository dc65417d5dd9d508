package match_test

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
)

// FuzzMatchBatch checks, on random profiles with fuzzed strings in the
// indexed columns, that the vectorized engine never panics and agrees with
// the rowwise reference.
func FuzzMatchBatch(f *testing.F) {
	f.Add(uint64(1), uint8(10), "Lung Adenocarcinoma", "EGFR", "p.L858R", "ALK rearrangement")
	f.Add(uint64(2), uint8(200), "", "", "", "")
	f.Add(uint64(3), uint8(1), "Breast", "KRAS", "p.V600\x00", "\xff\xfe TP53")
	e := propertyEngine(f, match.WithMatchOnClosed(true))
	f.Fuzz(func(t *testing.T, seed uint64, n uint8, dx, gene, change, comment string) {
		r := rand.New(rand.NewPCG(seed, 7))
		profiles := make([]match.Profile, int(n)%64+1)
		for i := range profiles {
			p := randomProfile(r, i)
			if r.IntN(2) == 0 {
				p.OncotreePrimaryDiagnosis = dx
			}
			p.Variants = append(p.Variants,
				match.Variant{HugoSymbol: gene, VariantCategory: "MUTATION", ProteinChange: change},
				match.Variant{VariantCategory: "SV", LeftPartner: gene, SVComment: comment},
				match.Variant{VariantCategory: gene, Signature: dx, SignatureStatus: change})
			profiles[i] = p
		}
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		rec := match.BuildProfiles(mem, profiles)
		defer func() {
			rec.Release()
			mem.AssertSize(t, 0)
		}()
		got, err := e.MatchBatch(rec)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffMatches(got, e.Rowwise(profiles)); d != "" {
			t.Fatal(d)
		}
	})
}
