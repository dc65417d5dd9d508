package trialmatch

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.DoFn4x1[context.Context, avroio.Decoded, func(beam.EventTime, schemas.PatientFact), func(deadletter.Record), error](&toFactFn{})
	register.DoFn4x1[context.Context, avroio.Decoded, func(beam.EventTime, schemas.Trial), func(deadletter.Record), error](&toTrialFn{})
	register.DoFn4x1[context.Context, avroio.Decoded, func(beam.EventTime, schemas.RegulatoryEvent), func(deadletter.Record), error](&toRegulatoryFn{})
	register.DoFn4x1[context.Context, schemas.ApprovedPatient, func(kafkaio.Record), func(deadletter.Record), error](&matchRecordFn{})
	register.Emitter2[beam.EventTime, schemas.PatientFact]()
	register.Emitter2[beam.EventTime, schemas.Trial]()
	register.Emitter2[beam.EventTime, schemas.RegulatoryEvent]()
}

// Topics names the pipeline's Kafka topics; empty names take the contract
// defaults.
type Topics struct {
	Facts, Trials, Regulatory, Approved, DeadLetters string
}

func (t Topics) withDefaults() Topics {
	def := func(s *string, c schemas.Contract) {
		if *s == "" {
			*s = c.Topic
		}
	}
	def(&t.Facts, schemas.PatientFacts)
	def(&t.Trials, schemas.Trials)
	def(&t.Regulatory, schemas.Regulatory)
	def(&t.Approved, schemas.ApprovedPatients)
	def(&t.DeadLetters, schemas.DeadLetters)
	return t
}

// KafkaConfig wires the pipeline to Kafka and the Schema Registry.
type KafkaConfig struct {
	Brokers     []string
	RegistryURL string
	// Conn is the Kafka connection's security (TLS, SASL with the password
	// by reference); its Brokers default to Brokers.
	Conn kafkaio.Conn
	// RegistryAuth holds the registry's credentials and CA, by reference.
	RegistryAuth registry.Auth
	Topics       Topics
	// PerTenantTopics writes approved_patients of tenant T to
	// "<Approved>.<T>" as well, so a practice can be granted its own topic.
	PerTenantTopics bool
	// Unbounded keeps reading (streaming); otherwise the sources read to the
	// end offsets taken at launch (bounded).
	Unbounded bool
	// Group is the consumer group the sources' offsets are committed to
	// (optional), with kafkaio.Commit: only once what they caused is in
	// approved_patients and dead_letter. The pipeline always replays its
	// sources from the earliest offset (patient state is rebuilt, see
	// FromKafka), so the group shows progress and lag; it is not where a
	// restart resumes.
	Group string
	// ReadOptions are passed to every kafkaio.Read.
	ReadOptions []kafkaio.ReadOption
	// MaxRecordBytes is the largest input record taken (key, value and
	// headers); a larger one is a dead letter, record_too_large. 0 means
	// avroio.DefaultMaxRecordBytes (1 MiB), a negative value no limit.
	MaxRecordBytes int
	Pipeline       Config
	// Republish publishes every record the pipeline makes, ignoring what
	// approved_patients holds already (see FromKafka). For a consumer that
	// rebuilds from scratch on a new topic; on the same topic its readers
	// see a second NEW for matches published before.
	Republish bool
}

// FromKafka reads the three source topics, decodes them against the
// registry, runs Build, and writes approved_patients and dead letters back
// to Kafka. It returns Build's outputs (with every dead letter, decoding
// ones included, and Matches the records published) for further sinks such
// as the digest and the history.
//
// approved_patients is the pipeline's ledger: FromKafka notes its end
// offsets when it builds the pipeline, and the run publishes only what
// changes what readers of those records see (package reconcile). patient
// facts, trials and regulatory events are always read from the earliest
// offset, so a run after a crash rebuilds every patient's state, publishes
// the records the crashed run had not, and retracts (SUPERSEDED) a NEW it
// published that the input no longer supports; a re-run over unchanged
// input publishes nothing; over grown input, only the differences.
// KafkaConfig.Republish turns this off. Building panics when the end
// offsets of approved_patients cannot be listed.
func FromKafka(s beam.Scope, kc KafkaConfig) Outputs {
	t := kc.Topics.withDefaults()
	conn := kc.Conn
	if len(conn.Brokers) == 0 {
		conn.Brokers = kc.Brokers
	}
	var snap Snapshot
	if !kc.Republish {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var err error
		snap, err = TakeSnapshot(ctx, conn, kc.RegistryURL, kc.RegistryAuth, t.Approved)
		cancel()
		if err != nil {
			panic(err)
		}
	}
	opts := append([]kafkaio.ReadOption{kafkaio.WithConn(conn)}, kc.ReadOptions...)
	if kc.Unbounded {
		opts = append(opts, kafkaio.Unbounded())
	}
	var sources []beam.PCollection // what was read, for kafkaio.Commit
	read := func(name, topic string, c schemas.Contract) (beam.PCollection, beam.PCollection) {
		rs := s.Scope(name)
		recs := kafkaio.Read(rs, kc.Brokers, []string{topic}, opts...)
		sources = append(sources, recs)
		return avroio.Decode(rs, avroio.DecodeConfig{RegistryURL: kc.RegistryURL, RegistryAuth: kc.RegistryAuth, ReaderSchema: c.Schema(),
			Stage: "trialmatch.Decode" + name, MaxRecordBytes: kc.MaxRecordBytes}, recs)
	}
	tRecs, tDead := read("Trials", t.Trials, schemas.Trials)
	rRecs, rDead := read("Regulatory", t.Regulatory, schemas.Regulatory)
	trials, tDead2 := beam.ParDo2(s, &toTrialFn{}, tRecs)
	regs, rDead2 := beam.ParDo2(s, &toRegulatoryFn{}, rRecs)
	dead := []beam.PCollection{tDead, rDead, tDead2, rDead2}

	cfg := kc.Pipeline.withDefaults()
	if cfg.Execution == Auto && !kc.Unbounded {
		cfg.Execution = CoPartitioned
	}
	if cfg.Execution == CoPartitioned && kc.Unbounded {
		panic("trialmatch: co-partitioned execution reads bounded input only; use streaming for unbounded")
	}
	var (
		out Outputs
		// branches are the parts of out.Matches each written on its own.
		branches []beam.PCollection
	)
	switch cfg.Execution {
	case CoPartitioned:
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ranges, err := kafkaio.ListRanges(ctx, conn, t.Facts)
		cancel()
		if err != nil {
			panic(fmt.Errorf("trialmatch: partitions of %s: %w", t.Facts, err))
		}
		var marks beam.PCollection
		out, marks, branches = buildCoPartitioned(s, coSource{Conn: conn, RegistryURL: kc.RegistryURL, RegistryAuth: kc.RegistryAuth,
			MaxRecordBytes: kc.MaxRecordBytes, Stage: "trialmatch.DecodeFacts"}, ranges, trials, regs, cfg, snap, !kc.Republish)
		sources = append(sources, marks)
		out.DeadLetters = beam.Flatten(s, append([]beam.PCollection{out.DeadLetters}, dead...)...)
	default:
		in := Inputs{Trials: trials, Regulatory: regs}
		if cfg.Execution == Batch {
			// Facts, the large source, cross the runner a fetch at a time:
			// read, decode, convert and key in one stage over record batches.
			fs := s.Scope("Facts")
			batches := kafkaio.ReadBatches(fs, kc.Brokers, []string{t.Facts}, opts...)
			sources = append(sources, batches)
			sharded, fDead := beam.ParDo2(fs, &factBatchFn{RegistryURL: kc.RegistryURL, RegistryAuth: kc.RegistryAuth, Stage: "trialmatch.DecodeFacts",
				Keys: *cfg.factKeys(), MaxRecordBytes: kc.MaxRecordBytes}, batches)
			in.ShardedFacts = sharded
			dead = append(dead, fDead)
		} else {
			fRecs, fDead := read("Facts", t.Facts, schemas.PatientFacts)
			facts, fDead2 := beam.ParDo2(s, &toFactFn{}, fRecs)
			in.Facts = facts
			dead = append(dead, fDead, fDead2)
		}
		out = Build(s, in, cfg)
		out.DeadLetters = beam.Flatten(s, append([]beam.PCollection{out.DeadLetters}, dead...)...)
		if !kc.Republish {
			out.Matches = reconcileMatches(s, out.Matches, snap, cfg, out.Execution)
		}
	}

	if branches == nil {
		branches = []beam.PCollection{out.Matches}
	}
	var written []beam.PCollection
	for i, matches := range branches {
		// Each branch is written by the stage that made it: the records of
		// a key stay in the order they were made (a Flatten in between
		// would let the runner write them from concurrent bundles).
		ws := s.Scope("WriteApproved")
		if i > 0 {
			ws = s.Scope(fmt.Sprintf("WriteApproved%d", i))
		}
		recs, recDead := beam.ParDo2(ws, &matchRecordFn{Topic: t.Approved, PerTenant: kc.PerTenantTopics}, matches)
		framed, encDead := avroio.Encode(ws, avroio.EncodeConfig{Topic: t.Approved, Schema: schemas.ApprovedPatients.Schema(),
			RegistryURL: kc.RegistryURL, RegistryAuth: kc.RegistryAuth, Stage: "trialmatch.EncodeApproved"}, recs)
		written = append(written, kafkaio.Write(ws, conn.Brokers, framed, kafkaio.ToTopic(t.Approved), kafkaio.WithConn(conn)))
		if kc.PerTenantTopics {
			perTenant := beam.ParDo(ws, retopicPerTenant, framed)
			written = append(written, kafkaio.Write(ws.Scope("PerTenant"), conn.Brokers, perTenant, kafkaio.WithConn(conn)))
		}
		out.DeadLetters = beam.Flatten(s, out.DeadLetters, recDead, encDead)
	}
	written = append(written, deadletter.Write(s, deadletter.Sink{Conn: &conn, Topic: t.DeadLetters, RegistryURL: kc.RegistryURL,
		RegistryAuth: kc.RegistryAuth}, out.DeadLetters))
	if kc.Group != "" {
		// A record's effects leave the match stage at the tick after its
		// event time at the latest (late data aside), and the reconcile
		// stage passes them on when the watermark reaches that tick.
		for _, src := range sources {
			kafkaio.Commit(s, conn, kc.Group, src, written, 2*cfg.Tick)
		}
	}
	return out
}

func init() { register.Function1x1(retopicPerTenant) }

// retopicPerTenant sends a framed approved_patients record to its tenant's
// own topic, named by the record's tenant header.
func retopicPerTenant(r kafkaio.Record) kafkaio.Record {
	tenant, _ := r.Header("tenant")
	r.Topic = r.Topic + "." + string(tenant)
	r.Partition = -1
	return r
}

// decodeNative decodes an Avro body of the contract's schema.
type nativeCodec struct{ codec *goavro.Codec }

func (n *nativeCodec) setup(c schemas.Contract) error {
	codec, err := c.Codec()
	n.codec = codec
	return err
}

func (n *nativeCodec) native(d avroio.Decoded) (any, error) {
	v, rest, err := n.codec.NativeFromBinary(d.Value)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%d trailing bytes", len(rest))
	}
	return v, err
}

// rejectDecoded dead-letters d for err, with the reason code err carries
// (invalid_record when none).
func rejectDecoded(ctx context.Context, dead func(deadletter.Record), stage string, d avroio.Decoded, err error) {
	code := deadletter.CodeOf(err)
	if code == deadletter.Unclassified {
		code = deadletter.InvalidRecord
	}
	deadletter.Emit(ctx, dead, deadletter.New(stage,
		deadletter.Errorf(code, "%s/%d@%d: %w", d.Topic, d.Partition, d.Offset, err),
		deadletter.From(deadletter.Source{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset}),
		deadletter.WithSchemaID(int32(d.WriterSchemaID)),
		deadletter.WithPayloadRef(fmt.Sprintf("kafka://%s/%d/%d", d.Topic, d.Partition, d.Offset), d.Value)))
}

// convert decodes d to T with fromNative, checks it (the edge checks,
// edge.go) and emits it at its event time, or dead-letters it: the shared
// body of the typed decoders below.
func convert[T any](ctx context.Context, n *nativeCodec, stage string, d avroio.Decoded,
	fromNative func(any) (*T, error), check func(*T) error, eventTime func(*T) time.Time,
	emit func(beam.EventTime, T), dead func(deadletter.Record)) {
	v, err := n.native(d)
	if err != nil {
		rejectDecoded(ctx, dead, stage, d, err)
		return
	}
	x, err := fromNative(v)
	if err == nil {
		err = check(x)
	}
	if err != nil {
		rejectDecoded(ctx, dead, stage, d, err)
		return
	}
	emit(beam.EventTime(eventTime(x).UnixMilli()), *x)
}

type toFactFn struct{}

func (f *toFactFn) ProcessElement(ctx context.Context, d avroio.Decoded, emit func(beam.EventTime, schemas.PatientFact), dead func(deadletter.Record)) error {
	if fact, ok := decodeFact(ctx, d, dead); ok {
		emit(beam.EventTime(fact.EventTime.UnixMilli()), *fact)
	}
	return nil
}

// decodeFact converts a decoded patient_facts record with the typed codec
// (no goavro maps) and checks it (the edge checks, edge.go), or
// dead-letters it: shared by the streaming source and batch execution's
// factBatchFn.
func decodeFact(ctx context.Context, d avroio.Decoded, dead func(deadletter.Record)) (*schemas.PatientFact, bool) {
	fact, err := schemas.DecodePatientFact(d.Value)
	if err == nil {
		err = checkFact(fact)
	}
	if err != nil {
		rejectDecoded(ctx, dead, "trialmatch.Facts", d, err)
		return nil, false
	}
	return fact, true
}

type toTrialFn struct{ nativeCodec }

func (f *toTrialFn) Setup() error { return f.setup(schemas.Trials) }

func (f *toTrialFn) ProcessElement(ctx context.Context, d avroio.Decoded, emit func(beam.EventTime, schemas.Trial), dead func(deadletter.Record)) error {
	convert(ctx, &f.nativeCodec, "trialmatch.Trials", d, schemas.TrialFromNative, checkTrial,
		func(x *schemas.Trial) time.Time { return x.EventTime }, emit, dead)
	return nil
}

type toRegulatoryFn struct{ nativeCodec }

func (f *toRegulatoryFn) Setup() error { return f.setup(schemas.Regulatory) }

func (f *toRegulatoryFn) ProcessElement(ctx context.Context, d avroio.Decoded, emit func(beam.EventTime, schemas.RegulatoryEvent), dead func(deadletter.Record)) error {
	convert(ctx, &f.nativeCodec, "trialmatch.Regulatory", d, schemas.RegulatoryEventFromNative, checkRegulatory,
		func(x *schemas.RegulatoryEvent) time.Time { return x.EventTime }, emit, dead)
	return nil
}

// matchRecordFn turns a match into a Kafka record: key tenant/patient/
// protocol, value the Avro body, a tenant header. A match that cannot be
// encoded with the approved_patients schema is a dead letter
// (unencodable_output), as the record of a failed fold or match is.
type matchRecordFn struct {
	Topic     string
	PerTenant bool
}

func (f *matchRecordFn) ProcessElement(ctx context.Context, a schemas.ApprovedPatient, emit func(kafkaio.Record), dead func(deadletter.Record)) error {
	body, err := a.AppendAvroBody(nil)
	if err != nil {
		stageApproved.In(ctx, 1)
		stageApproved.DeadLetter(ctx, string(deadletter.UnencodableOutput))
		var opts []deadletter.Option
		if utf8.ValidString(a.Tenant) {
			opts = append(opts, deadletter.WithTenant(a.Tenant))
		}
		deadletter.Emit(ctx, dead, deadletter.New("trialmatch.EncodeApproved",
			deadletter.Errorf(deadletter.UnencodableOutput, "trialmatch: %s: %w", recordName("approved patient record", a.MatchID), err), opts...))
		return nil
	}
	stageApproved.In(ctx, 1)
	stageApproved.Out(ctx, 1)
	emit(kafkaio.Record{
		Topic: f.Topic, Partition: -1, Offset: -1, Timestamp: a.MatchTime,
		Key:     []byte(a.Tenant + "/" + a.PatientID + "/" + a.ProtocolNo),
		Value:   body,
		Headers: []kafkaio.Header{{Key: "tenant", Value: []byte(a.Tenant)}, {Key: "action", Value: []byte(a.Action)}},
	})
	return nil
}
