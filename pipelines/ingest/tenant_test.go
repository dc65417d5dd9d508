package ingest_test

import (
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func init() {
	register.Function1x1(claimTenant)
	register.Function1x1(deadCodeTenant)
}

func claimTenant(c bundle.ClaimCheck) string { return c.Tenant }

func deadCodeTenant(r deadletter.Record) string {
	t := ""
	if r.Tenant != nil {
		t = *r.Tenant
	}
	return r.ReasonCode + " " + t
}

// TestParseClaimsTenantMismatch: practice-01's claim check replayed under
// practice-02's Kafka key, or with practice-02's tenant header, is a dead
// letter tenant_mismatch; keyed by its own tenant (or unkeyed) it passes.
func TestParseClaimsTenantMismatch(t *testing.T) {
	cc := bundle.ClaimCheck{URI: "file:///b/x.tfe", Size: 10, SHA256: strings.Repeat("ab", 32), KeyID: "k1", Tenant: "practice-01", Compression: "zstd"}
	body, err := cc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rec := func(off int64, key string, header string) kafkaio.Record {
		r := kafkaio.Record{Topic: bundle.Topic, Offset: off, Value: body}
		if key != "" {
			r.Key = []byte(key)
		}
		if header != "" {
			r.Headers = []kafkaio.Header{{Key: "tenant", Value: []byte(header)}}
		}
		return r
	}
	p, s := beam.NewPipelineWithRoot()
	recs := beam.Create(s,
		rec(0, "practice-01", ""),
		rec(1, "", ""),
		rec(2, "practice-02", ""),
		rec(3, "", "practice-02"),
	)
	claims, dead := ingest.ParseClaims(s, recs)
	passert.Equals(s, beam.ParDo(s, claimTenant, claims), "practice-01", "practice-01")
	passert.Equals(s, beam.ParDo(s, deadCodeTenant, dead), "tenant_mismatch practice-01", "tenant_mismatch practice-01")
	ptest.RunAndValidate(t, p)
}
