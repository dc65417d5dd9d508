package columnar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.DoFn5x1[context.Context, beam.EventTime, []byte, func(beam.EventTime, arrow.RecordBatch), func(deadletter.Record), error](&batchFn{})
	register.DoFn5x1[context.Context, beam.EventTime, kafkaio.Record, func(beam.EventTime, arrow.RecordBatch), func(deadletter.Record), error](&recordBatchFn{})
	register.Emitter2[beam.EventTime, arrow.RecordBatch]()
	register.Emitter1[deadletter.Record]()
}

// Stage names this transform in dead-letter records.
const Stage = "columnar.Batch"

// Defaults of the batch limits.
const (
	DefaultMaxRows  = 8192
	DefaultMaxBytes = 8 << 20
)

// Config configures Batch. It is serialised into the pipeline, so every
// field is plain data.
type Config struct {
	// Reader is the reader schema (Avro JSON, a record): it fixes the Arrow
	// schema of the batches whatever writer schemas the messages carry.
	Reader string
	// Projection lists the dotted reader paths to build; empty means all.
	Projection []string
	// Flatten lays nested records out as top-level columns.
	Flatten bool
	// MaxRows and MaxBytes (framed input bytes) bound a batch; zero means
	// DefaultMaxRows and DefaultMaxBytes.
	MaxRows, MaxBytes int
	// Schemas holds writer schemas by schema id, known up front.
	Schemas map[int]string
	// Source names a SchemaSource registered with RegisterSchemaSource in the
	// worker, consulted for ids not in Schemas (for example a registry client).
	Source string
	// KeepPayload puts undecodable payloads inline in dead letters. Leave it
	// off for PHI-bearing topics: dead letters then carry the payload's
	// SHA-256 and, for Kafka records, a kafka://topic/partition/offset reference.
	KeepPayload bool
}

var (
	sourcesMu sync.Mutex
	sources   = map[string]func() (avroarrow.SchemaSource, error){}
)

// RegisterSchemaSource makes a SchemaSource available to Batch workers by
// name. Call it in init (or before running the pipeline) in every process
// that runs workers; the factory is called once per DoFn instance.
func RegisterSchemaSource(name string, factory func() (avroarrow.SchemaSource, error)) {
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	sources[name] = factory
}

func lookupSource(name string) (func() (avroarrow.SchemaSource, error), bool) {
	sourcesMu.Lock()
	defer sourcesMu.Unlock()
	f, ok := sources[name]
	return f, ok
}

// chainSource tries the static map first, then the named source.
type chainSource struct {
	static avroarrow.MapSource
	next   avroarrow.SchemaSource
}

var _ avroarrow.SchemaSource = (*chainSource)(nil)

func (c *chainSource) SchemaByID(id int) (string, error) {
	if s, ok := c.static[id]; ok {
		return s, nil
	}
	if c.next == nil {
		return "", fmt.Errorf("schema id %d is not configured", id)
	}
	return c.next.SchemaByID(id)
}

// Batch decodes Confluent-framed Avro messages ([]byte) into Arrow record
// batches of at most MaxRows rows or MaxBytes input bytes, flushing what is
// left at the end of every bundle. Messages that cannot be decoded go to the
// dead-letter output, so every input is either a row of exactly one batch
// or one dead letter. Batches are emitted in the global window with the
// largest event time of their rows' messages: use Batch right after the
// source, before any windowing.
//
// The consumer of a batch owns it and should Release it; batches are
// allocated from the Go allocator, so one that is not released is garbage
// collected. Batches cross stage boundaries with the Arrow IPC coder.
func Batch(s beam.Scope, cfg Config, msgs beam.PCollection) (batches, dead beam.PCollection) {
	s = s.Scope("columnar.Batch")
	return beam.ParDo2(s, &batchFn{Cfg: cfg}, msgs)
}

// BatchRecords is Batch for Kafka records (kafkaio.Record, the value being
// the framed message); dead letters carry the record's topic, partition and
// offset.
func BatchRecords(s beam.Scope, cfg Config, recs beam.PCollection) (batches, dead beam.PCollection) {
	s = s.Scope("columnar.BatchRecords")
	return beam.ParDo2(s, &recordBatchFn{Cfg: cfg}, recs)
}

// core is the worker state shared by both DoFns.
type core struct {
	Cfg     Config
	mem     memory.Allocator // nil: the Go allocator; tests set a checked one
	dec     *avroarrow.Decoder
	maxTime beam.EventTime
}

func (c *core) setup(cfg Config) error {
	c.Cfg = cfg
	var next avroarrow.SchemaSource
	if c.Cfg.Source != "" {
		f, ok := lookupSource(c.Cfg.Source)
		if !ok {
			return fmt.Errorf("columnar: schema source %q is not registered in this worker", c.Cfg.Source)
		}
		var err error
		if next, err = f(); err != nil {
			return fmt.Errorf("columnar: schema source %q: %w", c.Cfg.Source, err)
		}
	}
	mem := c.mem
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	opts := []avroarrow.Option{
		avroarrow.WithAllocator(mem),
		avroarrow.WithSchemaSource(&chainSource{static: c.Cfg.Schemas, next: next}),
		avroarrow.WithProjection(c.Cfg.Projection...),
	}
	if c.Cfg.Flatten {
		opts = append(opts, avroarrow.WithFlatten())
	}
	dec, err := avroarrow.New(c.Cfg.Reader, opts...)
	if err != nil {
		return fmt.Errorf("columnar: %w", err)
	}
	c.dec = dec
	return nil
}

func (c *core) limits() (rows, bytes int) {
	rows, bytes = c.Cfg.MaxRows, c.Cfg.MaxBytes
	if rows <= 0 {
		rows = DefaultMaxRows
	}
	if bytes <= 0 {
		bytes = DefaultMaxBytes
	}
	return rows, bytes
}

// add decodes one message; a non-nil error is the dead-letter reason.
func (c *core) add(t beam.EventTime, msg []byte, emit func(beam.EventTime, arrow.RecordBatch)) error {
	err := c.dec.AppendFramed(msg)
	if errors.Is(err, avroarrow.ErrTooLarge) && c.dec.Rows() > 0 {
		c.flush(emit)
		err = c.dec.AppendFramed(msg)
	}
	if err != nil {
		return err
	}
	if c.dec.Rows() == 1 || t > c.maxTime {
		c.maxTime = t
	}
	maxRows, maxBytes := c.limits()
	if c.dec.Rows() >= maxRows || c.dec.InputBytes() >= maxBytes {
		c.flush(emit)
	}
	return nil
}

func (c *core) flush(emit func(beam.EventTime, arrow.RecordBatch)) {
	if rec := c.dec.Flush(); rec != nil {
		emit(c.maxTime, rec)
	}
}

// deadLetter builds the dead letter of an undecodable message.
func (c *core) deadLetter(msg []byte, err error, opts ...deadletter.Option) deadletter.Record {
	if id, idErr := wire.SchemaID(msg); idErr == nil {
		opts = append(opts, deadletter.WithSchemaID(int32(id)))
	}
	if c.Cfg.KeepPayload {
		opts = append(opts, deadletter.WithPayload(msg))
	}
	return deadletter.New(Stage, Classify(err), opts...)
}

// Classify wraps a decoding error with its dead-letter reason code.
func Classify(err error) error {
	code := deadletter.InvalidPayload
	switch {
	case errors.Is(err, wire.ErrShortBuffer):
		code = deadletter.ShortBuffer
	case errors.Is(err, wire.ErrMagicByte):
		code = deadletter.WrongMagicByte
	case errors.Is(err, avroarrow.ErrUnknownSchema):
		code = deadletter.UnknownSchemaID
	case errors.Is(err, avroarrow.ErrTruncated):
		code = deadletter.TruncatedPayload
	case errors.Is(err, avroarrow.ErrIncompatible), errors.Is(err, avroarrow.ErrUnsupported):
		code = deadletter.IncompatibleSchema
	}
	return &deadletter.Error{Code: code, Err: err}
}

// batchFn batches framed messages.
type batchFn struct {
	Cfg Config
	st  core
}

func (f *batchFn) Setup() error { return f.st.setup(f.Cfg) }

func (f *batchFn) ProcessElement(_ context.Context, t beam.EventTime, msg []byte, emit func(beam.EventTime, arrow.RecordBatch), dead func(deadletter.Record)) error {
	if err := f.st.add(t, msg, emit); err != nil {
		dl := f.st.deadLetter(msg, err)
		if !f.Cfg.KeepPayload {
			sum := sha256.Sum256(msg)
			h := hex.EncodeToString(sum[:])
			dl.PayloadSHA256 = &h
		}
		dead(dl)
	}
	return nil
}

func (f *batchFn) FinishBundle(_ context.Context, emit func(beam.EventTime, arrow.RecordBatch), _ func(deadletter.Record)) error {
	f.st.flush(emit)
	return nil
}

// recordBatchFn batches Kafka records.
type recordBatchFn struct {
	Cfg Config
	st  core
}

func (f *recordBatchFn) Setup() error { return f.st.setup(f.Cfg) }

func (f *recordBatchFn) ProcessElement(_ context.Context, t beam.EventTime, rec kafkaio.Record, emit func(beam.EventTime, arrow.RecordBatch), dead func(deadletter.Record)) error {
	if err := f.st.add(t, rec.Value, emit); err != nil {
		opts := []deadletter.Option{deadletter.From(deadletter.Source{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset})}
		if !f.Cfg.KeepPayload {
			opts = append(opts, deadletter.WithPayloadRef(fmt.Sprintf("kafka://%s/%d/%d", rec.Topic, rec.Partition, rec.Offset), rec.Value))
		}
		dead(f.st.deadLetter(rec.Value, err, opts...))
	}
	return nil
}

func (f *recordBatchFn) FinishBundle(_ context.Context, emit func(beam.EventTime, arrow.RecordBatch), _ func(deadletter.Record)) error {
	f.st.flush(emit)
	return nil
}
