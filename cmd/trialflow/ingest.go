package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/ingest"
	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

func init() {
	register(command{name: "bundle seal", summary: "seal FHIR bundles into object storage and print (or produce) their claim checks", run: bundleSeal})
	register(command{name: "ingest", summary: "run the claim-check ingest: emr_bundles -> decrypt -> decompress -> FHIR -> patient_facts", run: ingestCmd})
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func bundleSeal(ctx context.Context, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant (oncology practice) the bundles belong to")
	keyID := fs.String("key-id", "", "id of the key-encryption key")
	keeper := fs.String("keeper", "", "the key-encryption key's gocloud.dev/secrets URL, by reference (file:PATH or env:NAME; a KMS URL such as awskms://... as is)")
	bucket := fs.String("bucket", "", "bucket URL the sealed objects go to (e.g. file:///var/trialflow/bundles)")
	uri := fs.String("uri", "", "object URI (one bundle only; default: a random name in the bucket)")
	comp := fs.String("compression", "zstd", "zstd, gzip or none")
	brokers := fs.String("bootstrap", "", "also produce the claim checks to Kafka at these brokers")
	topic := fs.String("topic", bundle.Topic, "claim-check topic")
	sec := addClientSecurityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if *tenant == "" || *keyID == "" || *keeper == "" || (*bucket == "" && *uri == "") || len(files) == 0 {
		return fmt.Errorf("%w: bundle seal needs --tenant, --key-id, --keeper, --bucket (or --uri) and at least one file", errUsage)
	}
	if *uri != "" && len(files) > 1 {
		return fmt.Errorf("%w: --uri names one object, but %d files were given", errUsage, len(files))
	}
	kr := keeperRefs{urls: map[string]string{}, refs: map[string]secret.Ref{}}
	if err := kr.Set(*keyID + "=" + *keeper); err != nil {
		return fmt.Errorf("%w: --keeper: %v", errUsage, err)
	}
	keeperURL, ok := kr.urls[*keyID]
	if !ok {
		u, err := kr.refs[*keyID].Resolve()
		if err != nil {
			return fmt.Errorf("bundle seal: keeper: %w", err)
		}
		keeperURL = u
	}
	keys, err := envelope.OpenKeepers(ctx, map[string]string{*keyID: keeperURL})
	if err != nil {
		return err
	}
	bucketURL := *bucket
	if bucketURL == "" {
		bucketURL = (*uri)[:strings.LastIndex(*uri, "/")]
	}
	store := bundle.NewBuckets(bucketURL)
	defer store.Close()
	var kc *kgo.Client
	if *brokers != "" {
		kopts, err := sec.kgoOpts(splitList(*brokers), kgo.AllowAutoTopicCreation())
		if err != nil {
			return err
		}
		if kc, err = kgo.NewClient(kopts...); err != nil {
			return fmt.Errorf("bundle seal: kafka client: %w", err)
		}
		defer kc.Close()
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("bundle seal: %w", err)
		}
		cc, err := bundle.Seal(ctx, store, keys, bundle.SealOptions{Tenant: *tenant, KeyID: *keyID,
			Compression: envelope.Compression(*comp), Bucket: *bucket, URI: *uri}, data)
		if err != nil {
			return fmt.Errorf("bundle seal %s: %w", f, err)
		}
		line, err := cc.Marshal()
		if err != nil {
			return err
		}
		fmt.Println(string(line))
		if kc != nil {
			if err := kc.ProduceSync(ctx, &kgo.Record{Topic: *topic, Key: []byte(cc.Tenant), Value: line}).FirstErr(); err != nil {
				return fmt.Errorf("bundle seal: produce claim check: %w", err)
			}
		}
	}
	return nil
}

func ingestCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	brokers := fs.String("bootstrap", "127.0.0.1:9092", "Kafka bootstrap servers, comma separated")
	regURL := fs.String("registry", "http://127.0.0.1:8081", "Schema Registry URL")
	autoRegister := fs.Bool("auto-register", false, "register the patient_facts schema when missing")
	claims := fs.String("claims-topic", bundle.Topic, "claim-check topic")
	follow := fs.Bool("follow", false, "keep reading claim checks (streaming); needs --group")
	group := fs.String("group", "", "consumer group for --follow")
	var buckets list
	fs.Var(&buckets, "bucket", "bucket URL claim checks may point into (repeatable)")
	keepers := keeperRefs{urls: map[string]string{}, refs: map[string]secret.Ref{}}
	fs.Var(&keepers, "keeper", "KEYID=file:PATH or KEYID=env:NAME holding a key-encryption key's secrets URL, or KEYID=<KMS URL> (repeatable)")
	tenantKeys := secretRefs{}
	fs.Var(tenantKeys, "tenant-key", "TENANT=file:PATH or TENANT=env:NAME holding the tenant's hex pseudonym key, at least 32 bytes (repeatable)")
	tenantKeyFile := fs.String("tenant-keys", "", "JSON file of {tenant: hex key}, read by the workers, instead of --tenant-key")
	maxObject := fs.Int64("max-object-bytes", 0, "largest sealed object accepted (0: default)")
	maxBundle := fs.Int64("max-bundle-bytes", 0, "largest decompressed bundle accepted (0: default)")
	sec := addClientSecurityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(buckets) == 0 || len(keepers.urls)+len(keepers.refs) == 0 || len(tenantKeys) == 0 && *tenantKeyFile == "" {
		return fmt.Errorf("%w: ingest needs --bucket, --keeper and tenant keys (--tenant-key or --tenant-keys)", errUsage)
	}
	conn, err := sec.conn(splitList(*brokers))
	if err != nil {
		return err
	}
	if *follow && *group == "" {
		return fmt.Errorf("%w: --follow needs --group", errUsage)
	}
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	ingest.Pipeline(s, ingest.PipelineConfig{
		Ingest: ingest.Config{Buckets: buckets, KeeperURLs: keepers.urls, KeeperRefs: keepers.refs,
			TenantKeyRefs: tenantKeys, TenantKeysFile: *tenantKeyFile,
			MaxObjectBytes: *maxObject, MaxBundleBytes: *maxBundle},
		Conn:       conn,
		ClaimTopic: *claims, Group: *group, Unbounded: *follow,
		FactSink:    ingest.FactSink{RegistryURL: *regURL, RegistryAuth: sec.reg, AutoRegister: *autoRegister},
		DeadLetters: deadletter.Sink{RegistryURL: *regURL, RegistryAuth: sec.reg, AutoRegister: *autoRegister},
		IdleTimeout: 2 * time.Second,
	})
	if pipelineBuilt != nil {
		pipelineBuilt(p)
	}
	res, err := runners.Run(ctx, p, runners.WithLog(os.Stdout))
	if err != nil {
		return err
	}
	if err := metrics.Summarize(res).WriteTable(os.Stdout); err != nil {
		return err
	}
	return ingest.CheckAuthentication(res.Metrics())
}
