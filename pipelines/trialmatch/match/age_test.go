package match_test

import (
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
)

// TestAgeAtTheBirthdayBoundary pins the age semantics documented among
// the departures from MatchMiner: ">18" is false on the 18th birthday and
// true the day after; ">=18" is true on the birthday, false the day before.
func TestAgeAtTheBirthdayBoundary(t *testing.T) {
	today := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	ops := []string{">18", ">=18", "<18", "<=18"}
	var trials []*criteria.Trial
	for i, op := range ops {
		tr, err := criteria.Parse([]byte(`{"protocol_no": "AGE-` + string(rune('A'+i)) + `", "status": "Open to Accrual",
		  "treatment_list": {"step": [{"arm": [{"arm_code": "A", "arm_suspended": "N",
		    "match": [{"clinical": {"age_numerical": "` + op + `"}}]}]}]}}`))
		if err != nil {
			t.Fatal(err)
		}
		trials = append(trials, tr)
	}
	e, err := match.Compile(trials, match.WithToday(today))
	if err != nil {
		t.Fatal(err)
	}
	born := func(y, m, d int) *int32 {
		v := match.Day(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC))
		return &v
	}
	cases := []struct {
		name string
		born *int32
		want map[string]bool // op -> holds
	}{
		{"day before the 18th birthday", born(2008, 3, 16), map[string]bool{">18": false, ">=18": false, "<18": true, "<=18": true}},
		{"on the 18th birthday", born(2008, 3, 15), map[string]bool{">18": false, ">=18": true, "<18": false, "<=18": true}},
		{"day after the 18th birthday", born(2008, 3, 14), map[string]bool{">18": true, ">=18": true, "<18": false, "<=18": false}},
	}
	for _, c := range cases {
		p := match.Profile{Tenant: "t", PatientID: "p", BirthDate: c.born}
		for i, op := range ops {
			why, err := e.Explain(&p, trials[i].ProtocolNo, "A")
			if err != nil {
				t.Fatal(err)
			}
			if got := why[0].Result == match.True; got != c.want[op] {
				t.Errorf("%s: age %s = %v, want %v", c.name, op, got, c.want[op])
			}
		}
	}
}
