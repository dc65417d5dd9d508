package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

func init() {
	register.DoFn2x1[schemas.PatientFact, func(string), error](&phiFactFn{})
	register.DoFn2x1[deadletter.Record, func(string), error](&phiDeadFn{})
	register.DoFn2x0[ingest.Receipt, func(string)](&receiptFn{})
	register.Emitter1[string]()
}

// phiFactFn fails the pipeline if a fact (as JSON and as Avro) contains a
// source identifier; it emits the fact kind.
type phiFactFn struct{ IDs []string }

func (fn *phiFactFn) ProcessElement(f schemas.PatientFact, emit func(string)) error {
	js, _ := json.Marshal(f)
	codec, _ := schemas.PatientFacts.Codec()
	avro, err := f.AppendAvro(codec, nil)
	if err != nil {
		return err
	}
	if n := ingesttest.ContainsPHI(append(js, avro...), fn.IDs); n > 0 {
		return fmt.Errorf("PHI leak in a %s fact (%d-byte identifier)", f.Kind, n)
	}
	emit(string(f.Kind))
	return nil
}

// phiDeadFn fails on PHI in a dead letter and emits "code: <want> present".
type phiDeadFn struct {
	IDs  []string
	Want map[string]string // reason code -> substring the reason must hold
}

func (fn *phiDeadFn) ProcessElement(r deadletter.Record, emit func(string)) error {
	body, err := r.AppendAvro(nil)
	if err != nil {
		return err
	}
	if n := ingesttest.ContainsPHI(append(body, r.Reason...), fn.IDs); n > 0 {
		return fmt.Errorf("PHI leak in dead letter %s (%d-byte identifier)", r.ReasonCode, n)
	}
	if r.Payload != nil {
		return fmt.Errorf("dead letter %s carries the payload inline", r.ReasonCode)
	}
	want := fn.Want[r.ReasonCode]
	emit(fmt.Sprintf("%s: %q %v", r.ReasonCode, want, strings.Contains(r.Reason, want)))
	return nil
}

type receiptFn struct{}

func (fn *receiptFn) ProcessElement(r ingest.Receipt, emit func(string)) {
	if r.Dead {
		emit("dead " + r.ReasonCode)
		return
	}
	emit(fmt.Sprintf("ok %d", r.Facts))
}

type claimSet struct {
	claims   []bundle.ClaimCheck
	receipts []any
	dead     []any
	kinds    []any
	facts    int
	cfg      ingest.Config
}

// buildClaims seals the reference bundles and one bad input of each kind
// into a fresh file:// bucket.
func buildClaims(t *testing.T) claimSet {
	t.Helper()
	ctx := context.Background()
	bucket := "file://" + t.TempDir()
	store := bundle.NewBuckets(bucket)
	defer store.Close()
	keys := ingesttest.Keys()
	seal := func(js []byte, comp envelope.Compression) bundle.ClaimCheck {
		cc, err := bundle.Seal(ctx, store, keys, bundle.SealOptions{Tenant: ingesttest.Tenant, KeyID: ingesttest.KeyID,
			Compression: comp, Bucket: bucket}, js)
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	tenant, _ := pseudonym.New(ingesttest.Tenant, ingesttest.TenantKey())
	ingestAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var cs claimSet
	bundles := ingesttest.Bundles(t)
	for i, name := range ingesttest.Names(bundles) {
		comp := []envelope.Compression{envelope.Zstd, envelope.Gzip, envelope.None}[i%3]
		cs.claims = append(cs.claims, seal(bundles[name], comp))
		fs, err := fhir.Facts(bundles[name], tenant, fhir.WithIngestTime(ingestAt))
		if err != nil {
			t.Fatal(err)
		}
		cs.facts += len(fs)
		cs.receipts = append(cs.receipts, fmt.Sprintf("ok %d", len(fs)))
		for _, f := range fs {
			cs.kinds = append(cs.kinds, string(f.Kind))
		}
	}
	good := bundles[ingesttest.Names(bundles)[0]]

	tampered := seal(good, envelope.Zstd)
	path := filepath.Join(strings.TrimPrefix(bucket, "file://"), strings.TrimPrefix(tampered.URI, bucket+"/"))
	obj, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj[len(obj)/2] ^= 0x20
	if err := os.WriteFile(path, obj, 0o644); err != nil {
		t.Fatal(err)
	}
	tampered.SHA256 = ingesttest.SHA256Hex(obj) // the attacker fixed the checksum too

	unknownKey := seal(good, envelope.Zstd)
	unknownKey.KeyID = "kek-retired-2019"

	badSum := seal(good, envelope.Gzip)
	badSum.SHA256 = strings.Repeat("ab", 32)

	bomb := seal(make([]byte, 4<<20), envelope.Zstd)
	malformed := seal([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"Corwin846"}],"id":}}]}`), envelope.Gzip)
	noPatient := seal([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}`), envelope.Zstd)

	cs.claims = append(cs.claims, tampered, unknownKey, badSum, bomb, malformed, noPatient)
	want := map[string]string{
		string(deadletter.AuthFailed):       "authentication failed",
		string(deadletter.UnknownKey):       "unknown key id",
		string(deadletter.ChecksumMismatch): "checksum mismatch",
		string(deadletter.TooLarge):         "decompressed size exceeds 1048576",
		string(deadletter.MalformedJSON):    "$.entry[0].resource.id",
		string(deadletter.MissingPatient):   "no Patient",
	}
	for code, sub := range want {
		cs.receipts = append(cs.receipts, "dead "+code)
		cs.dead = append(cs.dead, fmt.Sprintf("%s: %q %v", code, sub, true))
	}
	cs.cfg = ingest.Config{
		Buckets:          []string{bucket},
		KeeperURLs:       map[string]string{ingesttest.KeyID: ingesttest.KeeperURL()},
		TenantKeys:       map[string]string{ingesttest.Tenant: fmt.Sprintf("%x", ingesttest.TenantKey())},
		MaxBundleBytes:   1 << 20,
		IngestTimeMillis: ingestAt.UnixMilli(),
	}
	return cs
}

// captureStderr redirects file descriptor 2 (the runner's, the SDK's and
// our log lines) to a file until the returned func is called, which
// restores it and returns what was written.
func captureStderr(t *testing.T) func() []byte {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Skipf("cannot dup stderr: %v", err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Skipf("cannot redirect stderr: %v", err)
	}
	return func() []byte {
		syscall.Dup3(saved, 2, 0)
		syscall.Close(saved)
		b, _ := os.ReadFile(f.Name())
		f.Close()
		return b
	}
}

// TestIngestOnPrism runs the reference bundles and one bad input of each
// kind through the Beam transform: facts as expected, each bad input one
// dead letter with its reason, one receipt per claim check (in = out +
// dead letters), and no source identifier in any fact, dead letter or log
// line written during the run.
func TestIngestOnPrism(t *testing.T) {
	cs := buildClaims(t)
	ids := ingesttest.Identifiers(t, ingesttest.Bundles(t))

	p, s := beam.NewPipelineWithRoot()
	claims := beam.CreateList(s, cs.claims)
	res := ingest.Ingest(s, cs.cfg, claims)

	passert.Count(s, res.Receipts, "receipts (in)", len(cs.claims))
	passert.Equals(s, beam.ParDo(s, &receiptFn{}, res.Receipts), cs.receipts...)
	passert.Count(s, res.Facts, "facts", cs.facts)
	passert.Equals(s, beam.ParDo(s, &phiFactFn{IDs: ids}, res.Facts), cs.kinds...)
	want := map[string]string{}
	for _, d := range cs.dead {
		code, rest, _ := strings.Cut(d.(string), ": ")
		var sub string
		fmt.Sscanf(rest, "%q", &sub)
		want[code] = sub
	}
	passert.Equals(s, beam.ParDo(s, &phiDeadFn{IDs: ids, Want: want}, res.Dead), cs.dead...)

	restore := captureStderr(t)
	err := ptest.Run(p)
	logs := restore()
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) == 0 {
		t.Log("no log lines were written during the run")
	}
	ingesttest.ScanPHI(t, "log output of the run", logs, ids)
	if !strings.Contains(string(logs), "dead letter") {
		t.Logf("ingest warnings not seen in captured logs (%d bytes)", len(logs))
	}
}
