package kafkaio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register.DoFn3x1[context.Context, Record, func(int64), error](&writeFn{})
	register.Emitter1[int64]()
}

// Write produces every Record of col (a PCollection<Record>) to the Kafka
// cluster at brokers, with the record's key, headers and timestamp (the
// produce time when zero). Batches are not compressed unless Compression
// (or the Conn's Compression) says so. The producer is idempotent; each
// bundle is flushed before it finishes and fails on any produce error.
//
// Which topic: with ToTopic every record goes to that topic, whatever its
// Topic says (records read from Kafka carry the topic they were read from,
// so a copy needs no clearing); without ToTopic each record goes to its own
// Topic, and a record without one fails the bundle. Which partition: by key
// (Kafka's default partitioner, murmur2), whatever Partition says; with
// KeepPartition, a record's own Partition when it is 0 or more.
//
// Like Kafka's Java producer, Write asks the broker to create a topic that
// does not exist; whether it does is the broker's setting
// (auto.create.topics.enable; the local stack's broker does).
//
// The PCollection returned holds no elements: its watermark passes a time
// only once every record before it is durably in Kafka, which is what
// Commit waits for.
func Write(s beam.Scope, brokers []string, col beam.PCollection, opts ...WriteOption) beam.PCollection {
	s = s.Scope("kafkaio.Write")
	cfg := writeConfig{conn: Conn{Brokers: brokers}}
	for _, o := range opts {
		o.applyWrite(&cfg)
	}
	if cfg.compression != "" {
		cfg.conn.Compression = cfg.compression
	}
	if err := cfg.conn.Validate(); err != nil {
		panic(fmt.Sprintf("kafkaio.Write: %v", err))
	}
	return beam.ParDo(s, &writeFn{Conn: cfg.conn, Topic: cfg.topic, TxnPrefix: cfg.transactional,
		KeepPartition: cfg.keepPartition, LingerMillis: cfg.linger.Milliseconds()}, col)
}

type writeFn struct {
	Conn          Conn
	Topic         string
	TxnPrefix     string
	KeepPartition bool
	LingerMillis  int64

	cl *kgo.Client

	mu       sync.Mutex
	firstErr error
	promise  func(*kgo.Record, error)
}

func (fn *writeFn) Setup() error {
	opts, err := fn.Conn.Opts()
	if err != nil {
		return err
	}
	opts = append(opts, kgo.ProducerLinger(time.Duration(fn.LingerMillis)*time.Millisecond),
		kgo.RecordPartitioner(partitioner(fn.KeepPartition)), kgo.AllowAutoTopicCreation())
	if fn.TxnPrefix != "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts = append(opts, kgo.TransactionalID(fn.TxnPrefix+"-"+hex.EncodeToString(b[:])))
	}
	fn.cl, err = kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkaio: producer: %w", err)
	}
	fn.promise = func(r *kgo.Record, err error) {
		if err == nil {
			return
		}
		fn.mu.Lock()
		if fn.firstErr == nil {
			fn.firstErr = fmt.Errorf("kafkaio: produce to %s: %w", r.Topic, err)
		}
		fn.mu.Unlock()
	}
	return nil
}

func (fn *writeFn) StartBundle(_ context.Context, _ func(int64)) error {
	fn.mu.Lock()
	fn.firstErr = nil
	fn.mu.Unlock()
	if fn.TxnPrefix != "" {
		if err := fn.cl.BeginTransaction(); err != nil {
			return fmt.Errorf("kafkaio: begin transaction: %w", err)
		}
	}
	return nil
}

func (fn *writeFn) ProcessElement(ctx context.Context, r Record, _ func(int64)) error {
	kr := r.Kgo()
	if fn.Topic != "" {
		kr.Topic = fn.Topic
	}
	if kr.Topic == "" {
		return errors.New("kafkaio: record without a topic and no ToTopic given")
	}
	if !fn.KeepPartition {
		kr.Partition = -1
	}
	fn.cl.Produce(ctx, kr, fn.promise)
	return nil
}

func (fn *writeFn) FinishBundle(ctx context.Context, _ func(int64)) error {
	flushErr := fn.cl.Flush(ctx)
	fn.mu.Lock()
	err := fn.firstErr
	fn.mu.Unlock()
	if err == nil && flushErr != nil {
		err = fmt.Errorf("kafkaio: flush: %w", flushErr)
	}
	if fn.TxnPrefix != "" {
		end := kgo.TryCommit
		if err != nil {
			end = kgo.TryAbort
		}
		if txErr := fn.cl.EndTransaction(ctx, end); txErr != nil && err == nil {
			err = fmt.Errorf("kafkaio: commit transaction: %w", txErr)
		}
	}
	return err
}

func (fn *writeFn) Teardown() {
	if fn.cl != nil {
		fn.cl.Close()
	}
}

// partitioner hashes keys as Kafka's Java client does or, with keep, keeps
// each record's own partition when it is 0 or more and hashes the others.
func partitioner(keep bool) kgo.Partitioner {
	if keep {
		return keepPartitioner{kgo.StickyKeyPartitioner(nil)}
	}
	return kgo.StickyKeyPartitioner(nil)
}

type keepPartitioner struct{ byKey kgo.Partitioner }

func (p keepPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return keepTopicPartitioner{p.byKey.ForTopic(topic)}
}

// keepTopicPartitioner asks for every partition (RequiresConsistency) for a
// record it keeps, so the index it returns is the partition number.
type keepTopicPartitioner struct{ byKey kgo.TopicPartitioner }

var _ kgo.TopicPartitionerOnNewBatch = keepTopicPartitioner{}

func (p keepTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.byKey.RequiresConsistency(r)
}

func (p keepTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.byKey.Partition(r, n)
}

func (p keepTopicPartitioner) OnNewBatch() {
	if o, ok := p.byKey.(kgo.TopicPartitionerOnNewBatch); ok {
		o.OnNewBatch()
	}
}
