package trialmatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/join"
)

// The pipeline's stages, as metrics.Summarize and the Prometheus endpoint
// report them.
var (
	stageFacts      = metrics.NewStage("facts")
	stageTrials     = metrics.NewStage("trials")
	stageRegulatory = metrics.NewStage("regulatory")
	stageOpenTrials = metrics.NewStage("open_trials")
	stageView       = metrics.NewStage("patient_view")
	stageMatch      = metrics.NewStage("match")
	stageDecide     = metrics.NewStage("decide")
	stageApproved   = metrics.NewStage("approved_patients")
)

func init() {
	register.DoFn4x1[context.Context, schemas.PatientFact, func(beam.EventTime, int, Event), func(deadletter.Record), error](&factEventsFn{})
	register.Emitter1[deadletter.Record]()
	register.Emitter3[beam.EventTime, int, Event]()
	beam.RegisterType(reflectTypeOf[schemas.PatientFact]())
	beam.RegisterType(reflectTypeOf[schemas.Trial]())
	beam.RegisterType(reflectTypeOf[schemas.RegulatoryEvent]())
}

// Config tunes the pipeline; the zero value takes the defaults.
type Config struct {
	// Shards is how many keys patients are spread over for the stateful
	// match stage (default 16). More shards parallelise more and make each
	// re-evaluation smaller; every open-trial change is sent to every shard.
	Shards int
	// Tick is the event-time granularity at which the match stage applies
	// facts and trial changes in order (default one minute).
	Tick time.Duration
	// Execution chooses how the stateful stages run; see Execution.
	Execution Execution
}

// Execution is how the pipeline's stateful stages run on the runner. Both
// give the same records; they differ in what the runner is asked to do.
type Execution int

const (
	// Auto is Streaming for Build, and CoPartitioned for FromKafka when it
	// reads bounded.
	Auto Execution = iota
	// Streaming keeps patients, the open-trial table and pending events in
	// keyed state and orders them with event-time timers. It works on
	// bounded and unbounded input, on runners with state and timers (Prism,
	// Flink, Dataflow).
	Streaming
	// Batch is for bounded input only, the way Flink's BATCH runtime mode
	// replaces state and timers by grouping and sorting: the open-trial table
	// is join.TemporalTable's Bounded form, and each patient shard gets
	// all its facts in one group plus the open-trial changelog as a side
	// input, replayed tick by tick in memory. It needs no state or timers,
	// so it also runs on the direct runner, and it is much faster on Prism.
	// It is the shuffle execution: every fact crosses the runner once, in
	// the GroupByKey by patient shard.
	Batch
	// CoPartitioned is for bounded input read by FromKafka: when every
	// patient_facts record is keyed by its patient id and sits in the
	// partition Kafka's default partitioner gives that key (checked record
	// by record), each partition is read, folded, judged, decided and
	// reconciled with its facts handed over in the worker's memory, and no
	// fact crosses the runner;
	// otherwise the run falls back to Batch, with a log line that says why
	// (copartition.go). Build, which is given PCollections rather than a
	// topic, runs it as Batch.
	CoPartitioned
)

// Set parses a name given by String, so an Execution can be a flag.Value.
func (e *Execution) Set(name string) error {
	for _, x := range []Execution{Auto, Streaming, Batch, CoPartitioned} {
		if x.String() == name {
			*e = x
			return nil
		}
	}
	return fmt.Errorf("trialmatch: execution %q: want auto, streaming, batch or co-partitioned", name)
}

// String names the execution.
func (e Execution) String() string {
	switch e {
	case Auto:
		return "auto"
	case Streaming:
		return "streaming"
	case Batch:
		return "batch"
	case CoPartitioned:
		return "co-partitioned"
	}
	return fmt.Sprintf("Execution(%d)", int(e))
}

func (c Config) withDefaults() Config {
	if c.Shards <= 0 {
		c.Shards = 16
	}
	if c.Tick <= 0 {
		c.Tick = time.Minute
	}
	return c
}

// Inputs are the pipeline's three sources, as PCollections of
// schemas.PatientFact, schemas.Trial and schemas.RegulatoryEvent values.
type Inputs struct {
	Facts, Trials, Regulatory beam.PCollection
	// ShardedFacts, when valid, replaces Facts in batch execution: facts
	// already validated and keyed by shard (KV<int, Event>, the Avro bodies
	// of many facts per element), as FromKafka makes them from record
	// batches.
	// Streaming execution ignores it.
	ShardedFacts beam.PCollection
}

// Outputs are what the pipeline produces.
type Outputs struct {
	// Matches is the approved_patients changelog (schemas.ApprovedPatient).
	Matches beam.PCollection
	// Decisions is the open-trial changelog (Event of kind decision).
	Decisions beam.PCollection
	// DeadLetters holds every rejected input (deadletter.Record).
	DeadLetters beam.PCollection
	// Folded counts the facts folded into patient views (int64 partial
	// counts): facts in = sum(Folded) + fact dead letters.
	Folded beam.PCollection
	// Execution is how the outputs were produced (Streaming, Batch or
	// CoPartitioned). After Batch or CoPartitioned, outputs come out of global-window groups, so downstream
	// event-time windows would see them as late: group them by time
	// instead, as Sinks does.
	Execution Execution
}

// Build adds the trial-matching stages to s.
func Build(s beam.Scope, in Inputs, cfg Config) Outputs {
	cfg = cfg.withDefaults()
	s = s.Scope("trialmatch")
	if cfg.Execution == Batch || cfg.Execution == CoPartitioned {
		return buildBatch(s, in, cfg)
	}
	cfg.Execution = Streaming

	factEvents, factDead := beam.ParDo2(s.Scope("KeyFacts"), &factEventsFn{Shards: cfg.Shards, TickMillis: cfg.Tick.Milliseconds()}, in.Facts)
	decisions, tableDead := openTrials(s, in.Trials, in.Regulatory, false)

	broadcast := join.Replicate(s.Scope("BroadcastOpenTrials"), decisions, cfg.Shards)
	shardIn := beam.Flatten(s, factEvents, broadcast)
	matches, matchDead, folded := beam.ParDo3(s.Scope("PatientViewMatchDecide"), newShardFn(cfg.Tick), shardIn)

	return Outputs{
		Matches:     matches,
		Decisions:   decisions,
		DeadLetters: beam.Flatten(s, factDead, tableDead, matchDead),
		Folded:      folded,
		Execution:   cfg.Execution,
	}
}

// factEventsFn validates a fact and keys it by its patient's shard. Facts
// of one bundle are batched per shard and tick, so what crosses the shuffle
// to the stateful stage is one element per (shard, tick), not one per fact
// (Prism pays per element and per state call).
type factEventsFn struct {
	Shards     int
	TickMillis int64
	// PerShard batches per shard only, as one element of length-prefixed
	// patient_facts Avro bodies (see appendFactBody); batch execution sorts
	// by tick itself.
	PerShard bool

	batch   map[shardTick][]Event
	facts   map[int][]byte // PerShard: the facts of a shard
	scratch []byte
}

type shardTick struct {
	shard int
	tick  int64
}

func (f *factEventsFn) StartBundle(_ context.Context, _ func(beam.EventTime, int, Event), _ func(deadletter.Record)) {
	f.batch = map[shardTick][]Event{}
	f.facts = map[int][]byte{}
}

func (f *factEventsFn) FinishBundle(_ context.Context, emit func(beam.EventTime, int, Event), _ func(deadletter.Record)) error {
	for k, evs := range f.batch {
		b, err := json.Marshal(evs)
		if err != nil {
			return fmt.Errorf("trialmatch: encode fact batch: %w", err)
		}
		emit(beam.EventTime(k.tick), k.shard, Event{Kind: kindBatch, TS: k.tick, Data: b})
	}
	for shard, b := range f.facts {
		emit(mtime.MinTimestamp, shard, Event{Kind: kindFacts, Data: b})
	}
	f.batch, f.facts = nil, nil
	return nil
}

// ProcessElement takes a fact of Build's typed input: the edge checks
// (edge.go) apply here, as they do in the Kafka decoders.
func (f *factEventsFn) ProcessElement(ctx context.Context, fact schemas.PatientFact, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) error {
	if err := checkFact(&fact); err != nil {
		stageFacts.In(ctx, 1)
		f.reject(ctx, err, dead)
		return nil
	}
	return f.add(ctx, &fact, nil, emit, dead)
}

func (f *factEventsFn) reject(ctx context.Context, err error, dead func(deadletter.Record)) {
	stageFacts.DeadLetter(ctx, string(deadletter.CodeOf(err)))
	deadletter.Emit(ctx, dead, deadletter.New("trialmatch.KeyFacts", err))
}

// add keys fact, which passed the edge checks; body, when not nil, is its
// Avro body (PerShard appends it as it is instead of encoding the fact
// again). A fact it cannot key or encode is a dead letter.
func (f *factEventsFn) add(ctx context.Context, fact *schemas.PatientFact, body []byte, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) error {
	stageFacts.In(ctx, 1)
	if err := checkFactKeys(fact); err != nil {
		f.reject(ctx, err, dead)
		return nil
	}
	shard := shardOf(fact.Tenant, fact.PatientID, f.Shards)
	if f.PerShard {
		if body == nil {
			var err error
			if f.scratch, err = fact.AppendAvroBody(f.scratch[:0]); err != nil {
				f.reject(ctx, deadletter.Errorf(deadletter.InvalidRecord, "trialmatch: %w", err), dead)
				return nil
			}
			body = f.scratch
		}
		f.facts[shard] = appendFactBody(f.facts[shard], body)
		stageFacts.Out(ctx, 1)
		return nil
	}
	ev, err := encodeEvent(kindFact, fact.EventTime, fact)
	if err != nil {
		f.reject(ctx, deadletter.Errorf(deadletter.InvalidRecord, "patient fact %q: %w", fact.FactID, err), dead)
		return nil
	}
	stageFacts.Out(ctx, 1)
	k := shardTick{shard: shard, tick: tickOf(ev.TS, f.TickMillis)}
	f.batch[k] = append(f.batch[k], ev)
	return nil
}

// checkFactKeys checks that a fact names what keys it: its tenant, patient
// and fact id.
func checkFactKeys(fact *schemas.PatientFact) error {
	if fact.Tenant == "" || fact.PatientID == "" || fact.FactID == "" {
		return deadletter.Errorf(deadletter.InvalidRecord, "patient fact %q lacks tenant, patient_id or fact_id", fact.FactID)
	}
	return nil
}

// String describes the configuration, for logs.
func (c Config) String() string {
	c = c.withDefaults()
	return fmt.Sprintf("shards=%d tick=%s execution=%s", c.Shards, c.Tick, c.Execution)
}
