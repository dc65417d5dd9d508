package avroio

import (
	"fmt"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/schemas/wire"
)

// IDSource finds the registry id of a schema under a subject. The Schema
// Registry client implements it: *registry.Client of package
// github.com/trialflow/trialflow/schemas/registry, made with
// registry.NewClient(url, registry.WithAuth(auth)).
type IDSource interface {
	IDFor(subject, schema string) (int, error)
}

var _ IDSource = (*registry.Client)(nil)

// Encoder frames Avro values of one schema with its registry id.
type Encoder struct {
	id     uint32
	schema *compat.Schema
	codec  *goavro.Codec
}

// NewEncoder returns an Encoder for schema (Avro JSON) registered as id.
func NewEncoder(id uint32, schema string) (*Encoder, error) {
	s, err := compat.Parse(schema)
	if err != nil {
		return nil, fmt.Errorf("avroio: encoder schema: %w", err)
	}
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		return nil, fmt.Errorf("avroio: encoder schema: %w", err)
	}
	return &Encoder{id: id, schema: s, codec: codec}, nil
}

// NewSubjectEncoder looks up schema's id under subject with ids and returns
// its Encoder.
func NewSubjectEncoder(ids IDSource, subject, schema string) (*Encoder, error) {
	id, err := ids.IDFor(subject, schema)
	if err != nil {
		return nil, fmt.Errorf("avroio: schema id under subject %q: %w", subject, err)
	}
	return NewEncoder(uint32(id), schema)
}

// ID is the schema id written in every frame.
func (e *Encoder) ID() uint32 { return e.id }

// AppendBody checks that body is exactly one Avro value of the schema and
// appends its frame to dst. Errors carry a deadletter reason code.
func (e *Encoder) AppendBody(dst, body []byte) ([]byte, error) {
	if err := Validate(e.schema, body); err != nil {
		return dst, fmt.Errorf("avroio: encode with schema id %d: %w", e.id, err)
	}
	return wire.Append(dst, e.id, body), nil
}

// AppendNative encodes a goavro native value and appends its frame to dst.
func (e *Encoder) AppendNative(dst []byte, native any) ([]byte, error) {
	out, err := e.codec.BinaryFromNative(wire.AppendHeader(dst, e.id), native)
	if err != nil {
		return dst, fmt.Errorf("avroio: encode with schema id %d: %w", e.id, err)
	}
	return out, nil
}
