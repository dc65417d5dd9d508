package avroio

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// SchemaSource returns the writer schema registered under a global id. The
// Schema Registry client implements it: *registry.Client of package
// github.com/trialflow/trialflow/schemas/registry, made with
// registry.NewClient(url, registry.WithAuth(auth)).
type SchemaSource interface {
	SchemaByID(id int) (string, error)
}

var _ SchemaSource = (*registry.Client)(nil)

// ErrSchemaNotFound is what a SchemaSource returns (wrapped) for an id it
// does not know; a registry 40403 error means the same.
var ErrSchemaNotFound = errors.New("avroio: schema not found")

// negativeTTL is how long an unknown schema id is remembered as unknown, so
// a stream of bad ids does not become a stream of registry requests.
const negativeTTL = 30 * time.Second

// Decoder turns Confluent-framed Avro into Avro binary of one reader
// schema. The writer schema of each message is fetched by id (once per id)
// and resolved to the reader schema by the Avro specification's rules, so a
// topic whose schema evolves mid-stream decodes to one shape. When the
// writer schema is the reader schema the payload is only validated, and
// returned without a copy.
//
// Errors are *deadletter.Error with the reason code (wrong magic byte,
// short buffer, unknown schema id, truncated or invalid payload,
// incompatible schema), except registry failures other than "not found",
// which are returned as they are: they are worth a retry, not a dead
// letter. A Decoder is safe for concurrent use.
type Decoder struct {
	maxBytes   int // 0: no limit
	src        SchemaSource
	reader     *compat.Schema
	readerForm string
	readerJSON string

	mu    sync.RWMutex
	plans map[uint32]*plan

	codecOnce sync.Once
	codec     *goavro.Codec
	codecErr  error
}

type plan struct {
	identity bool
	prog     *node
	writer   *compat.Schema
	err      error     // every message with this id fails with err
	until    time.Time // for a negative entry: when to ask again
}

// DefaultMaxRecordBytes is the largest record a Decoder takes unless told
// otherwise (MaxRecordBytes): 1 MiB, Kafka's default message size limit.
const DefaultMaxRecordBytes = 1 << 20

// DecoderOption configures a Decoder.
type DecoderOption interface{ applyDecoder(*Decoder) }

type maxRecordBytes int

func (m maxRecordBytes) applyDecoder(d *Decoder) {
	switch {
	case m == 0:
		d.maxBytes = DefaultMaxRecordBytes
	case m < 0:
		d.maxBytes = 0
	default:
		d.maxBytes = int(m)
	}
}

// MaxRecordBytes sets the largest record a Decoder takes (its framed value,
// and in DecodeRecord the Kafka record's key, value and headers together):
// a larger one is a dead letter with reason record_too_large, rejected
// before any of it is decoded. 0 means DefaultMaxRecordBytes, a negative n
// no limit.
func MaxRecordBytes(n int) DecoderOption { return maxRecordBytes(n) }

// NewDecoder returns a Decoder resolving to readerSchema (Avro JSON). It
// takes records of up to DefaultMaxRecordBytes unless an option says
// otherwise.
func NewDecoder(src SchemaSource, readerSchema string, opts ...DecoderOption) (*Decoder, error) {
	r, err := compat.Parse(readerSchema)
	if err != nil {
		return nil, fmt.Errorf("avroio: reader schema: %w", err)
	}
	d := &Decoder{maxBytes: DefaultMaxRecordBytes, src: src, reader: r, readerForm: r.Canonical(), readerJSON: readerSchema, plans: map[uint32]*plan{}}
	for _, o := range opts {
		o.applyDecoder(d)
	}
	return d, nil
}

// MaxBytes is the largest record d takes, 0 when it has no limit.
func (d *Decoder) MaxBytes() int { return d.maxBytes }

// checkSize rejects a record of n bytes when it is over the limit.
func (d *Decoder) checkSize(what string, n int) error {
	if d.maxBytes > 0 && n > d.maxBytes {
		return deadletter.Errorf(deadletter.RecordTooLarge, "avroio: %s of %d bytes is over the limit of %d bytes", what, n, d.maxBytes)
	}
	return nil
}

// Decode appends the reader-schema Avro binary of the framed message msg to
// dst and returns it with the writer schema id. When no resolution is
// needed the result aliases msg instead (dst is then unused). A message
// over the size limit is rejected (record_too_large) before it is parsed.
func (d *Decoder) Decode(dst, msg []byte) (body []byte, id uint32, err error) {
	if err := d.checkSize("message", len(msg)); err != nil {
		return nil, 0, err
	}
	id, payload, err := wire.Parse(msg)
	if err != nil {
		code := deadletter.ShortBuffer
		if errors.Is(err, wire.ErrMagicByte) {
			code = deadletter.WrongMagicByte
		}
		return nil, 0, &deadletter.Error{Code: code, Err: err}
	}
	p, err := d.plan(id)
	if err != nil {
		return nil, id, err
	}
	r := run{src: payload}
	if p.identity {
		r.skip(p.writer, 0)
		body = payload
	} else {
		body = r.value(dst, p.prog, 0)
	}
	if r.err == nil && r.off != len(payload) {
		r.fail(deadletter.InvalidPayload, "%s left over after the record", nbytes(len(payload)-r.off))
	}
	if r.err != nil {
		return nil, id, fmt.Errorf("avroio: schema id %d: %w", id, r.err)
	}
	return body, id, nil
}

func (d *Decoder) plan(id uint32) (*plan, error) {
	d.mu.RLock()
	p, ok := d.plans[id]
	d.mu.RUnlock()
	if ok && (p.until.IsZero() || time.Now().Before(p.until)) {
		return p, p.err
	}
	schema, err := d.src.SchemaByID(int(id))
	if err != nil {
		if !errors.Is(err, ErrSchemaNotFound) && registry.ErrorCode(err) != registry.CodeSchemaNotFound {
			return nil, fmt.Errorf("avroio: fetch writer schema id %d: %w", id, err)
		}
		p = &plan{err: deadletter.Errorf(deadletter.UnknownSchemaID, "avroio: schema id %d is not in the registry", id),
			until: time.Now().Add(negativeTTL)}
	} else {
		p = d.compile(id, schema)
	}
	d.mu.Lock()
	d.plans[id] = p
	d.mu.Unlock()
	return p, p.err
}

func (d *Decoder) compile(id uint32, schema string) *plan {
	w, err := compat.Parse(schema)
	if err != nil {
		return &plan{err: deadletter.Errorf(deadletter.IncompatibleSchema, "avroio: writer schema id %d does not parse: %w", id, err)}
	}
	if w.Canonical() == d.readerForm {
		return &plan{identity: true, writer: w}
	}
	// One plan answers both questions: whether the reader reads all the
	// writer writes (the registry's rule, applied here too), and how.
	rp := compat.Resolve(d.reader, w)
	if bad := rp.Problems(); len(bad) > 0 {
		return &plan{err: deadletter.Errorf(deadletter.IncompatibleSchema,
			"avroio: reader schema cannot read writer schema id %d: %s (%d problems)", id, bad[0], len(bad))}
	}
	prog, err := compile(rp)
	if err != nil {
		return &plan{err: deadletter.Errorf(deadletter.IncompatibleSchema, "avroio: writer schema id %d: %w", id, err)}
	}
	return &plan{prog: prog, writer: w}
}

// DecodeNative decodes the framed message msg to goavro native data of the
// reader schema (map[string]any for a record), resolving the writer schema
// as Decode does. Convert it to a typed value with, for example,
// schemas.PatientFactFromNative.
func (d *Decoder) DecodeNative(msg []byte) (native any, id uint32, err error) {
	body, id, err := d.Decode(nil, msg)
	if err != nil {
		return nil, id, err
	}
	d.codecOnce.Do(func() {
		d.codec, d.codecErr = goavro.NewCodec(d.readerJSON)
	})
	if d.codecErr != nil {
		return nil, id, fmt.Errorf("avroio: reader schema codec: %w", d.codecErr)
	}
	v, _, err := d.codec.NativeFromBinary(body)
	if err != nil {
		return nil, id, deadletter.Errorf(deadletter.InvalidPayload, "avroio: schema id %d: %w", id, err)
	}
	return v, id, nil
}

// Validate reports whether payload (unframed Avro binary) is exactly one
// value of schema, with the reason code when not.
func Validate(schema *compat.Schema, payload []byte) error {
	r := run{src: payload}
	r.skip(schema, 0)
	if r.err == nil && r.off != len(payload) {
		r.fail(deadletter.InvalidPayload, "%s left over after the record", nbytes(len(payload)-r.off))
	}
	if r.err != nil {
		return fmt.Errorf("avroio: %w", r.err)
	}
	return nil
}
