package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// The floor pipeline is the skeleton any Beam pipeline that folds facts per
// patient must have, with nothing else: read patient_facts from Kafka in
// record batches, decode each record against the registry, key it by
// patient shard, shuffle (GroupByKey) and count. No trials, regulatory
// events, folding, matching or output. Its rate on this machine bounds
// what the trialmatch pipeline can reach here, whatever its stages cost.

func init() {
	register.DoFn4x1[context.Context, kafkaio.Batch, func(int, []byte), func(deadletter.Record), error](&floorKeyFn{})
	register.DoFn3x1[context.Context, int, func(*[]byte) bool, error](&floorCountFn{})
	register.Emitter2[int, []byte]()
	register.Iter1[[]byte]()
}

// floorShards matches trialmatch's default number of shards.
const floorShards = 16

var (
	floorFacts = beam.NewCounter("bench.floor", "facts")
	floorDead  = beam.NewCounter("bench.floor", "dead")
)

// floorKeyFn decodes a batch of framed patient_facts records and emits, per
// shard, one element holding the Avro bodies of that shard's facts (as
// trialmatch's batch source does), so what crosses the shuffle is one
// element per shard and fetch.
type floorKeyFn struct {
	RegistryURL string
	// CountOnly counts the facts here instead of emitting them: the floor
	// of a pipeline that moves no fact through the runner.
	CountOnly bool
	dec       *avroio.Decoder
}

func (f *floorKeyFn) Setup() (err error) {
	f.dec, err = avroio.NewRegistryDecoder(f.RegistryURL, schemas.PatientFacts.Schema())
	return err
}

func (f *floorKeyFn) ProcessElement(ctx context.Context, b kafkaio.Batch, emit func(int, []byte), dead func(deadletter.Record)) error {
	var shards [floorShards][]byte
	var counted int64
	defer func() {
		if counted > 0 {
			floorFacts.Inc(ctx, counted)
		}
	}()
	for _, rec := range b.Records {
		d, ok, err := avroio.DecodeRecord(ctx, f.dec, "bench.floor", false, rec, dead)
		if err != nil {
			return err
		}
		if !ok {
			floorDead.Inc(ctx, 1)
			continue
		}
		fact, err := schemas.DecodePatientFact(d.Value)
		if err != nil {
			floorDead.Inc(ctx, 1)
			continue
		}
		if f.CountOnly {
			counted++
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(fact.Tenant))
		h.Write([]byte(fact.PatientID))
		s := int(h.Sum32() % floorShards)
		shards[s] = binary.AppendUvarint(shards[s], uint64(len(d.Value)))
		shards[s] = append(shards[s], d.Value...)
	}
	for s, body := range shards {
		if len(body) > 0 {
			emit(s, body)
		}
	}
	return nil
}

// floorCountFn counts the facts of a shard's group.
type floorCountFn struct{}

func (floorCountFn) ProcessElement(ctx context.Context, _ int, bodies func(*[]byte) bool) error {
	var b []byte
	for bodies(&b) {
		for len(b) > 0 {
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				return fmt.Errorf("floor: bad length prefix")
			}
			b = b[k+int(n):]
			floorFacts.Inc(ctx, 1)
		}
	}
	return nil
}

// buildFloor adds the floor pipeline to s: read, decode and, with shuffle,
// the GroupByKey by patient shard; without, the facts are counted where
// they are decoded.
func buildFloor(s beam.Scope, brokers []string, registryURL string, shuffle bool) {
	s = s.Scope("Floor")
	batches := kafkaio.ReadBatches(s, brokers, []string{schemas.PatientFacts.Topic})
	keyed, _ := beam.ParDo2(s, &floorKeyFn{RegistryURL: registryURL, CountOnly: !shuffle}, batches)
	if shuffle {
		beam.ParDo0(s, &floorCountFn{}, beam.GroupByKey(s, keyed))
	}
}

// floorCounted returns the facts the floor pipeline counted, and those it
// rejected.
func floorCounted(r beam.PipelineResult) (facts, dead int64) {
	for _, c := range r.Metrics().AllMetrics().Counters() {
		if c.Namespace() != "bench.floor" {
			continue
		}
		switch c.Name() {
		case "facts":
			facts += c.Result()
		case "dead":
			dead += c.Result()
		}
	}
	return facts, dead
}
