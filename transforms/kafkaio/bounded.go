package kafkaio

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn4x1[context.Context, *sdf.LockRTracker, PartitionRange, func(beam.EventTime, Record), error](&boundedReadFn{})
}

// boundedReadFn is readFn without a watermark estimator, for bounded reads
// without a consumer group: the shape the direct runner (which has no
// watermark estimators) can run too. The watermark of a bounded read
// simply jumps to the end when it is done.
type boundedReadFn struct {
	R readFn
}

func (fn *boundedReadFn) Setup() error { return fn.R.Setup() }
func (fn *boundedReadFn) Teardown()    { fn.R.Teardown() }

func (fn *boundedReadFn) CreateInitialRestriction(p PartitionRange) Span {
	return fn.R.CreateInitialRestriction(p)
}

func (fn *boundedReadFn) SplitRestriction(p PartitionRange, r Span) []Span {
	return fn.R.SplitRestriction(p, r)
}

func (fn *boundedReadFn) RestrictionSize(p PartitionRange, r Span) float64 {
	return fn.R.RestrictionSize(p, r)
}

func (fn *boundedReadFn) CreateTracker(r Span) *sdf.LockRTracker { return fn.R.CreateTracker(r) }

// ProcessElement reads the partition range of the restriction.
func (fn *boundedReadFn) ProcessElement(ctx context.Context, rt *sdf.LockRTracker, p PartitionRange,
	emit func(beam.EventTime, Record)) error {
	_, _, err := fn.R.read(ctx, &watermarkEstimator{}, rt, recordEmitter(emit))
	return err
}
