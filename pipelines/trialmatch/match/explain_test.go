package match_test

import (
	"slices"
	"testing"

	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
)

func TestExplain(t *testing.T) {
	e := propertyEngine(t)
	adult := int32(0) // born 1970-01-01
	p := match.Profile{Tenant: "t", PatientID: "p", BirthDate: &adult, OncotreePrimaryDiagnosis: "Lung Adenocarcinoma", PDL1TPSClone: "22C3"}

	xs, err := e.Explain(&p, "P-1", "IO")
	if err != nil {
		t.Fatal(err)
	}
	var arm *match.Explanation
	for i := range xs {
		if xs[i].Level == match.LevelArm {
			arm = &xs[i]
		}
	}
	if arm == nil || arm.Result != match.Unknown {
		t.Fatalf("arm explanation %+v", xs)
	}
	if !slices.Contains(arm.Decisive, "PD-L1 TPS >=50 (clone 22C3)") {
		t.Errorf("decisive %q: want the PD-L1 test", arm.Decisive)
	}
	if !slices.Contains(arm.Missing, "TMB >=10") || !slices.Contains(arm.Missing, "region 021/100") {
		t.Errorf("missing %q", arm.Missing)
	}

	// Tested and high: the arm now matches, nothing is missing that matters.
	tps := 80.0
	p.PDL1TPS = &tps
	if ms := e.Rowwise([]match.Profile{p}); !hasArm(ms, "IO") {
		t.Errorf("PD-L1 80%%: no IO match in %+v", ms)
	}
	xs, _ = e.Explain(&p, "P-1", "IO")
	for _, x := range xs {
		if x.Level == match.LevelArm && (x.Result != match.True || len(x.Decisive) != 0) {
			t.Errorf("after test: %+v", x)
		}
	}

	// A negated gene on a patient never sequenced is unknown (MatchMiner
	// would say "no KRAS mutation" and match).
	crc := match.Profile{Tenant: "t", PatientID: "q", OncotreePrimaryDiagnosis: "Colorectal Adenocarcinoma"}
	xs, _ = e.Explain(&crc, "P-1", "KRASwt")
	for _, x := range xs {
		if x.Level == match.LevelArm {
			if x.Result != match.Unknown || !slices.Contains(x.Missing, "no KRAS Mutation") {
				t.Errorf("unsequenced CRC: %+v", x)
			}
			if len(x.Failed) != 0 {
				t.Errorf("failed %q", x.Failed)
			}
		}
	}
	crc.Sequenced = true
	crc.Variants = []match.Variant{{VariantCategory: "SIGNATURE", Signature: "MMR", SignatureStatus: "Deficient (MMR-D / MSI-H)"}}
	ms := e.Rowwise([]match.Profile{crc})
	if !hasArm(ms, "KRASwt") {
		t.Fatalf("sequenced MSI-H KRAS-wt CRC: %+v", ms)
	}
	for _, m := range ms {
		if m.ArmCode == "KRASwt" && m.Level == match.LevelArm {
			var alts []string
			for _, r := range m.Reasons {
				alts = append(alts, r.Alteration)
			}
			if !slices.Equal(alts, []string{"!KRAS Mutation", "Deficient (MMR-D / MSI-H)"}) {
				t.Errorf("reasons %q", alts)
			}
		}
	}

	// Deceased patients are excluded, and said so.
	crc.Deceased = true
	xs, _ = e.Explain(&crc, "P-1", "KRASwt")
	if xs[0].Excluded == "" {
		t.Errorf("deceased: %+v", xs[0])
	}
	if _, err := e.Explain(&crc, "P-1", "CLOSED"); err == nil {
		t.Error("explained a suspended arm that is not compiled")
	}
}

func hasArm(ms []match.Match, arm string) bool {
	for _, m := range ms {
		if m.ArmCode == arm && m.Level == match.LevelArm {
			return true
		}
	}
	return false
}
