package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// Size of BenchmarkKafkaRead's topic; KAFKA_BENCH_MB overrides it.
const (
	kafkaBenchDefaultMB   = 64
	kafkaBenchPartitions  = 4
	kafkaBenchTopic       = "bench_patient_facts"
	kafkaBenchEmptyTopic  = "bench_empty"
	kafkaBenchCounterName = "value_bytes"
)

type kafkaFixture struct {
	stack   *local.Stack
	records int
	bytes   int64
	msgs    [][]byte // the framed values, for the in-memory decode baseline
}

var (
	kafkaOnce sync.Once
	kafkaFix  *kafkaFixture
	kafkaErr  error
)

func kafkaBytesWanted() int64 {
	if s := os.Getenv("KAFKA_BENCH_MB"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return int64(n) << 20
		}
	}
	return kafkaBenchDefaultMB << 20
}

// kafkaSetup starts the local stack once per process and fills a topic with
// Confluent-framed patient facts from the synthetic generator.
func kafkaSetup(b *testing.B) *kafkaFixture {
	b.Helper()
	kafkaOnce.Do(func() {
		// Prism runs the SDK harness in this process (loopback).
		beam.Init()
		kafkaFix, kafkaErr = kafkaFill()
	})
	if kafkaErr != nil {
		b.Fatal(kafkaErr)
	}
	return kafkaFix
}

func kafkaFill() (*kafkaFixture, error) {
	ctx := context.Background()
	st, err := local.Start(ctx, local.Options{Topics: []string{kafkaBenchTopic, kafkaBenchEmptyTopic}, Partitions: kafkaBenchPartitions,
		RegisterContracts: true})
	if err != nil {
		return nil, err
	}
	id := uint32(st.SchemaIDs()[schemas.PatientFacts.ValueSubject()])
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		return nil, err
	}
	facts := synth.Generate(synth.DefaultConfig()).Facts
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.Bootstrap()...), kgo.DefaultProduceTopic(kafkaBenchTopic),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	f := &kafkaFixture{stack: st}
	want := kafkaBytesWanted()
	var batch []*kgo.Record
	flush := func() error {
		err := cl.ProduceSync(ctx, batch...).FirstErr()
		batch = batch[:0]
		return err
	}
	for i := 0; f.bytes < want; i++ {
		fact := *facts[i%len(facts)]
		fact.FactID = fmt.Sprintf("%s-%d", fact.FactID, i/len(facts))
		body, err := fact.AppendAvro(codec, wire.AppendHeader(nil, id))
		if err != nil {
			return nil, err
		}
		f.msgs = append(f.msgs, body)
		f.records++
		f.bytes += int64(len(body))
		batch = append(batch, &kgo.Record{Key: []byte(fact.PatientID), Value: body})
		if len(batch) == 10_000 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func init() {
	register.Function2x0(kafkaBenchCountRecord)
	register.Function2x0(kafkaBenchCountDecoded)
	register.Function2x0(kafkaBenchCountBatch)
}

func kafkaBenchCountBatch(ctx context.Context, b kafkaio.Batch) {
	var n int64
	for _, r := range b.Records {
		n += int64(len(r.Value))
	}
	beam.NewCounter("bench", kafkaBenchCounterName).Inc(ctx, n)
}

func kafkaBenchCountRecord(ctx context.Context, r kafkaio.Record) {
	beam.NewCounter("bench", kafkaBenchCounterName).Inc(ctx, int64(len(r.Value)))
}

func kafkaBenchCountDecoded(ctx context.Context, d avroio.Decoded) {
	beam.NewCounter("bench", kafkaBenchCounterName).Inc(ctx, int64(len(d.Value)+wire.HeaderSize))
}

// BenchmarkKafkaRead measures MB/s of Confluent-framed Avro patient facts
// read from the local stack (kfake on loopback): a raw franz-go consumer
// (the baseline), kafkaio.Read on Prism in bounded mode, the same with
// avroio.Decode fused behind it, and the avroio Decoder alone in memory.
// Every Prism run is a whole pipeline, start-up included.
func BenchmarkKafkaRead(b *testing.B) {
	f := kafkaSetup(b)
	b.Logf("topic %s: %d records, %.1f MB in %d partitions", kafkaBenchTopic, f.records, float64(f.bytes)/1e6,
		kafkaBenchPartitions)

	b.Run("franz-go-consumer", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		for b.Loop() {
			if n := kafkaRawConsume(b, f); n != f.bytes {
				b.Fatalf("consumed %d bytes, want %d", n, f.bytes)
			}
		}
	})
	b.Run("franz-go-one-partition-at-a-time", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		for b.Loop() {
			var n int64
			for p := range int32(kafkaBenchPartitions) {
				n += kafkaRawConsumePartition(b, f, p)
			}
			if n != f.bytes {
				b.Fatalf("consumed %d bytes, want %d", n, f.bytes)
			}
		}
	})
	b.Run("kafkaio.Read-prism", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		for b.Loop() {
			p, s := beam.NewPipelineWithRoot()
			recs := kafkaio.Read(s, f.stack.Bootstrap(), []string{kafkaBenchTopic})
			beam.ParDo0(s, kafkaBenchCountRecord, recs)
			kafkaRunCounting(b, p, f.bytes)
		}
	})
	b.Run("kafkaio.ReadBatches-prism", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		for b.Loop() {
			p, s := beam.NewPipelineWithRoot()
			batches := kafkaio.ReadBatches(s, f.stack.Bootstrap(), []string{kafkaBenchTopic})
			beam.ParDo0(s, kafkaBenchCountBatch, batches)
			kafkaRunCounting(b, p, f.bytes)
		}
	})
	// The fixed cost of a Prism pipeline run (job submission, worker
	// start, the partition-listing stage) with nothing to read, to tell
	// start-up from throughput.
	b.Run("kafkaio.Read-prism-empty-topic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, s := beam.NewPipelineWithRoot()
			recs := kafkaio.Read(s, f.stack.Bootstrap(), []string{kafkaBenchEmptyTopic})
			beam.ParDo0(s, kafkaBenchCountRecord, recs)
			kafkaRunCounting(b, p, 0)
		}
	})
	b.Run("kafkaio.Read+avroio.Decode-prism", func(b *testing.B) {
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		for b.Loop() {
			p, s := beam.NewPipelineWithRoot()
			recs := kafkaio.Read(s, f.stack.Bootstrap(), []string{kafkaBenchTopic})
			dec, _ := avroio.Decode(s, avroio.DecodeConfig{RegistryURL: f.stack.RegistryURL(),
				ReaderSchema: schemas.PatientFacts.Schema()}, recs)
			beam.ParDo0(s, kafkaBenchCountDecoded, dec)
			kafkaRunCounting(b, p, f.bytes)
		}
	})
	b.Run("avroio.Decoder-in-memory", func(b *testing.B) {
		reg, err := registry.NewClient(f.stack.RegistryURL())
		if err != nil {
			b.Fatal(err)
		}
		dec, err := avroio.NewDecoder(reg, schemas.PatientFacts.Schema())
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(f.bytes)
		b.ReportAllocs()
		for b.Loop() {
			for _, m := range f.msgs {
				if _, _, err := dec.Decode(nil, m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// kafkaRawConsume reads every partition of the topic from the start to the
// end with one franz-go client and returns the value bytes seen.
func kafkaRawConsume(b *testing.B, f *kafkaFixture) int64 {
	parts := map[int32]kgo.Offset{}
	for p := range int32(kafkaBenchPartitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.stack.Bootstrap()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafkaBenchTopic: parts}))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var n int64
	seen := 0
	for seen < f.records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("raw consumer: %d of %d records: %v", seen, f.records, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n += int64(len(r.Value))
			seen++
		})
	}
	return n
}

// kafkaRawConsumePartition reads one partition from the start to its end
// offset with its own client, as one kafkaio.Read restriction does.
func kafkaRawConsumePartition(b *testing.B, f *kafkaFixture, p int32) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.stack.Bootstrap()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{kafkaBenchTopic: {p: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxPartitionBytes(4<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, kafkaBenchTopic)
	if err != nil {
		b.Fatal(err)
	}
	end, _ := ends.Lookup(kafkaBenchTopic, p)
	var n int64
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("raw consumer: partition %d at %d of %d: %v", p, next, end.Offset, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n += int64(len(r.Value))
			next = r.Offset + 1
		})
	}
	return n
}

// kafkaRunCounting runs p on Prism and checks the bytes counter.
func kafkaRunCounting(b *testing.B, p *beam.Pipeline, want int64) {
	res, err := beam.Run(context.Background(), "prism", p)
	if err != nil {
		b.Fatal(err)
	}
	var got int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == "bench" && c.Key.Name == kafkaBenchCounterName {
			got += max(c.Committed, c.Attempted)
		}
	}
	if got != want {
		b.Fatalf("pipeline counted %d bytes, want %d", got, want)
	}
}
