package join_test

import (
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"

	"github.com/trialflow/trialflow/transforms/join"
)

// The examples build pipelines; run them with runners.Run (package
// github.com/trialflow/trialflow/runners), which checks that the runner
// can run them and sets the Prism flag the stateful joins need. Inputs are PCollection<KV<string, []byte>> with event timestamps.

func ExampleWindow() {
	_, s := beam.NewPipelineWithRoot()
	var persons, auctions beam.PCollection // KV<personID, encoded row>, timestamped
	if persons.IsValid() && auctions.IsValid() {
		w := window.NewFixedWindows(10 * time.Second)
		in := []beam.PCollection{beam.WindowInto(s, w, persons), beam.WindowInto(s, w, auctions)}
		tuples := join.Window(s, join.Inner, in)                    // row path
		batched := join.Window(s, join.Inner, in, join.Batched(16)) // batched path, same results
		groups := join.CoGroup(s, join.FullOuter, in)               // one Group per key and window
		_, _, _ = tuples, batched, groups
	}
}

func ExampleInterval() {
	_, s := beam.NewPipelineWithRoot()
	var left, right beam.PCollection // KV<string, []byte>, timestamped
	if left.IsValid() && right.IsValid() {
		// right.ts within [left.ts - 1s, left.ts + 5s]; unmatched left rows
		// are emitted once the watermark passes left.ts + 5s.
		joined, late := join.Interval(s, join.LeftOuter, left, right, -time.Second, 5*time.Second,
			join.AllowedLateness(2*time.Second), join.StateTTL(time.Hour))
		_, _ = joined, late // PCollection<join.Pair>, PCollection<join.Late>

		// Batched path: rows cross the shuffle in batches per key shard and
		// are hash-joined per shard; same pairs, far fewer runner elements.
		batched, _ := join.Interval(s, join.Inner, left, right, -time.Second, 5*time.Second, join.Batched(16))
		_ = batched
	}
}

func ExampleTemporal() {
	_, s := beam.NewPipelineWithRoot()
	var trials, approvals beam.PCollection // KV<protocol, []byte>; PCollection<join.Change>
	if trials.IsValid() && approvals.IsValid() {
		// Each trial version meets the approval valid at its event time.
		asOf, late := join.Temporal(s, join.LeftOuter, trials, approvals)
		// Lookup variant: the newest approval that has arrived.
		latest, _ := join.Latest(s, join.Inner, trials, approvals)
		_, _, _ = asOf, late, latest
	}
}

// matchArms is an EvalFunc: it sees a whole batch of the large side and the
// current broadcast table.
func matchArms(table join.Table, batch join.Batch, changed []string, emit func([]byte)) {
	for _, row := range batch.Rows {
		for arm, criteria := range table {
			if strings.Contains(string(row), string(criteria)) {
				emit([]byte(arm + ":" + string(row)))
			}
		}
	}
}

func init() {
	join.RegisterEvalFunc(matchArms)
}

func ExampleBroadcast() {
	_, s := beam.NewPipelineWithRoot()
	var arms, profiles beam.PCollection // PCollection<join.Change>, PCollection<join.Batch>
	if arms.IsValid() && profiles.IsValid() {
		// Keep profile batches for a day so a newly opened arm re-matches them.
		matches := join.Broadcast(s, arms, profiles, matchArms, join.Shards(8), join.StateTTL(24*time.Hour))
		_ = matches // PCollection<[]byte>
	}
}

func ExampleReplicate() {
	_, s := beam.NewPipelineWithRoot()
	var changes, facts beam.PCollection // PCollection<T>; KV<int, T> keyed by shard 0..15
	if changes.IsValid() && facts.IsValid() {
		// Every shard's group (or stateful DoFn) sees every change together
		// with its own share of the facts, and keeps its own per-row state.
		perShard := beam.GroupByKey(s, beam.Flatten(s, join.Replicate(s, changes, 16), facts))
		_ = perShard
	}
}
