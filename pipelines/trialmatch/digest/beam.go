package digest

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*schemas.ApprovedPatient)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Digest)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Counts)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*ProtocolCount)(nil)).Elem())
	register.Function1x2(byTenant)
	register.Combiner3[Counts, schemas.ApprovedPatient, Counts](&countFn{})
	register.Function4x0(toDigest)
	register.Emitter1[Digest]()
}

// DefaultWindow is the default digest window: one hour.
const DefaultWindow = time.Hour

// Option configures Tumbling.
type Option func(*config)

type config struct {
	size     time.Duration
	lateness time.Duration
}

// Window sets the size of the tumbling window (default one hour). Windows
// are aligned to the Unix epoch, so hourly windows start on the hour UTC.
func Window(size time.Duration) Option { return func(c *config) { c.size = size } }

// AllowedLateness keeps a window open for records that arrive up to d after
// the watermark passed its end (default 0: such records are dropped by the
// runner). Each late record then fires an extra pane for its window holding
// only the late records (panes discard): the Digest of a late pane has the
// same Tenant and window as the on-time one, and a window's total is the
// sum of its digests. (Pane timing is not carried to the digest: Prism does
// not report it after the combine.)
func AllowedLateness(d time.Duration) Option { return func(c *config) { c.lateness = d } }

// Tumbling computes per-tenant digests of matches
// (PCollection<schemas.ApprovedPatient>, timestamped with their event time)
// in tumbling event-time windows: PCollection<Digest>, one per tenant per
// window with at least one record (NEW or RETRACTED; records with another
// action are not counted), none for empty windows.
//
// Trigger: Beam's default. A window's digest is emitted once, when the
// watermark passes the window end; with AllowedLateness, every late record
// within the lateness fires another pane (discarding mode: it counts only
// the late records). Records later than that are dropped by the runner.
//
// Output: each Digest stays in its window; its timestamp is the end of the
// window minus 1 ms (the window's max timestamp, Beam's end-of-window
// timestamp combiner), so downstream windowed steps see it in the same
// window.
//
// It panics at construction on a window size that is not a positive whole
// number of milliseconds, or a negative lateness.
func Tumbling(s beam.Scope, matches beam.PCollection, opts ...Option) beam.PCollection {
	c := config{size: DefaultWindow}
	for _, o := range opts {
		o(&c)
	}
	if c.size < time.Millisecond || c.size%time.Millisecond != 0 {
		panic(fmt.Sprintf("digest: window size %v is not a positive whole number of milliseconds", c.size))
	}
	if c.lateness < 0 {
		panic(fmt.Sprintf("digest: negative allowed lateness %v", c.lateness))
	}
	s = s.Scope("digest.Tumbling")
	var wopts []beam.WindowIntoOption
	if c.lateness > 0 {
		wopts = append(wopts, beam.AllowedLateness(c.lateness))
	}
	windowed := beam.WindowInto(s, window.NewFixedWindows(c.size), matches, wopts...)
	keyed := beam.ParDo(s, byTenant, windowed)
	counts := beam.CombinePerKey(s, &countFn{}, keyed)
	return beam.ParDo(s, toDigest, counts)
}

func byTenant(a schemas.ApprovedPatient) (string, schemas.ApprovedPatient) { return a.Tenant, a }

// countFn is the CombineFn of Tumbling; its accumulator is Counts.
type countFn struct{}

func (*countFn) CreateAccumulator() Counts { return Counts{} }

func (*countFn) AddInput(c Counts, a schemas.ApprovedPatient) Counts {
	c.Add(&a)
	return c
}

func (*countFn) MergeAccumulators(a, b Counts) Counts {
	a.Merge(b)
	return a
}

func toDigest(w typex.Window, tenant string, c Counts, emit func(Digest)) {
	if c.Empty() {
		return
	}
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		panic(fmt.Sprintf("digest: element in %T, want an interval window", w))
	}
	d := c.Digest(tenant, iw.Start.ToTime(), iw.End.ToTime())
	emit(d)
}

func init() {
	register.DoFn1x2[schemas.ApprovedPatient, string, schemas.ApprovedPatient](&byTenantAndWindowFn{})
	register.DoFn3x0[string, Counts, func(beam.EventTime, Digest)](&groupedDigestFn{})
	register.Emitter2[beam.EventTime, Digest]()
}

// Grouped computes the same digests as Tumbling for bounded input without
// event-time windows: records are keyed by tenant and by the start of the
// tumbling window holding their event time (the EventTime field), combined
// in the global window, and each digest is emitted at its window's last
// millisecond. Use it after stages that group bounded input in the global
// window (the trialmatch pipeline's batch execution), whose outputs the
// runner would consider late for event-time windows.
func Grouped(s beam.Scope, matches beam.PCollection, opts ...Option) beam.PCollection {
	c := config{size: DefaultWindow}
	for _, o := range opts {
		o(&c)
	}
	if c.size < time.Millisecond || c.size%time.Millisecond != 0 {
		panic(fmt.Sprintf("digest: window size %v is not a positive whole number of milliseconds", c.size))
	}
	s = s.Scope("digest.Grouped")
	size := c.size.Milliseconds()
	keyed := beam.ParDo(s, &byTenantAndWindowFn{Size: size}, beam.WindowInto(s, window.NewGlobalWindows(), matches))
	counts := beam.CombinePerKey(s, &countFn{}, keyed)
	return beam.ParDo(s, &groupedDigestFn{Size: size}, counts)
}

// windowKey is the key of Grouped: tenant and window start (Unix ms).
func windowKey(tenant string, start int64) string {
	return tenant + "\x00" + strconv.FormatInt(start, 10)
}

// byTenantAndWindowFn keys a record by tenant and window (Size ms).
type byTenantAndWindowFn struct{ Size int64 }

func (f *byTenantAndWindowFn) ProcessElement(a schemas.ApprovedPatient) (string, schemas.ApprovedPatient) {
	return windowKey(a.Tenant, windowStart(a.EventTime, time.Duration(f.Size)*time.Millisecond)), a
}

// groupedDigestFn turns a tenant's window counts into its Digest.
type groupedDigestFn struct{ Size int64 }

func (f *groupedDigestFn) ProcessElement(key string, c Counts, emit func(beam.EventTime, Digest)) {
	size := f.Size
	if c.Empty() {
		return
	}
	i := strings.LastIndexByte(key, 0)
	start, err := strconv.ParseInt(key[i+1:], 10, 64)
	if err != nil {
		panic(fmt.Sprintf("digest: grouped key %q: %v", key, err))
	}
	end := start + size
	emit(beam.EventTime(end-1), c.Digest(key[:i], time.UnixMilli(start), time.UnixMilli(end)))
}
