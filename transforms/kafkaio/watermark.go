package kafkaio

import (
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
)

// WatermarkState is the serialized state of one partition's watermark
// estimator: the watermark and the wall time (Unix ms) of the last record
// (or of the read's start).
type WatermarkState struct {
	Watermark  int64 // Unix ms
	LastActive int64 // Unix ms, wall clock
}

// watermarkEstimator follows the largest record timestamp seen in a
// partition and, when the partition stays idle, the wall clock minus the
// idle timeout.
type watermarkEstimator struct {
	state WatermarkState
}

var (
	_ sdf.WatermarkEstimator          = (*watermarkEstimator)(nil)
	_ sdf.TimestampObservingEstimator = (*watermarkEstimator)(nil)
)

func (e *watermarkEstimator) CurrentWatermark() time.Time { return time.UnixMilli(e.state.Watermark) }

// ObserveTimestamp is called by the SDK for every element emitted.
func (e *watermarkEstimator) ObserveTimestamp(t time.Time) {
	if ms := t.UnixMilli(); ms > e.state.Watermark {
		e.state.Watermark = ms
	}
}

// idle advances the watermark to now - timeout once the partition has had
// no record for timeout.
func (e *watermarkEstimator) idle(now time.Time, timeout time.Duration) {
	if timeout <= 0 || now.Sub(time.UnixMilli(e.state.LastActive)) < timeout {
		return
	}
	if ms := now.Add(-timeout).UnixMilli(); ms > e.state.Watermark {
		e.state.Watermark = ms
	}
}
