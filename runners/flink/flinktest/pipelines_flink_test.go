//go:build flink

package flinktest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/ingesttest"
	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/flink/flinktest"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// synthFn generates the synthetic data set inside the pipeline (the same on
// every runner: synth is seeded) and emits its three parts, so that a
// demo-sized input is not carried in the pipeline proto.
type synthFn struct {
	Cfg synth.Config
}

func (f *synthFn) ProcessElement(_ []byte, facts func(schemas.PatientFact), trials func(schemas.Trial), reg func(schemas.RegulatoryEvent)) {
	d := synth.Generate(f.Cfg)
	for _, x := range d.Facts {
		facts(*x)
	}
	for _, x := range d.Trials {
		trials(*x)
	}
	for _, x := range d.Regulatory {
		reg(*x)
	}
}

// matchKey renders every field of an approved_patients record that does
// not depend on the wall clock, with its event time.
func matchKey(ts beam.EventTime, r schemas.ApprovedPatient) string {
	r.MatchTime = time.Time{}
	b, _ := json.Marshal(r)
	return fmt.Sprintf("%d %s", int64(ts), b)
}

// deadKey renders a dead letter without its wall-clock error time.
func deadKey(r deadletter.Record) string {
	r.ErrorTime = time.Time{}
	b, _ := json.Marshal(r)
	return string(b)
}

func factKey(f schemas.PatientFact) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func receiptKey(r ingest.Receipt) string {
	return fmt.Sprintf("%s %s facts=%d dead=%v %s", r.URI, r.Tenant, r.Facts, r.Dead, r.ReasonCode)
}

func init() {
	register.DoFn4x0[[]byte, func(schemas.PatientFact), func(schemas.Trial), func(schemas.RegulatoryEvent)](&synthFn{})
	register.Emitter1[schemas.PatientFact]()
	register.Emitter1[schemas.Trial]()
	register.Emitter1[schemas.RegulatoryEvent]()
	register.Function2x1(matchKey)
	register.Function1x1(deadKey)
	register.Function1x1(factKey)
	register.Function1x1(receiptKey)
}

// demoPatients is the data set's size: the demo's (trialflow demo
// --patients, 20,000), or TRIALFLOW_FLINK_PATIENTS.
func demoPatients() int {
	if n, err := strconv.Atoi(os.Getenv("TRIALFLOW_FLINK_PATIENTS")); err == nil && n > 0 {
		return n
	}
	return synth.DefaultConfig().Patients
}

func synthInputs(s beam.Scope, c synth.Config) trialmatch.Inputs {
	facts, trials, reg := beam.ParDo3(s, &synthFn{Cfg: c}, beam.Impulse(s))
	return trialmatch.Inputs{Facts: facts, Trials: trials, Regulatory: reg}
}

// TestTrialmatchBoundedOnFlink: the trialmatch pipeline, bounded (batch
// execution: no state, no timers) over the demo-sized synthetic data set,
// publishes the same approved_patients records (event time and every field
// but the wall-clock match time) and dead letters on Flink as on Prism.
func TestTrialmatchBoundedOnFlink(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients = demoPatients()
	cfg := trialmatch.Config{Shards: 4, Tick: 10 * time.Minute, Execution: trialmatch.Batch}

	// runners.Run would submit it to Flink: nothing in it needs what the
	// Flink runner lacks.
	p, s := beam.NewPipelineWithRoot()
	trialmatch.Build(s, synthInputs(s, c), cfg)
	if err := runners.Unsupported("flink", p); err != nil {
		t.Fatalf("bounded trialmatch refused on Flink: %v", err)
	}

	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		out := trialmatch.Build(s, synthInputs(s, c), cfg)
		return flinktest.Tagged(s,
			"match", beam.ParDo(s, matchKey, out.Matches),
			"dead", beam.ParDo(s, deadKey, out.DeadLetters))
	})
	matches := 0
	for _, g := range got {
		if strings.HasPrefix(g, "match | ") {
			matches++
		}
	}
	t.Logf("%d patients: %d approved_patients records", c.Patients, matches)
	if matches == 0 {
		t.Fatal("no approved_patients record: the comparison proves nothing")
	}
}

// TestTrialmatchStreamingRefusedOnFlink: the unbounded (streaming)
// trialmatch pipeline keeps patients in MapState, which Beam's Flink runner
// does not give Go pipelines; runners refuses it before submitting, naming
// the transform and the feature.
func TestTrialmatchStreamingRefusedOnFlink(t *testing.T) {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 50, 4, 6*time.Hour
	p, s := beam.NewPipelineWithRoot()
	trialmatch.Build(s, synthInputs(s, c), trialmatch.Config{Shards: 2, Tick: 10 * time.Minute, Execution: trialmatch.Streaming})
	err := runners.Unsupported("flink", p)
	if err == nil {
		t.Fatal("streaming trialmatch not refused on Flink")
	}
	if !strings.Contains(err.Error(), "MapState") || !strings.Contains(err.Error(), "cannot run transform ") || !strings.Contains(err.Error(), "trialmatch") {
		t.Fatalf("refusal does not name the transform and the feature: %v", err)
	}
	t.Logf("refused: %v", err)
	// runners.Run refuses it before submitting to the job server.
	saved := *jobopts.Endpoint
	*jobopts.Endpoint = flinktest.Endpoint(t)
	defer func() { *jobopts.Endpoint = saved }()
	if _, err := runners.Run(context.Background(), p, runners.WithRunner("flink")); err == nil || !strings.Contains(err.Error(), "MapState") {
		t.Fatalf("runners.Run(flink) = %v, want the MapState refusal", err)
	}
}

// TestIngestOnFlink: the ingest pipeline (bounded, over the reference FHIR
// bundles sealed into a file:// bucket, plus bad inputs of several kinds)
// gives the same facts, dead letters and receipts on Flink as on Prism.
func TestIngestOnFlink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bucket := "file://" + dir
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
	bundles := ingesttest.Bundles(t)
	var claims []bundle.ClaimCheck
	for i, name := range ingesttest.Names(bundles) {
		claims = append(claims, seal(bundles[name], []envelope.Compression{envelope.Zstd, envelope.Gzip, envelope.None}[i%3]))
	}
	good := bundles[ingesttest.Names(bundles)[0]]
	unknownKey := seal(good, envelope.Zstd)
	unknownKey.KeyID = "kek-retired-2019"
	badSum := seal(good, envelope.Gzip)
	badSum.SHA256 = strings.Repeat("ab", 32)
	tampered := seal(good, envelope.Zstd)
	path := filepath.Join(dir, strings.TrimPrefix(tampered.URI, bucket+"/"))
	obj, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj[len(obj)/2] ^= 0x20
	if err := os.WriteFile(path, obj, 0o644); err != nil {
		t.Fatal(err)
	}
	tampered.SHA256 = ingesttest.SHA256Hex(obj)
	claims = append(claims, unknownKey, badSum, tampered,
		seal([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}`), envelope.Zstd))
	cfg := ingest.Config{
		Buckets:          []string{bucket},
		KeeperURLs:       map[string]string{ingesttest.KeyID: ingesttest.KeeperURL()},
		TenantKeys:       map[string]string{ingesttest.Tenant: fmt.Sprintf("%x", ingesttest.TenantKey())},
		MaxBundleBytes:   1 << 20,
		IngestTimeMillis: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	}

	got := flinktest.Compare(t, func(s beam.Scope) beam.PCollection {
		res := ingest.Ingest(s, cfg, beam.CreateList(s, claims))
		return flinktest.Tagged(s,
			"fact", beam.ParDo(s, factKey, res.Facts),
			"dead", beam.ParDo(s, deadKey, res.Dead),
			"receipt", beam.ParDo(s, receiptKey, res.Receipts))
	})
	count := map[string]int{}
	for _, g := range got {
		tag, _, _ := strings.Cut(g, " | ")
		count[tag]++
	}
	t.Logf("%d claim checks: %v", len(claims), count)
	if count["receipt"] != len(claims) || count["dead"] != 4 || count["fact"] == 0 {
		t.Fatalf("outputs %v, want %d receipts, 4 dead letters and some facts", count, len(claims))
	}
}
