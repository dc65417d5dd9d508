package spv_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
)

func byPatient(facts []*schemas.PatientFact) map[string][]*schemas.PatientFact {
	m := map[string][]*schemas.PatientFact{}
	for _, f := range facts {
		k := spv.Key(f.Tenant, f.PatientID)
		m[k] = append(m[k], f)
	}
	return m
}

func fold(t *testing.T, facts []*schemas.PatientFact) *spv.State {
	t.Helper()
	s := &spv.State{}
	for _, f := range facts {
		if _, err := s.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// Property: folding a patient's facts in any arrival order gives the same
// profile as folding them in event-time order (latest event wins).
func TestFoldIsOrderIndependent(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Revisions, c.Deceased = 1500, 0.3, 0.1
	d := synth.Generate(c)
	r := rand.New(rand.NewPCG(1, 2))
	for k, facts := range byPatient(d.Facts) {
		want := fold(t, facts) // generator output is sorted by event time
		shuffled := append([]*schemas.PatientFact(nil), facts...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := fold(t, shuffled)
		if diff := cmp.Diff(want.Profile, got.Profile); diff != "" {
			t.Fatalf("patient %q: order changed the profile (-sorted +shuffled):\n%s", k, diff)
		}
	}
}

func fact(kind schemas.FactKind, id string, at int64) *schemas.PatientFact {
	return &schemas.PatientFact{FactID: id, Tenant: "t", PatientID: "p", Kind: kind, EventTime: time.UnixMilli(at)}
}

func TestLatestEventWinsAndIdempotence(t *testing.T) {
	s := &spv.State{}
	pos := fact(schemas.KindTumorMarker, "a", 2000)
	pos.Marker = &schemas.TumorMarker{Marker: "HER2", Result: schemas.Ptr("Positive")}
	neg := fact(schemas.KindTumorMarker, "b", 1000) // older result, arriving late
	neg.Marker = &schemas.TumorMarker{Marker: "HER2", Result: schemas.Ptr("Negative")}
	if changed, _ := s.Apply(pos); !changed {
		t.Fatal("first HER2 result did not change the profile")
	}
	if changed, _ := s.Apply(neg); changed || s.Profile.HER2 != "Positive" {
		t.Fatalf("an older result overwrote a newer one: HER2=%q", s.Profile.HER2)
	}
	if changed, _ := s.Apply(pos); changed {
		t.Fatal("a re-delivered fact changed the profile")
	}
	newer := fact(schemas.KindTumorMarker, "c", 3000)
	newer.Marker = &schemas.TumorMarker{Marker: "HER2", Result: schemas.Ptr("Negative")}
	if changed, _ := s.Apply(newer); !changed || s.Profile.HER2 != "Negative" {
		t.Fatal("a newer contradicting result was not applied")
	}
	dead := fact(schemas.KindVital, "d", 4000)
	dead.Vital = &schemas.VitalStatus{Status: "DECEASED"}
	if changed, _ := s.Apply(dead); !changed || !s.Profile.Deceased {
		t.Fatal("death not folded")
	}
	msi := fact(schemas.KindTumorMarker, "e", 5000)
	msi.Marker = &schemas.TumorMarker{Marker: "MSI", Result: schemas.Ptr("MSI-H")}
	s.Apply(msi)
	if len(s.Profile.Variants) != 1 || s.Profile.Variants[0].Signature != "MMR" || s.Profile.Variants[0].SignatureStatus != spv.MMRDeficient {
		t.Fatalf("MSI-H not folded into the MMR signature: %+v", s.Profile.Variants)
	}
}

func TestErrors(t *testing.T) {
	s := &spv.State{}
	s.Apply(fact(schemas.KindVital, "a", 1))
	other := fact(schemas.KindVital, "b", 2)
	other.PatientID = "q"
	if _, err := s.Apply(other); err == nil {
		t.Fatal("want an error for another patient's fact")
	}
	if _, err := s.Apply(fact(schemas.KindUnknown, "c", 3)); err == nil {
		t.Fatal("want an error for a fact of unknown kind")
	}
}

func TestStateRoundTrip(t *testing.T) {
	d := synth.Generate(synth.Config{Seed: 3, Tenants: 1, Patients: 5, Trials: 1, Sites: 1,
		Start: time.Unix(0, 0), Span: time.Hour})
	for _, facts := range byPatient(d.Facts) {
		s := fold(t, facts)
		b, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := spv.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, back); diff != "" {
			t.Fatalf("state round trip (-want +got):\n%s", diff)
		}
	}
	if _, err := spv.Unmarshal([]byte("{")); err == nil {
		t.Fatal("want error for corrupt state")
	}
}
