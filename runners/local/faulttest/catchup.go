package faulttest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/trialflow/trialflow/schemas"
)

// CatchUp configures WaitCaughtUp.
type CatchUp struct {
	Group string
	// Quiet is how long approved_patients must not grow (default 15s: the
	// streaming source's idle timeout is 10s, after which the last ticks
	// fire).
	Quiet time.Duration
	// Timeout fails the wait (default 3 minutes).
	Timeout time.Duration
	// Alive, if set, is checked on every poll; its error ends the wait
	// (for example: the job exited).
	Alive func() error
	// NoCommits skips the committed-offsets condition (a bounded run or a
	// job without a group).
	NoCommits bool
}

// WaitCaughtUp waits until the job reading s is caught up: the group's
// committed offsets of the input topics reach their end offsets and
// approved_patients has not grown for c.Quiet. It returns how long that
// took (up to the last growth of approved_patients, the quiet period not
// counted), or an error naming what was still behind at the deadline.
func WaitCaughtUp(ctx context.Context, s *Stack, c CatchUp) (time.Duration, error) {
	if c.Quiet <= 0 {
		c.Quiet = 15 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Minute
	}
	start := time.Now()
	deadline := start.Add(c.Timeout)
	var (
		lastEnd    int64 = -1
		lastChange       = start
		behind     []string
		caught     time.Time // when commits last reached the ends
	)
	for {
		if c.Alive != nil {
			if err := c.Alive(); err != nil {
				return 0, err
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := Ends(pctx, s, schemas.ApprovedPatients.Topic)
		var n int64
		for _, off := range out[schemas.ApprovedPatients.Topic] {
			n += off
		}
		if err == nil && n != lastEnd {
			lastEnd, lastChange = n, time.Now()
		}
		behind = nil
		if !c.NoCommits && err == nil {
			var ends, committed Offsets
			if ends, err = Ends(pctx, s, InputTopics...); err == nil {
				if committed, err = Committed(pctx, s, c.Group, InputTopics...); err == nil {
					behind = Behind(committed, ends)
				}
			}
		}
		cancel()
		if err != nil {
			behind = []string{err.Error()}
		}
		if len(behind) == 0 && caught.IsZero() {
			caught = time.Now()
		} else if len(behind) > 0 {
			caught = time.Time{}
		}
		if len(behind) == 0 && time.Since(lastChange) >= c.Quiet {
			done := lastChange
			if caught.After(done) {
				done = caught
			}
			return done.Sub(start), nil
		}
		if time.Now().After(deadline) {
			why := fmt.Sprintf("approved_patients last grew %v ago (%d records)", time.Since(lastChange).Round(time.Second), lastEnd)
			if len(behind) > 0 {
				why += "; group " + c.Group + " behind: " + strings.Join(behind, ", ")
			}
			return 0, fmt.Errorf("faulttest: not caught up after %v: %s", c.Timeout, why)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
