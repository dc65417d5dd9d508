package catalog_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/schemas"
)

// model is the brute-force catalog the Table replaces: the open decisions'
// trials parsed again, the regulatory decision applied to a copy (closed
// arms suspended), only those compiled, and every profile matched row by
// row. The sites come straight from each decision.
type model struct {
	engine *match.Engine
	decs   map[string]opentrials.Decision
}

func newModel(t *testing.T, decisions []opentrials.Decision, today time.Time, only map[string]bool) *model {
	t.Helper()
	m := &model{decs: map[string]opentrials.Decision{}}
	var trials []*criteria.Trial
	for _, d := range decisions {
		if !d.Open || (only != nil && !only[d.ProtocolNo]) {
			continue
		}
		tr, err := criteria.Parse([]byte(d.CTML))
		if err != nil {
			continue
		}
		cp := *tr
		cp.Status = "Open to Accrual"
		cp.Steps = slices.Clone(tr.Steps)
		for i := range cp.Steps {
			cp.Steps[i].Arms = slices.Clone(cp.Steps[i].Arms)
			for j := range cp.Steps[i].Arms {
				a := &cp.Steps[i].Arms[j]
				a.Suspended = a.Suspended || !d.ArmOpen(a.Code)
			}
		}
		trials = append(trials, &cp)
		m.decs[d.ProtocolNo] = d
	}
	sort.Slice(trials, func(i, j int) bool { return trials[i].ProtocolNo < trials[j].ProtocolNo })
	e, err := match.Compile(trials, match.WithToday(today), match.WithMatchOnDeceased(false), match.WithMatchOnClosed(false))
	if err != nil {
		t.Fatal(err)
	}
	m.engine = e
	return m
}

// eligibilities lists what the model finds for p: protocol, arm, dose,
// site, version and approval, in the engine's order.
func (m *model) eligibilities(p match.Profile) []string {
	var out []string
	for _, x := range m.engine.Rowwise([]match.Profile{p}) {
		d := m.decs[x.ProtocolNo]
		site := ""
		if d.Restricted() {
			if !d.OpenAt(p.Tenant, x.ArmCode) {
				continue
			}
			site = p.Tenant
		}
		out = append(out, fmt.Sprintf("%s/%s/%s@%s v%d %s", x.ProtocolNo, x.ArmCode, x.DoseLevel, site, d.Version, d.ApprovalReference))
	}
	return out
}

// openArms is the model's OpenArmsFor: the open arms of the open, parsed
// trials open at the patient's site.
func (m *model) openArms(tenant string) map[string][]string {
	out := map[string][]string{}
	for p, d := range m.decs {
		if d.Restricted() && !d.OpenAt(tenant, "") {
			continue
		}
		tr, _ := criteria.Parse([]byte(d.CTML))
		var arms []string
		for _, st := range tr.Steps {
			for _, a := range st.Arms {
				if !a.Suspended && d.ArmOpen(a.Code) && (!d.Restricted() || d.OpenAt(tenant, a.Code)) {
					arms = append(arms, a.Code)
				}
			}
		}
		sort.Strings(arms)
		out[p] = arms
	}
	return out
}

// eligibilityText renders a catalog verdict's eligibilities as the model does.
func eligibilityText(es []decide.Eligible) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s/%s/%s@%s v%d %s", e.ProtocolNo, e.ArmCode, e.DoseLevel, e.Site, e.TrialVersion, e.ApprovalReference))
	}
	return out
}

// churn adds what the synthetic data lacks: second versions of some trials
// (other arms, one suspended in its CTML), a version whose CTML does not
// parse, trials closed and reopened, and arms closed and reopened at sites.
func churn(d *synth.Dataset, c synth.Config, r *rand.Rand) {
	at := func() time.Time { return c.Start.Add(time.Duration(r.Float64() * float64(c.Span))) }
	n := len(d.Trials)
	for i := 0; i < n; i++ {
		tr := d.Trials[i]
		switch r.IntN(6) {
		case 0:
			v2 := *tr
			v2.Version, v2.EventTime = 2, at()
			v2.CTML = strings.Replace(strings.Replace(tr.CTML, `"ARM A"`, `"ARM Z"`, 1), `"arm_suspended":"N"`, `"arm_suspended":"Y"`, 1)
			d.Trials = append(d.Trials, &v2)
		case 1:
			v2 := *tr
			v2.Version, v2.EventTime = 2, at()
			v2.CTML = `{"protocol_no": "` + tr.ProtocolNo + `", "treatment_list": {"step": [{"arm": [{"arm_code": "A", "match": [{"clinical": {"favourite_colour": "blue"}}]}]}]}}`
			d.Trials = append(d.Trials, &v2)
		}
		for k := r.IntN(3); k > 0; k-- {
			from := at()
			to := from.Add(time.Duration(r.Float64() * float64(c.Span) / 4))
			e := &schemas.RegulatoryEvent{EventID: fmt.Sprintf("churn-%d-%d", i, k), ProtocolNo: tr.ProtocolNo, EventTime: from, ValidFrom: from, ValidTo: &to, Reference: "CHURN"}
			switch r.IntN(3) {
			case 0:
				e.Scope, e.Action = "TRIAL", "SUSPENDED"
			case 1:
				e.Scope, e.Action, e.ArmCode = "ARM", "CLOSED", schemas.Ptr("ARM B")
			default:
				e.Scope, e.Action, e.ArmCode, e.SiteID = "ARM", "SUSPENDED", schemas.Ptr("ARM A"), schemas.Ptr(d.Sites[r.IntN(len(d.Sites))])
			}
			d.Regulatory = append(d.Regulatory, e)
		}
	}
}

// A Table brought up to date decision by decision gives, at every change
// point of a churning open-trial history, the verdicts of a catalog built
// from scratch for that table: vectorised and row by row, for every trial
// and for the changed ones only, with the same open arms per site.
func TestTableEqualsModel(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials = 400, 24
	d := synth.Generate(c)
	r := rand.New(rand.NewPCG(7, 11))
	churn(d, c, r)
	ps := profiles(t, d)
	tenants := map[string]bool{"nowhere": true}
	for _, p := range ps {
		tenants[p.Tenant] = true
	}
	comp := catalog.NewCompiler()
	table := catalog.NewTable(comp)
	cur := map[string]opentrials.Decision{}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	points := opentrials.ChangePoints(d.Trials, d.Regulatory)
	checked, withMatches, rejected := 0, 0, 0
	for i, at := range points {
		decs, err := opentrials.AllAt(d.Trials, d.Regulatory, at)
		if err != nil {
			t.Fatal(err)
		}
		changed := map[string]bool{}
		for _, dec := range decs {
			if old, ok := cur[dec.ProtocolNo]; !ok || !old.Equal(dec) {
				changed[dec.ProtocolNo] = true
				cur[dec.ProtocolNo] = dec
				table.Set(dec)
			}
		}
		if i%3 != 0 && i != len(points)-1 {
			continue // every third state, to keep the test short
		}
		checked++
		full, err := table.Catalog(at)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for p := range changed {
			names = append(names, p)
		}
		part, err := table.CatalogOf(at, names)
		if err != nil {
			t.Fatal(err)
		}
		want, wantPart := newModel(t, decs, at, nil), newModel(t, decs, at, changed)
		times := make([]time.Time, len(ps))
		for j := range times {
			times[j] = at
		}
		vec, err := full.Evaluate(mem, ps, times)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := full.EvaluateRows(ps, times)
		if err != nil {
			t.Fatal(err)
		}
		partRows, err := part.EvaluateRows(ps, times)
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range ps {
			w := want.eligibilities(p)
			if len(w) > 0 {
				withMatches++
			}
			for name, ev := range map[string]*catalog.Evaluation{"vectorised": vec, "row by row": rows} {
				if got := eligibilityText(ev.Verdicts[j].Eligible); !slices.Equal(got, w) {
					t.Fatalf("state %d (%s), %s, patient %s: eligibilities\n%v\nwant\n%v", i, at.Format(time.RFC3339), name, p.PatientID, got, w)
				}
			}
			if got, w := eligibilityText(partRows.Verdicts[j].Eligible), wantPart.eligibilities(p); !slices.Equal(got, w) {
				t.Fatalf("state %d, changed trials %v only, patient %s: eligibilities\n%v\nwant\n%v", i, names, p.PatientID, got, w)
			}
		}
		vec.Release()
		for tenant := range tenants {
			got, w := full.OpenArmsFor(tenant), want.openArms(tenant)
			if len(got) != len(w) {
				t.Fatalf("state %d, tenant %s: open arms %v, want %v", i, tenant, got, w)
			}
			for p, arms := range w {
				if g, ok := got[p]; !ok || !slices.Equal(g, arms) {
					t.Fatalf("state %d, tenant %s, trial %s: open arms %v, want %v", i, tenant, p, got[p], arms)
				}
			}
		}
		if len(full.Rejected()) > 0 {
			rejected++
		}
	}
	if checked < 10 || withMatches == 0 || rejected == 0 {
		t.Fatalf("checked %d table states, %d verdicts with matches, %d with a rejected trial: the data does not exercise the table", checked, withMatches, rejected)
	}
}
