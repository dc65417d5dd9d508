package join

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register.Function2x0(fmtDead)
	register.Function2x0(pairRowSums)
	register.Function2x0(deadRowSum)
	register.Function1x1(deadKeepsNoPHI)
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fmtDead(r deadletter.Record, emit func(string)) {
	emit(fmt.Sprintf("%s %s t=%d: %s", r.Stage, r.ReasonCode, r.ErrorTime.UnixMilli(), r.Reason))
}

// pairRowSums and deadRowSum name, by the SHA-256 of their payloads, the
// rows a result accounts for.
func pairRowSums(p Pair, emit func(string)) {
	emit(sum(p.Left))
	if p.Matched {
		emit(sum(p.Right))
	}
}

func deadRowSum(r deadletter.Record, emit func(string)) {
	if r.PayloadSHA256 != nil {
		emit(*r.PayloadSHA256)
	}
}

// deadKeepsNoPHI: a late row's dead letter carries neither the payload nor
// the key (the fixture's key is k1, its payloads a1, b2, ...).
func deadKeepsNoPHI(r deadletter.Record) bool {
	return r.Payload == nil && r.PayloadRef == nil && !strings.Contains(r.Reason, "k1") &&
		!strings.Contains(r.Reason, "a2") && !strings.Contains(r.Reason, "b2")
}

// TestLateToDeadLetters: the late rows of an interval join become dead
// letters with reason code late_data and a reason that says which join,
// which input and how late, and every input row is accounted for:
// in = rows in joined pairs + dead letters.
func TestLateToDeadLetters(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			in := sideStream(t, s, lateSteps)
			left := beam.ParDo(s, splitSide0, in)
			right := beam.ParDo(s, splitSide1, in)
			opts := []IntervalOption{AllowedLateness(time.Second)}
			point := "the key's"
			if batched {
				opts = append(opts, Batched(2))
				point = "its shard's"
			}
			joined, late := Interval(s, LeftOuter, left, right, 0, 2*time.Second, opts...)
			dead := LateToDeadLetters(s, late, "test.Interval")
			passert.Equals(s, strs(s, fmtDead, dead),
				"test.Interval late_data t=3500: interval join: left row at 3500 ms is 1500 ms behind "+point+
					" cleanup point 5000 ms (the watermark has passed it), more than the allowed lateness of 1000 ms",
				"test.Interval late_data t=3000: interval join: right row at 3000 ms is 2000 ms behind "+point+
					" cleanup point 5000 ms (the watermark has passed it), more than the allowed lateness of 1000 ms")
			passert.True(s, dead, deadKeepsNoPHI)

			var all []string
			for _, st := range lateSteps {
				for _, r := range st.Rows {
					all = append(all, sum([]byte(r.Data)))
				}
			}
			accounted := beam.Flatten(s, strs(s, pairRowSums, joined), strs(s, deadRowSum, dead))
			passert.EqualsList(s, accounted, all)
			if err := ptest.Run(p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLateRecord: a late version's dead letter says it was applied, and a
// Late without a reason still gets one.
func TestLateRecord(t *testing.T) {
	f := &temporalFn{Latest: true}
	l := Late{Key: "k", Side: 1, TS: 10, Data: []byte("v"),
		Reason: lateReason(f.name(), "version", 10, "the key's", 2010, 0) + "; applied, results already emitted are not revised"}
	r := lateRecord("s", l)
	if want := "latest join: version at 10 ms is 2000 ms behind the key's cleanup point 2010 ms (the watermark has passed it), more than the allowed lateness of 0 ms; applied, results already emitted are not revised"; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
	if r.ReasonCode != string(deadletter.LateData) || r.Stage != "s" || r.ErrorTime.UnixMilli() != 10 || r.Payload != nil || *r.PayloadSHA256 != sum([]byte("v")) {
		t.Errorf("record %+v", r)
	}
	if r := lateRecord("s", Late{Side: 0, TS: 7}); r.Reason != "join: row of input 0 at 7 ms is late" {
		t.Errorf("reason %q", r.Reason)
	}
}
