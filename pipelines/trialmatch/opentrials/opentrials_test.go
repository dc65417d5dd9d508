package opentrials_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/schemas"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func h(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }

func version(v int64, at time.Time, status string, sites ...string) *schemas.Trial {
	return &schemas.Trial{ProtocolNo: "P1", Version: v, EventTime: at, Status: status, CTML: fmt.Sprintf("v%d", v), CTMLFormat: "JSON", Sites: sites}
}

func event(id, scope, action string, from time.Time, to *time.Time, arm, site string) *schemas.RegulatoryEvent {
	e := &schemas.RegulatoryEvent{EventID: id, ProtocolNo: "P1", Scope: scope, Action: action, ValidFrom: from, ValidTo: to,
		Reference: "ref-" + id, EventTime: from}
	if arm != "" {
		e.ArmCode = &arm
	}
	if site != "" {
		e.SiteID = &site
	}
	return e
}

func TestAsOfDecisions(t *testing.T) {
	end := h(30)
	versions := []*schemas.Trial{
		version(1, h(0), "OPEN", "s1", "s2"),
		version(2, h(20), "OPEN", "s1", "s2"),
		version(3, h(40), "CLOSED"),
	}
	events := []*schemas.RegulatoryEvent{
		event("a", "TRIAL", "APPROVED", h(5), &end, "", ""),
		event("b", "ARM", "CLOSED", h(10), nil, "ARM 1", ""),
		event("c", "ARM", "APPROVED", h(15), nil, "ARM 1", ""),
		event("d", "SITE", "SUSPENDED", h(12), nil, "", "s2"),
	}
	cases := []struct {
		at         time.Time
		open       bool
		why        string
		version    int64
		arm1Open   bool
		sites      string
		approvalID string
	}{
		{h(1), false, "no regulatory approval", 1, false, "s1,s2", ""},
		{h(5), true, "", 1, true, "s1,s2", "ref-a"},
		{h(11), true, "", 1, false, "s1,s2", "ref-a"},
		{h(13), true, "", 1, false, "s1", "ref-a"},
		{h(16), true, "", 1, true, "s1", "ref-a"},
		{h(25), true, "", 2, true, "s1", "ref-a"},
		{h(30), false, "no regulatory approval", 2, false, "s1", ""},
		{h(45), false, "trial status CLOSED", 3, false, "", ""},
	}
	for _, c := range cases {
		d, err := opentrials.At("P1", versions, events, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if d.Open != c.open || d.Version != c.version || d.ArmOpen("ARM 1") != c.arm1Open ||
			strings.Join(d.Sites, ",") != c.sites || d.ApprovalReference != c.approvalID ||
			!strings.HasPrefix(d.Why, c.why) {
			t.Errorf("at +%v: got %+v", c.at.Sub(t0), d)
		}
		if c.open && !d.ArmOpen("ARM 2") {
			t.Errorf("at +%v: ARM 2 has no arm-level event and must follow the trial", c.at.Sub(t0))
		}
	}
}

func TestClosureWinsTie(t *testing.T) {
	v := []*schemas.Trial{version(1, h(0), "OPEN")}
	e := []*schemas.RegulatoryEvent{
		event("a", "TRIAL", "APPROVED", h(1), nil, "", ""),
		event("b", "TRIAL", "CLOSED", h(1), nil, "", ""),
	}
	d, _ := opentrials.At("P1", v, e, h(2))
	if d.Open || !strings.Contains(d.Why, "CLOSED") {
		t.Fatalf("closure at the same instant did not win: %+v", d)
	}
}

func TestErrors(t *testing.T) {
	other := version(1, h(0), "OPEN")
	other.ProtocolNo = "P2"
	if _, err := opentrials.At("P1", []*schemas.Trial{other}, nil, h(1)); err == nil {
		t.Fatal("want an error for another protocol's version")
	}
	bad := event("x", "ARM", "CLOSED", h(0), nil, "", "")
	if _, err := opentrials.At("P1", nil, []*schemas.RegulatoryEvent{bad}, h(1)); err == nil || !strings.Contains(err.Error(), "no arm_code") {
		t.Fatalf("err = %v", err)
	}
	odd := event("y", "PLANET", "CLOSED", h(0), nil, "", "")
	if _, err := opentrials.At("P1", nil, []*schemas.RegulatoryEvent{odd}, h(1)); err == nil {
		t.Fatal("want an error for an unknown scope")
	}
}

func TestChangePoints(t *testing.T) {
	end := h(9)
	got := opentrials.ChangePoints(
		[]*schemas.Trial{version(1, h(0), "OPEN"), version(2, h(3), "OPEN")},
		[]*schemas.RegulatoryEvent{event("a", "TRIAL", "APPROVED", h(3), &end, "", "")})
	if len(got) != 3 || !got[0].Equal(h(0)) || !got[1].Equal(h(3)) || !got[2].Equal(h(9)) {
		t.Fatalf("change points = %v", got)
	}
}

func ExampleAt() {
	versions := []*schemas.Trial{{ProtocolNo: "26-100", Version: 1, EventTime: h(0), Status: "OPEN"}}
	events := []*schemas.RegulatoryEvent{{EventID: "e1", ProtocolNo: "26-100", Scope: "TRIAL", Action: "APPROVED",
		ValidFrom: h(2), Reference: "IRB-7", EventTime: h(2)}}
	before, _ := opentrials.At("26-100", versions, events, h(1))
	after, _ := opentrials.At("26-100", versions, events, h(2))
	fmt.Println(before.Open, before.Why)
	fmt.Println(after.Open, after.ApprovalReference)
	// Output:
	// false no regulatory approval in force
	// true IRB-7
}

// An arm approved at site A and suspended at site B is open at A only; the
// trial itself stays open at both.
func TestArmOpenAtOneSiteOnly(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := &schemas.Trial{ProtocolNo: "S-1", Version: 1, EventTime: t0, Status: "OPEN", Sites: []string{"site-a", "site-b"}}
	ev := func(id, scope, site, arm, action string, at time.Time) *schemas.RegulatoryEvent {
		e := &schemas.RegulatoryEvent{EventID: id, ProtocolNo: "S-1", Scope: scope, Action: action, ValidFrom: at, EventTime: at, Reference: id}
		if site != "" {
			e.SiteID = &site
		}
		if arm != "" {
			e.ArmCode = &arm
		}
		return e
	}
	events := []*schemas.RegulatoryEvent{
		ev("irb", "TRIAL", "", "", "APPROVED", t0),
		ev("a-x", "ARM", "site-a", "X", "APPROVED", t0),
		ev("b-x", "ARM", "site-b", "X", "SUSPENDED", t0.Add(time.Hour)),
	}
	d, err := opentrials.At("S-1", []*schemas.Trial{v}, events, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Open || !d.ArmOpen("X") {
		t.Fatalf("a site-level suspension closed the arm everywhere: %+v", d)
	}
	for _, c := range []struct {
		site, arm string
		want      bool
	}{{"site-a", "X", true}, {"site-b", "X", false}, {"site-b", "Y", true}, {"site-b", "", true}, {"site-c", "X", false}} {
		if got := d.OpenAt(c.site, c.arm); got != c.want {
			t.Errorf("OpenAt(%s, %q) = %v, want %v", c.site, c.arm, got, c.want)
		}
	}
	before, _ := opentrials.At("S-1", []*schemas.Trial{v}, events, t0.Add(time.Minute))
	if !before.OpenAt("site-b", "X") {
		t.Error("arm X closed at site-b before its suspension")
	}
	// A site suspension closes every arm there, the other site keeps them.
	events = append(events, ev("site-b", "SITE", "site-b", "", "SUSPENDED", t0.Add(3*time.Hour)))
	d, _ = opentrials.At("S-1", []*schemas.Trial{v}, events, t0.Add(4*time.Hour))
	if d.OpenAt("site-b", "Y") || !d.OpenAt("site-a", "Y") || !d.Open {
		t.Fatalf("site suspension: %+v", d)
	}
	// A trial that names no site is open at every site.
	open := &schemas.Trial{ProtocolNo: "S-1", Version: 2, EventTime: t0.Add(5 * time.Hour), Status: "OPEN"}
	d, _ = opentrials.At("S-1", []*schemas.Trial{open}, events[:1], t0.Add(6*time.Hour))
	if d.Restricted() || !d.OpenAt("anywhere", "X") {
		t.Fatalf("unrestricted trial: %+v", d)
	}
}
