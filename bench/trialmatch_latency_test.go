package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/spv"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// trialmatchEnvInt reads a positive integer from the environment.
func trialmatchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// trialmatchQuantile returns the q-quantile of sorted xs (nearest rank).
func trialmatchQuantile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// trialmatchJob is a streaming job running on an in-process Prism job
// server of its own.
type trialmatchJob struct {
	endpoint string
	done     chan error
	shutdown func() // stops the job server, restores the runner flags
}

// trialmatchStartStreaming submits p to a new in-process Prism job server
// (loopback workers in this process), as runners.Run does, but keeps the
// endpoint so that stop can cancel the job through the Job API.
func trialmatchStartStreaming(ctx context.Context, p *beam.Pipeline) (*trialmatchJob, error) {
	runners.DisablePrismSDFSplit()
	serverCtx, shutdown := context.WithCancel(ctx)
	endpoint, _, err := runners.StartPrism(serverCtx, false)
	if err != nil {
		shutdown()
		return nil, err
	}
	// The flags point at this job server until stop: the submission reads
	// them while it runs.
	savedEndpoint, savedEnv := *jobopts.Endpoint, *jobopts.EnvironmentType
	*jobopts.Endpoint, *jobopts.EnvironmentType = endpoint, "loopback"
	j := &trialmatchJob{endpoint: endpoint, done: make(chan error, 1), shutdown: func() {
		shutdown()
		*jobopts.Endpoint, *jobopts.EnvironmentType = savedEndpoint, savedEnv
	}}
	go func() {
		_, err := beam.Run(serverCtx, "universal", p)
		j.done <- err
	}()
	return j, nil
}

// stop cancels every running job of the job server through the Job API,
// waits up to timeout for the submission to return (the job CANCELLED),
// then shuts the job server down.
func (j *trialmatchJob) stop(timeout time.Duration) error {
	defer j.shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := grpc.NewClient(j.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("bench: dial job server: %w", err)
	}
	defer conn.Close()
	js := jobpb.NewJobServiceClient(conn)
	jobs, err := js.GetJobs(ctx, &jobpb.GetJobsRequest{})
	if err != nil {
		return fmt.Errorf("bench: list jobs: %w", err)
	}
	for _, info := range jobs.GetJobInfo() {
		if _, err := js.Cancel(ctx, &jobpb.CancelJobRequest{JobId: info.GetJobId()}); err != nil {
			return fmt.Errorf("bench: cancel job %s: %w", info.GetJobId(), err)
		}
	}
	select {
	case err := <-j.done:
		if err != nil {
			return fmt.Errorf("bench: streaming job after cancel: %w", err)
		}
		state, err := js.GetState(ctx, &jobpb.GetJobStateRequest{JobId: jobs.GetJobInfo()[0].GetJobId()})
		if err != nil {
			return fmt.Errorf("bench: job state: %w", err)
		}
		if state.GetState() != jobpb.JobState_CANCELLED {
			return fmt.Errorf("bench: streaming job ended %v, want CANCELLED", state.GetState())
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bench: the streaming job did not stop within %v of its cancellation", timeout)
	}
}

// BenchmarkTrialmatchLatency measures event → match latency of the
// streaming trialmatch pipeline (trialmatch.FromKafka with Unbounded, on
// in-process Prism).
//
// Trials and regulatory events (timed in the day before now) are produced
// first; the job is started and given a warm-up; then patient facts are
// produced at a steady rate (TRIALMATCH_LATENCY_RATE facts/s, default 500,
// for TRIALMATCH_LATENCY_SECONDS, default 20), each with its event time and
// record timestamp set to the wall clock at the moment it is produced. A
// consumer reads approved_patients as it is written. A record is
// attributed to the fact that triggered it when its event_time equals the
// event time of one of its patient's facts (the match stage stamps a verdict
// caused by a patient's new facts with the latest of them); its latency is
// the time the record was read from Kafka minus that fact's produce time.
// Records caused by an open-trial change are not counted.
//
// The pipeline's Config.Tick (event-time granularity; default one minute)
// bounds latency from below: a fact waits for the watermark to pass the end
// of its tick. This benchmark uses Tick = TRIALMATCH_LATENCY_TICK_MS
// (default 1000 ms). The trials and regulatory partitions are idle while
// facts stream, so their watermark is the wall clock minus the source's
// idle timeout (TRIALMATCH_LATENCY_IDLE_MS, default 1000 ms): it holds the
// pipeline's watermark, and so latency, back by that much. Run it with -benchtime 1x: one measurement per run,
// whatever b.N.
func BenchmarkTrialmatchLatency(b *testing.B) {
	rate := trialmatchEnvInt("TRIALMATCH_LATENCY_RATE", 500)
	seconds := trialmatchEnvInt("TRIALMATCH_LATENCY_SECONDS", 20)
	tick := time.Duration(trialmatchEnvInt("TRIALMATCH_LATENCY_TICK_MS", 1000)) * time.Millisecond
	idle := time.Duration(trialmatchEnvInt("TRIALMATCH_LATENCY_IDLE_MS", 1000)) * time.Millisecond
	warmup := time.Duration(trialmatchEnvInt("TRIALMATCH_LATENCY_WARMUP_SECONDS", 8)) * time.Second
	defer trialmatchKeepExperiments()()
	if !beam.Initialized() {
		beam.Init()
	}
	ctx := context.Background()
	stack, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		b.Fatal(err)
	}
	defer stack.Close()
	brokers, ids := stack.Bootstrap(), stack.SchemaIDs()

	// The data set: trials and regulatory events over the day before now;
	// its facts are re-timed to the wall clock as they are produced.
	n := rate * seconds
	c := synth.DefaultConfig()
	c.Span = 24 * time.Hour
	c.Start = time.Now().UTC().Add(-c.Span).Truncate(time.Second)
	c.Patients = n/5 + 1
	d := synth.Generate(c)
	if len(d.Facts) < n {
		n = len(d.Facts)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := synth.Produce(ctx, cl, &synth.Dataset{Tenants: d.Tenants, Sites: d.Sites, Trials: d.Trials, Regulatory: d.Regulatory},
		synth.IDs{Trials: uint32(ids[schemas.Trials.ValueSubject()]), Regulatory: uint32(ids[schemas.Regulatory.ValueSubject()])}, 0, nil); err != nil {
		b.Fatal(err)
	}

	// The streaming job.
	p, s := beam.NewPipelineWithRoot()
	trialmatch.FromKafka(s, trialmatch.KafkaConfig{
		Brokers: brokers, RegistryURL: stack.RegistryURL(), Unbounded: true,
		ReadOptions: []kafkaio.ReadOption{kafkaio.PollWait(50 * time.Millisecond), kafkaio.IdleTimeout(idle),
			kafkaio.CheckpointEvery(250 * time.Millisecond)},
		Pipeline: trialmatch.Config{Tick: tick},
	})
	job, err := trialmatchStartStreaming(ctx, p)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := job.stop(30 * time.Second); err != nil {
			b.Error(err)
		}
	}()

	// The consumer of approved_patients, from the start of the topic.
	codec, err := schemas.ApprovedPatients.Codec()
	if err != nil {
		b.Fatal(err)
	}
	type seen struct {
		at  time.Time
		rec *schemas.ApprovedPatient
	}
	var (
		mu       sync.Mutex
		received []seen
		lastRead time.Time
		bad      int
	)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(schemas.ApprovedPatients.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(20*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	consumeCtx, stopConsume := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for consumeCtx.Err() == nil {
			fs := consumer.PollFetches(consumeCtx)
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				mu.Lock()
				defer mu.Unlock()
				_, body, err := wire.Parse(r.Value)
				if err != nil {
					bad++
					return
				}
				v, _, err := codec.NativeFromBinary(body)
				if err != nil {
					bad++
					return
				}
				a, err := schemas.ApprovedPatientFromNative(v)
				if err != nil {
					bad++
					return
				}
				received = append(received, seen{at: now, rec: a})
				lastRead = now
			})
		}
	}()
	defer func() {
		stopConsume()
		<-consumed
		consumer.Close()
	}()

	select {
	case err := <-job.done:
		b.Fatalf("the streaming job ended before any fact: %v", err)
	case <-time.After(warmup):
	}

	// Facts at a steady rate, timed at the wall clock.
	factCodec, err := schemas.PatientFacts.Codec()
	if err != nil {
		b.Fatal(err)
	}
	factID := uint32(ids[schemas.PatientFacts.ValueSubject()])
	producedAt := map[string]map[int64]bool{} // patient key -> event times (ms)
	var (
		produceErr error
		perr       sync.Mutex
		bytes      int64
	)
	b.ResetTimer()
	start := time.Now()
	const step = 10 * time.Millisecond
	ticker := time.NewTicker(step)
	sent := 0
	for sent < n {
		<-ticker.C
		due := min(n, int(float64(rate)*time.Since(start).Seconds())+1)
		for ; sent < due; sent++ {
			f := *d.Facts[sent]
			now := time.Now().UTC().Truncate(time.Millisecond)
			f.EventTime, f.IngestTime = now, now
			body, err := f.AppendAvro(factCodec, wire.AppendHeader(nil, factID))
			if err != nil {
				b.Fatal(err)
			}
			bytes += int64(len(body))
			k := spv.Key(f.Tenant, f.PatientID)
			if producedAt[k] == nil {
				producedAt[k] = map[int64]bool{}
			}
			producedAt[k][now.UnixMilli()] = true
			cl.Produce(ctx, &kgo.Record{Topic: schemas.PatientFacts.Topic, Key: []byte(f.PatientID), Value: body, Timestamp: now},
				func(_ *kgo.Record, err error) {
					if err != nil {
						perr.Lock()
						produceErr = err
						perr.Unlock()
					}
				})
		}
	}
	ticker.Stop()
	produced := time.Since(start)
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	perr.Lock()
	if produceErr != nil {
		b.Fatal(produceErr)
	}
	perr.Unlock()

	// Drain: until nothing new has been read for 5 s (at most 60 s).
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		quiet := !lastRead.IsZero() && time.Since(lastRead) > 5*time.Second && lastRead.After(start)
		mu.Unlock()
		if quiet {
			break
		}
	}
	b.StopTimer()

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for _, r := range received {
		ms := r.rec.EventTime.UnixMilli()
		if !producedAt[spv.Key(r.rec.Tenant, r.rec.PatientID)][ms] {
			continue
		}
		lat = append(lat, r.at.Sub(time.UnixMilli(ms)))
	}
	if len(lat) == 0 {
		b.Fatalf("no approved_patients record attributed to a fact (%d records read, %d undecodable)", len(received), bad)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(trialmatchQuantile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(trialmatchQuantile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(n)/produced.Seconds(), "facts/s")
	b.ReportMetric(float64(len(lat)), "matches")
	b.Logf("tick %v, idle timeout %v: %d facts (%.1f MB framed) in %v; %d approved_patients records read, %d attributed to a fact; p50 %v, p99 %v, max %v",
		tick, idle, n, float64(bytes)/1e6, produced.Round(time.Millisecond), len(received), len(lat),
		trialmatchQuantile(lat, 0.5).Round(time.Millisecond), trialmatchQuantile(lat, 0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
