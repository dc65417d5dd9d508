package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*PartitionRange)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Span)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*WatermarkState)(nil)).Elem())

	register.DoFn3x1[context.Context, []byte, func(PartitionRange), error](&listFn{})
	register.Emitter1[PartitionRange]()

	register.DoFn4x2[context.Context, *sdf.LockRTracker, string, func(beam.EventTime, PartitionRange),
		sdf.ProcessContinuation, error](&watchFn{})
	register.Emitter2[beam.EventTime, PartitionRange]()

	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker,
		PartitionRange, func(beam.EventTime, Record), sdf.ProcessContinuation, error](&readFn{})
	register.Emitter2[beam.EventTime, Record]()
	register.DoFn5x2[context.Context, *watermarkEstimator, *sdf.LockRTracker,
		PartitionRange, func(beam.EventTime, Batch), sdf.ProcessContinuation, error](&readBatchFn{})
	register.Emitter2[beam.EventTime, Batch]()
}

// PartitionRange is one partition to read, from Start up to End
// (exclusive; math.MaxInt64 when unbounded). It is the element of Read's
// splittable DoFn.
type PartitionRange struct {
	Topic     string
	Partition int32
	Start     int64
	End       int64
}

// Span is the restriction of Read's splittable DoFn: an offset range of one
// partition.
type Span struct {
	Topic     string
	Partition int32
	Start     int64
	End       int64
}

// Read reads topics from the Kafka cluster at brokers and returns a
// PCollection<Record>. See the package documentation for the modes and
// ReadOption for the settings.
func Read(s beam.Scope, brokers []string, topics []string, opts ...ReadOption) beam.PCollection {
	s = s.Scope("kafkaio.Read")
	cfg := defaultReadConfig(brokers)
	for _, o := range opts {
		o.applyRead(&cfg)
	}
	if err := cfg.conn.Validate(); err != nil {
		panic(fmt.Sprintf("kafkaio.Read: %v", err))
	}
	if len(topics) == 0 {
		panic("kafkaio.Read: no topics")
	}
	if cfg.start == Committed && cfg.group == "" {
		panic("kafkaio.Read: StartCommitted needs Group")
	}
	pos := positions{Conn: cfg.conn, Start: cfg.start, StartMillis: cfg.startMillis, Group: cfg.group,
		ReadCommitted: cfg.readCommitted}
	var parts beam.PCollection
	if cfg.unbounded {
		ts := beam.CreateList(s, topics)
		parts = beam.ParDo(s, &watchFn{positions: pos, IntervalMillis: cfg.discoverEach.Milliseconds()}, ts)
	} else {
		parts = beam.ParDo(s, &listFn{positions: pos, Topics: topics}, beam.Impulse(s))
	}
	rf := readFn{
		Conn: cfg.conn, Group: cfg.group, Unbounded: cfg.unbounded, ReadCommitted: cfg.readCommitted,
		ProcessingTime: cfg.processingTime, IdleMillis: cfg.idleTimeout.Milliseconds(),
		PollMillis: cfg.pollWait.Milliseconds(), CheckpointMillis: cfg.checkpointEach.Milliseconds(),
		BatchRecords: cfg.batch,
	}
	switch {
	case cfg.batch > 0:
		return beam.ParDo(s, &readBatchFn{readFn: rf}, parts)
	case !cfg.unbounded:
		return beam.ParDo(s, &boundedReadFn{R: rf}, parts)
	}
	return beam.ParDo(s, &rf, parts)
}

// positions resolves start (and, for bounded reads, end) offsets.
type positions struct {
	Conn          Conn
	Start         StartKind
	StartMillis   int64
	Group         string
	ReadCommitted bool

	adm *kadm.Client
}

func (p *positions) setup() error {
	opts, err := p.Conn.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkaio: client: %w", err)
	}
	p.adm = kadm.NewClient(cl)
	return nil
}

func (p *positions) teardown() {
	if p.adm != nil {
		p.adm.Close()
	}
}

// partitions lists the partitions of topic, sorted.
func (p *positions) partitions(ctx context.Context, topic string) ([]int32, error) {
	details, err := p.adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: list topic %q: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok {
		return nil, fmt.Errorf("kafkaio: topic %q not found", topic)
	}
	if d.Err != nil {
		return nil, fmt.Errorf("kafkaio: topic %q: %w", topic, d.Err)
	}
	n := int32(len(d.Partitions))
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out, nil
}

// starts resolves the start offset of each listed partition of topic with
// kind.
func (p *positions) starts(ctx context.Context, topic string, kind StartKind, parts []int32) (map[int32]int64, error) {
	var listed kadm.ListedOffsets
	var err error
	switch kind {
	case Latest:
		listed, err = p.ends(ctx, topic)
	case AtTime:
		listed, err = p.adm.ListOffsetsAfterMilli(ctx, p.StartMillis, topic)
	default:
		listed, err = p.adm.ListStartOffsets(ctx, topic)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafkaio: list offsets of %q: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, part := range parts {
		o, ok := listed.Lookup(topic, part)
		if !ok {
			return nil, fmt.Errorf("kafkaio: no offset listed for %s/%d", topic, part)
		}
		out[part] = o.Offset
	}
	if kind == AtTime {
		// No record at or after the time: start at the end.
		ends, err := p.ends(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("kafkaio: list end offsets of %q: %w", topic, err)
		}
		for part, o := range out {
			if o < 0 {
				e, _ := ends.Lookup(topic, part)
				out[part] = e.Offset
			}
		}
	}
	if kind == Committed || p.Group != "" && kind != Latest && kind != AtTime {
		if err := p.committed(ctx, topic, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// committed overrides out with the group's committed offsets, where any.
func (p *positions) committed(ctx context.Context, topic string, out map[int32]int64) error {
	if p.Group == "" || p.Start != Committed {
		return nil
	}
	resp, err := p.adm.FetchOffsetsForTopics(ctx, p.Group, topic)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil // a group that never committed
	}
	if err != nil {
		return fmt.Errorf("kafkaio: committed offsets of group %q: %w", p.Group, err)
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("kafkaio: committed offsets of group %q: %w", p.Group, err)
	}
	for part := range out {
		if o, ok := resp.Lookup(topic, part); ok && o.At >= 0 {
			out[part] = o.At
		}
	}
	return nil
}

func (p *positions) ends(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
	if p.ReadCommitted {
		return p.adm.ListCommittedOffsets(ctx, topics...)
	}
	return p.adm.ListEndOffsets(ctx, topics...)
}

// listFn emits one bounded PartitionRange per partition of the topics, the
// end offsets taken now.
type listFn struct {
	positions
	Topics []string
}

func (fn *listFn) Setup() error { return fn.setup() }
func (fn *listFn) Teardown()    { fn.teardown() }

func (fn *listFn) ProcessElement(ctx context.Context, _ []byte, emit func(PartitionRange)) error {
	for _, topic := range fn.Topics {
		parts, err := fn.partitions(ctx, topic)
		if err != nil {
			return err
		}
		starts, err := fn.starts(ctx, topic, fn.Start, parts)
		if err != nil {
			return err
		}
		ends, err := fn.ends(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Errorf("kafkaio: list end offsets of %q: %w", topic, err)
		}
		for _, part := range parts {
			e, _ := ends.Lookup(topic, part)
			start := starts[part]
			if start > e.Offset {
				start = e.Offset
			}
			emit(PartitionRange{Topic: topic, Partition: part, Start: start, End: e.Offset})
		}
	}
	return nil
}

// watchFn emits an unbounded PartitionRange for every partition of a topic
// and keeps watching it for new partitions. Its restriction is the range of
// partition numbers not yet emitted.
type watchFn struct {
	positions
	IntervalMillis int64
}

func (fn *watchFn) Setup() error { return fn.setup() }
func (fn *watchFn) Teardown()    { fn.teardown() }

func (fn *watchFn) CreateInitialRestriction(string) offsetrange.Restriction {
	return offsetrange.Restriction{Start: 0, End: math.MaxInt64}
}

func (fn *watchFn) SplitRestriction(_ string, r offsetrange.Restriction) []offsetrange.Restriction {
	return []offsetrange.Restriction{r}
}

func (fn *watchFn) RestrictionSize(string, offsetrange.Restriction) float64 { return 1 }

func (fn *watchFn) CreateTracker(r offsetrange.Restriction) *sdf.LockRTracker {
	return sdf.NewLockRTracker(offsetrange.NewTracker(r))
}

func (fn *watchFn) TruncateRestriction(rt *sdf.LockRTracker, _ string) offsetrange.Restriction {
	start := rt.GetRestriction().(offsetrange.Restriction).Start
	return offsetrange.Restriction{Start: start, End: start}
}

func (fn *watchFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, topic string,
	emit func(beam.EventTime, PartitionRange)) (sdf.ProcessContinuation, error) {
	first := rt.GetRestriction().(offsetrange.Restriction).Start
	parts, err := fn.partitions(ctx, topic)
	if err != nil {
		// The topic may not exist yet: look again later.
		log.Warnf(ctx, "kafkaio: watching %q: %v", topic, err)
		return sdf.ResumeProcessingIn(fn.interval()), nil
	}
	if int64(len(parts)) > first {
		kind := fn.Start
		if first > 0 {
			// Partitions added while the pipeline runs are read from
			// their beginning, so none of their records is missed.
			kind = Earliest
		}
		fresh := parts[first:]
		starts, err := fn.starts(ctx, topic, kind, fresh)
		if err != nil {
			log.Warnf(ctx, "kafkaio: start offsets of %q: %v", topic, err)
			return sdf.ResumeProcessingIn(fn.interval()), nil
		}
		for _, part := range fresh {
			if !rt.TryClaim(int64(part)) {
				return sdf.StopProcessing(), nil
			}
			emit(mtime.Now(), PartitionRange{Topic: topic, Partition: part, Start: starts[part], End: math.MaxInt64})
		}
	}
	return sdf.ResumeProcessingIn(fn.interval()), nil
}

func (fn *watchFn) interval() time.Duration {
	if fn.IntervalMillis <= 0 {
		return 5 * time.Second
	}
	return time.Duration(fn.IntervalMillis) * time.Millisecond
}

// readFn reads one partition's offset range.
type readFn struct {
	Conn             Conn
	Group            string
	Unbounded        bool
	ReadCommitted    bool
	ProcessingTime   bool
	IdleMillis       int64
	PollMillis       int64
	CheckpointMillis int64
	BatchRecords     int

	adm  *kadm.Client
	opts []kgo.Opt
}

func (fn *readFn) Setup() error {
	opts, err := fn.Conn.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkaio: client: %w", err)
	}
	fn.adm = kadm.NewClient(cl)
	fn.opts = opts
	if fn.ReadCommitted {
		fn.opts = append(fn.opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return nil
}

func (fn *readFn) Teardown() {
	if fn.adm != nil {
		fn.adm.Close()
	}
}

func (fn *readFn) CreateInitialRestriction(p PartitionRange) Span {
	return Span{Topic: p.Topic, Partition: p.Partition, Start: p.Start, End: p.End}
}

func (fn *readFn) SplitRestriction(_ PartitionRange, r Span) []Span { return []Span{r} }

func (fn *readFn) RestrictionSize(_ PartitionRange, r Span) float64 {
	if r.End == math.MaxInt64 {
		return 1
	}
	return math.Max(0, float64(r.End-r.Start))
}

func (fn *readFn) CreateTracker(r Span) *sdf.LockRTracker {
	return sdf.NewLockRTracker(newTracker(r, &endEstimator{adm: fn.adm, topic: r.Topic, partition: r.Partition,
		committed: fn.ReadCommitted, floor: r.Start}, fn.Group != ""))
}

func (fn *readFn) TruncateRestriction(rt *sdf.LockRTracker, _ PartitionRange) Span {
	r := rt.GetRestriction().(Span)
	r.End = r.Start
	return r
}

// InitialWatermarkEstimatorState starts every partition's watermark at the
// minimum: it advances with the records read.
func (fn *readFn) InitialWatermarkEstimatorState(_ beam.EventTime, _ Span, _ PartitionRange) WatermarkState {
	return WatermarkState{Watermark: int64(mtime.MinTimestamp), LastActive: time.Now().UnixMilli()}
}

func (fn *readFn) CreateWatermarkEstimator(st WatermarkState) *watermarkEstimator {
	return &watermarkEstimator{state: st}
}

func (fn *readFn) WatermarkEstimatorState(we *watermarkEstimator) WatermarkState { return we.state }

// fetchPartitionBytes bounds one fetch of one partition.
const fetchPartitionBytes = 4 << 20

// endGrace is how long a bounded read waits on a range whose remaining
// offsets never arrive before it checks whether they were compacted away.
const endGrace = 10 * time.Second

// ProcessElement reads the partition range of the restriction.
func (fn *readFn) ProcessElement(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker,
	p PartitionRange, emit func(beam.EventTime, Record)) (sdf.ProcessContinuation, error) {
	pc, _, err := fn.read(ctx, we, rt, recordEmitter(emit))
	return pc, err
}

// read claims and emits records of the restriction; next is the offset
// after the last record claimed, -1 when none was.
func (fn *readFn) read(ctx context.Context, we *watermarkEstimator, rt *sdf.LockRTracker,
	out recordSink) (pc sdf.ProcessContinuation, next int64, err error) {
	next = -1
	r := rt.GetRestriction().(Span)
	if r.Start >= r.End {
		rt.TryClaim(r.End)
		return sdf.StopProcessing(), next, nil
	}
	cl, err := kgo.NewClient(append(fn.opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: kgo.NewOffset().At(r.Start)}}),
		kgo.FetchMaxWait(fn.pollWait()),
		// One partition per client: let each fetch carry more than the
		// default 1 MiB, since fetching and processing alternate.
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes),
		kgo.FetchMaxBytes(fetchPartitionBytes),
		// Transaction markers are claimed (not emitted), so a bounded
		// range ending in one still completes.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return sdf.StopProcessing(), next, fmt.Errorf("kafkaio: consumer for %s/%d: %w", r.Topic, r.Partition, err)
	}
	defer cl.Close()

	checkpoint := time.Now().Add(time.Duration(fn.CheckpointMillis) * time.Millisecond)
	var emptySince time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, fn.pollWait())
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return sdf.StopProcessing(), next, err
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			return sdf.StopProcessing(), next, fmt.Errorf("kafkaio: fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		n := 0
		stop := false
		fs.EachRecord(func(kr *kgo.Record) {
			if stop {
				return
			}
			if !rt.TryClaim(kr.Offset) {
				stop = true
				return
			}
			next = kr.Offset + 1
			if kr.Attrs.IsControl() {
				return
			}
			ts := kr.Timestamp
			if fn.ProcessingTime {
				ts = time.Now()
			}
			out.add(ts, FromKgo(kr))
			n++
		})
		out.flush()
		if stop || rt.IsDone() {
			return sdf.StopProcessing(), next, nil
		}
		now := time.Now()
		if n > 0 {
			emptySince = time.Time{}
			we.state.LastActive = now.UnixMilli()
		} else {
			if emptySince.IsZero() {
				emptySince = now
			}
			if !fn.Unbounded && now.Sub(emptySince) > endGrace {
				// Nothing arrives for a long while although the range
				// is not done: check whether its rest still exists.
				if gone, err := fn.rangeGone(ctx, r); err != nil {
					return sdf.StopProcessing(), next, err
				} else if gone {
					// Not an error (a Kafka consumer skips deleted
					// offsets too), but never silent: the range
					// yields fewer records than were listed.
					cur := rt.GetRestriction().(Span)
					log.Warnf(ctx, "kafkaio: %s/%d: offsets from %d up to %d were deleted (retention or compaction) before they were read; the bounded read skips them",
						r.Topic, r.Partition, max(next, cur.Start), cur.End)
					rt.TryClaim(r.End)
					return sdf.StopProcessing(), next, nil
				}
				emptySince = now
			}
			if fn.Unbounded {
				we.idle(now, time.Duration(fn.IdleMillis)*time.Millisecond)
			}
		}
		if fn.Unbounded && now.After(checkpoint) {
			return sdf.ResumeProcessingIn(0), next, nil
		}
	}
}

func (fn *readFn) pollWait() time.Duration {
	if fn.PollMillis <= 0 {
		return 250 * time.Millisecond
	}
	return time.Duration(fn.PollMillis) * time.Millisecond
}

// rangeGone reports whether the offsets of r that have not arrived no
// longer exist: retention deleted them (the log now starts at or after
// r.End), or the topic is compacted and the offsets were compacted away
// (its log reaches r.End). On a topic that is not compacted every offset
// below the log's end exists until retention removes it, so records that
// are only slow to come (a loaded broker or machine) are waited for: a
// bounded read used to end its range after endGrace without records
// whenever the log reached the range's end, which it always does, and so
// dropped the rest of the range on a slow broker.
func (fn *readFn) rangeGone(ctx context.Context, r Span) (bool, error) {
	starts, err := fn.adm.ListStartOffsets(ctx, r.Topic)
	if err != nil {
		return false, fmt.Errorf("kafkaio: start offset of %s/%d: %w", r.Topic, r.Partition, err)
	}
	if s, ok := starts.Lookup(r.Topic, r.Partition); ok && s.Err == nil && s.Offset >= r.End {
		return true, nil
	}
	compacted, err := fn.compacted(ctx, r.Topic)
	if err != nil || !compacted {
		return false, err
	}
	var ends kadm.ListedOffsets
	if fn.ReadCommitted {
		ends, err = fn.adm.ListCommittedOffsets(ctx, r.Topic)
	} else {
		ends, err = fn.adm.ListEndOffsets(ctx, r.Topic)
	}
	if err != nil {
		return false, fmt.Errorf("kafkaio: end offset of %s/%d: %w", r.Topic, r.Partition, err)
	}
	e, ok := ends.Lookup(r.Topic, r.Partition)
	return ok && e.Err == nil && e.Offset >= r.End, nil
}

// compacted reports whether topic's cleanup.policy includes compact.
func (fn *readFn) compacted(ctx context.Context, topic string) (bool, error) {
	rcs, err := fn.adm.DescribeTopicConfigs(ctx, topic)
	if err == nil {
		var rc kadm.ResourceConfig
		if rc, err = rcs.On(topic, nil); err == nil {
			err = rc.Err
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
					return true, nil
				}
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("kafkaio: cleanup.policy of %s: %w", topic, err)
	}
	return false, nil
}
