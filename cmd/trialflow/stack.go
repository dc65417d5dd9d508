package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/ingest/bundle"
	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

func init() {
	register(command{name: "stack up", summary: "run embedded Kafka (kfake) and the Schema Registry until interrupted", run: stackUp})
	register(command{name: "gen", summary: "write synthetic patient, trial and regulatory streams to Kafka", run: gen})
	register(command{name: "match", summary: "run the trialmatch pipeline against real Kafka and a Schema Registry", run: matchCmd})
}

func stackUp(ctx context.Context, fs *flag.FlagSet, args []string) error {
	port := fs.Int("kafka-port", 9092, "Kafka port on 127.0.0.1 (0: any free port)")
	reg := fs.String("registry-addr", "127.0.0.1:8081", "Schema Registry listen address")
	data := fs.String("data", "", "keep Kafka logs and registry state in this directory (empty: memory)")
	contracts := fs.Bool("register", true, "register the data contracts' value subjects")
	extra := topicPartitions{}
	fs.Var(extra, "topic", "create topic `name:partitions` at start, besides the contracts' (repeatable; other topics are created on first use by clients that ask, kafkaio.Write among them)")
	srvSec := addServerSecurityFlags(fs, "registry-")
	sec := addClientSecurityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	regDir := ""
	if *data != "" {
		regDir = *data + string(os.PathSeparator) + "registry"
	}
	regOpts, err := srvSec.options(regDir)
	if err != nil {
		return err
	}
	topics := []string{bundle.Topic}
	for _, c := range schemas.All() {
		topics = append(topics, c.Topic)
	}
	return local.Run(ctx, os.Stdout, local.Options{KafkaPort: *port, RegistryAddr: *reg, DataDir: *data,
		RegisterContracts: *contracts, Topics: topics, TopicPartitions: extra, Registry: regOpts, RegistryAuth: sec.reg})
}

// topicPartitions is the repeatable --topic name:partitions flag.
type topicPartitions map[string]int32

func (t topicPartitions) String() string {
	names := make([]string, 0, len(t))
	for n, p := range t {
		names = append(names, fmt.Sprintf("%s:%d", n, p))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (t topicPartitions) Set(v string) error {
	name, n, ok := strings.Cut(v, ":")
	p, err := strconv.ParseInt(n, 10, 32)
	if !ok || name == "" || err != nil || p < 1 {
		return fmt.Errorf("want name:partitions with 1 or more partitions, got %q", v)
	}
	t[name] = int32(p)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func gen(ctx context.Context, fs *flag.FlagSet, args []string) error {
	bootstrap := fs.String("bootstrap", "127.0.0.1:9092", "Kafka bootstrap servers, comma separated")
	regURL := fs.String("registry", "http://127.0.0.1:8081", "Schema Registry URL")
	autoRegister := fs.Bool("auto-register", false, "register the contracts' schemas when missing")
	c := synth.DefaultConfig()
	fs.IntVar(&c.Patients, "patients", c.Patients, "synthetic patients")
	fs.IntVar(&c.Tenants, "tenants", c.Tenants, "tenants")
	fs.IntVar(&c.Trials, "trials", c.Trials, "trials")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed")
	corrupt := fs.Int("corrupt", 0, "undecodable facts to add")
	sec := addClientSecurityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	rc, err := sec.registryClient(*regURL, registry.WithAutoRegister(*autoRegister))
	if err != nil {
		return err
	}
	var ids synth.IDs
	for _, x := range []struct {
		c  schemas.Contract
		id *uint32
	}{{schemas.PatientFacts, &ids.Facts}, {schemas.Trials, &ids.Trials}, {schemas.Regulatory, &ids.Regulatory}} {
		id, err := rc.IDFor(x.c.ValueSubject(), x.c.Schema())
		if err != nil {
			return err
		}
		*x.id = uint32(id)
	}
	kopts, err := sec.kgoOpts(splitList(*bootstrap), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("gen: kafka client: %w", err)
	}
	defer cl.Close()
	d := synth.Generate(c)
	start := time.Now()
	n, err := synth.Produce(ctx, cl, d, ids, *corrupt, func(done, total int) { fmt.Printf("\rproduced %d/%d", done, total) })
	if err != nil {
		return err
	}
	fmt.Printf("\rproduced %d facts, %d trials, %d regulatory events, %d corrupt in %v\n", n.Facts, n.Trials, n.Regulatory, n.Corrupt, time.Since(start).Round(time.Millisecond))
	return nil
}

func matchCmd(ctx context.Context, fs *flag.FlagSet, args []string) error {
	bootstrap := fs.String("bootstrap", "127.0.0.1:9092", "Kafka bootstrap servers, comma separated")
	regURL := fs.String("registry", "http://127.0.0.1:8081", "Schema Registry URL")
	unbounded := fs.Bool("unbounded", false, "keep reading (streaming) instead of stopping at the end offsets taken at launch")
	group := fs.String("group", "", "consumer group to commit source offsets to, once what they caused is written (progress and lag; a restart always replays from the earliest offset)")
	republish := fs.Bool("republish", false, "publish every match again, ignoring what approved_patients holds (readers of the same topic then see a second NEW)")
	perTenant := fs.Bool("per-tenant-topics", false, "also write approved_patients.<tenant> (the topics must exist)")
	shards := fs.Int("shards", 16, "patient shards of the stateful match stage")
	tick := fs.Duration("tick", time.Minute, "event-time granularity of the match stage")
	historyDir := fs.String("history", "", "write Parquet history here (by tenant and date)")
	digestDir := fs.String("digests", "", "write per-tenant digests here")
	digestWindow := fs.Duration("digest-window", time.Hour, "tumbling event-time window of the digests")
	maxRecordBytes := fs.Int("max-record-bytes", 1<<20, "largest input record taken (key, value and headers); larger ones are dead letters (record_too_large); negative: no limit")
	var execution trialmatch.Execution
	fs.Var(&execution, "execution", "how stateful stages run: auto (co-partitioned when bounded, else streaming), co-partitioned (bounded only: one stage per patient_facts partition, falling back to batch when the topic is not partitioned by patient), batch (bounded only: facts shuffled by patient shard) or streaming (state and timers)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run (in-process runner and workers) to this file")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on this address (e.g. 127.0.0.1:9464); live with in-process workers")
	sec := addClientSecurityFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := sec.conn(splitList(*bootstrap))
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		url, err := metrics.Serve(ctx, *metricsAddr)
		if err != nil {
			return err
		}
		fmt.Printf("Prometheus metrics: %s\n", url)
	}
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	outs := trialmatch.FromKafka(s, trialmatch.KafkaConfig{
		Brokers: splitList(*bootstrap), RegistryURL: *regURL, PerTenantTopics: *perTenant,
		Conn: conn, RegistryAuth: sec.reg,
		Unbounded: *unbounded, Group: *group, MaxRecordBytes: *maxRecordBytes, Republish: *republish,
		Pipeline: trialmatch.Config{Shards: *shards, Tick: *tick, Execution: execution},
	})
	trialmatch.Sinks(s, outs, trialmatch.SinkConfig{HistoryDir: *historyDir, DigestDir: *digestDir, DigestWindow: *digestWindow})
	if pipelineBuilt != nil {
		pipelineBuilt(p)
	}
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	res, err := runners.Run(ctx, p, runners.WithLog(os.Stdout))
	stop()
	if err != nil {
		return err
	}
	return metrics.Summarize(res).WriteTable(os.Stdout)
}

// pipelineBuilt, when set (by tests), is given each pipeline a command
// builds, before it runs: tests search it for secrets as a runner would
// receive it.
var pipelineBuilt func(*beam.Pipeline)

// startCPUProfile writes a CPU profile to path until the returned stop is
// called; an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
