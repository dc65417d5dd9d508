package deadletter

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
)

// Code is a stable, machine-readable reason code.
type Code string

// Reason codes shared by the transforms. Transforms may define more; codes are
// lower_snake_case.
const (
	ShortBuffer        Code = "short_buffer"
	WrongMagicByte     Code = "wrong_magic_byte"
	UnknownSchemaID    Code = "unknown_schema_id"
	TruncatedPayload   Code = "truncated_payload"
	InvalidPayload     Code = "invalid_payload"
	IncompatibleSchema Code = "incompatible_schema"
	InvalidRecord      Code = "invalid_record"
	LateData           Code = "late_data"
	AuthFailed         Code = "authentication_failed"
	UnknownKey         Code = "unknown_key_id"
	ChecksumMismatch   Code = "checksum_mismatch"
	TooLarge           Code = "decompressed_too_large"
	MalformedJSON      Code = "malformed_json"
	MissingPatient     Code = "missing_patient"
	Unclassified       Code = "unclassified"
)

// Reason codes of the edge checks, applied where records enter a pipeline
// so that no single record can stop it further on.
const (
	// EventTimeOutOfRange: a time the record carries is outside the range
	// the pipeline can represent (schemas.MinTime to schemas.MaxTime).
	EventTimeOutOfRange Code = "event_time_out_of_range"
	// InvalidUTF8: a string field is not valid UTF-8. The reason names the
	// field, never its value.
	InvalidUTF8 Code = "invalid_utf8"
	// NonFiniteNumber: a number field is NaN or infinite.
	NonFiniteNumber Code = "non_finite_number"
	// RecordTooLarge: the record is larger than the configured limit
	// (avroio.DefaultMaxRecordBytes unless set otherwise).
	RecordTooLarge Code = "record_too_large"
	// UnencodableOutput: an output record could not be encoded for its
	// topic's schema.
	UnencodableOutput Code = "unencodable_output"
)

// Record is one rejected input. Its fields mirror schemas/dead_letter.avsc;
// optional fields are pointers.
type Record struct {
	Reason          string
	ReasonCode      string
	Stage           string
	SourceTopic     *string
	SourcePartition *int32
	SourceOffset    *int64
	SchemaID        *int32
	Tenant          *string
	Payload         []byte // raw or sealed record; nil when only a reference is kept
	PayloadRef      *string
	PayloadSHA256   *string
	ErrorTime       time.Time
}

// Source says where a rejected record came from.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Option sets optional fields of a Record.
type Option interface{ apply(*Record) }

type optFunc func(*Record)

func (f optFunc) apply(r *Record) { f(r) }

// From records the Kafka position of the rejected record.
func From(src Source) Option {
	return optFunc(func(r *Record) {
		t, p, o := src.Topic, src.Partition, src.Offset
		r.SourceTopic, r.SourcePartition, r.SourceOffset = &t, &p, &o
	})
}

// WithSchemaID records the schema id seen in the record.
func WithSchemaID(id int32) Option {
	return optFunc(func(r *Record) { r.SchemaID = &id })
}

// WithTenant records the tenant, when known.
func WithTenant(tenant string) Option {
	return optFunc(func(r *Record) { r.Tenant = &tenant })
}

// WithPayload keeps the payload inline, with its SHA-256. Use it only for
// payloads that carry no PHI in clear: an inline patient_facts record is
// PHI (its birth date among others) on the dead_letter topic.
func WithPayload(p []byte) Option {
	return optFunc(func(r *Record) {
		r.Payload = append([]byte(nil), p...)
		sum := sha256.Sum256(p)
		h := hex.EncodeToString(sum[:])
		r.PayloadSHA256 = &h
	})
}

// WithPayloadRef keeps a reference to the payload (for example an object URI)
// and its SHA-256 instead of the payload itself.
func WithPayloadRef(ref string, p []byte) Option {
	return optFunc(func(r *Record) {
		r.PayloadRef = &ref
		sum := sha256.Sum256(p)
		h := hex.EncodeToString(sum[:])
		r.PayloadSHA256 = &h
	})
}

// At sets the error time (default: time.Now at New).
func At(t time.Time) Option {
	return optFunc(func(r *Record) { r.ErrorTime = t })
}

// New builds the dead-letter record for err, rejected by stage. The reason
// code is taken from err when it wraps a *Error, else Unclassified.
func New(stage string, err error, opts ...Option) Record {
	code := Unclassified
	var de *Error
	if errors.As(err, &de) {
		code = de.Code
	}
	r := Record{Reason: err.Error(), ReasonCode: string(code), Stage: stage, ErrorTime: time.Now()}
	for _, o := range opts {
		o.apply(&r)
	}
	return r
}

// Error is an error with a reason code, for transforms to return from their
// cores so the Beam wrapper can classify dead letters without string matching.
type Error struct {
	Code Code
	Err  error
}

// Errorf builds an *Error with a formatted message (use %w to wrap).
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the reason code carried by err, or Unclassified.
func CodeOf(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return Unclassified
}

// Native returns the record as goavro native data for schemas/dead_letter.avsc.
func (r Record) Native() map[string]any {
	m := map[string]any{
		"reason":           r.Reason,
		"reason_code":      r.ReasonCode,
		"stage":            r.Stage,
		"source_topic":     nil,
		"source_partition": nil,
		"source_offset":    nil,
		"schema_id":        nil,
		"tenant":           nil,
		"payload":          nil,
		"payload_ref":      nil,
		"payload_sha256":   nil,
		"error_time":       r.ErrorTime.UTC(),
	}
	if r.SourceTopic != nil {
		m["source_topic"] = goavro.Union("string", *r.SourceTopic)
	}
	if r.SourcePartition != nil {
		m["source_partition"] = goavro.Union("int", *r.SourcePartition)
	}
	if r.SourceOffset != nil {
		m["source_offset"] = goavro.Union("long", *r.SourceOffset)
	}
	if r.SchemaID != nil {
		m["schema_id"] = goavro.Union("int", *r.SchemaID)
	}
	if r.Tenant != nil {
		m["tenant"] = goavro.Union("string", *r.Tenant)
	}
	if r.Payload != nil {
		m["payload"] = goavro.Union("bytes", r.Payload)
	}
	if r.PayloadRef != nil {
		m["payload_ref"] = goavro.Union("string", *r.PayloadRef)
	}
	if r.PayloadSHA256 != nil {
		m["payload_sha256"] = goavro.Union("string", *r.PayloadSHA256)
	}
	return m
}

var codec = mustCodec()

func mustCodec() *goavro.Codec {
	c, err := goavro.NewCodec(schemas.DeadLetters.Schema())
	if err != nil {
		panic(fmt.Sprintf("deadletter: embedded schema: %v", err))
	}
	return c
}

// AppendAvro appends the record's Avro binary body (no framing) to dst.
func (r Record) AppendAvro(dst []byte) ([]byte, error) {
	out, err := codec.BinaryFromNative(dst, r.Native())
	if err != nil {
		return dst, fmt.Errorf("deadletter: encode: %w", err)
	}
	return out, nil
}

// FromAvro decodes an Avro binary body written by AppendAvro.
func FromAvro(body []byte) (Record, error) {
	v, _, err := codec.NativeFromBinary(body)
	if err != nil {
		return Record{}, fmt.Errorf("deadletter: decode: %w", err)
	}
	m := v.(map[string]any)
	r := Record{
		Reason:     m["reason"].(string),
		ReasonCode: m["reason_code"].(string),
		Stage:      m["stage"].(string),
		ErrorTime:  m["error_time"].(time.Time),
	}
	if u, ok := m["source_topic"].(map[string]any); ok {
		s := u["string"].(string)
		r.SourceTopic = &s
	}
	if u, ok := m["source_partition"].(map[string]any); ok {
		p := u["int"].(int32)
		r.SourcePartition = &p
	}
	if u, ok := m["source_offset"].(map[string]any); ok {
		o := u["long"].(int64)
		r.SourceOffset = &o
	}
	if u, ok := m["schema_id"].(map[string]any); ok {
		id := u["int"].(int32)
		r.SchemaID = &id
	}
	if u, ok := m["tenant"].(map[string]any); ok {
		s := u["string"].(string)
		r.Tenant = &s
	}
	if u, ok := m["payload"].(map[string]any); ok {
		r.Payload = u["bytes"].([]byte)
	}
	if u, ok := m["payload_ref"].(map[string]any); ok {
		s := u["string"].(string)
		r.PayloadRef = &s
	}
	if u, ok := m["payload_sha256"].(map[string]any); ok {
		s := u["string"].(string)
		r.PayloadSHA256 = &s
	}
	return r, nil
}

// Key is the Kafka key of the record on the dead_letter topic: source and
// offset, or stage and payload hash when the record has no Kafka source.
func (r Record) Key() []byte {
	if r.SourceTopic != nil && r.SourcePartition != nil && r.SourceOffset != nil {
		return fmt.Appendf(nil, "%s/%d/%d", *r.SourceTopic, *r.SourcePartition, *r.SourceOffset)
	}
	if r.PayloadSHA256 != nil {
		return fmt.Appendf(nil, "%s/%s", r.Stage, *r.PayloadSHA256)
	}
	return []byte(r.Stage)
}
