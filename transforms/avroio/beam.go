package avroio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	beam.RegisterCoder(reflect.TypeOf(Decoded{}), encodeDecoded, decodeDecoded)
	register.DoFn4x1[context.Context, kafkaio.Record, func(Decoded), func(deadletter.Record), error](&decodeFn{})
	register.DoFn4x1[context.Context, kafkaio.Record, func(kafkaio.Record), func(deadletter.Record), error](&encodeFn{})
	register.Emitter1[Decoded]()
	register.Emitter1[kafkaio.Record]()
	register.Emitter1[deadletter.Record]()
}

// Decoded is a Kafka record whose Value is now Avro binary of the reader
// schema (no frame), with the id of the schema it was written with.
type Decoded struct {
	kafkaio.Record
	WriterSchemaID uint32
}

func encodeDecoded(d Decoded) []byte {
	return d.Record.AppendBinary(binary.AppendUvarint(nil, uint64(d.WriterSchemaID)))
}

func decodeDecoded(b []byte) (Decoded, error) {
	id, n := binary.Uvarint(b)
	if n <= 0 || id > 1<<32-1 {
		return Decoded{}, fmt.Errorf("%w: bad writer schema id", kafkaio.ErrCorrupt)
	}
	r, err := kafkaio.ParseRecord(b[n:])
	return Decoded{Record: r, WriterSchemaID: uint32(id)}, err
}

// DecodeConfig configures Decode.
type DecodeConfig struct {
	RegistryURL  string        // the Schema Registry holding the writer schemas
	RegistryAuth registry.Auth // its credentials and CA, by reference (resolved in Setup)
	ReaderSchema string        // Avro JSON every record is resolved to
	Stage        string        // names the stage in dead letters (default "avroio.Decode")
	// InlinePayload keeps a rejected record's bytes in its dead letter.
	// Off by default: the dead letter then holds a reference to the
	// record's Kafka position and its SHA-256 (payloads may carry PHI).
	InlinePayload bool
	// MaxRecordBytes is the largest record decoded (key, value and
	// headers); a larger one is a dead letter, record_too_large. 0 means
	// DefaultMaxRecordBytes (1 MiB), a negative value no limit.
	MaxRecordBytes int
}

// Decode resolves the Confluent-framed Avro values of col
// (PCollection<kafkaio.Record>) to ReaderSchema. It returns the decoded
// records (PCollection<Decoded>) and the dead letters
// (PCollection<deadletter.Record>) for every record that could not be
// decoded: wrong magic byte, short buffer, unknown schema id, truncated or
// invalid payload, incompatible schema. Each record lands in exactly one of
// the two; dead letters are counted per reason code in Beam metrics.
func Decode(s beam.Scope, cfg DecodeConfig, col beam.PCollection) (decoded, dead beam.PCollection) {
	s = s.Scope("avroio.Decode")
	if cfg.RegistryURL == "" || cfg.ReaderSchema == "" {
		panic("avroio.Decode: RegistryURL and ReaderSchema are required")
	}
	if cfg.Stage == "" {
		cfg.Stage = "avroio.Decode"
	}
	return beam.ParDo2(s, &decodeFn{RegistryURL: cfg.RegistryURL, RegistryAuth: cfg.RegistryAuth, ReaderSchema: cfg.ReaderSchema,
		Stage: cfg.Stage, InlinePayload: cfg.InlinePayload, MaxRecordBytes: cfg.MaxRecordBytes}, col)
}

type decodeFn struct {
	RegistryURL    string
	RegistryAuth   registry.Auth
	ReaderSchema   string
	Stage          string
	InlinePayload  bool
	MaxRecordBytes int

	dec *Decoder
}

func (fn *decodeFn) Setup() (err error) {
	fn.dec, err = NewRegistryDecoder(fn.RegistryURL, fn.ReaderSchema, MaxRecordBytes(fn.MaxRecordBytes), RegistryAuth(fn.RegistryAuth))
	return err
}

// NewRegistryDecoder returns a Decoder to readerSchema that looks writer
// schemas up in the Schema Registry at registryURL: what a decoding DoFn
// builds in its Setup. RegistryAuth among opts configures the registry
// client; the others the Decoder.
func NewRegistryDecoder(registryURL, readerSchema string, opts ...DecoderOption) (*Decoder, error) {
	var copts []registry.ClientOption
	for _, o := range opts {
		if a, ok := o.(registryAuth); ok {
			copts = append(copts, registry.WithAuth(registry.Auth(a)))
		}
	}
	cl, err := registry.NewClient(registryURL, copts...)
	if err != nil {
		return nil, fmt.Errorf("avroio: %w", err)
	}
	return NewDecoder(cl, readerSchema, opts...)
}

// registryAuth is the DecoderOption RegistryAuth returns.
type registryAuth registry.Auth

func (registryAuth) applyDecoder(*Decoder) {}

// RegistryAuth gives NewRegistryDecoder's registry client its credentials
// and CA, by reference (resolved when the client is made). NewDecoder,
// given a SchemaSource, ignores it.
func RegistryAuth(a registry.Auth) DecoderOption { return registryAuth(a) }

func (fn *decodeFn) ProcessElement(ctx context.Context, rec kafkaio.Record, emit func(Decoded), dead func(deadletter.Record)) error {
	d, ok, err := DecodeRecord(ctx, fn.dec, fn.Stage, fn.InlinePayload, rec, dead)
	if ok {
		emit(d)
	}
	return err
}

// DecodeRecord is Decode's work on one record, for transforms that decode
// records they hold otherwise (a kafkaio.Batch, say): it resolves rec's
// framed value with dec and returns it as Decoded with ok set, or emits
// the record's dead letter (named by stage, payload inline or only
// referenced) and returns ok false. The error is set only when the registry
// is unreachable: worth failing the bundle for a retry, not a dead letter.
// A record over dec's size limit (key, value and headers) is a dead letter,
// record_too_large, whose payload is only referenced, never kept.
func DecodeRecord(ctx context.Context, dec *Decoder, stage string, inline bool, rec kafkaio.Record,
	dead func(deadletter.Record)) (d Decoded, ok bool, err error) {
	if err := dec.checkSize("record", RecordSize(rec)); err != nil {
		deadletter.Emit(ctx, dead, reject(stage, err, rec, 0, false))
		return Decoded{}, false, nil
	}
	body, id, err := dec.Decode(nil, rec.Value)
	if err != nil {
		var de *deadletter.Error
		if !errors.As(err, &de) {
			return Decoded{}, false, err
		}
		deadletter.Emit(ctx, dead, reject(stage, err, rec, id, inline))
		return Decoded{}, false, nil
	}
	rec.Value = body
	return Decoded{Record: rec, WriterSchemaID: id}, true, nil
}

// RecordSize is the size MaxRecordBytes bounds: the bytes of rec's key,
// value and headers (keys and values).
func RecordSize(rec kafkaio.Record) int {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func reject(stage string, err error, rec kafkaio.Record, id uint32, inline bool) deadletter.Record {
	opts := []deadletter.Option{deadletter.From(deadletter.Source{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset})}
	if id != 0 {
		opts = append(opts, deadletter.WithSchemaID(int32(id)))
	}
	if inline {
		opts = append(opts, deadletter.WithPayload(rec.Value))
	} else {
		opts = append(opts, deadletter.WithPayloadRef(fmt.Sprintf("kafka://%s/%d/%d", rec.Topic, rec.Partition, rec.Offset), rec.Value))
	}
	return deadletter.New(stage, err, opts...)
}

// EncodeConfig configures Encode.
type EncodeConfig struct {
	Topic  string // the topic written; its value subject is "<Topic>-value"
	Schema string // Avro JSON of the bodies
	// The schema id: SchemaID when > 0, else looked up (or, with
	// AutoRegister, registered) under the subject at RegistryURL.
	SchemaID     int
	RegistryURL  string
	RegistryAuth registry.Auth // credentials and CA of RegistryURL, by reference
	AutoRegister bool
	Stage        string // names the stage in dead letters (default "avroio.Encode")
}

// Encode frames Avro bodies with the subject's schema id: col is a
// PCollection<kafkaio.Record> whose Values are Avro binary of Schema; the
// result is a PCollection<kafkaio.Record> for Topic, ready for
// kafkaio.Write. A body that is not exactly one value of Schema becomes a
// dead letter instead.
func Encode(s beam.Scope, cfg EncodeConfig, col beam.PCollection) (framed, dead beam.PCollection) {
	s = s.Scope("avroio.Encode")
	if cfg.Topic == "" || cfg.Schema == "" || (cfg.SchemaID <= 0 && cfg.RegistryURL == "") {
		panic("avroio.Encode: Topic, Schema and a SchemaID or RegistryURL are required")
	}
	if cfg.Stage == "" {
		cfg.Stage = "avroio.Encode"
	}
	return beam.ParDo2(s, &encodeFn{Topic: cfg.Topic, Schema: cfg.Schema, SchemaID: cfg.SchemaID,
		RegistryURL: cfg.RegistryURL, RegistryAuth: cfg.RegistryAuth, AutoRegister: cfg.AutoRegister, Stage: cfg.Stage}, col)
}

type encodeFn struct {
	Topic        string
	Schema       string
	SchemaID     int
	RegistryURL  string
	RegistryAuth registry.Auth
	AutoRegister bool
	Stage        string

	enc *Encoder
}

func (fn *encodeFn) Setup() error {
	var err error
	if fn.SchemaID > 0 {
		fn.enc, err = NewEncoder(uint32(fn.SchemaID), fn.Schema)
		return err
	}
	cl, err := registry.NewClient(fn.RegistryURL, registry.WithAutoRegister(fn.AutoRegister), registry.WithAuth(fn.RegistryAuth))
	if err != nil {
		return fmt.Errorf("avroio: %w", err)
	}
	fn.enc, err = NewSubjectEncoder(cl, fn.Topic+"-value", fn.Schema)
	return err
}

func (fn *encodeFn) ProcessElement(ctx context.Context, rec kafkaio.Record, emit func(kafkaio.Record), dead func(deadletter.Record)) error {
	framed, err := fn.enc.AppendBody(nil, rec.Value)
	if err != nil {
		deadletter.Emit(ctx, dead, reject(fn.Stage, err, rec, 0, false))
		return nil
	}
	rec.Topic, rec.Partition, rec.Offset, rec.Value = fn.Topic, -1, -1, framed
	emit(rec)
	return nil
}
