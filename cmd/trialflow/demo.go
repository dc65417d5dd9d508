package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/history"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

func init() {
	register(command{
		name:    "demo",
		summary: "the embedded default: local Kafka and Schema Registry, synthetic streams, the trialmatch pipeline on in-process Prism",
		run:     demo,
	})
}

type demoOptions struct {
	Patients, Tenants, Trials, Shards int
	Tick                              time.Duration
	Corrupt                           int
	Seed                              uint64
	Reference                         string // folder of MatchMiner CTML trials ("" finds ../shared)
	Out                               string // where history and digests are written
	Execution                         trialmatch.Execution
	CPUProfile                        string // file for a CPU profile of the pipeline run
}

func demo(ctx context.Context, fs *flag.FlagSet, args []string) error {
	o := demoOptions{}
	fs.IntVar(&o.Patients, "patients", 20000, "synthetic patients")
	fs.IntVar(&o.Tenants, "tenants", 5, "oncology practices (tenants)")
	fs.IntVar(&o.Trials, "trials", 40, "generated trials (the MatchMiner reference trials are added)")
	fs.IntVar(&o.Shards, "shards", 16, "patient shards of the stateful match stage")
	fs.DurationVar(&o.Tick, "tick", 10*time.Minute, "event-time granularity of the match stage")
	fs.IntVar(&o.Corrupt, "corrupt", 9, "undecodable facts to inject, to show dead letters")
	fs.Uint64Var(&o.Seed, "seed", 42, "data set seed")
	fs.Var(&o.Execution, "execution", "how stateful stages run: auto (co-partitioned, the input being bounded), co-partitioned (one stage per patient_facts partition, falling back to batch when the topic is not partitioned by patient), batch (facts shuffled by patient shard) or streaming (state and timers)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the pipeline run (in-process Prism and workers) to this file")
	verbose := fs.Bool("verbose", false, "keep the runner's informational log lines")
	fs.StringVar(&o.Out, "out", "out/demo", "directory for the Parquet history and the per-tenant digests (replaced on each run)")
	fs.StringVar(&o.Reference, "reference", "", "folder of MatchMiner CTML trials to add (default: ../shared/reference/matchminer/ctims-integration-trials when present)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*verbose {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		// beam.Init installs its own default logger at Beam's log level.
		beamlog.LogLevel = "warn"

	}
	return runDemo(ctx, os.Stdout, o)
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	dir, err := os.MkdirTemp("", "trialflow-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	// 1. Data contracts are governed: an incompatible change is refused.
	if err := registryDemo(out, filepath.Join(dir, "registry-demo")); err != nil {
		return err
	}

	// 2. The local stack.
	stack, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		return err
	}
	defer stack.Close()
	brokers := stack.Bootstrap()
	step("local stack: Kafka (kfake, real protocol) on %s, Schema Registry on %s", strings.Join(brokers, ","), stack.RegistryURL())

	// 3. A synthetic data set, plus the MatchMiner reference trials.
	c := synth.DefaultConfig()
	c.Seed, c.Patients, c.Tenants, c.Trials = o.Seed, o.Patients, o.Tenants, o.Trials
	d := synth.Generate(c)
	ref, refDir, err := referenceTrials(o.Reference, d, c)
	if err != nil {
		return err
	}
	step("generated %d tenants, %d patients, %d facts, %d trials (%d MatchMiner reference trials from %s), %d regulatory events",
		len(d.Tenants), o.Patients, len(d.Facts), len(d.Trials), ref, refDir, len(d.Regulatory))

	// 4. Produce to Kafka.
	ids := stack.SchemaIDs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // readable by every client (kafkaio.Conn.Compression)
	if err != nil {
		return fmt.Errorf("demo: kafka client: %w", err)
	}
	start := time.Now()
	n, err := synth.Produce(ctx, cl, d, synth.IDs{
		Facts:      uint32(ids[schemas.PatientFacts.ValueSubject()]),
		Trials:     uint32(ids[schemas.Trials.ValueSubject()]),
		Regulatory: uint32(ids[schemas.Regulatory.ValueSubject()]),
	}, o.Corrupt, func(done, total int) {
		if f, ok := out.(*os.File); ok && isTerminal(f) {
			fmt.Fprintf(out, "\r    produced %d/%d records", done, total)
		}
	})
	cl.Close()
	if err != nil {
		return err
	}
	if f, ok := out.(*os.File); ok && isTerminal(f) {
		fmt.Fprintf(out, "\r%60s\r", "")
	}
	step("produced %d facts (%.1f MB framed Avro), %d trials, %d regulatory events, %d corrupt facts in %v",
		n.Facts, float64(n.FactBytes)/1e6, n.Trials, n.Regulatory, n.Corrupt, time.Since(start).Round(time.Millisecond))
	if err := trialmatch.CreateTenantTopics(ctx, brokers, schemas.ApprovedPatients.Topic, d.Tenants, 1); err != nil {
		return err
	}

	// 5. The pipeline, bounded, on the selected runner (in-process Prism by default).
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	if err := os.RemoveAll(o.Out); err != nil {
		return fmt.Errorf("demo: clear %s: %w", o.Out, err)
	}
	historyDir, digestDir := filepath.Join(o.Out, "history"), filepath.Join(o.Out, "digests")
	outs := trialmatch.FromKafka(s, trialmatch.KafkaConfig{
		Brokers: brokers, RegistryURL: stack.RegistryURL(), PerTenantTopics: true,
		Pipeline: trialmatch.Config{Shards: o.Shards, Tick: o.Tick, Execution: o.Execution},
	})
	trialmatch.Sinks(s, outs, trialmatch.SinkConfig{HistoryDir: historyDir, DigestDir: digestDir})
	exec := o.Execution
	if exec == trialmatch.Auto {
		exec = outs.Execution
	}
	step("running the trialmatch pipeline on %s (%s)", runners.Name(), trialmatch.Config{Shards: o.Shards, Tick: o.Tick, Execution: exec})
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	stop := progress(ctx, out, brokers)
	start = time.Now()
	res, err := runners.Run(ctx, p, runners.WithLog(out))
	stop()
	stopProfile()
	if err != nil {
		return fmt.Errorf("demo: pipeline: %w", err)
	}
	elapsed := time.Since(start)

	// 6. What came out.
	approved, err := trialmatch.ReadApproved(ctx, brokers, stack.RegistryURL(), schemas.ApprovedPatients.Topic)
	if err != nil {
		return err
	}
	dead, err := trialmatch.ReadDeadLetters(ctx, brokers, stack.RegistryURL(), schemas.DeadLetters.Topic)
	if err != nil {
		return err
	}
	step("pipeline finished in %v: %.1f MB/s of framed patient_facts Avro, %.0f facts/s",
		elapsed.Round(time.Millisecond), float64(n.FactBytes)/1e6/elapsed.Seconds(), float64(n.Facts)/elapsed.Seconds())
	writeMatchTable(out, approved)
	writeSiteTable(out, approved)
	codes := map[string]int{}
	for _, r := range dead {
		codes[r.Stage+": "+r.ReasonCode]++
	}
	fmt.Fprintf(out, "\ndead letters: %d\n", len(dead))
	for _, k := range sortedKeys(codes) {
		fmt.Fprintf(out, "  %-48s %d\n", k, codes[k])
	}
	fmt.Fprintln(out, "\npipeline metrics by stage:")
	// Event-to-match latency of a replay of synthetic history is the age of
	// the data, not the pipeline's: it is left out.
	if err := metrics.Summarize(res).WithoutLatency().WriteTable(out); err != nil {
		return err
	}
	fmt.Fprintln(out, "(no latency column: this demo replays synthetic history, so match time minus event time\n"+
		" would be the age of the data; streaming latency at a steady rate is in bench/RESULTS-trialmatch.md)")
	hist, err := history.Files(historyDir)
	if err != nil {
		return err
	}
	digests, _ := filepath.Glob(filepath.Join(digestDir, "*", "*.json"))
	fmt.Fprintf(out, "\noutputs:\n  %-40s %d Parquet files, by tenant and date\n  %-40s %d digest files, by tenant and hour\n",
		historyDir, len(hist), digestDir, len(digests))
	fmt.Fprintf(out, "Kafka topics on %s (gone when the demo exits):\n", strings.Join(brokers, ","))
	fmt.Fprintf(out, "  %-40s %d records (NEW and RETRACTED)\n", schemas.ApprovedPatients.Topic, len(approved))
	for _, t := range d.Tenants {
		fmt.Fprintf(out, "  %-40s that practice's records only\n", schemas.ApprovedPatients.Topic+"."+t)
	}
	fmt.Fprintf(out, "  %-40s %d records\n", schemas.DeadLetters.Topic, len(dead))
	return nil
}

// referenceTrials adds the MatchMiner integration trials (one per protocol
// number) to the data set, approved from the start. It returns how many it
// added and from where.
func referenceTrials(folder string, d *synth.Dataset, c synth.Config) (int, string, error) {
	if folder == "" {
		folder = findShared("reference/matchminer/ctims-integration-trials")
		if folder == "" {
			return 0, "nowhere (../shared not found)", nil
		}
	}
	files, err := filepath.Glob(filepath.Join(folder, "*.json"))
	if err != nil {
		return 0, folder, err
	}
	sort.Strings(files)
	seen := map[string]bool{}
	for _, tr := range d.Trials {
		seen[tr.ProtocolNo] = true
	}
	added := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return added, folder, fmt.Errorf("demo: %w", err)
		}
		protocol := protocolOf(b)
		if protocol == "" || seen[protocol] {
			continue
		}
		seen[protocol] = true
		d.Trials = append(d.Trials, &schemas.Trial{ProtocolNo: protocol, Version: 1, EventTime: c.Start, Status: "OPEN",
			StatusText: "Open to Accrual", CTMLFormat: "JSON", CTML: string(b), Title: schemas.Ptr("MatchMiner reference " + filepath.Base(f))})
		d.Regulatory = append(d.Regulatory, &schemas.RegulatoryEvent{EventID: "ref-" + protocol, ProtocolNo: protocol, Scope: "TRIAL",
			Action: "APPROVED", ValidFrom: c.Start, EventTime: c.Start, Reference: "REF-" + protocol})
		added++
	}
	return added, folder, nil
}

func protocolOf(ctml []byte) string {
	var doc struct {
		ProtocolNo string `json:"protocol_no"`
	}
	if json.Unmarshal(ctml, &doc) != nil {
		return ""
	}
	return doc.ProtocolNo
}

// findShared looks for ../shared/<rel> beside the repository (as CI and the
// workspace lay it out), walking up from the working directory.
func findShared(rel string) string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", rel)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// progress prints a progress line until stopped: elapsed time and what the
// pipeline has written so far.
func progress(ctx context.Context, out io.Writer, brokers []string) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			return
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		start := time.Now()
		// On a terminal the line is rewritten every second; in a log, a new
		// line every ten seconds.
		every, lead, tail := time.Second, "\r", "   "
		if f, ok := out.(*os.File); !ok || !isTerminal(f) {
			every, lead, tail = 10*time.Second, "", "\n"
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				if lead != "" {
					fmt.Fprintf(out, "\r%80s\r", "")
				}
				return
			case <-tick.C:
				var matches, dead int64
				if ends, err := adm.ListEndOffsets(ctx, schemas.ApprovedPatients.Topic, schemas.DeadLetters.Topic); err == nil {
					ends.Each(func(o kadm.ListedOffset) {
						if o.Topic == schemas.DeadLetters.Topic {
							dead += o.Offset
						} else {
							matches += o.Offset
						}
					})
				}
				fmt.Fprintf(out, "%s    %5.0fs  approved_patients records: %d  dead letters: %d%s",
					lead, time.Since(start).Seconds(), matches, dead, tail)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeMatchTable prints, per trial, the matches active at the end for each
// tenant, then NEW records and retractions over all tenants, and the
// retractions by reason.
func writeMatchTable(out io.Writer, approved []schemas.ApprovedPatient) {
	type row struct {
		newN, retracted int
		active          map[string]int
	}
	rows := map[string]*row{}
	tenants := map[string]bool{}
	reasons := map[string]int{}
	last := map[string]schemas.ApprovedPatient{}
	for _, a := range approved {
		tenants[a.Tenant] = true
		r := rows[a.ProtocolNo]
		if r == nil {
			r = &row{active: map[string]int{}}
			rows[a.ProtocolNo] = r
		}
		if a.Action == "NEW" {
			r.newN++
		} else {
			r.retracted++
			if a.RetractionReason != nil {
				reasons[*a.RetractionReason]++
			}
		}
		mk := a.Tenant + "/" + a.PatientID + "/" + a.ProtocolNo
		if prev, ok := last[mk]; !ok || !a.MatchTime.Before(prev.MatchTime) {
			last[mk] = a
		}
	}
	for _, a := range last {
		if a.Action == "NEW" {
			rows[a.ProtocolNo].active[a.Tenant]++
		}
	}
	names := sortedKeys(tenants)
	fmt.Fprintln(out, "\nactive matches per trial and tenant (each practice sees only its own column):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "trial\t")
	for _, t := range names {
		fmt.Fprintf(tw, "%s\t", t)
	}
	fmt.Fprintln(tw, "NEW\tRETRACTED\t")
	totals := map[string]int{}
	var allNew, allRetracted int
	for _, k := range sortedKeys(rows) {
		r := rows[k]
		fmt.Fprintf(tw, "%s\t", k)
		for _, t := range names {
			fmt.Fprintf(tw, "%d\t", r.active[t])
			totals[t] += r.active[t]
		}
		fmt.Fprintf(tw, "%d\t%d\t\n", r.newN, r.retracted)
		allNew += r.newN
		allRetracted += r.retracted
	}
	fmt.Fprint(tw, "all\t")
	for _, t := range names {
		fmt.Fprintf(tw, "%d\t", totals[t])
	}
	fmt.Fprintf(tw, "%d\t%d\t\n", allNew, allRetracted)
	tw.Flush()
	fmt.Fprintln(out, "\nretractions by reason:")
	for _, k := range sortedKeys(reasons) {
		fmt.Fprintf(out, "  %-20s %d\n", k, reasons[k])
	}
}

// writeSiteTable prints the matches active at the end per site: where each
// practice's patients are referred ("any site" for trials that name none).
func writeSiteTable(out io.Writer, approved []schemas.ApprovedPatient) {
	last := map[string]schemas.ApprovedPatient{}
	for _, a := range approved {
		mk := a.Tenant + "/" + a.PatientID + "/" + a.ProtocolNo
		if prev, ok := last[mk]; !ok || !a.MatchTime.Before(prev.MatchTime) {
			last[mk] = a
		}
	}
	type row struct {
		active int
		trials map[string]bool
	}
	sites := map[string]*row{}
	retracted := map[string]int{}
	for _, a := range approved {
		if a.Action != "NEW" && a.SiteID != nil {
			retracted[*a.SiteID]++
		}
	}
	for _, a := range last {
		if a.Action != "NEW" {
			continue
		}
		site := "any site"
		if a.SiteID != nil {
			site = *a.SiteID
		}
		r := sites[site]
		if r == nil {
			r = &row{trials: map[string]bool{}}
			sites[site] = r
		}
		r.active++
		r.trials[a.ProtocolNo] = true
	}
	fmt.Fprintln(out, "\nactive matches per site (a patient's care site is their practice):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "site\tactive\ttrials\tretracted at site\t")
	for _, k := range sortedKeys(sites) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", k, sites[k].active, len(sites[k].trials), retracted[k])
	}
	tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// registryDemo shows the data contracts governed by the embedded registry:
// registration, an accepted and a refused evolution, and durability across a
// restart.
func registryDemo(out io.Writer, dir string) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	url, srv, err := registry.StartServer("127.0.0.1:0", dir)
	if err != nil {
		return err
	}
	step("embedded Schema Registry on %s (data in %s)", url, dir)
	client, err := registry.NewClient(url)
	if err != nil {
		srv.Close()
		return err
	}
	ids := map[string]int{}
	for _, c := range schemas.All() {
		id, err := client.Register(c.ValueSubject(), c.Schema())
		if err != nil {
			srv.Close()
			return fmt.Errorf("demo: register %s: %w", c.ValueSubject(), err)
		}
		ids[c.ValueSubject()] = id
	}
	step("registered the %d data contracts", len(ids))

	facts := schemas.PatientFacts.Schema()
	// BACKWARD: a new optional field with a default is accepted.
	v2 := strings.Replace(facts, `{"name": "source",`,
		`{"name": "facility", "type": ["null", "string"], "default": null, "doc": "Facility that reported the fact."},
    {"name": "source",`, 1)
	id2, err := client.Register(schemas.PatientFacts.ValueSubject(), v2)
	if err != nil {
		srv.Close()
		return fmt.Errorf("demo: evolve patient_facts: %w", err)
	}
	step("patient_facts v2 (adds optional field facility with a default): accepted under BACKWARD, id %d", id2)

	// An incompatible change is refused with the reason.
	bad := strings.Replace(facts, `{"name": "tenant", "type": "string"`, `{"name": "tenant", "type": "int"`, 1)
	_, err = client.Register(schemas.PatientFacts.ValueSubject(), bad)
	if err == nil {
		srv.Close()
		return fmt.Errorf("demo: the registry accepted an incompatible schema")
	}
	step("patient_facts with tenant changed to int: refused (%d): %v", registry.ErrorCode(err), err)
	if err := srv.Close(); err != nil {
		return err
	}

	// Durability: restart on the same directory and read back by id.
	url, srv, err = registry.StartServer("127.0.0.1:0", dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	client, err = registry.NewClient(url)
	if err != nil {
		return err
	}
	for subject, id := range ids {
		if _, err := client.SchemaByID(id); err != nil {
			return fmt.Errorf("demo: after restart, schema %d of %s: %w", id, subject, err)
		}
	}
	step("restarted the registry on the same directory: all %d schemas readable by id", len(ids))
	return nil
}
