package opentrials

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// Decision is the state of one trial at one event time.
type Decision struct {
	ProtocolNo string
	At         time.Time
	Open       bool
	// Why says why the trial is not open ("" when open).
	Why string
	// The trial version valid at At (zero Version when there is none).
	Version    int64
	CTML       string
	CTMLFormat string
	// ApprovalReference is the reference of the approval that opens the trial.
	ApprovalReference string
	// ClosedArms lists arm codes closed or suspended by arm-level events, sorted.
	ClosedArms []string
	// Sites lists the sites open at At, sorted. When the trial names no
	// site (neither its version nor a site-level event), it is empty and
	// the trial is open at every site.
	Sites []string `json:",omitempty"`
	// SiteClosedArms lists, per open site, the arm codes closed or
	// suspended at that site only (arm-level events that name a site),
	// sorted; sites with none are absent.
	SiteClosedArms map[string][]string `json:",omitempty"`
}

// Restricted reports whether the trial is open at the listed sites only.
func (d Decision) Restricted() bool { return len(d.Sites) > 0 }

// OpenAt reports whether the named arm ("" for the trial as a whole) is
// open at site under the decision: the trial is open, the site is one of
// its open sites (or the trial names none), and neither a trial-wide nor a
// site-level event closed the arm.
func (d Decision) OpenAt(site, arm string) bool {
	if !d.Open {
		return false
	}
	if d.Restricted() {
		i := sort.SearchStrings(d.Sites, site)
		if i == len(d.Sites) || d.Sites[i] != site {
			return false
		}
	}
	if arm == "" {
		return true
	}
	if !d.ArmOpen(arm) {
		return false
	}
	closed := d.SiteClosedArms[site]
	i := sort.SearchStrings(closed, arm)
	return i == len(closed) || closed[i] != arm
}

// Equal reports whether two decisions say the same thing (At aside).
func (d Decision) Equal(o Decision) bool {
	d.At, o.At = time.Time{}, time.Time{}
	a, _ := json.Marshal(d)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// ArmOpen reports whether the named arm is open under the decision.
func (d Decision) ArmOpen(code string) bool {
	if !d.Open {
		return false
	}
	i := sort.SearchStrings(d.ClosedArms, code)
	return i == len(d.ClosedArms) || d.ClosedArms[i] != code
}

func validAt(e *schemas.RegulatoryEvent, t time.Time) bool {
	if e.ValidFrom.After(t) {
		return false
	}
	return e.ValidTo == nil || e.ValidTo.After(t)
}

func restrictiveness(action string) int {
	switch action {
	case "CLOSED":
		return 2
	case "SUSPENDED":
		return 1
	}
	return 0
}

// later orders events for "latest wins": by valid_from, then recording time,
// then restrictiveness.
func later(a, b *schemas.RegulatoryEvent) bool {
	if !a.ValidFrom.Equal(b.ValidFrom) {
		return a.ValidFrom.After(b.ValidFrom)
	}
	if !a.EventTime.Equal(b.EventTime) {
		return a.EventTime.After(b.EventTime)
	}
	return restrictiveness(a.Action) > restrictiveness(b.Action)
}

// At computes the decision for one protocol at time t from all versions and
// events known for it (in any order). Versions and events of other protocols
// are an error.
func At(protocol string, versions []*schemas.Trial, events []*schemas.RegulatoryEvent, t time.Time) (Decision, error) {
	d := Decision{ProtocolNo: protocol, At: t}
	var cur *schemas.Trial
	for _, v := range versions {
		if v.ProtocolNo != protocol {
			return d, fmt.Errorf("opentrials: trial version of %q given for protocol %q", v.ProtocolNo, protocol)
		}
		if v.EventTime.After(t) {
			continue
		}
		if cur == nil || v.EventTime.After(cur.EventTime) || (v.EventTime.Equal(cur.EventTime) && v.Version > cur.Version) {
			cur = v
		}
	}
	var trialEv *schemas.RegulatoryEvent
	arms := map[string]*schemas.RegulatoryEvent{}
	sites := map[string]*schemas.RegulatoryEvent{}
	siteArms := map[[2]string]*schemas.RegulatoryEvent{} // (site, arm)
	for _, e := range events {
		if e.ProtocolNo != protocol {
			return d, fmt.Errorf("opentrials: regulatory event %s of %q given for protocol %q", e.EventID, e.ProtocolNo, protocol)
		}
		if !validAt(e, t) {
			continue
		}
		switch e.Scope {
		case "TRIAL":
			if trialEv == nil || later(e, trialEv) {
				trialEv = e
			}
		case "ARM":
			if e.ArmCode == nil {
				return d, fmt.Errorf("opentrials: regulatory event %s has scope ARM but no arm_code", e.EventID)
			}
			if e.SiteID != nil && *e.SiteID != "" {
				// An arm at one site: it opens or closes the arm there only.
				k := [2]string{*e.SiteID, *e.ArmCode}
				if prev := siteArms[k]; prev == nil || later(e, prev) {
					siteArms[k] = e
				}
				break
			}
			if prev := arms[*e.ArmCode]; prev == nil || later(e, prev) {
				arms[*e.ArmCode] = e
			}
		case "SITE":
			if e.SiteID == nil {
				return d, fmt.Errorf("opentrials: regulatory event %s has scope SITE but no site_id", e.EventID)
			}
			if prev := sites[*e.SiteID]; prev == nil || later(e, prev) {
				sites[*e.SiteID] = e
			}
		default:
			return d, fmt.Errorf("opentrials: regulatory event %s has unknown scope %q", e.EventID, e.Scope)
		}
	}
	if cur != nil {
		d.Version, d.CTML, d.CTMLFormat = cur.Version, cur.CTML, cur.CTMLFormat
	}
	switch {
	case cur == nil:
		d.Why = "no trial version yet"
	case cur.Status != "OPEN":
		d.Why = "trial status " + cur.Status
	case trialEv == nil:
		d.Why = "no regulatory approval in force"
	case trialEv.Action != "APPROVED":
		d.Why = "trial " + trialEv.Action + " by " + deref(trialEv.Authority, "regulator") + " (" + trialEv.Reference + ")"
	default:
		d.Open = true
		d.ApprovalReference = trialEv.Reference
	}
	for code, e := range arms {
		if e.Action != "APPROVED" {
			d.ClosedArms = append(d.ClosedArms, code)
		}
	}
	sort.Strings(d.ClosedArms)
	open := map[string]bool{}
	if cur != nil {
		for _, s := range cur.Sites {
			open[s] = true
		}
	}
	for s, e := range sites {
		open[s] = e.Action == "APPROVED"
	}
	for s, ok := range open {
		if ok {
			d.Sites = append(d.Sites, s)
		}
	}
	sort.Strings(d.Sites)
	for k, e := range siteArms {
		if e.Action != "APPROVED" && open[k[0]] {
			if d.SiteClosedArms == nil {
				d.SiteClosedArms = map[string][]string{}
			}
			d.SiteClosedArms[k[0]] = append(d.SiteClosedArms[k[0]], k[1])
		}
	}
	for _, arms := range d.SiteClosedArms {
		sort.Strings(arms)
	}
	if d.Open && len(d.Sites) == 0 && cur != nil && (len(cur.Sites) > 0 || len(sites) > 0) {
		d.Open, d.ApprovalReference, d.Why = false, "", "no site open"
	}
	return d, nil
}

// ChangePoints returns the sorted, distinct times at which the decision for
// these versions and events may change.
func ChangePoints(versions []*schemas.Trial, events []*schemas.RegulatoryEvent) []time.Time {
	seen := map[int64]bool{}
	var out []time.Time
	add := func(t time.Time) {
		if !seen[t.UnixNano()] {
			seen[t.UnixNano()] = true
			out = append(out, t)
		}
	}
	for _, v := range versions {
		add(v.EventTime)
	}
	for _, e := range events {
		add(e.ValidFrom)
		if e.ValidTo != nil {
			add(*e.ValidTo)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func deref(s *string, def string) string {
	if s == nil || *s == "" {
		return def
	}
	return *s
}

// AllAt groups versions and events by protocol and returns every
// protocol's decision at t, sorted by protocol number.
func AllAt(versions []*schemas.Trial, events []*schemas.RegulatoryEvent, t time.Time) ([]Decision, error) {
	vs := map[string][]*schemas.Trial{}
	es := map[string][]*schemas.RegulatoryEvent{}
	for _, v := range versions {
		vs[v.ProtocolNo] = append(vs[v.ProtocolNo], v)
	}
	for _, e := range events {
		es[e.ProtocolNo] = append(es[e.ProtocolNo], e)
	}
	protocols := make([]string, 0, len(vs))
	for p := range vs {
		protocols = append(protocols, p)
	}
	sort.Strings(protocols)
	out := make([]Decision, 0, len(protocols))
	for _, p := range protocols {
		d, err := At(p, vs[p], es[p], t)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Changelog is the open-trial table's changes for every protocol named by
// trials and events: each protocol's decision at each of its change points,
// kept only where it differs from the one before, protocols in sorted
// order. It is what the table stage computes, for tests and replays that
// need the changelog without a runner.
func Changelog(trials []*schemas.Trial, events []*schemas.RegulatoryEvent) ([]Decision, error) {
	versions := map[string][]*schemas.Trial{}
	byProtocol := map[string][]*schemas.RegulatoryEvent{}
	for _, v := range trials {
		versions[v.ProtocolNo] = append(versions[v.ProtocolNo], v)
	}
	for _, e := range events {
		byProtocol[e.ProtocolNo] = append(byProtocol[e.ProtocolNo], e)
	}
	protocols := make([]string, 0, len(versions))
	for p := range versions {
		protocols = append(protocols, p)
	}
	sort.Strings(protocols)
	var out []Decision
	for _, p := range protocols {
		var prev *Decision
		for _, at := range ChangePoints(versions[p], byProtocol[p]) {
			d, err := At(p, versions[p], byProtocol[p], at)
			if err != nil {
				return nil, fmt.Errorf("opentrials: %s at %s: %w", p, at.Format(time.RFC3339), err)
			}
			if prev != nil && prev.Equal(d) {
				continue
			}
			out = append(out, d)
			prev = &out[len(out)-1]
		}
	}
	return out, nil
}
