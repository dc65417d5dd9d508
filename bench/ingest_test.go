package bench

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
)

// ingestSink keeps results alive so the compiler cannot drop the work.
var ingestSink atomic.Int64

type ingestSealed struct {
	cc  bundle.ClaimCheck
	obj []byte
}

func ingestCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ingestRun runs op in parallel (GOMAXPROCS goroutines; run with -cpu 2)
// and reports MB/s of decompressed FHIR JSON (b.SetBytes = all reference
// bundles per op) and MB per CPU-second, which is less sensitive to the
// other tenants of this shared machine.
func ingestRun(b *testing.B, bytesPerOp int64, op func() int) {
	b.SetBytes(bytesPerOp)
	b.ReportAllocs()
	cpu0 := ingestCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			n += op()
		}
		ingestSink.Add(int64(n))
	})
	b.StopTimer()
	if cpu := ingestCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkIngest measures sealed bundles through decrypt -> decompress ->
// parse -> facts (the bundle.Ingester core, object already fetched), on the
// three reference FHIR bundles, against plain encoding/json parsing of the
// same (decompressed) bundles into map[string]any in the same run.
//
//	go test ./bench -run '^$' -bench BenchmarkIngest -cpu 2 -benchtime 3s
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	bundles := ingesttest.Bundles(b)
	names := ingesttest.Names(bundles)
	var total int64
	for _, n := range names {
		total += int64(len(bundles[n]))
	}
	keys := ingesttest.Keys()
	tenant, err := pseudonym.New(ingesttest.Tenant, ingesttest.TenantKey())
	if err != nil {
		b.Fatal(err)
	}
	in := bundle.NewIngester(nil, keys, bundle.TenantMap{ingesttest.Tenant: tenant},
		bundle.WithFHIROptions(fhir.WithIngestTime(time.Unix(0, 0))))
	seal := func(comp envelope.Compression) []ingestSealed {
		var out []ingestSealed
		for _, n := range names {
			obj, cc, err := bundle.SealObject(ctx, keys, bundle.SealOptions{Tenant: ingesttest.Tenant,
				KeyID: ingesttest.KeyID, Compression: comp, Bucket: "mem://bench"}, bundles[n])
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, ingestSealed{cc, obj})
		}
		return out
	}
	for _, comp := range []envelope.Compression{envelope.Zstd, envelope.Gzip} {
		sealed := seal(comp)
		b.Run("sealed-"+string(comp)+"/ingest", func(b *testing.B) {
			ingestRun(b, total, func() int {
				n := 0
				for _, s := range sealed {
					fs, err := in.Process(ctx, s.cc, s.obj)
					if err != nil {
						b.Error(err)
					}
					n += len(fs)
				}
				return n
			})
		})
	}
	b.Run("plain/fhir-facts", func(b *testing.B) {
		ingestRun(b, total, func() int {
			n := 0
			for _, name := range names {
				fs, err := fhir.Facts(bundles[name], tenant, fhir.WithIngestTime(time.Unix(0, 0)))
				if err != nil {
					b.Error(err)
				}
				n += len(fs)
			}
			return n
		})
	})
	b.Run("plain/baseline-encoding-json-map", func(b *testing.B) {
		ingestRun(b, total, func() int {
			n := 0
			for _, name := range names {
				var m map[string]any
				if err := json.Unmarshal(bundles[name], &m); err != nil {
					b.Error(err)
				}
				n += len(m)
			}
			return n
		})
	})
}
