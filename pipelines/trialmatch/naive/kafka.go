package naive

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.DoFn4x0[context.Context, avroio.Decoded, func(beam.EventTime, schemas.PatientFact), func(deadletter.Record)](&toFactFn{})
	register.DoFn4x0[context.Context, avroio.Decoded, func(beam.EventTime, schemas.Trial), func(deadletter.Record)](&toTrialFn{})
	register.DoFn4x0[context.Context, avroio.Decoded, func(beam.EventTime, schemas.RegulatoryEvent), func(deadletter.Record)](&toRegulatoryFn{})
	register.DoFn2x1[schemas.ApprovedPatient, func(kafkaio.Record), error](&toRecordFn{})
	register.Emitter2[beam.EventTime, schemas.PatientFact]()
	register.Emitter2[beam.EventTime, schemas.Trial]()
	register.Emitter2[beam.EventTime, schemas.RegulatoryEvent]()
	register.Emitter1[kafkaio.Record]()
}

// Topics names the Kafka topics; empty names take the contract defaults.
// Approved defaults to "naive.approved_patients", so the baseline can run
// beside pipelines/trialmatch on the same source topics.
type Topics struct {
	Facts, Trials, Regulatory, Approved string
}

func (t Topics) withDefaults() Topics {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&t.Facts, schemas.PatientFacts.Topic)
	def(&t.Trials, schemas.Trials.Topic)
	def(&t.Regulatory, schemas.Regulatory.Topic)
	def(&t.Approved, "naive."+schemas.ApprovedPatients.Topic)
	return t
}

// KafkaConfig wires the naive pipeline to Kafka and the Schema Registry.
// Reads are bounded: to the end offsets taken at launch.
type KafkaConfig struct {
	Brokers     []string
	RegistryURL string
	Topics      Topics
	Pipeline    Config
}

// FromKafka reads the three source topics record by record, decodes them
// with goavro, runs Build and writes the approved_patients changelog to
// Topics.Approved (the value schema registered under its subject on first
// use). Decoding dead letters are in the returned DeadLetters.
func FromKafka(s beam.Scope, kc KafkaConfig) Outputs {
	t := kc.Topics.withDefaults()
	read := func(name, topic string, c schemas.Contract) (beam.PCollection, beam.PCollection) {
		rs := s.Scope("Read" + name)
		recs := kafkaio.Read(rs, kc.Brokers, []string{topic})
		return avroio.Decode(rs, avroio.DecodeConfig{RegistryURL: kc.RegistryURL, ReaderSchema: c.Schema(), Stage: "naive.Decode" + name}, recs)
	}
	fRecs, fDead := read("Facts", t.Facts, schemas.PatientFacts)
	tRecs, tDead := read("Trials", t.Trials, schemas.Trials)
	rRecs, rDead := read("Regulatory", t.Regulatory, schemas.Regulatory)

	facts, fDead2 := beam.ParDo2(s.Scope("ToFact"), &toFactFn{}, fRecs)
	trials, tDead2 := beam.ParDo2(s.Scope("ToTrial"), &toTrialFn{}, tRecs)
	regs, rDead2 := beam.ParDo2(s.Scope("ToRegulatory"), &toRegulatoryFn{}, rRecs)

	out := Build(s, Inputs{Facts: facts, Trials: trials, Regulatory: regs}, kc.Pipeline)
	out.DeadLetters = beam.Flatten(s, out.DeadLetters, fDead, tDead, rDead, fDead2, tDead2, rDead2)

	ws := s.Scope("WriteApproved")
	recs := beam.ParDo(ws, &toRecordFn{Topic: t.Approved}, out.Matches)
	framed, encDead := avroio.Encode(ws, avroio.EncodeConfig{Topic: t.Approved, Schema: schemas.ApprovedPatients.Schema(),
		RegistryURL: kc.RegistryURL, AutoRegister: true, Stage: "naive.EncodeApproved"}, recs)
	kafkaio.Write(ws, kc.Brokers, framed, kafkaio.ToTopic(t.Approved))
	out.DeadLetters = beam.Flatten(s, out.DeadLetters, encDead)
	return out
}

// goavroCodec decodes one Avro body with goavro into a generic map; the
// typed decoders below turn the map into their value, as a first Beam
// pipeline would.
type goavroCodec struct{ codec *goavro.Codec }

func (g *goavroCodec) setup(c schemas.Contract) error {
	codec, err := c.Codec()
	if err != nil {
		return fmt.Errorf("naive: codec of %s: %w", c.Topic, err)
	}
	g.codec = codec
	return nil
}

func (g *goavroCodec) native(body []byte) (any, error) {
	v, rest, err := g.codec.NativeFromBinary(body)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%d trailing bytes", len(rest))
	}
	return v, err
}

func reject(ctx context.Context, dead func(deadletter.Record), d avroio.Decoded, err error) {
	deadletter.Emit(ctx, dead, deadletter.New("naive.Decode",
		deadletter.Errorf(deadletter.InvalidRecord, "%s/%d@%d: %w", d.Topic, d.Partition, d.Offset, err),
		deadletter.From(deadletter.Source{Topic: d.Topic, Partition: d.Partition, Offset: d.Offset}),
		deadletter.WithSchemaID(int32(d.WriterSchemaID)),
		deadletter.WithPayloadRef(fmt.Sprintf("kafka://%s/%d/%d", d.Topic, d.Partition, d.Offset), d.Value)))
}

type toFactFn struct{ goavroCodec }

func (f *toFactFn) Setup() error { return f.setup(schemas.PatientFacts) }

func (f *toFactFn) ProcessElement(ctx context.Context, d avroio.Decoded, emit func(beam.EventTime, schemas.PatientFact), dead func(deadletter.Record)) {
	v, err := f.native(d.Value)
	if err != nil {
		reject(ctx, dead, d, err)
		return
	}
	x, err := schemas.PatientFactFromNative(v)
	if err != nil {
		reject(ctx, dead, d, err)
		return
	}
	emit(beam.EventTime(x.EventTime.UnixMilli()), *x)
}

type toTrialFn struct{ goavroCodec }

func (f *toTrialFn) Setup() error { return f.setup(schemas.Trials) }

func (f *toTrialFn) ProcessElement(ctx context.Context, d avroio.Decoded, emit func(beam.EventTime, schemas.Trial), dead func(deadletter.Record)) {
	v, err := f.native(d.Value)
	if err != nil {
		reject(ctx, dead, d, err)
		return
	}
	x, err := schemas.TrialFromNative(v)
	if err != nil {
		reject(ctx, dead, d, err)
		return
	}
	emit(beam.EventTime(x.EventTime.UnixMilli()), *x)
}

type toRegulatoryFn struct{ goavroCodec }

func (f *toRegulatoryFn) Setup() error { return f.setup(schemas.Regulatory) }

func (f *toRegulatoryFn) ProcessElement(ctx context.Context, d avroio.Decoded, emit func(beam.EventTime, schemas.RegulatoryEvent), dead func(deadletter.Record)) {
	v, err := f.native(d.Value)
	if err != nil {
		reject(ctx, dead, d, err)
		return
	}
	x, err := schemas.RegulatoryEventFromNative(v)
	if err != nil {
		reject(ctx, dead, d, err)
		return
	}
	emit(beam.EventTime(x.EventTime.UnixMilli()), *x)
}

// toRecordFn turns a match into a Kafka record keyed tenant/patient/protocol.
type toRecordFn struct {
	Topic string

	codec *goavro.Codec
}

func (f *toRecordFn) Setup() error {
	c, err := schemas.ApprovedPatients.Codec()
	f.codec = c
	return err
}

func (f *toRecordFn) ProcessElement(a schemas.ApprovedPatient, emit func(kafkaio.Record)) error {
	body, err := f.codec.BinaryFromNative(nil, a.Native())
	if err != nil {
		return fmt.Errorf("naive: encode approved patient %s: %w", a.MatchID, err)
	}
	emit(kafkaio.Record{
		Topic: f.Topic, Partition: -1, Offset: -1, Timestamp: a.MatchTime,
		Key:     []byte(a.Tenant + "/" + a.PatientID + "/" + a.ProtocolNo),
		Value:   body,
		Headers: []kafkaio.Header{{Key: "tenant", Value: []byte(a.Tenant)}, {Key: "action", Value: []byte(a.Action)}},
	})
	return nil
}
