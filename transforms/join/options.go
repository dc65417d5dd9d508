package join

import "time"

// Options are namespaced per transform, in the style of franz-go's kgo
// (Opt, ProducerOpt, ConsumerOpt): each transform accepts its own option
// interface, and each option is of a type that implements the interfaces of
// exactly the transforms that honour it. The table of which transform
// honours which option is in the package documentation (doc.go, Options);
// TestOptionsHonoured checks it.

// WindowOption configures Window and CoGroup.
type WindowOption interface {
	apply(*config)
	windowOption()
}

// IntervalOption configures Interval.
type IntervalOption interface {
	apply(*config)
	intervalOption()
}

// TemporalOption configures Temporal and Latest.
type TemporalOption interface {
	apply(*config)
	temporalOption()
}

// TableOption configures TemporalTable.
type TableOption interface {
	apply(*config)
	tableOption()
}

// BroadcastOption configures Broadcast.
type BroadcastOption interface {
	apply(*config)
	broadcastOption()
}

// Option is accepted by every join.
type Option interface {
	WindowOption
	IntervalOption
	TemporalOption
	TableOption
	BroadcastOption
}

// BatchedOption is accepted by the joins with a batched path: Window,
// CoGroup and Interval.
type BatchedOption interface {
	WindowOption
	IntervalOption
}

// LatenessOption is accepted by the joins that judge rows late against a
// key's cleanup point: Interval, Temporal and Latest.
type LatenessOption interface {
	IntervalOption
	TemporalOption
}

// StateOption is accepted by the joins that keep rows in their own state
// for a bounded time: Interval, Temporal, Latest and Broadcast.
type StateOption interface {
	IntervalOption
	TemporalOption
	BroadcastOption
}

type config struct {
	lateness time.Duration
	ttl      time.Duration
	every    time.Duration
	shards   int
	batched  bool
	bounded  bool
	name     string
}

func newConfig[O interface{ apply(*config) }](opts []O) config {
	c := config{shards: 16, every: time.Second}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// scope is the join's scope name: the Name option, else def.
func (c config) scope(def string) string {
	if c.name != "" {
		return c.name
	}
	return def
}

// setter is the body of every option; the types embedding it say, by their
// marker methods, which transforms accept it.
type setter func(*config)

func (f setter) apply(c *config) { f(c) }

type everyOpt struct{ setter }

func (everyOpt) windowOption()    {}
func (everyOpt) intervalOption()  {}
func (everyOpt) temporalOption()  {}
func (everyOpt) tableOption()     {}
func (everyOpt) broadcastOption() {}

type batchedOpt struct{ setter }

func (batchedOpt) windowOption()   {}
func (batchedOpt) intervalOption() {}

type latenessOpt struct{ setter }

func (latenessOpt) intervalOption() {}
func (latenessOpt) temporalOption() {}

type stateOpt struct{ setter }

func (stateOpt) intervalOption()  {}
func (stateOpt) temporalOption()  {}
func (stateOpt) broadcastOption() {}

type intervalOpt struct{ setter }

func (intervalOpt) intervalOption() {}

type tableOpt struct{ setter }

func (tableOpt) tableOption() {}

type broadcastOpt struct{ setter }

func (broadcastOpt) broadcastOption() {}

var (
	_ Option          = everyOpt{}
	_ BatchedOption   = batchedOpt{}
	_ LatenessOption  = latenessOpt{}
	_ StateOption     = stateOpt{}
	_ IntervalOption  = intervalOpt{}
	_ TableOption     = tableOpt{}
	_ BroadcastOption = broadcastOpt{}
)

// Name sets the scope name of the join (default: "join." and the
// transform's name, such as "join.Interval").
func Name(n string) Option {
	return everyOpt{func(c *config) { c.name = n }}
}

// Batched selects the batched path of a window join: before the shuffle the
// rows of each bundle are grouped per window and key shard (shards of
// them, default 16) into one element, and after it each shard is
// hash-joined. It trades per-element runner cost for larger elements; only
// fixed and sliding windows can be batched. For the interval join the rows
// of a bundle are grouped per input and key shard and each shard's state
// holds the rows of many keys (lateness is then judged per shard).
func Batched(shards int) BatchedOption {
	return batchedOpt{func(c *config) {
		c.batched = true
		if shards > 0 {
			c.shards = shards
		}
	}}
}

// AllowedLateness lets Interval and Temporal accept rows up to d behind the
// point at which their key's state would otherwise be released; state is
// kept d longer. Rows later than that go to the late side output. Default 0.
// Latest never holds left rows back, so there it only decides which
// versions are reported late (which needs StateTTL: without it Latest sets
// no timer and nothing is late).
func AllowedLateness(d time.Duration) LatenessOption {
	return latenessOpt{func(c *config) { c.lateness = d }}
}

// StateTTL bounds how long (in event time) Interval keeps a row, and
// Temporal and Latest a key's versions, after their event time, whatever
// the join's own retention rule would say. For Broadcast it is how long
// large-side batches are kept for re-evaluation (0, the default, keeps
// none). 0 means no TTL.
func StateTTL(d time.Duration) StateOption {
	return stateOpt{func(c *config) { c.ttl = d }}
}

// CleanupEvery sets the granularity of an interval join's cleanup timers
// (default 1 s): a row's state is released at the first multiple of d after
// it expires, so one timer firing cleans many rows. Unmatched left rows of a
// left outer join are emitted at that time.
func CleanupEvery(d time.Duration) IntervalOption {
	return intervalOpt{func(c *config) { c.every = d }}
}

// Bounded tells TemporalTable that its input is bounded: each key's
// versions are then grouped (GroupByKey) and evaluated at all their change
// points at once, with no state or timers, so the transform also runs on
// the direct runner and costs the runner one shuffle.
func Bounded() TableOption {
	return tableOpt{func(c *config) { c.bounded = true }}
}

// Shards sets how many shards a broadcast join replicates its small side to
// (default 16); the large side's batches are spread over them by Batch.ID.
func Shards(n int) BroadcastOption {
	return broadcastOpt{func(c *config) {
		if n > 0 {
			c.shards = n
		}
	}}
}
