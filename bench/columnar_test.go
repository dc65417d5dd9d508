package bench

import (
	"syscall"
	"testing"
	"time"

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

// columnarCPU is the CPU time (user+system, all threads, GC included) the
// process has used. On this shared 2-core machine wall-clock MB/s depends on
// the other tenants' load; MB per CPU-second is the per-core figure.
func columnarCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// columnarReport adds per-record and per-CPU-second figures.
func columnarReport(b *testing.B, total int64, records int, cpu time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	if cpu > 0 {
		b.ReportMetric(float64(total)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

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
// the framed input. Every columnar op releases its batch, as a consumer
// does once it is done with it, which lets the decoder reuse the batch's
// buffers; columnar-unreleased drops the batch to the garbage collector
// instead (a consumer that never calls Release).
func BenchmarkDecodePatientFacts(b *testing.B) {
	msgs, total := columnarMessages(b)
	src := avroarrow.MapSource{1: schemas.PatientFacts.Schema()}
	release := true
	run := func(b *testing.B, opts ...avroarrow.Option) {
		d, err := avroarrow.New(schemas.PatientFacts.Schema(), append(opts,
			avroarrow.WithSchemaSource(src), avroarrow.WithAllocator(memory.NewGoAllocator()))...)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		b.ReportAllocs()
		b.ResetTimer()
		c0 := columnarCPU()
		for b.Loop() {
			for _, m := range msgs {
				if err := d.AppendFramed(m); err != nil {
					b.Fatal(err)
				}
			}
			rec := d.Flush()
			columnarSink.rows += rec.NumRows()
			if release {
				rec.Release()
			}
		}
		columnarReport(b, total, len(msgs), columnarCPU()-c0)
	}
	b.Run("columnar", func(b *testing.B) {
		run(b, avroarrow.WithProjection(columnartest.MatchingColumns...), avroarrow.WithFlatten())
	})
	b.Run("columnar-unreleased", func(b *testing.B) {
		release = false
		defer func() { release = true }()
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
		c0 := columnarCPU()
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
		columnarReport(b, total, len(msgs), columnarCPU()-c0)
	})
}
