package ingest_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/secret"
)

// TestCheckAuthentication seals two bundles of a tenant and ingests them
// with the key material given by reference (files): with the right
// key-encryption key CheckAuthentication passes; with a wrong one every
// bundle is a dead letter and CheckAuthentication fails naming the tenant
// and the key id, but not the key.
func TestCheckAuthentication(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bucket := "file://" + dir
	store := bundle.NewBuckets(bucket)
	defer store.Close()
	bundles := ingesttest.Bundles(t)
	var claims []bundle.ClaimCheck
	for _, name := range ingesttest.Names(bundles)[:2] {
		cc, err := bundle.Seal(ctx, store, ingesttest.Keys(), bundle.SealOptions{Tenant: ingesttest.Tenant, KeyID: ingesttest.KeyID,
			Compression: envelope.Zstd, Bucket: bucket}, bundles[name])
		if err != nil {
			t.Fatal(err)
		}
		claims = append(claims, cc)
	}
	write := func(name, v string) secret.Ref {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return secret.File(p)
	}
	tenantKey := write("tenant-key", fmt.Sprintf("%x", ingesttest.TenantKey()))
	var wrong [32]byte
	for i := range wrong {
		wrong[i] = byte(7*i + 2)
	}
	wrongURL := "base64key://" + base64.URLEncoding.EncodeToString(wrong[:])

	run := func(keeperURL string) error {
		t.Helper()
		p, s := beam.NewPipelineWithRoot()
		ingest.Ingest(s, ingest.Config{
			Buckets:       []string{bucket},
			KeeperRefs:    map[string]secret.Ref{ingesttest.KeyID: write("kek", keeperURL)},
			TenantKeyRefs: map[string]secret.Ref{ingesttest.Tenant: tenantKey},
		}, beam.CreateList(s, claims))
		res, err := ptest.RunWithMetrics(p)
		if err != nil {
			t.Fatal(err)
		}
		return ingest.CheckAuthentication(res.Metrics())
	}
	if err := run(ingesttest.KeeperURL()); err != nil {
		t.Fatalf("right key: %v", err)
	}
	err := run(wrongURL)
	if err == nil {
		t.Fatal("wrong key-encryption key: CheckAuthentication passed; want an error naming the tenant and key id")
	}
	for _, want := range []string{ingesttest.Tenant, ingesttest.KeyID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), strings.TrimPrefix(wrongURL, "base64key://")) {
		t.Errorf("error %q shows the key", err)
	}
}
