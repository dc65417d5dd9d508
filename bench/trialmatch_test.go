package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/catalog"
	"github.com/trialflow/trialflow/pipelines/trialmatch/match"
	"github.com/trialflow/trialflow/pipelines/trialmatch/naive"
	"github.com/trialflow/trialflow/pipelines/trialmatch/opentrials"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

// trialmatchFixture is the local stack with a synthetic data set produced
// to its patient_facts, trials and regulatory topics, shared by the
// sub-benchmarks of one run.
type trialmatchFixture struct {
	stack    *local.Stack
	data     *synth.Dataset
	produced synth.Produced
	end      time.Time // end of the data set's span

	mu      sync.Mutex
	want    []string            // expected active set (computed once)
	results map[string][]string // active set per sub-benchmark
	runs    int                 // names each run's output topics
}

var (
	trialmatchOnce sync.Once
	trialmatchFix  *trialmatchFixture
	trialmatchErr  error
)

// trialmatchPatients is the data set's size: TRIALMATCH_BENCH_PATIENTS, or
// the demo's 20000.
func trialmatchPatients() int {
	if n, err := strconv.Atoi(os.Getenv("TRIALMATCH_BENCH_PATIENTS")); err == nil && n > 0 {
		return n
	}
	return 20000
}

// trialmatchTrials is the number of trials: TRIALMATCH_BENCH_TRIALS, or
// the generator's default (48).
func trialmatchTrials() int {
	if n, err := strconv.Atoi(os.Getenv("TRIALMATCH_BENCH_TRIALS")); err == nil && n > 0 {
		return n
	}
	return 0
}

func trialmatchSetup(b *testing.B) *trialmatchFixture {
	b.Helper()
	trialmatchOnce.Do(func() {
		if !beam.Initialized() {
			// Prism runs the SDK harness in this process (loopback).
			beam.Init()
		}
		trialmatchFix, trialmatchErr = trialmatchFill()
	})
	if trialmatchErr != nil {
		b.Fatal(trialmatchErr)
	}
	return trialmatchFix
}

func trialmatchFill() (*trialmatchFixture, error) {
	ctx := context.Background()
	st, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		return nil, err
	}
	c := synth.DefaultConfig()
	c.Patients = trialmatchPatients()
	if n := trialmatchTrials(); n > 0 {
		c.Trials = n
	}
	d := synth.Generate(c)
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.Bootstrap()...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("bench: kafka client: %w", err)
	}
	ids := st.SchemaIDs()
	n, err := synth.Produce(ctx, cl, d, synth.IDs{
		Facts:      uint32(ids[schemas.PatientFacts.ValueSubject()]),
		Trials:     uint32(ids[schemas.Trials.ValueSubject()]),
		Regulatory: uint32(ids[schemas.Regulatory.ValueSubject()]),
	}, 0, nil)
	cl.Close()
	if err != nil {
		st.Close()
		return nil, err
	}
	return &trialmatchFixture{stack: st, data: d, produced: n, end: c.Start.Add(c.Span), results: map[string][]string{}}, nil
}

// expected computes the independent expectation once: every patient's
// facts folded, the open-trial decisions at the end of the span, the
// row-wise matcher (as pipelines/trialmatch's end-to-end test does).
func (f *trialmatchFixture) expected(b *testing.B) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.want != nil {
		return f.want
	}
	states, keys, err := spv.FoldAll(f.data.Facts)
	if err != nil {
		b.Fatal(err)
	}
	decs, err := opentrials.AllAt(f.data.Trials, f.data.Regulatory, f.end)
	if err != nil {
		b.Fatal(err)
	}
	cat, err := catalog.Build(catalog.NewCache(), decs, f.end)
	if err != nil {
		b.Fatal(err)
	}
	profiles := make([]match.Profile, len(keys))
	for i, k := range keys {
		profiles[i] = states[k].Profile
	}
	set := map[string]bool{}
	for _, m := range catalog.RowwiseMatches(cat, profiles) {
		set[m.Tenant+"/"+m.PatientID+"/"+m.ProtocolNo] = true
	}
	f.want = make([]string, 0, len(set))
	for k := range set {
		f.want = append(f.want, k)
	}
	sort.Strings(f.want)
	return f.want
}

// trialmatchActive returns the tenant/patient/protocol keys whose latest
// record (by event time, then by topic order) is NEW, sorted.
func trialmatchActive(approved []schemas.ApprovedPatient) []string {
	latest := map[string]schemas.ApprovedPatient{}
	for _, a := range approved {
		k := a.Tenant + "/" + a.PatientID + "/" + a.ProtocolNo
		if prev, ok := latest[k]; ok && a.EventTime.Before(prev.EventTime) {
			continue
		}
		latest[k] = a
	}
	var out []string
	for k, a := range latest {
		if a.Action == "NEW" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// trialmatchCreateTopics creates an approved_patients topic and its
// dead-letter topic (topic+".dead"), 3 partitions each (the local broker
// does not create topics on first produce), and registers their value
// schemas.
func trialmatchCreateTopics(ctx context.Context, brokers []string, registryURL, topic string) error {
	reg, err := registry.NewClient(registryURL)
	if err != nil {
		return err
	}
	if _, err := reg.Register(topic+"-value", schemas.ApprovedPatients.Schema()); err != nil {
		return fmt.Errorf("bench: register %s: %w", topic, err)
	}
	if _, err := reg.Register(topic+".dead-value", schemas.DeadLetters.Schema()); err != nil {
		return fmt.Errorf("bench: register %s.dead: %w", topic, err)
	}
	topics := []string{topic, topic + ".dead"}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("bench: kafka client: %w", err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateTopics(ctx, 3, 1, nil, topics...)
	if err != nil {
		return fmt.Errorf("bench: create topics: %w", err)
	}
	for _, r := range res.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("bench: create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// trialmatchKeepExperiments saves Beam's --experiments flag and returns
// the function that restores it: runners.Run adds Prism's
// prism_disable_sdf_split to it, which other benchmarks of this process
// must not inherit.
func trialmatchKeepExperiments() func() {
	old := *jobopts.Experiments
	return func() { *jobopts.Experiments = old }
}

// trialmatchCPU returns the process's user+system CPU time.
func trialmatchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// trialmatchPeakHeap samples the live heap (the bytes of heap objects,
// runtime/metrics) every 10 ms until the returned func is called, keeping
// the largest value seen in *peak.
func trialmatchPeakHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// BenchmarkTrialmatchPipeline runs the bounded trialmatch pipeline over
// Kafka on in-process Prism (trialflow: trialmatch.FromKafka with the
// default Config) next to the same pipeline written the naive Beam way
// (naive: pipelines/trialmatch/naive) on the same topics, and the floor
// (trialmatch_floor_test.go): the read, decode and shuffle any such pipeline
// needs, with nothing after them, which bounds what trialflow can reach on
// this machine. Bytes are the
// framed patient_facts records; the local Kafka and registry run in the
// same process, so MB/cpu-s counts their CPU too. Each iteration writes to
// its own approved_patients topic, and both active sets are checked against
// the independent expectation. Both run with the garbage collector's
// target at 400 %, as cmd/trialflow sets it, unless GOGC is set (GOGC=100
// gives Go's default).
func BenchmarkTrialmatchPipeline(b *testing.B) {
	defer trialmatchKeepExperiments()()
	f := trialmatchSetup(b)
	b.Logf("%d patients: %d facts (%.1f MB framed), %d trials, %d regulatory events",
		trialmatchPatients(), f.produced.Facts, float64(f.produced.FactBytes)/1e6, f.produced.Trials, f.produced.Regulatory)
	for _, name := range trialmatchVariants {
		b.Run(name, func(b *testing.B) { trialmatchRun(b, f, name) })
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if tf, nv := f.results["trialflow"], f.results["naive"]; tf != nil && nv != nil && !slices.Equal(tf, nv) {
		b.Errorf("trialflow and naive disagree: %d and %d active matches", len(tf), len(nv))
	}
}

// trialmatchVariants are the pipelines BenchmarkTrialmatchPipeline runs:
// trialflow's default (co-partitioned), its shuffle execution, the naive
// pipeline, and two floors: read+decode, and read+decode+shuffle.
var trialmatchVariants = []string{"trialflow", "shuffle", "naive", "floor-decode", "floor-shuffle"}

// trialmatchGCPercent is the garbage collector's target both pipelines
// run with unless GOGC is set: the one cmd/trialflow sets, so that the
// figures are those of the product.
const trialmatchGCPercent = 400

func trialmatchRun(b *testing.B, f *trialmatchFixture, name string) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(trialmatchGCPercent))
	}
	ctx := context.Background()
	brokers, registryURL := f.stack.Bootstrap(), f.stack.RegistryURL()
	b.SetBytes(f.produced.FactBytes)
	b.ReportAllocs()
	var (
		elapsed, cpu time.Duration
		topic        string
		peak         uint64
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f.mu.Lock()
		f.runs++
		topic = fmt.Sprintf("bench.%s.approved_patients.%d", name, f.runs)
		f.mu.Unlock()
		if err := trialmatchCreateTopics(ctx, brokers, registryURL, topic); err != nil {
			b.Fatal(err)
		}
		p, s := beam.NewPipelineWithRoot()
		switch name {
		case "trialflow":
			trialmatch.FromKafka(s, trialmatch.KafkaConfig{
				Brokers: brokers, RegistryURL: registryURL,
				Topics: trialmatch.Topics{Approved: topic, DeadLetters: topic + ".dead"},
			})
		case "shuffle":
			trialmatch.FromKafka(s, trialmatch.KafkaConfig{
				Brokers: brokers, RegistryURL: registryURL,
				Topics:   trialmatch.Topics{Approved: topic, DeadLetters: topic + ".dead"},
				Pipeline: trialmatch.Config{Execution: trialmatch.Batch},
			})
		case "naive":
			naive.FromKafka(s, naive.KafkaConfig{Brokers: brokers, RegistryURL: registryURL, Topics: naive.Topics{Approved: topic}})
		case "floor-decode", "floor-shuffle":
			buildFloor(s, brokers, registryURL, name == "floor-shuffle")
		}
		b.StartTimer()
		start, cpu0 := time.Now(), trialmatchCPU()
		stopPeak := trialmatchPeakHeap(&peak)
		// The Prism job server lives as long as its context: one per run.
		runCtx, cancel := context.WithCancel(ctx)
		res, err := runners.Run(runCtx, p, runners.WithoutWebUI())
		elapsed += time.Since(start)
		cpu += trialmatchCPU() - cpu0
		stopPeak()
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasPrefix(name, "floor") {
			facts, dead := floorCounted(res)
			if facts+dead != int64(f.produced.Facts) || facts == 0 {
				b.Fatalf("floor: %d facts counted + %d rejected, want %d produced", facts, dead, f.produced.Facts)
			}
		}
	}
	b.StopTimer()
	facts := float64(f.produced.Facts) * float64(b.N)
	b.ReportMetric(facts/elapsed.Seconds(), "facts/s")
	b.ReportMetric(float64(f.produced.FactBytes)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
	if strings.HasPrefix(name, "floor") {
		return // no output: its counts were checked above
	}

	approved, err := trialmatch.ReadApproved(ctx, brokers, registryURL, topic)
	if err != nil {
		b.Fatal(err)
	}
	if len(approved) == 0 {
		b.Fatalf("%s wrote no approved_patients record", name)
	}
	got := trialmatchActive(approved)
	if want := f.expected(b); !slices.Equal(got, want) {
		b.Errorf("%s: %d active matches, want %d (independent expectation)", name, len(got), len(want))
	}
	f.mu.Lock()
	f.results[name] = got
	f.mu.Unlock()
	b.Logf("%s: %d records, %d active matches", name, len(approved), len(got))
}
