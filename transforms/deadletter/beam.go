package deadletter

import (
	"context"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// The Beam side of dead letters lives beside the record shape so that every
// pipeline using Record also gets its coder: Records cross Beam shuffles as
// their Avro body (schemas/dead_letter.avsc).
func init() {
	beam.RegisterCoder(reflect.TypeOf(Record{}), encodeRecord, decodeRecord)
	register.DoFn3x1[context.Context, Record, func(kafkaio.Record), error](&encodeFn{})
	register.Emitter1[Record]()
	register.Emitter1[kafkaio.Record]()
}

func encodeRecord(r Record) ([]byte, error) { return r.AppendAvro(nil) }

func decodeRecord(b []byte) (Record, error) { return FromAvro(b) }

// MetricsNamespace is the Beam metrics namespace of dead-letter counters;
// each counter is named by its reason code.
const MetricsNamespace = "deadletter"

// Counter returns the Beam counter of dead letters with code.
func Counter(code Code) beam.Counter { return beam.NewCounter(MetricsNamespace, string(code)) }

// StageMetricsNamespace is the Beam metrics namespace of dead-letter
// counters by stage: each is named "<stage>/<reason code>", the stage
// being the Record's (a runner names the step that counted otherwise,
// Prism with an internal id such as "e14").
const StageMetricsNamespace = "deadletter.stage"

// Emit counts r under its reason code (MetricsNamespace) and under its
// stage and reason code (StageMetricsNamespace), and emits it: the one call
// a DoFn makes to reject a record.
func Emit(ctx context.Context, emit func(Record), r Record) {
	beam.NewCounter(MetricsNamespace, r.ReasonCode).Inc(ctx, 1)
	beam.NewCounter(StageMetricsNamespace, r.Stage+"/"+r.ReasonCode).Inc(ctx, 1)
	emit(r)
}

// IDSource finds the registry id of a schema under a subject. The Schema
// Registry client implements it: *registry.Client of package
// github.com/trialflow/trialflow/schemas/registry, made with
// registry.NewClient(url, registry.WithAuth(auth)).
type IDSource interface {
	IDFor(subject, schema string) (int, error)
}

var _ IDSource = (*registry.Client)(nil)

// Sink says where dead letters are written.
type Sink struct {
	Brokers []string
	Conn    *kafkaio.Conn // full connection settings; Brokers is used when nil

	Topic string // default schemas.DeadLetters.Topic

	// The value schema id: SchemaID when > 0, else looked up (or, with
	// AutoRegister, registered) under the topic's value subject at
	// RegistryURL.
	SchemaID     int
	RegistryURL  string
	RegistryAuth registry.Auth // credentials and CA of RegistryURL, by reference
	AutoRegister bool
}

// Encode turns dead letters (PCollection<Record>) into Kafka records for
// the dead-letter topic (PCollection<kafkaio.Record>): the value is the
// Confluent-framed Avro record, the key Record.Key().
func Encode(s beam.Scope, sink Sink, dead beam.PCollection) beam.PCollection {
	s = s.Scope("deadletter.Encode")
	topic := sink.Topic
	if topic == "" {
		topic = schemas.DeadLetters.Topic
	}
	if sink.SchemaID <= 0 && sink.RegistryURL == "" {
		panic("deadletter.Encode: need a SchemaID or a RegistryURL")
	}
	return beam.ParDo(s, &encodeFn{Topic: topic, SchemaID: sink.SchemaID, RegistryURL: sink.RegistryURL,
		RegistryAuth: sink.RegistryAuth, AutoRegister: sink.AutoRegister}, dead)
}

// Write encodes dead letters and produces them to the dead-letter topic
// with kafkaio.Write, and returns what kafkaio.Write returns (for
// kafkaio.Commit).
func Write(s beam.Scope, sink Sink, dead beam.PCollection) beam.PCollection {
	s = s.Scope("deadletter.Write")
	recs := Encode(s, sink, dead)
	conn := kafkaio.Conn{Brokers: sink.Brokers}
	if sink.Conn != nil {
		conn = *sink.Conn
	}
	return kafkaio.Write(s, conn.Brokers, recs, kafkaio.WithConn(conn))
}

type encodeFn struct {
	Topic        string
	SchemaID     int
	RegistryURL  string
	RegistryAuth registry.Auth
	AutoRegister bool

	ids IDSource // for tests; built from RegistryURL in Setup when nil
	id  uint32
	buf []byte
}

func (fn *encodeFn) Setup() error {
	if fn.SchemaID > 0 {
		fn.id = uint32(fn.SchemaID)
		return nil
	}
	if fn.ids == nil {
		cl, err := registry.NewClient(fn.RegistryURL, registry.WithAutoRegister(fn.AutoRegister), registry.WithAuth(fn.RegistryAuth))
		if err != nil {
			return fmt.Errorf("deadletter: %w", err)
		}
		fn.ids = cl
	}
	subject := fn.Topic + "-value"
	id, err := fn.ids.IDFor(subject, schemas.DeadLetters.Schema())
	if err != nil {
		return fmt.Errorf("deadletter: schema id of subject %q: %w", subject, err)
	}
	fn.id = uint32(id)
	return nil
}

func (fn *encodeFn) ProcessElement(ctx context.Context, r Record, emit func(kafkaio.Record)) error {
	fn.buf = wire.AppendHeader(fn.buf[:0], fn.id)
	body, err := r.AppendAvro(fn.buf)
	if err != nil {
		// A Record that does not fit its own contract is a bug in the
		// transform that built it: fail loudly rather than drop it.
		return fmt.Errorf("deadletter: stage %q reason %q: %w", r.Stage, r.ReasonCode, err)
	}
	fn.buf = body
	beam.NewCounter(MetricsNamespace+".written", r.ReasonCode).Inc(ctx, 1)
	emit(kafkaio.Record{
		Topic: fn.Topic, Partition: -1, Offset: -1, Timestamp: r.ErrorTime,
		Key: r.Key(), Value: append([]byte(nil), body...),
		Headers: []kafkaio.Header{{Key: "reason_code", Value: []byte(r.ReasonCode)}, {Key: "stage", Value: []byte(r.Stage)}},
	})
	return nil
}
