package digest

import (
	"sort"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// Digest is one tenant's notification for one window: the records of the
// window's pane, counted by action and by protocol.
type Digest struct {
	Tenant      string
	WindowStart time.Time // inclusive
	WindowEnd   time.Time // exclusive
	New         int
	Retracted   int
	ByProtocol  []ProtocolCount // sorted by ProtocolNo
}

// ProtocolCount is the count of one protocol in a Digest.
type ProtocolCount struct {
	ProtocolNo string
	New        int
	Retracted  int
}

// Counts accumulates records into a Digest's counts. The zero value is
// empty and ready to use.
type Counts struct {
	New        int
	Retracted  int
	ByProtocol map[string]ProtocolCount
}

// Add counts a (NEW or RETRACTED; other actions are ignored and reported
// false).
func (c *Counts) Add(a *schemas.ApprovedPatient) bool {
	pc := c.ByProtocol[a.ProtocolNo]
	switch a.Action {
	case "NEW":
		c.New++
		pc.New++
	case "RETRACTED":
		c.Retracted++
		pc.Retracted++
	default:
		return false
	}
	if c.ByProtocol == nil {
		c.ByProtocol = map[string]ProtocolCount{}
	}
	pc.ProtocolNo = a.ProtocolNo
	c.ByProtocol[a.ProtocolNo] = pc
	return true
}

// Merge adds the counts of o to c.
func (c *Counts) Merge(o Counts) {
	c.New += o.New
	c.Retracted += o.Retracted
	for k, v := range o.ByProtocol {
		if c.ByProtocol == nil {
			c.ByProtocol = map[string]ProtocolCount{}
		}
		pc := c.ByProtocol[k]
		pc.ProtocolNo, pc.New, pc.Retracted = k, pc.New+v.New, pc.Retracted+v.Retracted
		c.ByProtocol[k] = pc
	}
}

// Empty reports whether nothing was counted.
func (c *Counts) Empty() bool { return c.New == 0 && c.Retracted == 0 }

// Digest returns the digest of c for tenant and the window [start, end).
func (c *Counts) Digest(tenant string, start, end time.Time) Digest {
	d := Digest{Tenant: tenant, WindowStart: start.UTC(), WindowEnd: end.UTC(), New: c.New, Retracted: c.Retracted}
	if len(c.ByProtocol) > 0 {
		d.ByProtocol = make([]ProtocolCount, 0, len(c.ByProtocol))
		for _, pc := range c.ByProtocol {
			d.ByProtocol = append(d.ByProtocol, pc)
		}
		sort.Slice(d.ByProtocol, func(i, j int) bool { return d.ByProtocol[i].ProtocolNo < d.ByProtocol[j].ProtocolNo })
	}
	return d
}

// Of computes digests without Beam: records grouped by tenant and by the
// tumbling window of size (aligned to the Unix epoch, as Beam's fixed
// windows are) that holds their event time. Digests are sorted by tenant
// and window start; windows without records have none. It is the reference
// the Beam transform is tested against, and useful on small data.
func Of(matches []schemas.ApprovedPatient, size time.Duration) []Digest {
	type key struct {
		tenant string
		start  int64
	}
	acc := map[key]*Counts{}
	for i := range matches {
		a := &matches[i]
		k := key{a.Tenant, windowStart(a.EventTime, size)}
		c := acc[k]
		if c == nil {
			c = &Counts{}
			acc[k] = c
		}
		c.Add(a)
	}
	out := make([]Digest, 0, len(acc))
	for k, c := range acc {
		if c.Empty() {
			continue
		}
		start := time.UnixMilli(k.start)
		out = append(out, c.Digest(k.tenant, start, start.Add(size)))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].WindowStart.Before(out[j].WindowStart)
	})
	return out
}

// windowStart returns the start in Unix ms of the window of size holding t.
func windowStart(t time.Time, size time.Duration) int64 {
	ms, sz := t.UnixMilli(), size.Milliseconds()
	r := ms % sz
	if r < 0 {
		r += sz
	}
	return ms - r
}
