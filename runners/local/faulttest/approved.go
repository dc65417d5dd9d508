package faulttest

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/schemas"
)

// Key is approved_patients' key.
type Key struct{ Tenant, Patient, Protocol string }

func (k Key) String() string { return k.Tenant + "/" + k.Patient + "/" + k.Protocol }

// State is what a record says of its key, the fields an uninterrupted run
// and a restarted one must agree on.
type State struct {
	Action           string
	Arm, Dose, Site  string
	TrialVersion     int64
	RetractionReason string // informative only: not compared
	EventTimeMillis  int64  // informative only: not compared
}

func (s State) same(o State) bool {
	return s.Action == o.Action && s.Arm == o.Arm && s.Dose == o.Dose && s.Site == o.Site && s.TrialVersion == o.TrialVersion
}

func (s State) String() string {
	out := fmt.Sprintf("%s arm=%q dose=%q site=%q v%d", s.Action, s.Arm, s.Dose, s.Site, s.TrialVersion)
	if s.RetractionReason != "" {
		out += " (" + s.RetractionReason + ")"
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// KeyOf is a record's key.
func KeyOf(a schemas.ApprovedPatient) Key { return Key{a.Tenant, a.PatientID, a.ProtocolNo} }

// StateOf is what a record says.
func StateOf(a schemas.ApprovedPatient) State {
	return State{Action: a.Action, Arm: deref(a.ArmCode), Dose: deref(a.DoseLevel), Site: deref(a.SiteID),
		TrialVersion: a.TrialVersion, RetractionReason: deref(a.RetractionReason), EventTimeMillis: a.EventTime.UnixMilli()}
}

// ReadApproved reads approved_patients of s to its current end, in offset
// order per partition (so in order per key).
func ReadApproved(ctx context.Context, s *Stack) ([]schemas.ApprovedPatient, error) {
	return trialmatch.ReadApproved(ctx, s.Bootstrap(), s.RegistryURL(), schemas.ApprovedPatients.Topic)
}

// Collapse keeps the last record of every key.
func Collapse(recs []schemas.ApprovedPatient) map[Key]State {
	out := map[Key]State{}
	for _, r := range recs {
		out[KeyOf(r)] = StateOf(r)
	}
	return out
}

// Count is the number of records by action.
func Count(recs []schemas.ApprovedPatient) (news, retracted int) {
	for _, r := range recs {
		if r.Action == "NEW" {
			news++
		} else {
			retracted++
		}
	}
	return news, retracted
}

// DoubleNews lists the keys that got a second NEW with no RETRACTED in
// between.
func DoubleNews(recs []schemas.ApprovedPatient) []string {
	open := map[Key]bool{}
	var out []string
	for _, r := range recs {
		k := KeyOf(r)
		if r.Action == "NEW" {
			if open[k] {
				out = append(out, k.String())
			}
			open[k] = true
		} else {
			open[k] = false
		}
	}
	return out
}

// Superseded is the retraction reason of a NEW that a restarted job
// withdraws because the uninterrupted run would not have kept it.
const Superseded = "SUPERSEDED"

// Diff compares collapsed outputs: got (the run under test) against want
// (the uninterrupted run). A key whose last record in got is a RETRACTED
// with reason SUPERSEDED counts as absent (a restarted job withdrew what it
// had published before the crash). Every other difference is listed: a
// NEW left that want retracted or never published, a match missing, or
// different arm, dose level, site or trial version.
func Diff(got, want map[Key]State) []string {
	var out []string
	for k, g := range got {
		w, ok := want[k]
		switch {
		case !ok && g.Action != "NEW" && g.RetractionReason == Superseded:
		case !ok && g.Action == "NEW":
			out = append(out, fmt.Sprintf("%s: NEW left (%s) that the uninterrupted run never published", k, g))
		case !ok:
			out = append(out, fmt.Sprintf("%s: %s, the uninterrupted run published nothing", k, g))
		case !g.same(w) && !(g.Action != "NEW" && w.Action != "NEW" && g.RetractionReason == Superseded):
			out = append(out, fmt.Sprintf("%s: %s, uninterrupted %s", k, g, w))
		}
	}
	for k, w := range want {
		if _, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("%s: missing, uninterrupted %s", k, w))
		}
	}
	sort.Strings(out)
	return out
}

// Summarize shortens a list of findings for a test message.
func Summarize(what []string, n int) string {
	if len(what) <= n {
		return strings.Join(what, "\n  ")
	}
	return strings.Join(what[:n], "\n  ") + fmt.Sprintf("\n  ... and %d more", len(what)-n)
}

// InputTopics are the topics the trialmatch pipeline reads.
var InputTopics = []string{schemas.PatientFacts.Topic, schemas.Trials.Topic, schemas.Regulatory.Topic}

// Offsets are offsets by topic and partition.
type Offsets map[string]map[int32]int64

func (o Offsets) String() string {
	var parts []string
	for t, ps := range o {
		for p, off := range ps {
			parts = append(parts, fmt.Sprintf("%s/%d=%d", t, p, off))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// newAdmin returns the stack's admin client, opened once (a new client per
// poll needs metadata each time, which a loaded machine makes slow).
func newAdmin(s *Stack) (*kadm.Client, func(), error) {
	s.admMu.Lock()
	defer s.admMu.Unlock()
	if s.adm == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.Bootstrap()...))
		if err != nil {
			return nil, nil, err
		}
		s.adm, s.admClose = kadm.NewClient(cl), cl.Close
	}
	return s.adm, func() {}, nil
}

// Committed returns the consumer group's committed offsets of topics.
func Committed(ctx context.Context, s *Stack, group string, topics ...string) (Offsets, error) {
	adm, done, err := newAdmin(s)
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := adm.FetchOffsetsForTopics(ctx, group, topics...)
	if err != nil {
		return nil, fmt.Errorf("faulttest: committed offsets of %s: %w", group, err)
	}
	out := Offsets{}
	resp.Each(func(r kadm.OffsetResponse) {
		if r.Err == nil && r.At >= 0 {
			if out[r.Topic] == nil {
				out[r.Topic] = map[int32]int64{}
			}
			out[r.Topic][r.Partition] = r.At
		}
	})
	return out, nil
}

// Ends returns the end offsets of topics.
func Ends(ctx context.Context, s *Stack, topics ...string) (Offsets, error) {
	adm, done, err := newAdmin(s)
	if err != nil {
		return nil, err
	}
	defer done()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("faulttest: end offsets: %w", err)
	}
	out := Offsets{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			if out[o.Topic] == nil {
				out[o.Topic] = map[int32]int64{}
			}
			out[o.Topic][o.Partition] = o.Offset
		}
	})
	return out, nil
}

// Behind lists the partitions whose committed offset is short of the end.
func Behind(committed, ends Offsets) []string {
	var out []string
	for t, ps := range ends {
		for p, end := range ps {
			if end > 0 && committed[t][p] < end {
				out = append(out, fmt.Sprintf("%s/%d committed %d of %d", t, p, committed[t][p], end))
			}
		}
	}
	sort.Strings(out)
	return out
}

// CommitAhead looks for offsets committed ahead of their outputs. committed
// are the group's offsets read before approved (what the job under test
// had published, read after them); placed is where the feed put every
// record in that stack; want is the uninterrupted run's approved_patients.
//
// A record of want is caused by a fact of the same patient at the same
// event time (a record caused by a trial change or an approval taking
// effect is not checked). Once that fact's offset is committed, its key's
// state in want from that record on must be in approved: some record of
// approved for the key says what that record of want or a later one of
// want says, or the key has no record and want retracts it at or after
// that record.
func CommitAhead(committed Offsets, placed []Placed, want, approved []schemas.ApprovedPatient) []string {
	type cause struct {
		tenant, patient string
		at              int64
	}
	// committedCause[c]: every fact at c committed; a cause with any
	// uncommitted fact is not checked.
	committedCause := map[cause]bool{}
	for _, p := range placed {
		if p.Topic != schemas.PatientFacts.Topic {
			continue
		}
		c := cause{p.Tenant, p.Patient, p.EventTime.UnixMilli()}
		ok := p.Offset < committed[p.Topic][p.Partition]
		if prev, seen := committedCause[c]; seen {
			ok = ok && prev
		}
		committedCause[c] = ok
	}
	byKey := map[Key][]schemas.ApprovedPatient{}
	for _, r := range want {
		byKey[KeyOf(r)] = append(byKey[KeyOf(r)], r)
	}
	have := map[Key][]State{}
	for _, r := range approved {
		have[KeyOf(r)] = append(have[KeyOf(r)], StateOf(r))
	}
	var out []string
	for k, rs := range byKey {
		last := -1 // the last record of want for k whose cause is committed
		for i, r := range rs {
			if committedCause[cause{r.Tenant, r.PatientID, r.EventTime.UnixMilli()}] {
				last = i
			}
		}
		if last < 0 {
			continue
		}
		ok := false
		for _, r := range rs[last:] {
			w := StateOf(r)
			if w.Action != "NEW" && len(have[k]) == 0 {
				ok = true
			}
			for _, h := range have[k] {
				if h.same(w) {
					ok = true
				}
			}
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s: the fact at %d that made it %s is committed, approved_patients has %v",
				k, rs[last].EventTime.UnixMilli(), StateOf(rs[last]), have[k]))
		}
	}
	sort.Strings(out)
	return out
}
