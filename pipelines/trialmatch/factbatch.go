package trialmatch

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.DoFn4x1[context.Context, kafkaio.Batch, func(beam.EventTime, int, Event), func(deadletter.Record), error](&factBatchFn{})
}

// factBatchFn is the fact source stage of batch execution over Kafka: it
// decodes a kafkaio.Batch of Confluent-framed patient_facts records against
// the registry, converts each with the typed codec (decodeFact, as the
// streaming source does), validates it, and keys the valid ones by patient shard:
// one element per shard per bundle holding the facts' Avro bodies as they
// came (as factEventsFn with PerShard). A fetch of thousands of records
// crosses the runner as one element, instead of one element per record through the read, decode,
// convert and key stages: Prism pays several microseconds per element and
// stage. Every record ends up in exactly one place: a shard's element or a
// dead letter (decoding ones named by Stage, as avroio.Decode does).
type factBatchFn struct {
	RegistryURL  string
	RegistryAuth registry.Auth
	Stage        string
	Keys         factEventsFn
	// MaxRecordBytes bounds a record's size (avroio.MaxRecordBytes: 0 is
	// the default limit, negative none).
	MaxRecordBytes int

	dec *avroio.Decoder
}

func (f *factBatchFn) Setup() (err error) {
	if f.dec, err = avroio.NewRegistryDecoder(f.RegistryURL, schemas.PatientFacts.Schema(),
		avroio.MaxRecordBytes(f.MaxRecordBytes), avroio.RegistryAuth(f.RegistryAuth)); err != nil {
		return fmt.Errorf("trialmatch: facts decoder: %w", err)
	}
	return nil
}

func (f *factBatchFn) StartBundle(ctx context.Context, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) {
	f.Keys.StartBundle(ctx, emit, dead)
}

func (f *factBatchFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) error {
	return f.Keys.FinishBundle(ctx, emit, dead)
}

func (f *factBatchFn) ProcessElement(ctx context.Context, b kafkaio.Batch, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) error {
	for _, rec := range b.Records {
		d, ok, err := avroio.DecodeRecord(ctx, f.dec, f.Stage, false, rec, dead)
		if err != nil {
			return err // the registry is unreachable: fail and retry the bundle
		}
		if !ok {
			continue
		}
		fact, ok := decodeFact(ctx, d, dead)
		if !ok {
			continue
		}
		if err := f.Keys.add(ctx, fact, d.Value, emit, dead); err != nil {
			return err
		}
	}
	return nil
}

// appendFactBody appends one Avro body to a shard's facts: its length as a
// uvarint, then the body.
func appendFactBody(dst, body []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// parseFactBodies decodes the facts appendFactBody wrote, appending them to
// out.
func parseFactBodies(out []schemas.PatientFact, b []byte) ([]schemas.PatientFact, error) {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return out, fmt.Errorf("trialmatch: fact batch: bad length prefix (%d bytes left)", len(b))
		}
		f, err := schemas.DecodePatientFact(b[k : k+int(n)])
		if err != nil {
			return out, fmt.Errorf("trialmatch: fact batch: %w", err)
		}
		out = append(out, *f)
		b = b[k+int(n):]
	}
	return out, nil
}
