package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/linkedin/goavro/v2"
	_ "gocloud.dev/secrets/localsecrets" // base64key:// keepers, the embedded default

	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Reason codes of the ingest beyond the shared ones of deadletter.
const (
	ObjectNotFound     deadletter.Code = "object_not_found"
	OutsideBuckets     deadletter.Code = "object_outside_buckets"
	UnknownTenant      deadletter.Code = "unknown_tenant"
	InvalidClaimCheck  deadletter.Code = "invalid_claim_check"
	NotABundle         deadletter.Code = "not_a_fhir_bundle"
	ManyPatients       deadletter.Code = "more_than_one_patient"
	CorruptCompression deadletter.Code = "corrupt_compression"
	NotAnEnvelope      deadletter.Code = "not_an_envelope"
	// TenantMismatch: the claim check's Kafka key or tenant header names
	// another tenant than its body (a claim replayed under another key).
	TenantMismatch deadletter.Code = "tenant_mismatch"
)

// MetricsNamespace is the Beam metrics namespace of the ingest counters
// (bundles, facts).
const MetricsNamespace = "ingest"

func init() {
	beam.RegisterType(reflect.TypeOf((*bundle.ClaimCheck)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Receipt)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf(schemas.PatientFact{}), encodeFact, decodeFact)
	register.DoFn5x1[context.Context, bundle.ClaimCheck, func(schemas.PatientFact), func(deadletter.Record), func(Receipt), error](&ingestFn{})
	register.DoFn4x0[context.Context, kafkaio.Record, func(bundle.ClaimCheck), func(deadletter.Record)](&parseFn{})
	register.DoFn3x1[context.Context, schemas.PatientFact, func(kafkaio.Record), error](&encodeFn{})
	register.Emitter1[schemas.PatientFact]()
	register.Emitter1[deadletter.Record]()
	register.Emitter1[Receipt]()
	register.Emitter1[bundle.ClaimCheck]()
	register.Emitter1[kafkaio.Record]()
}

var factCodec = sync.OnceValues(schemas.PatientFacts.Codec)

// encodeFact and decodeFact are the Beam coder of schemas.PatientFact: its
// Avro body under patient_facts.avsc.
func encodeFact(f schemas.PatientFact) ([]byte, error) {
	c, err := factCodec()
	if err != nil {
		return nil, err
	}
	return f.AppendAvro(c, nil)
}

func decodeFact(b []byte) (schemas.PatientFact, error) {
	c, err := factCodec()
	if err != nil {
		return schemas.PatientFact{}, err
	}
	v, _, err := c.NativeFromBinary(b)
	if err != nil {
		return schemas.PatientFact{}, fmt.Errorf("ingest: decode fact: %w", err)
	}
	f, err := schemas.PatientFactFromNative(v)
	if err != nil {
		return schemas.PatientFact{}, err
	}
	return *f, nil
}

var _ = goavro.Union // the coder works on goavro native data

// Config configures the ingest. Its fields travel with the pipeline (they
// are serialised into the DoFns), so key material must be given by
// reference: KeeperRefs and TenantKeyRefs name files or environment
// variables read on the worker in Setup. KeeperURLs should only name KMS
// keys (awskms://, gcpkms://, azurekeyvault://, hashivault://), which hold
// no key material; TenantKeys and base64key:// URLs in KeeperURLs (which
// embed the key) put keys in the pipeline graph and are for tests.
type Config struct {
	Buckets    []string          // bucket URLs claim checks may point into
	KeeperURLs map[string]string // key id -> gocloud.dev/secrets keeper URL of the KEK
	TenantKeys map[string]string // tenant -> hex pseudonym key (>= 32 bytes)

	KeeperRefs    map[string]secret.Ref // key id -> reference to a keeper URL
	TenantKeyRefs map[string]secret.Ref // tenant -> reference to a hex pseudonym key
	// TenantKeysFile is a JSON file {"tenant": "hex key", ...} read in Setup.
	TenantKeysFile string

	MaxObjectBytes int64  // sealed object cap (default bundle.DefaultMaxObject)
	MaxBundleBytes int64  // decompressed bundle cap (default bundle.DefaultMaxBundle)
	Source         string // facts' source (default "emr")

	// IngestTimeMillis fixes the facts' ingest time (tests); 0 means now.
	IngestTimeMillis int64
}

// Receipt is the outcome of one claim check: OK with its fact count, or a
// dead letter with its reason code. Exactly one per claim check.
type Receipt struct {
	URI        string
	Tenant     string
	Facts      int
	Dead       bool
	ReasonCode string
}

// Result holds the outputs of Ingest.
type Result struct {
	Facts    beam.PCollection // schemas.PatientFact
	Dead     beam.PCollection // deadletter.Record
	Receipts beam.PCollection // Receipt
}

// Ingest turns claim checks (PCollection<bundle.ClaimCheck>) into patient
// facts, dead letters and receipts.
func Ingest(s beam.Scope, cfg Config, claims beam.PCollection) Result {
	s = s.Scope("ingest.Ingest")
	if len(cfg.Buckets) == 0 || len(cfg.KeeperURLs)+len(cfg.KeeperRefs) == 0 ||
		len(cfg.TenantKeys)+len(cfg.TenantKeyRefs) == 0 && cfg.TenantKeysFile == "" {
		panic("ingest.Ingest: need Buckets, keepers and tenant keys")
	}
	facts, dead, receipts := beam.ParDo3(s, &ingestFn{Cfg: cfg}, claims)
	return Result{Facts: facts, Dead: dead, Receipts: receipts}
}

type ingestFn struct {
	Cfg Config

	store *bundle.Buckets
	keys  envelope.Keepers
	in    *bundle.Ingester
}

func (fn *ingestFn) Setup(ctx context.Context) error {
	keeperURLs, err := resolve(fn.Cfg.KeeperURLs, fn.Cfg.KeeperRefs, "keeper of key id")
	if err != nil {
		return err
	}
	tenantKeys, err := resolve(fn.Cfg.TenantKeys, fn.Cfg.TenantKeyRefs, "pseudonym key of tenant")
	if err != nil {
		return err
	}
	if fn.Cfg.TenantKeysFile != "" {
		b, err := os.ReadFile(fn.Cfg.TenantKeysFile)
		if err != nil {
			return fmt.Errorf("ingest: tenant keys: %w", err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			// The JSON error may quote the file: name the file only.
			return fmt.Errorf("ingest: tenant keys %s: not a JSON object of tenant to hex key", fn.Cfg.TenantKeysFile)
		}
		for k, v := range m {
			tenantKeys[k] = v
		}
	}
	keys, err := envelope.OpenKeepers(ctx, keeperURLs)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	tenants, err := bundle.TenantsFromHex(tenantKeys)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	fn.keys, fn.store = keys, bundle.NewBuckets(fn.Cfg.Buckets...)
	var opts []bundle.Option
	if fn.Cfg.MaxObjectBytes > 0 {
		opts = append(opts, bundle.WithMaxObject(fn.Cfg.MaxObjectBytes))
	}
	if fn.Cfg.MaxBundleBytes > 0 {
		opts = append(opts, bundle.WithMaxBundle(fn.Cfg.MaxBundleBytes))
	}
	src := fn.Cfg.Source
	if src == "" {
		src = "emr"
	}
	fopts := []fhir.Option{fhir.WithSource(src)}
	if fn.Cfg.IngestTimeMillis != 0 {
		fopts = append(fopts, fhir.WithIngestTime(time.UnixMilli(fn.Cfg.IngestTimeMillis)))
	}
	opts = append(opts, bundle.WithFHIROptions(fopts...))
	fn.in = bundle.NewIngester(fn.store, fn.keys, tenants, opts...)
	return nil
}

func (fn *ingestFn) Teardown() {
	if fn.store != nil {
		fn.store.Close()
	}
	for _, k := range fn.keys {
		k.Close()
	}
}

func (fn *ingestFn) ProcessElement(ctx context.Context, cc bundle.ClaimCheck,
	emitFact func(schemas.PatientFact), emitDead func(deadletter.Record), emitReceipt func(Receipt)) error {
	facts, err := fn.in.Ingest(ctx, cc)
	if err != nil {
		if !bundle.Permanent(err) {
			// Transient (storage or KMS unavailable): fail the bundle so
			// the runner retries it; nothing is dead-lettered or lost.
			return fmt.Errorf("ingest: %s: %w", cc.URI, err)
		}
		code := Classify(err)
		opts := []deadletter.Option{deadletter.WithTenant(cc.Tenant), deadletter.WithPayloadRef(cc.URI, nil)}
		if cc.Topic != "" {
			opts = append(opts, deadletter.From(deadletter.Source{Topic: cc.Topic, Partition: cc.Partition, Offset: cc.Offset}))
		}
		r := deadletter.New("ingest", deadletter.Errorf(code, "%w", err), opts...)
		r.PayloadSHA256 = &cc.SHA256 // the sealed object's digest, from the claim check
		log.Warnf(ctx, "ingest: dead letter %s for %s (tenant %s)", code, cc.URI, cc.Tenant)
		deadletter.Emit(ctx, emitDead, r)
		emitReceipt(Receipt{URI: cc.URI, Tenant: cc.Tenant, Dead: true, ReasonCode: string(code)})
		beam.NewCounter(MetricsNamespace, "bundles_dead").Inc(ctx, 1)
		if code == deadletter.AuthFailed || code == deadletter.UnknownKey {
			beam.NewCounter(MetricsNamespace, authFailedCounter(cc.Tenant, cc.KeyID)).Inc(ctx, 1)
		}
		return nil
	}
	beam.NewCounter(MetricsNamespace, tenantOKCounter(cc.Tenant)).Inc(ctx, 1)
	for _, f := range facts {
		emitFact(f)
	}
	beam.NewCounter(MetricsNamespace, "bundles").Inc(ctx, 1)
	beam.NewCounter(MetricsNamespace, "facts").Inc(ctx, int64(len(facts)))
	emitReceipt(Receipt{URI: cc.URI, Tenant: cc.Tenant, Facts: len(facts)})
	return nil
}

// Classify maps an ingest error to its dead-letter reason code.
func Classify(err error) deadletter.Code {
	table := []struct {
		err  error
		code deadletter.Code
	}{
		{envelope.ErrAuthFailed, deadletter.AuthFailed},
		{envelope.ErrUnknownKey, deadletter.UnknownKey},
		{bundle.ErrChecksum, deadletter.ChecksumMismatch},
		{bundle.ErrSizeMismatch, deadletter.ChecksumMismatch},
		{envelope.ErrTooLarge, deadletter.TooLarge},
		{fhir.ErrMalformed, deadletter.MalformedJSON},
		{fhir.ErrMissingPatient, deadletter.MissingPatient},
		{fhir.ErrNotBundle, NotABundle},
		{fhir.ErrManyPatients, ManyPatients},
		{bundle.ErrNotFound, ObjectNotFound},
		{bundle.ErrOutsideBucket, OutsideBuckets},
		{bundle.ErrUnknownTenant, UnknownTenant},
		{bundle.ErrBadClaim, InvalidClaimCheck},
		{bundle.ErrCompressionClaim, InvalidClaimCheck},
		{envelope.ErrCompression, CorruptCompression},
		{envelope.ErrFormat, NotAnEnvelope},
	}
	for _, t := range table {
		if errors.Is(err, t.err) {
			return t.code
		}
	}
	return deadletter.Unclassified
}

// ParseClaims decodes Kafka records of emr_bundles
// (PCollection<kafkaio.Record>) into claim checks; records that are not
// claim checks become dead letters.
func ParseClaims(s beam.Scope, recs beam.PCollection) (claims, dead beam.PCollection) {
	s = s.Scope("ingest.ParseClaims")
	return beam.ParDo2(s, &parseFn{}, recs)
}

type parseFn struct{}

func (fn *parseFn) ProcessElement(ctx context.Context, r kafkaio.Record, emit func(bundle.ClaimCheck), dead func(deadletter.Record)) {
	cc, err := bundle.ParseClaimCheck(r.Value)
	if err != nil {
		// Keep a reference, not the value: a producer that put a raw
		// bundle on the topic by mistake must not copy PHI to dead_letter.
		ref := fmt.Sprintf("kafka:%s/%d/%d", r.Topic, r.Partition, r.Offset)
		deadletter.Emit(ctx, dead, deadletter.New("ingest.ParseClaims", deadletter.Errorf(InvalidClaimCheck, "%w", err),
			deadletter.From(deadletter.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}),
			deadletter.WithPayloadRef(ref, r.Value)))
		return
	}
	cc.Topic, cc.Partition, cc.Offset = r.Topic, r.Partition, r.Offset
	if other, where := tenantOfRecord(r); other != "" && other != cc.Tenant {
		// A claim check is bound to its record: replayed under another
		// tenant's key (or header) it would be ingested for the wrong
		// practice's pseudonym key and topic partition.
		deadletter.Emit(ctx, dead, deadletter.New("ingest.ParseClaims",
			deadletter.Errorf(TenantMismatch, "claim check of tenant %q arrived with %s %q", cc.Tenant, where, other),
			deadletter.WithTenant(cc.Tenant),
			deadletter.From(deadletter.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}),
			deadletter.WithPayloadRef(cc.URI, r.Value)))
		return
	}
	emit(cc)
}

// tenantOfRecord returns the tenant a claim check's record names outside
// its body, and where: the Kafka key (claim checks are keyed by tenant),
// else the "tenant" header; "" when it names none.
func tenantOfRecord(r kafkaio.Record) (tenant, where string) {
	if len(r.Key) > 0 {
		return string(r.Key), "Kafka key"
	}
	if h, ok := r.Header("tenant"); ok && len(h) > 0 {
		return string(h), "tenant header"
	}
	return "", ""
}

// resolve merges values given as is with values given by reference.
func resolve(values map[string]string, refs map[string]secret.Ref, what string) (map[string]string, error) {
	out := make(map[string]string, len(values)+len(refs))
	for k, v := range values {
		out[k] = v
	}
	for k, r := range refs {
		v, err := r.Resolve()
		if err != nil {
			return nil, fmt.Errorf("ingest: %s %s: %w", what, k, err)
		}
		out[k] = v
	}
	return out, nil
}
