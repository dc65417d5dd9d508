package reconcile

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trialflow/trialflow/schemas"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rec(action, arm string, minute int) schemas.ApprovedPatient {
	r := schemas.ApprovedPatient{MatchID: "m", Tenant: "t", PatientID: "p", ProtocolNo: "P-1", Action: action,
		EventTime: t0.Add(time.Duration(minute) * time.Minute), MatchTime: t0.Add(time.Duration(minute)*time.Minute + time.Second)}
	if arm != "" {
		r.ArmCode = &arm
	}
	if action == Retracted {
		why := "CRITERIA_NOT_MET"
		r.RetractionReason = &why
	}
	return r
}

// history is a random well-formed sequence for one key: NEW and RETRACTED
// alternate, starting with NEW, at increasing minutes.
func history(rng *rand.Rand, n int) []schemas.ApprovedPatient {
	var out []schemas.ApprovedPatient
	m, arm := rng.Intn(5), ""
	for i := 0; i < n; i++ {
		m += 1 + rng.Intn(3)
		if i%2 == 0 {
			arm = []string{"", "A", "B"}[rng.Intn(3)]
			out = append(out, rec(New, arm, m))
		} else {
			// As decide.Ledger does, a retraction names the arm it retracts.
			out = append(out, rec(Retracted, arm, m))
		}
	}
	return out
}

// collapsed is what a consumer keeps for the key: the last record, or
// nothing when the last record is a retraction (or there is none).
func collapsed(rs []schemas.ApprovedPatient) string {
	if len(rs) == 0 || rs[len(rs)-1].Action != New {
		return "none"
	}
	r := rs[len(rs)-1]
	return fmt.Sprintf("NEW arm=%s", schemas.Deref(r.ArmCode))
}

// wellFormed reports a second NEW without a RETRACTED between them, or a
// RETRACTED of nothing.
func wellFormed(rs []schemas.ApprovedPatient) error {
	open := false
	for i, r := range rs {
		switch {
		case r.Action == New && open:
			return fmt.Errorf("record %d: a second NEW without a RETRACTED between", i)
		case r.Action == Retracted && !open:
			return fmt.Errorf("record %d: RETRACTED with no NEW", i)
		}
		open = r.Action == New
	}
	return nil
}

// A crash of a deterministic pipeline published a prefix of what the
// uninterrupted run publishes: the restart publishes exactly the rest.
func TestPrefixPublishesTheRest(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		full := history(rng, rng.Intn(7))
		cut := 0
		if len(full) > 0 {
			cut = rng.Intn(len(full) + 1)
		}
		got := Run(full[:cut], full, t0)
		if diff := cmp.Diff(full[cut:], got, cmpOpts...); diff != "" {
			t.Fatalf("case %d (cut %d of %d): -want +got\n%s", i, cut, len(full), diff)
		}
	}
}

// Against a brute-force model, for any published history (a crashed run
// over other input, a run that saw less input) and any pipeline history:
// what consumers see afterwards is well formed, collapses to what the
// pipeline says, and a second reconciliation publishes nothing.
func TestAnyHistoryConverges(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 10000; i++ {
		published := history(rng, rng.Intn(6))
		engine := history(rng, rng.Intn(6))
		out := Run(published, engine, t0)
		seen := append(append([]schemas.ApprovedPatient(nil), published...), out...)
		if err := wellFormed(seen); err != nil {
			t.Fatalf("case %d: %v\npublished %v\nengine %v\nout %v", i, err, published, engine, out)
		}
		if got, want := collapsed(seen), collapsed(engine); got != want {
			t.Fatalf("case %d: collapsed %s, want %s\npublished %v\nengine %v\nout %v", i, got, want, published, engine, out)
		}
		if again := Run(seen, engine, t0); len(again) != 0 {
			t.Fatalf("case %d: a second reconciliation published %v", i, again)
		}
	}
}

// A NEW published before a crash that the restarted pipeline never
// reproduces (its input changed) is retracted as superseded at Settle.
func TestStrandedNewIsRetracted(t *testing.T) {
	out := Run([]schemas.ApprovedPatient{rec(New, "A", 1)}, nil, t0.Add(time.Hour))
	if len(out) != 1 || out[0].Action != Retracted || schemas.Deref(out[0].RetractionReason) != Superseded {
		t.Fatalf("got %+v, want one RETRACTED (SUPERSEDED)", out)
	}
	if schemas.Deref(out[0].ArmCode) != "A" || !out[0].MatchTime.Equal(t0.Add(time.Hour)) {
		t.Fatalf("retraction %+v: want arm A, match time of Settle", out[0])
	}
}

// A different arm is retracted before the new NEW is published.
func TestChangedArmRetractsFirst(t *testing.T) {
	out := Run([]schemas.ApprovedPatient{rec(New, "A", 1)}, []schemas.ApprovedPatient{rec(New, "B", 1)}, t0)
	if len(out) != 2 || out[0].Action != Retracted || schemas.Deref(out[0].ArmCode) != "A" ||
		out[1].Action != New || schemas.Deref(out[1].ArmCode) != "B" {
		t.Fatalf("got %+v", out)
	}
}

func TestSettleIsIdempotent(t *testing.T) {
	k := Seed([]schemas.ApprovedPatient{rec(New, "A", 1), rec(Retracted, "A", 2)})
	if out := k.Offer(rec(New, "A", 1)); len(out) != 0 {
		t.Fatalf("reproduced record published again: %v", out)
	}
	// Settled before the pipeline reproduced the retraction: its NEW stands.
	if out := k.Settle(t0); len(out) != 1 || out[0].Action != New {
		t.Fatalf("settle: %v", out)
	}
	if out := k.Settle(t0); len(out) != 0 {
		t.Fatalf("second settle: %v", out)
	}
	if out := k.Offer(rec(Retracted, "A", 2)); len(out) != 1 || out[0].Action != Retracted {
		t.Fatalf("retraction after settle: %v", out)
	}
}

var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}
