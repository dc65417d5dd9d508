package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

// TestIngestCommandWrongKEK seals two bundles with `bundle seal` (their
// claim checks to Kafka), then runs `trialflow ingest` as a process: with
// the right key-encryption key (by file reference) it exits 0; with a
// wrong one every bundle fails authentication, and it exits 1 with a
// message naming the tenant and key id, but neither key.
func TestIngestCommandWrongKEK(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the ingest pipeline twice")
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(2, bundle.Topic, schemas.PatientFacts.Topic, schemas.DeadLetters.Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	regURL, srv, err := registry.StartServer("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	brokers := strings.Join(kc.ListenAddrs(), ",")
	dir := t.TempDir()
	bucketDir := t.TempDir()
	bundles := ingesttest.Bundles(t)
	var files []string
	for _, name := range ingesttest.Names(bundles)[:2] {
		files = append(files, writeFile(t, dir, name, string(bundles[name])))
	}
	rightKEK := writeFile(t, dir, "kek", ingesttest.KeeperURL()+"\n")
	var wrong [32]byte
	for i := range wrong {
		wrong[i] = byte(7*i + 2)
	}
	wrongKEKValue := base64.URLEncoding.EncodeToString(wrong[:])
	wrongKEK := writeFile(t, dir, "wrong-kek", "base64key://"+wrongKEKValue+"\n")
	tenantKey := fmt.Sprintf("%x", ingesttest.TenantKey())
	keyFile := writeFile(t, dir, "tenant-key", tenantKey+"\n")

	stop := captureOutput(t)
	err = <-runCommand(context.Background(), bundleSeal, append([]string{"--tenant", ingesttest.Tenant, "--key-id", ingesttest.KeyID,
		"--keeper", "file:" + rightKEK, "--bucket", "file://" + bucketDir, "--bootstrap", brokers}, files...)...)
	sealed := stop()
	if err != nil {
		t.Fatalf("bundle seal: %v\n%s", err, sealed)
	}

	ingestRun := func(kek string) (string, error) {
		var out bytes.Buffer
		cmd := trialflow(t, &syncWriter{w: &out}, "ingest", "--bootstrap", brokers, "--registry", regURL, "--auto-register",
			"--bucket", "file://"+bucketDir, "--keeper", ingesttest.KeyID+"=file:"+kek,
			"--tenant-key", ingesttest.Tenant+"=file:"+keyFile)
		err := cmd.Wait()
		return out.String(), err
	}
	if out, err := ingestRun(rightKEK); err != nil {
		t.Fatalf("ingest with the right key-encryption key: %v\n%s", err, out)
	}
	out, err := ingestRun(wrongKEK)
	t.Logf("ingest with a wrong key-encryption key:\n%s", out)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("ingest with a wrong key-encryption key: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"failed authentication", `tenant "` + ingesttest.Tenant + `"`, `key id "` + ingesttest.KeyID + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("ingest's output lacks %q:\n%s", want, out)
		}
	}
	for name, v := range map[string]string{"wrong key-encryption key": wrongKEKValue,
		"right key-encryption key": strings.TrimPrefix(ingesttest.KeeperURL(), "base64key://"), "pseudonym key": tenantKey} {
		if strings.Contains(out, v) {
			t.Errorf("the %s is in ingest's output", name)
		}
	}
}
