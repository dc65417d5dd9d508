package join

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.DoFn3x0[context.Context, Late, func(deadletter.Record)](&lateFn{})
}

// lateReason says in words which join judged a row late, which input it
// came from and how late it was: its event time, the cleanup point it was
// behind (what the join knows of the watermark: a fired timer proves the
// watermark passed it) and the allowed lateness. It names times only, never
// the key or the payload. what is "the key's" or "its shard's".
func lateReason(join, row string, ts int64, what string, cleaned, lateness int64) string {
	return fmt.Sprintf("%s join: %s at %d ms is %d ms behind %s cleanup point %d ms (the watermark has passed it), more than the allowed lateness of %d ms",
		join, row, ts, cleaned-ts, what, cleaned, lateness)
}

// rowName names a row by the input side of a two-input join.
func rowName(side int) string {
	if side == 0 {
		return "left row"
	}
	return "right row"
}

// LateToDeadLetters turns the late output of Interval, Temporal or Latest
// (PCollection<Late>) into dead letters of stage
// (PCollection<deadletter.Record>), ready for deadletter.Write, so that no
// late row is dropped silently: every input row is then either in the
// join's result or on the dead-letter topic. Each record has reason code
// late_data; its reason is the Late's, which says which join, which input
// (left row, right row or version) and how late: the row's event time
// against the cleanup point it was behind and the allowed lateness. The
// record carries the payload's SHA-256, never the key or the payload,
// which may carry PHI; its error time is the row's event time. A late
// version of Temporal or Latest is reported and still applied, as the
// reason says. Every record is counted under its stage and reason code
// (deadletter.Emit).
func LateToDeadLetters(s beam.Scope, late beam.PCollection, stage string) beam.PCollection {
	return beam.ParDo(s.Scope("join.LateToDeadLetters"), &lateFn{Stage: stage}, late)
}

type lateFn struct {
	Stage string
}

func (f *lateFn) ProcessElement(ctx context.Context, l Late, dead func(deadletter.Record)) {
	deadletter.Emit(ctx, dead, lateRecord(f.Stage, l))
}

// lateRecord is the dead letter of late row l rejected by stage.
func lateRecord(stage string, l Late) deadletter.Record {
	reason := l.Reason
	if reason == "" {
		reason = fmt.Sprintf("join: row of input %d at %d ms is late", l.Side, l.TS)
	}
	sum := sha256.Sum256(l.Data)
	h := hex.EncodeToString(sum[:])
	r := deadletter.New(stage, deadletter.Errorf(deadletter.LateData, "%s", reason), deadletter.At(msTime(l.TS)))
	r.PayloadSHA256 = &h
	return r
}
