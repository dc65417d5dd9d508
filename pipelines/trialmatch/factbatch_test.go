package trialmatch

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
)

func shuffleSample(t testing.TB) ([]schemas.PatientFact, []byte) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 20, 2, 6*time.Hour
	var (
		facts []schemas.PatientFact
		b     []byte
	)
	for _, f := range synth.Generate(c).Facts {
		body, err := f.AppendAvroBody(nil)
		if err != nil {
			t.Fatal(err)
		}
		b = appendFactBody(b, body)
		facts = append(facts, *f)
	}
	return facts, b
}

// The shuffle format of batch execution gives back the facts it was given;
// any truncation is an error, never a panic or a short result.
func TestFactBodiesRoundTrip(t *testing.T) {
	facts, b := shuffleSample(t)
	got, err := parseFactBodies(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(facts, got); d != "" {
		t.Fatalf("round trip (-in +out):\n%s", d)
	}
	// Record boundaries: cutting there is a shorter, valid batch.
	boundary := map[int]int{0: 0}
	var at []byte
	for i := range facts {
		body, _ := facts[i].AppendAvroBody(nil)
		at = appendFactBody(at, body)
		boundary[len(at)] = i + 1
	}
	for n := 1; n < len(b); n++ {
		got, err := parseFactBodies(nil, b[:n])
		if k, ok := boundary[n]; ok {
			if err != nil || len(got) != k {
				t.Fatalf("%d of %d bytes (a boundary): %d facts, %v; want %d", n, len(b), len(got), err, k)
			}
			continue
		}
		if err == nil {
			t.Fatalf("%d of %d bytes: %d facts and no error", n, len(b), len(got))
		}
	}
}

func FuzzParseFactBodies(f *testing.F) {
	_, b := shuffleSample(f)
	f.Add(b)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		facts, err := parseFactBodies(nil, b)
		if err == nil {
			var again []byte
			for i := range facts {
				body, err := facts[i].AppendAvroBody(nil)
				if err != nil {
					t.Fatal(err)
				}
				again = appendFactBody(again, body)
			}
			if _, err := parseFactBodies(nil, again); err != nil {
				t.Fatalf("re-encoded facts do not parse: %v", err)
			}
		}
	})
}
