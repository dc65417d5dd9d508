package trialmatch

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/join"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Co-partitioned execution (Execution CoPartitioned, FromKafka's default
// for bounded input). patient_facts is keyed by pseudonymous patient id
// and produced with Kafka's default partitioner, so every fact of a
// patient is in the partition the hash of its id names: the input is
// already partitioned by the key the fold needs, as Kafka Streams assumes
// of a co-partitioned topic and Flink's reinterpretAsKeyedStream declares.
// Each partition is then read, decoded, folded, judged, decided and
// reconciled with what approved_patients holds without any fact crossing
// the runner: only a status per partition, records to publish and dead
// letters do.
//
// The claim is checked record by record before a verdict is taken: every
// fact's key must be its patient id and must hash (murmur2, as the Java
// client and franz-go partition) to the partition it was read from. The
// run goes in three steps:
//
//  1. ReadFacts, per partition: read it to the end offset listed when the
//     pipeline was built, decode, apply the edge checks (dead letters go
//     out here), check placement, and hand the facts to step 3 in the
//     worker's memory; only a status per partition leaves the step.
//  2. Plan: one group of the statuses. The topic is co-partitioned when no
//     record of any partition is misplaced; otherwise the log says which
//     record and why.
//  3. PatientViewMatchDecide, per partition, with the open-trial changelog
//     and the plan: when co-partitioned, replay the facts (taken from the
//     hand-off, or read again when step 1 ran in another process) and
//     reconcile every match key whose patient lives in the partition.
//     Otherwise send the facts keyed by patient shard to the shuffle
//     execution (Batch's stages and reconcile), which then does all the
//     work: a topic produced otherwise costs time, never answers.

func init() {
	register.DoFn4x1[context.Context, kafkaio.PartitionRange, func(int, coStatus), func(deadletter.Record), error](&coReadFn{})
	register.DoFn4x0[context.Context, int, func(*coStatus) bool, func(coPlan)](&coPlanFn{})
	register.DoFn2x0[coPlan, func(int, Event)](&coReplicatePlanFn{})
	register.DoFn3x1[context.Context, coPlan, func(beam.EventTime, string, keyed), error](&coPublishedFn{})
	register.DoFn8x1[context.Context, int, func(*Event) bool, func(beam.EventTime, schemas.ApprovedPatient), func(deadletter.Record),
		func(int64), func(beam.EventTime, int, Event), func(beam.EventTime, kafkaio.Batch), error](&coMatchFn{})
	register.Emitter2[int, coStatus]()
	register.Iter1[coStatus]()
	register.Emitter1[coPlan]()
	register.Emitter2[int, Event]()
	register.Emitter3[beam.EventTime, string, keyed]()
	register.Emitter2[beam.EventTime, kafkaio.Batch]()
}

// kindPlan is the plan's event in a co-partitioned stage's group: Data is
// why the topic is not co-partitioned, empty when it is.
const kindPlan int8 = 100

// KafkaPartition is the partition Kafka's default partitioner gives a
// record with key among n partitions: murmur2 of the key, made positive,
// modulo n (the Java client's and franz-go's).
func KafkaPartition(key []byte, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}

// murmur2 is the hash of Kafka's default partitioner (Utils.murmur2 of the
// Java client).
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// coStatus is what ReadFacts found in one partition.
type coStatus struct {
	Partition int32
	// Records read, and facts among them that are not where the default
	// partitioner puts their patient.
	Records, Misplaced int64
	// Why names the first misplaced fact; empty when there is none.
	Why string
}

// coPlan is the run's verdict on the topic: Why is empty when it is
// co-partitioned.
type coPlan struct{ Why string }

// coSource says how a co-partitioned stage reads patient_facts.
type coSource struct {
	Conn           kafkaio.Conn
	RegistryURL    string
	RegistryAuth   registry.Auth
	MaxRecordBytes int
	Stage          string
	// Partitions is the topic's partition count when the pipeline was
	// built.
	Partitions int32
	// Run names this pipeline's hand-off between the steps.
	Run string
}

// coFacts is one partition's valid facts in offset order, with the
// timestamps of its records.
type coFacts struct {
	facts        []schemas.PatientFact
	minTS, maxTS int64
}

// coHandoff passes a partition's facts from ReadFacts to the match step
// when both run in one process (always on Prism): key Run/partition. The
// match step takes them out, or reads the partition again.
var coHandoff sync.Map

func (c *coSource) handoffKey(p int32) string { return fmt.Sprintf("%s/%d", c.Run, p) }

func (c *coSource) decoder() (*avroio.Decoder, error) {
	dec, err := avroio.NewRegistryDecoder(c.RegistryURL, schemas.PatientFacts.Schema(),
		avroio.MaxRecordBytes(c.MaxRecordBytes), avroio.RegistryAuth(c.RegistryAuth))
	if err != nil {
		return nil, fmt.Errorf("trialmatch: facts decoder: %w", err)
	}
	return dec, nil
}

// read reads and decodes partition r on workers goroutines. With dead
// set it dead-letters the records that are not valid facts (and counts the
// stage's metrics); without, it skips them (they were dead-lettered by the
// ReadFacts step that ran before).
func (c *coSource) read(ctx context.Context, dec *avroio.Decoder, r kafkaio.PartitionRange, workers int,
	dead func(deadletter.Record)) (*coFacts, coStatus, error) {
	st := coStatus{Partition: r.Partition}
	var recs []kafkaio.Record
	if r.End > r.Start {
		recs = make([]kafkaio.Record, 0, r.End-r.Start)
	}
	if err := kafkaio.ReadRange(ctx, c.Conn, r, 0, func(rec kafkaio.Record) error {
		recs = append(recs, rec)
		return nil
	}); err != nil {
		return nil, st, fmt.Errorf("trialmatch: %w", err)
	}
	st.Records = int64(len(recs))
	limit := c.MaxRecordBytes
	if limit == 0 {
		limit = avroio.DefaultMaxRecordBytes
	}
	facts := make([]*schemas.PatientFact, len(recs))
	type found struct {
		misplaced int64
		first     int // index of the first misplaced fact, -1 for none
		err       error
	}
	res := make([]found, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fd := &res[w]
			fd.first = -1
			for j := w; j < len(recs); j += workers {
				rec := &recs[j]
				if limit > 0 && avroio.RecordSize(*rec) > limit {
					continue
				}
				body, _, err := dec.Decode(nil, rec.Value)
				if err != nil {
					var de *deadletter.Error
					if !errors.As(err, &de) {
						fd.err = err // the registry is unreachable: fail and retry
						return
					}
					continue
				}
				fact, err := schemas.DecodePatientFact(body)
				if err != nil || checkFact(fact) != nil || checkFactKeys(fact) != nil {
					continue
				}
				facts[j] = fact
				if string(rec.Key) != fact.PatientID || KafkaPartition(rec.Key, c.Partitions) != rec.Partition {
					fd.misplaced++
					if fd.first < 0 || j < fd.first {
						fd.first = j
					}
				}
			}
		}()
	}
	wg.Wait()
	first := -1
	for _, fd := range res {
		if fd.err != nil {
			return nil, st, fmt.Errorf("trialmatch: decode %s/%d: %w", r.Topic, r.Partition, fd.err)
		}
		st.Misplaced += fd.misplaced
		if fd.first >= 0 && (first < 0 || fd.first < first) {
			first = fd.first
		}
	}
	if first >= 0 {
		rec := &recs[first]
		if string(rec.Key) != facts[first].PatientID {
			st.Why = fmt.Sprintf("record %s/%d@%d is not keyed by its patient id", rec.Topic, rec.Partition, rec.Offset)
		} else {
			st.Why = fmt.Sprintf("record %s/%d@%d is keyed by its patient id, which Kafka's default partitioner puts in partition %d of %d",
				rec.Topic, rec.Partition, rec.Offset, KafkaPartition(rec.Key, c.Partitions), c.Partitions)
		}
	}
	out := &coFacts{facts: make([]schemas.PatientFact, 0, len(recs)), minTS: mtime.MaxTimestamp.Milliseconds(), maxTS: mtime.MinTimestamp.Milliseconds()}
	var valid int64
	for j := range recs {
		rec := recs[j]
		ts := rec.Timestamp.UnixMilli()
		out.minTS, out.maxTS = min(out.minTS, ts), max(out.maxTS, ts)
		if facts[j] != nil {
			out.facts = append(out.facts, *facts[j])
			valid++
			continue
		}
		if dead == nil {
			continue
		}
		// Decode it again here, to dead-letter it exactly as the other
		// executions do.
		d, ok, err := avroio.DecodeRecord(ctx, dec, c.Stage, false, rec, dead)
		if err != nil {
			return nil, st, err
		}
		if !ok {
			continue
		}
		fact, ok := decodeFact(ctx, d, dead)
		if !ok {
			continue
		}
		stageFacts.In(ctx, 1)
		(&factEventsFn{}).reject(ctx, checkFactKeys(fact), dead)
	}
	if dead != nil && valid > 0 {
		stageFacts.In(ctx, valid)
		stageFacts.Out(ctx, valid)
	}
	return out, st, nil
}

func workersOr(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// coReadFn is step 1, ReadFacts: one partition per element.
type coReadFn struct {
	Source  coSource
	Workers int

	dec *avroio.Decoder
}

func (f *coReadFn) Setup() (err error) {
	f.dec, err = f.Source.decoder()
	return err
}

func (f *coReadFn) ProcessElement(ctx context.Context, r kafkaio.PartitionRange, emit func(int, coStatus), dead func(deadletter.Record)) error {
	facts, st, err := f.Source.read(ctx, f.dec, r, workersOr(f.Workers), dead)
	if err != nil {
		return err
	}
	coHandoff.Store(f.Source.handoffKey(r.Partition), facts)
	emit(0, st)
	return nil
}

// coPlanFn is step 2: the statuses of every partition make the plan.
type coPlanFn struct {
	Topic      string
	Partitions int32
}

func (f *coPlanFn) ProcessElement(ctx context.Context, _ int, sts func(*coStatus) bool, emit func(coPlan)) {
	var (
		st       coStatus
		all      []coStatus
		records  int64
		misplace int64
	)
	for sts(&st) {
		all = append(all, st)
		records += st.Records
		misplace += st.Misplaced
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Partition < all[j].Partition })
	plan := coPlan{}
	for _, s := range all {
		if s.Why != "" {
			plan.Why = fmt.Sprintf("%d of %d facts are not in the partition Kafka's default partitioner gives their patient id, the first: %s",
				misplace, records, s.Why)
			break
		}
	}
	if plan.Why != "" {
		log.Warnf(ctx, "trialmatch: %s is not co-partitioned by patient (%s); using the shuffle execution", f.Topic, plan.Why)
		beam.NewCounter(metrics.Namespace, "trialmatch/co_partitioned_fallback").Inc(ctx, 1)
	} else {
		log.Infof(ctx, "trialmatch: %s is co-partitioned by patient (%d facts in %d partitions checked); no fact crosses the runner", f.Topic, records, f.Partitions)
	}
	emit(plan)
}

// coReplicatePlanFn sends the plan to every partition's match step.
type coReplicatePlanFn struct{ Partitions int32 }

func (f *coReplicatePlanFn) ProcessElement(plan coPlan, emit func(int, Event)) {
	for p := range f.Partitions {
		emit(int(p), Event{Kind: kindPlan, Data: []byte(plan.Why)})
	}
}

// coPublishedFn is the shuffle execution's source of published records:
// they go to its reconcile stage only when the plan sends the facts there
// too (otherwise the co-partitioned stages reconcile every key).
type coPublishedFn struct{ Snapshot Snapshot }

func (f *coPublishedFn) ProcessElement(ctx context.Context, plan coPlan, emit func(beam.EventTime, string, keyed)) error {
	if plan.Why == "" {
		return nil
	}
	return (&publishedFn{Snapshot: f.Snapshot, All: true}).ProcessElement(ctx, nil, emit)
}

// coMatchFn is step 3: one partition's facts replayed with the open-trial
// changelog, reconciled with what is published, or sent to the shuffle
// execution when the plan says so.
type coMatchFn struct {
	// Replay holds the batch replay's settings (TickMillis, Workers).
	Replay shardBatchFn
	Source coSource
	Ranges []kafkaio.PartitionRange
	// Shards is the shuffle execution's number of shards.
	Shards int
	// Snapshot is approved_patients as published; Reconcile is false with
	// Republish.
	Snapshot  Snapshot
	Reconcile bool

	dec       *avroio.Decoder
	published map[string][]keyed
}

func (f *coMatchFn) Setup(ctx context.Context) error {
	f.Replay.Setup()
	var err error
	if f.dec, err = f.Source.decoder(); err != nil {
		return err
	}
	if f.Reconcile {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		f.published, err = f.Snapshot.load(ctx)
	}
	return err
}

func (f *coMatchFn) ProcessElement(ctx context.Context, p int, events func(*Event) bool,
	emit func(beam.EventTime, schemas.ApprovedPatient), dead func(deadletter.Record), folded func(int64),
	fallback func(beam.EventTime, int, Event), marks func(beam.EventTime, kafkaio.Batch)) error {
	if p < 0 || p >= len(f.Ranges) {
		return fmt.Errorf("trialmatch: co-partitioned stage for partition %d of %d", p, len(f.Ranges))
	}
	r := f.Ranges[p]
	parts := f.Replay.newReplays()
	var (
		ev      Event
		plan    string
		planned bool
	)
	for events(&ev) {
		switch ev.Kind {
		case kindPlan:
			plan, planned = string(ev.Data), true
		case kindDecision:
			d, err := ev.decision()
			if err != nil {
				return err
			}
			f.Replay.addDecision(parts, ev.TS, &d)
		default:
			return fmt.Errorf("trialmatch: co-partitioned stage got an event of kind %d", ev.Kind)
		}
	}
	if !planned {
		return fmt.Errorf("trialmatch: co-partitioned stage for partition %d has no plan", p)
	}
	var facts *coFacts
	if v, ok := coHandoff.LoadAndDelete(f.Source.handoffKey(r.Partition)); ok {
		facts = v.(*coFacts)
	} else {
		// ReadFacts ran in another process, or this bundle is retried:
		// read the partition again (its dead letters went out already).
		var err error
		if facts, _, err = f.Source.read(ctx, f.dec, r, workersOr(f.Replay.Workers), nil); err != nil {
			return err
		}
		beam.NewCounter(metrics.Namespace, "trialmatch/co_partitioned_reread").Inc(ctx, 1)
	}
	if facts.minTS <= facts.maxTS { // a record was read
		// The range's first and last offsets, for kafkaio.Commit.
		marks(mtime.Time(facts.minTS), kafkaio.Batch{Records: []kafkaio.Record{
			{Topic: r.Topic, Partition: r.Partition, Offset: r.Start, Timestamp: msTime(facts.minTS)},
			{Topic: r.Topic, Partition: r.Partition, Offset: r.End - 1, Timestamp: msTime(facts.maxTS)},
		}})
	}
	if plan != "" {
		f.toShuffle(ctx, facts.facts, fallback, dead)
		return nil
	}
	f.Replay.addFacts(parts, facts.facts)
	label := fmt.Sprintf("partition %s/%d", r.Topic, r.Partition)
	if !f.Reconcile {
		return f.Replay.replayAll(ctx, label, parts, func(o stamped) { emit(o.ts, o.rec) }, dead, folded)
	}
	made := map[string][]keyed{}
	if err := f.Replay.replayAll(ctx, label, parts, func(o stamped) {
		made[o.rec.MatchID] = append(made[o.rec.MatchID], keyed{TS: int64(o.ts), Rec: o.rec})
	}, dead, folded); err != nil {
		return err
	}
	// Every match key of a patient of this partition: made here, or
	// published before (a patient whose facts are gone still has its
	// published records settled, by the partition its id hashes to).
	keys := make([]string, 0, len(made))
	for k := range made {
		keys = append(keys, k)
	}
	for k, pub := range f.published {
		if _, ok := made[k]; !ok && len(pub) > 0 && KafkaPartition([]byte(pub[0].Rec.PatientID), f.Source.Partitions) == r.Partition {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	now := time.Now()
	for _, k := range keys {
		reconcileKey(clonedKeyed(f.published[k]), made[k], now, emit)
	}
	return nil
}

// clonedKeyed copies a shared published list before reconcileKey sorts it.
func clonedKeyed(ks []keyed) []keyed { return append([]keyed(nil), ks...) }

// toShuffle sends a partition's facts to the shuffle execution, keyed by
// patient shard as its fact source does (appendFactBody per shard). They
// were counted by ReadFacts.
func (f *coMatchFn) toShuffle(ctx context.Context, facts []schemas.PatientFact, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) {
	byShard := map[int][]byte{}
	var body []byte
	for i := range facts {
		var err error
		if body, err = facts[i].AppendAvroBody(body[:0]); err != nil {
			(&factEventsFn{}).reject(ctx, deadletter.Errorf(deadletter.InvalidRecord, "trialmatch: %w", err), dead)
			continue
		}
		shard := shardOf(facts[i].Tenant, facts[i].PatientID, f.Shards)
		byShard[shard] = appendFactBody(byShard[shard], body)
	}
	for shard, b := range byShard {
		emit(mtime.MinTimestamp, shard, Event{Kind: kindFacts, Data: b})
	}
}

// coGroups is how many replays a partition's patients are split into.
const coGroups = 16

// newRun names a pipeline's co-partitioned hand-off.
func newRun() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildCoPartitioned is Build for co-partitioned execution over Kafka; see
// the top of this file. ranges are patient_facts' partitions as listed
// when the pipeline was built. The outputs' Matches are reconciled with
// snap already (unless reconcile is false); branches are its two parts
// (co-partitioned and shuffled), marks the ranges read (kafkaio.Batch
// for kafkaio.Commit).
func buildCoPartitioned(s beam.Scope, src coSource, ranges []kafkaio.PartitionRange, trials, regs beam.PCollection,
	cfg Config, snap Snapshot, reconcile bool) (out Outputs, marks beam.PCollection, branches []beam.PCollection) {
	s = s.Scope("trialmatch")
	n := int32(len(ranges))
	src.Partitions, src.Run = n, newRun()
	decisions, tableDead := openTrials(s, trials, regs, true)

	cs := s.Scope("CoPartitioned")
	statuses, readDead := beam.ParDo2(cs.Scope("ReadFacts"), &coReadFn{Source: src}, beam.CreateList(cs, ranges))
	plan := beam.ParDo(cs.Scope("Plan"), &coPlanFn{Topic: ranges[0].Topic, Partitions: n}, beam.GroupByKey(cs, statuses))
	// The changelog reaches each partition's stage through a GroupByKey,
	// not as a side input: Prism 2.77 busy-loops on a stage with a side
	// input for as long as its bundle runs.
	in := beam.GroupByKey(cs, beam.Flatten(cs,
		beam.ParDo(cs, &coReplicatePlanFn{Partitions: n}, plan),
		join.Replicate(cs.Scope("BroadcastOpenTrials"), decisions, int(n))))
	matches, matchDead, folded, fallback, marks := beam.ParDo5(cs.Scope("PatientViewMatchDecide"), &coMatchFn{
		Replay: shardBatchFn{TickMillis: cfg.Tick.Milliseconds(), Groups: coGroups},
		Source: src, Ranges: ranges, Shards: cfg.Shards, Snapshot: snap, Reconcile: reconcile,
	}, in)

	// The shuffle execution, fed only when the topic is not co-partitioned.
	broadcast := join.Replicate(s.Scope("BroadcastOpenTrials"), decisions, cfg.Shards)
	shardIn := beam.GroupByKey(s.Scope("GroupByShard"), beam.Flatten(s, fallback, broadcast))
	matches2, dead2, folded2 := beam.ParDo3(s.Scope("PatientViewMatchDecide"), &shardBatchFn{TickMillis: cfg.Tick.Milliseconds()}, shardIn)
	if reconcile {
		rs := s.Scope("Reconcile")
		made := beam.ParDo(rs, keyMatch, matches2)
		published := beam.ParDo(rs, &coPublishedFn{Snapshot: snap}, plan)
		matches2 = beam.ParDo(rs, &reconcileBatchFn{}, beam.GroupByKey(rs, beam.Flatten(rs, published, made)))
	}
	return Outputs{
		Matches:     beam.Flatten(s, matches, matches2),
		Decisions:   decisions,
		DeadLetters: beam.Flatten(s, tableDead, readDead, matchDead, dead2),
		Folded:      beam.Flatten(s, folded, folded2),
		Execution:   CoPartitioned,
	}, marks, []beam.PCollection{matches, matches2}
}
