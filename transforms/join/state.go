package join

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"math"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
)

// noTime marks an unset time in state.
const noTime int64 = math.MinInt64

// clock is the per-key bookkeeping every stateful join keeps: the cleanup
// point (the latest event-time timer that fired, a lower bound of the
// watermark) and the time the cleanup timer is set for.
type clock struct {
	Cleaned int64
	TimerAt int64
}

func readClock(sp state.Provider, v *state.Value[clock]) (clock, error) {
	c, ok, err := v.Read(sp)
	if err != nil {
		return clock{}, err
	}
	if !ok {
		c = clock{Cleaned: noTime, TimerAt: noTime}
	}
	return c, nil
}

// isLate reports whether a row at ts is behind the key's cleanup point by
// more than the allowed lateness.
func (c clock) isLate(ts, lateness int64) bool {
	return c.Cleaned != noTime && ts < c.Cleaned-lateness
}

func msTime(ms int64) time.Time { return mtime.FromMilliseconds(ms).ToTime() }

// setTimer points the key's one cleanup timer at `at` (ms). The timer's
// output timestamp is its firing time: re-setting a timer with a different
// output timestamp (a watermark hold) trips Prism's hold accounting
// ("negative watermark hold count"), so the joins emit what a timer
// produces at the firing time and never set explicit holds.
func setTimer(tp timers.Provider, t timers.EventTime, c *clock, at int64) {
	t.Set(tp, msTime(at))
	c.TimerAt = at
}

// firedAt is the firing time of the key's timer. The SDK hands OnTimer the
// timer's output (hold) timestamp, not its firing time, so the join keeps the
// firing time in state: each key has one timer, set for c.TimerAt.
func firedAt(c clock, hold beam.EventTime) int64 {
	if c.TimerAt != noTime {
		return c.TimerAt
	}
	return hold.Milliseconds()
}
