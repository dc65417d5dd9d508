package trialmatch

import (
	"context"
	"errors"
	"fmt"
	"time"

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
// the registry, converts and validates each fact, and keys the valid ones by
// patient shard, one JSON array per shard per bundle (as factEventsFn with
// PerShard). A fetch of thousands of records crosses the runner as one
// element, instead of one element per record through the read, decode,
// convert and key stages: Prism pays several microseconds per element and
// stage. Every record ends up in exactly one place: a shard's array or a
// dead letter (decoding ones named by Stage, as avroio.Decode does).
type factBatchFn struct {
	RegistryURL string
	Stage       string
	Keys        factEventsFn

	dec *avroio.Decoder
	nativeCodec
}

func (f *factBatchFn) Setup() error {
	cl, err := registry.NewClient(f.RegistryURL)
	if err != nil {
		return fmt.Errorf("trialmatch: facts registry: %w", err)
	}
	if f.dec, err = avroio.NewDecoder(cl, schemas.PatientFacts.Schema()); err != nil {
		return fmt.Errorf("trialmatch: facts decoder: %w", err)
	}
	return f.setup(schemas.PatientFacts)
}

func (f *factBatchFn) StartBundle(ctx context.Context, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) {
	f.Keys.StartBundle(ctx, emit, dead)
}

func (f *factBatchFn) FinishBundle(ctx context.Context, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) error {
	return f.Keys.FinishBundle(ctx, emit, dead)
}

func (f *factBatchFn) ProcessElement(ctx context.Context, b kafkaio.Batch, emit func(beam.EventTime, int, Event), dead func(deadletter.Record)) error {
	var (
		fact schemas.PatientFact
		ok   bool
	)
	keep := func(_ beam.EventTime, x schemas.PatientFact) { fact, ok = x, true }
	eventTime := func(x *schemas.PatientFact) time.Time { return x.EventTime }
	for i := range b.Records {
		rec := b.Records[i]
		body, id, err := f.dec.Decode(nil, rec.Value)
		if err != nil {
			var de *deadletter.Error
			if !errors.As(err, &de) {
				return err // the registry is unreachable: fail and retry the bundle
			}
			deadletter.Emit(ctx, dead, avroio.Reject(f.Stage, err, rec, id, false))
			continue
		}
		d := avroio.Decoded{Record: rec, WriterSchemaID: id}
		d.Value = body
		ok = false
		convert(ctx, &f.nativeCodec, "trialmatch.Facts", d, schemas.PatientFactFromNative, eventTime, keep, dead)
		if !ok {
			continue
		}
		if err := f.Keys.ProcessElement(ctx, fact, emit, dead); err != nil {
			return err
		}
	}
	return nil
}
