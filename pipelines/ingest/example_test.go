package ingest_test

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Ingest claim checks already in a PCollection (here: one literal).
func ExampleIngest() {
	p, s := beam.NewPipelineWithRoot()
	claims := beam.CreateList(s, []bundle.ClaimCheck{{
		URI: "file:///var/bundles/p1/0f3c.tfe", Size: 5321, Tenant: "p1", KeyID: "kek-2026", Compression: "zstd",
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Offset: -1,
	}})
	res := ingest.Ingest(s, ingest.Config{
		Buckets:    []string{"file:///var/bundles"},
		KeeperURLs: map[string]string{"kek-2026": "awskms://alias/trialflow-kek?region=eu-west-1"},
		TenantKeys: map[string]string{"p1": "<64 hex digits from the practice's key store>"},
	}, claims)
	_, _, _ = res.Facts, res.Dead, res.Receipts
	_ = p // run with runners.Run
}

// The Kafka-to-Kafka ingest that `trialflow ingest` runs.
func ExamplePipeline() {
	p, s := beam.NewPipelineWithRoot()
	ingest.Pipeline(s, ingest.PipelineConfig{
		Ingest: ingest.Config{
			Buckets:    []string{"s3://emr-bundles?region=eu-west-1"},
			KeeperURLs: map[string]string{"kek-2026": "awskms://alias/trialflow-kek?region=eu-west-1"},
			TenantKeys: map[string]string{"p1": "<hex key>"},
		},
		Conn:        kafkaio.Conn{Brokers: []string{"127.0.0.1:9092"}},
		Unbounded:   true,
		Group:       "trialflow-ingest",
		FactSink:    ingest.FactSink{RegistryURL: "http://127.0.0.1:8081"},
		DeadLetters: deadletter.Sink{RegistryURL: "http://127.0.0.1:8081"},
	})
	_ = p
	// Output:
}
