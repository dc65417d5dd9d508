package bench

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/columnar/columnartest"
)

// columnarSink keeps results alive so the compiler cannot drop the work.
var columnarSink struct {
	rows int64
	v    any
}

const columnarBatch = 4096

func columnarMessages(b *testing.B) ([][]byte, int64) {
	b.Helper()
	msgs, err := columnartest.Framed(42, columnarBatch, 1)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, m := range msgs {
		total += int64(len(m))
	}
	return msgs, total
}

// BenchmarkDecodePatientFacts decodes a batch of 4096 realistic framed
// patient_facts messages (mixed kinds) per op. columnar: the schema-specialised
// decoder into Arrow, the matching columns projected and flattened, Flush
// included; goavro: the baseline, each message to a generic map. SetBytes is
// the framed input.
func BenchmarkDecodePatientFacts(b *testing.B) {
	msgs, total := columnarMessages(b)
	src := avroarrow.MapSource{1: schemas.PatientFacts.Schema()}
	run := func(b *testing.B, opts ...avroarrow.Option) {
		d, err := avroarrow.New(schemas.PatientFacts.Schema(), append(opts,
			avroarrow.WithSchemaSource(src), avroarrow.WithAllocator(memory.NewGoAllocator()))...)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			for _, m := range msgs {
				if err := d.AppendFramed(m); err != nil {
					b.Fatal(err)
				}
			}
			rec := d.Flush()
			columnarSink.rows += rec.NumRows()
			rec.Release()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/record")
	}
	b.Run("columnar", func(b *testing.B) {
		run(b, avroarrow.WithProjection(columnartest.MatchingColumns...), avroarrow.WithFlatten())
	})
	b.Run("columnar-nested", func(b *testing.B) {
		run(b, avroarrow.WithProjection(columnartest.MatchingColumns...))
	})
	b.Run("columnar-all", func(b *testing.B) {
		run(b)
	})
	b.Run("goavro", func(b *testing.B) {
		codec, err := goavro.NewCodec(schemas.PatientFacts.Schema())
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			for _, m := range msgs {
				_, payload, err := wire.Parse(m)
				if err != nil {
					b.Fatal(err)
				}
				v, _, err := codec.NativeFromBinary(payload)
				if err != nil {
					b.Fatal(err)
				}
				columnarSink.v = v
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/record")
	})
}
