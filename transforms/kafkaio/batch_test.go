package kafkaio_test

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.Function2x0(flattenBatch)
	register.Emitter1[string]()
}

func flattenBatch(b kafkaio.Batch, emit func(string)) {
	for _, r := range b.Records {
		emit(describe(r))
	}
}

// TestReadBatchesPrism reads the same records as Read, in batches that
// cross a shuffle (and so the Batch coder).
func TestReadBatchesPrism(t *testing.T) {
	brokers := newCluster(t, 3, "in")
	want := produce(t, brokers, "in", 0, 300)

	p, s := beam.NewPipelineWithRoot()
	batches := beam.Reshuffle(s, kafkaio.ReadBatches(s, brokers, []string{"in"}))
	passert.Equals(s, beam.ParDo(s, flattenBatch, batches), stringsAny(want)...)
	ptest.RunAndValidate(t, p)
}
