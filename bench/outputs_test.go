package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/compress"
	beammetrics "github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/linkedin/goavro/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trialflow/trialflow/pipelines/trialmatch/digest"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/schemas"
)

// outputsRecords returns n approved-patient records over 8 tenants and 4
// days, half with reasons, and their total Avro binary size (the size the
// records have on the approved_patients topic), used as b.SetBytes.
func outputsRecords(b *testing.B, n int) ([]schemas.ApprovedPatient, *goavro.Codec, int64) {
	b.Helper()
	codec, err := goavro.NewCodec(schemas.ApprovedPatients.Schema())
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	out := make([]schemas.ApprovedPatient, n)
	var size int64
	for i := range out {
		tenant := fmt.Sprintf("practice-%02d", i%8+1)
		a := schemas.ApprovedPatient{
			MatchID: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15), Tenant: tenant,
			PatientID: fmt.Sprintf("%s-%08d", tenant, i), ProtocolNo: fmt.Sprintf("%02d-%03d", 17+i%5, i%97),
			ArmCode: schemas.Ptr(fmt.Sprintf("ARM-%d", i%6)), SiteID: schemas.Ptr(fmt.Sprintf("site-%d", i%12)),
			Action: "NEW", TrialVersion: int64(i%3 + 1), ApprovalReference: schemas.Ptr("IRB-2026-0042"),
			EventTime: t0.Add(time.Duration(i) * 3 * time.Second), MatchTime: t0.Add(time.Duration(i)*3*time.Second + 250*time.Millisecond),
		}
		if i%2 == 0 {
			a.Reasons = []schemas.MatchReason{
				{ReasonType: "GENOMIC", Field: "hugo_symbol", Alteration: schemas.Ptr("EGFR L858R"), Level: schemas.Ptr("arm")},
				{ReasonType: "CLINICAL", Field: "oncotree_primary_diagnosis", Level: schemas.Ptr("step")},
			}
		}
		if i%10 == 9 {
			a.Action, a.RetractionReason = "RETRACTED", schemas.Ptr("arm closed")
		}
		out[i] = a
		bin, err := codec.BinaryFromNative(nil, a.Native())
		if err != nil {
			b.Fatal(err)
		}
		size += int64(len(bin))
	}
	return out, codec, size
}

// BenchmarkOutputsHistoryWrite writes 100k approved-patient records as
// partitioned Parquet files (Arrow builders + pqarrow, as one Beam bundle
// does), next to the baseline of encoding the same records to Avro with
// goavro (what the Kafka sink does per record). MB/s is of the records'
// Avro size.
func BenchmarkOutputsHistoryWrite(b *testing.B) {
	const n = 100_000
	recs, codec, size := outputsRecords(b, n)
	b.Run("baseline=goavro-encode", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			for i := range recs {
				var err error
				if buf, err = codec.BinaryFromNative(buf[:0], recs[i].Native()); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	for _, c := range []struct {
		name  string
		codec compress.Compression
	}{{"snappy", compress.Codecs.Snappy}, {"zstd", compress.Codecs.Zstd}} {
		b.Run("parquet-"+c.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var files []history.File
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				b.StartTimer()
				w := history.NewWriter(dir, history.WithCompression(c.codec))
				for i := range recs {
					if err := w.Add(&recs[i]); err != nil {
						b.Fatal(err)
					}
				}
				var err error
				if files, err = w.Flush(); err != nil {
					b.Fatal(err)
				}
				w.Release()
			}
			var bytes int64
			for _, f := range files {
				bytes += f.Bytes
			}
			b.ReportMetric(float64(len(files)), "files")
			b.ReportMetric(float64(bytes)/float64(size), "parquet/avro-bytes")
		})
	}
}

// BenchmarkOutputsHistoryRead reads the files back with history.Read.
func BenchmarkOutputsHistoryRead(b *testing.B) {
	const n = 100_000
	recs, _, size := outputsRecords(b, n)
	dir := b.TempDir()
	w := history.NewWriter(dir)
	for i := range recs {
		if err := w.Add(&recs[i]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	w.Release()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		got, err := history.Read(dir)
		if err != nil || len(got) != n {
			b.Fatalf("Read = %d rows, %v", len(got), err)
		}
	}
}

// BenchmarkOutputsDigestOf counts 100k records into hourly digests (the
// combine's work without Beam).
func BenchmarkOutputsDigestOf(b *testing.B) {
	recs, _, size := outputsRecords(b, 100_000)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if len(digest.Of(recs, time.Hour)) == 0 {
			b.Fatal("no digests")
		}
	}
}

// BenchmarkOutputsMetricsStage is the per-record cost of counting a match
// (Beam counter + distribution in a bundle context, mirrored into
// Prometheus), next to the baseline of a bare Prometheus counter.
func BenchmarkOutputsMetricsStage(b *testing.B) {
	ctx := beammetrics.SetPTransformID(beammetrics.SetBundleID(context.Background(), "bundle"), "ptransform")
	recs, _, _ := outputsRecords(b, 1024)
	b.Run("baseline=prometheus-counter", func(b *testing.B) {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "bench_total"})
		b.ReportAllocs()
		for b.Loop() {
			c.Inc()
		}
	})
	b.Run("stage-in-out-match", func(b *testing.B) {
		st := metrics.NewStage("bench")
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			st.In(ctx, 1)
			st.Out(ctx, 1)
			st.Match(ctx, &recs[i&1023])
			i++
		}
	})
}
