package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// FactSink says how facts are framed for patient_facts: the value schema id
// is SchemaID when > 0, else looked up (or, with AutoRegister, registered)
// under the topic's value subject at RegistryURL.
type FactSink struct {
	Topic        string // default schemas.PatientFacts.Topic
	SchemaID     int
	RegistryURL  string
	RegistryAuth registry.Auth // credentials and CA of RegistryURL, by reference
	AutoRegister bool
}

// EncodeFacts turns facts (PCollection<schemas.PatientFact>) into Kafka
// records (PCollection<kafkaio.Record>): Confluent-framed Avro values keyed
// by the pseudonymous patient id, with the fact's event time as record
// timestamp and a tenant header.
func EncodeFacts(s beam.Scope, sink FactSink, facts beam.PCollection) beam.PCollection {
	s = s.Scope("ingest.EncodeFacts")
	if sink.Topic == "" {
		sink.Topic = schemas.PatientFacts.Topic
	}
	if sink.SchemaID <= 0 && sink.RegistryURL == "" {
		panic("ingest.EncodeFacts: need a SchemaID or a RegistryURL")
	}
	return beam.ParDo(s, &encodeFn{Sink: sink}, facts)
}

type encodeFn struct {
	Sink FactSink

	id  uint32
	buf []byte
}

func (fn *encodeFn) Setup() error {
	if fn.Sink.SchemaID > 0 {
		fn.id = uint32(fn.Sink.SchemaID)
		return nil
	}
	cl, err := registry.NewClient(fn.Sink.RegistryURL, registry.WithAutoRegister(fn.Sink.AutoRegister), registry.WithAuth(fn.Sink.RegistryAuth))
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	subject := fn.Sink.Topic + "-value"
	id, err := cl.IDFor(subject, schemas.PatientFacts.Schema())
	if err != nil {
		return fmt.Errorf("ingest: schema id of subject %q: %w", subject, err)
	}
	fn.id = uint32(id)
	return nil
}

func (fn *encodeFn) ProcessElement(ctx context.Context, f schemas.PatientFact, emit func(kafkaio.Record)) error {
	codec, err := factCodec()
	if err != nil {
		return err
	}
	fn.buf = wire.AppendHeader(fn.buf[:0], fn.id)
	body, err := f.AppendAvro(codec, fn.buf)
	if err != nil {
		// A fact that breaks its own contract is a bug in the ingest.
		return fmt.Errorf("ingest: fact %s: %w", f.FactID, err)
	}
	fn.buf = body
	emit(kafkaio.Record{
		Topic: fn.Sink.Topic, Partition: -1, Offset: -1, Timestamp: f.EventTime,
		Key: []byte(f.PatientID), Value: append([]byte(nil), body...),
		Headers: []kafkaio.Header{{Key: "tenant", Value: []byte(f.Tenant)}},
	})
	return nil
}

// PipelineConfig is the Kafka-to-Kafka ingest that `trialflow ingest` runs.
type PipelineConfig struct {
	Ingest Config

	Conn       kafkaio.Conn // brokers and security
	ClaimTopic string       // default bundle.Topic (emr_bundles)
	Group      string       // consumer group; required with Unbounded
	Unbounded  bool         // keep reading (streaming); else stop at the end offsets

	FactSink    FactSink
	DeadLetters deadletter.Sink // Brokers/Conn default to Conn
	IdleTimeout time.Duration   // bounded reads: stop a partition idle this long (0: kafkaio default)
}

// Pipeline adds the ingest to s: read claim checks, ingest, write facts and
// dead letters. It returns the receipts for callers that want to count them.
func Pipeline(s beam.Scope, cfg PipelineConfig) beam.PCollection {
	s = s.Scope("ingest.Pipeline")
	topic := cfg.ClaimTopic
	if topic == "" {
		topic = bundle.Topic
	}
	opts := []kafkaio.ReadOption{kafkaio.WithConn(cfg.Conn)}
	if cfg.Unbounded {
		opts = append(opts, kafkaio.Unbounded(), kafkaio.Group(cfg.Group), kafkaio.StartCommitted())
	}
	if cfg.IdleTimeout > 0 {
		opts = append(opts, kafkaio.IdleTimeout(cfg.IdleTimeout))
	}
	recs := kafkaio.Read(s, cfg.Conn.Brokers, []string{topic}, opts...)
	claims, badClaims := ParseClaims(s, recs)
	res := Ingest(s, cfg.Ingest, claims)
	facts := kafkaio.Write(s, cfg.Conn.Brokers, EncodeFacts(s, cfg.FactSink, res.Facts), kafkaio.WithConn(cfg.Conn))
	dl := cfg.DeadLetters
	if dl.Conn == nil && len(dl.Brokers) == 0 {
		conn := cfg.Conn
		dl.Conn = &conn
	}
	dead := deadletter.Write(s, dl, beam.Flatten(s, badClaims, res.Dead))
	if cfg.Unbounded {
		// Ingest is element-wise: a claim check's facts and dead letters
		// carry its timestamp, so no delay.
		kafkaio.Commit(s, cfg.Conn, cfg.Group, recs, []beam.PCollection{facts, dead}, 0)
	}
	return res.Receipts
}
