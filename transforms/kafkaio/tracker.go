package kafkaio

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/rtrackers/offsetrange"
	"github.com/twmb/franz-go/pkg/kadm"
)

// tracker is an offset-range tracker over one partition's Span. Unbounded
// spans (End = math.MaxInt64) grow with the partition's end offset.
type tracker struct {
	topic     string
	partition int32
	t         *offsetrange.GrowableTracker
	// checkpointOnly refuses every split but a checkpoint (fraction 0),
	// so one partition never has two ranges in flight: what a consumer
	// group's single committed offset per partition can describe.
	checkpointOnly bool
}

var _ sdf.RTracker = (*tracker)(nil)

func newTracker(r Span, est offsetrange.RangeEndEstimator, checkpointOnly bool) *tracker {
	t, _ := offsetrange.NewGrowableTracker(offsetrange.Restriction{Start: r.Start, End: r.End}, est)
	return &tracker{topic: r.Topic, partition: r.Partition, t: t, checkpointOnly: checkpointOnly}
}

func (t *tracker) span(r offsetrange.Restriction) Span {
	return Span{Topic: t.topic, Partition: t.partition, Start: r.Start, End: r.End}
}

func (t *tracker) TryClaim(pos any) bool { return t.t.TryClaim(pos) }
func (t *tracker) GetError() error       { return t.t.GetError() }
func (t *tracker) IsDone() bool          { return t.t.IsDone() }
func (t *tracker) IsBounded() bool       { return t.t.IsBounded() }

func (t *tracker) GetProgress() (done, remaining float64) { return t.t.GetProgress() }

func (t *tracker) GetRestriction() any {
	return t.span(t.t.GetRestriction().(offsetrange.Restriction))
}

func (t *tracker) TrySplit(fraction float64) (primary, residual any, err error) {
	if t.checkpointOnly && fraction > 0 {
		return t.GetRestriction(), nil, nil
	}
	p, r, err := t.t.TrySplit(fraction)
	if err != nil {
		return nil, nil, err
	}
	if p != nil {
		primary = t.span(p.(offsetrange.Restriction))
	}
	if r != nil {
		residual = t.span(r.(offsetrange.Restriction))
	}
	return primary, residual, nil
}

// endEstimator estimates an unbounded span's end as the partition's end
// offset, asking the cluster at most once a second.
type endEstimator struct {
	adm       *kadm.Client
	topic     string
	partition int32
	committed bool
	floor     int64

	mu   sync.Mutex
	at   time.Time
	last int64
}

func (e *endEstimator) Estimate() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.at) < time.Second || e.adm == nil {
		return max(e.last, e.floor)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ends kadm.ListedOffsets
	var err error
	if e.committed {
		ends, err = e.adm.ListCommittedOffsets(ctx, e.topic)
	} else {
		ends, err = e.adm.ListEndOffsets(ctx, e.topic)
	}
	e.at = time.Now()
	if err == nil {
		if o, ok := ends.Lookup(e.topic, e.partition); ok && o.Err == nil && o.Offset < math.MaxInt64 {
			e.last = o.Offset
		}
	}
	return max(e.last, e.floor)
}
