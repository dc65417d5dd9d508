package kafkaio_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// kafkajsCodecs decompresses as a plain kafkajs consumer does: none and
// gzip, and no other codec. It counts the codec of every batch it is given.
type kafkajsCodecs struct {
	mu   sync.Mutex
	seen map[kgo.CompressionCodecType]int
}

func (d *kafkajsCodecs) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	d.mu.Lock()
	d.seen[codec]++
	d.mu.Unlock()
	switch codec {
	case kgo.CodecNone:
		return src, nil
	case kgo.CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return nil, fmt.Errorf("compression codec %d is not implemented", codec)
}

func (d *kafkajsCodecs) compressed() map[kgo.CompressionCodecType]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[kgo.CompressionCodecType]int{}
	for c, n := range d.seen {
		if c != kgo.CodecNone {
			out[c] = n
		}
	}
	return out
}

// TestWriteCompression checks the codec bits of the record batches Write
// produces, by reading them back with a consumer that, like kafkajs, reads
// only uncompressed and gzip batches: by default nothing is compressed, and
// the Compression option picks the codec.
func TestWriteCompression(t *testing.T) {
	const n = 200
	value := bytes.Repeat([]byte("trialflow compresses well "), 40) // 1 KiB, compressible
	var recs []kafkaio.Record
	for i := range n {
		recs = append(recs, kafkaio.Record{Key: fmt.Appendf(nil, "k%03d", i), Value: value, Partition: -1,
			Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))})
	}
	for _, tc := range []struct {
		name string
		opts []kafkaio.WriteOption
		want kgo.CompressionCodecType // the codec of compressed batches; CodecNone: none may be
	}{
		{"default", nil, kgo.CodecNone},
		{"gzip", []kafkaio.WriteOption{kafkaio.Compression(kafkaio.CompressionGzip)}, kgo.CodecGzip},
		// Compression overrides a WithConn given after it.
		{"snappy", []kafkaio.WriteOption{kafkaio.Compression(kafkaio.CompressionSnappy)}, kgo.CodecSnappy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := newCluster(t, 1, "out")
			p, s := beam.NewPipelineWithRoot()
			opts := append(tc.opts, kafkaio.ToTopic("out"), kafkaio.WithConn(kafkaio.Conn{Brokers: brokers}))
			kafkaio.Write(s, brokers, beam.Create(s, anyRecords(recs)...), opts...)
			ptest.RunAndValidate(t, p)

			codecs := &kafkajsCodecs{seen: map[kgo.CompressionCodecType]int{}}
			got := consumeWith(t, brokers, "out", n, codecs)
			comp := codecs.compressed()
			switch {
			case tc.want == kgo.CodecNone && len(comp) > 0:
				t.Fatalf("default compressed batches: codecs %v", comp)
			case tc.want == kgo.CodecNone && got != n:
				t.Fatalf("a gzip-only consumer read %d of %d records", got, n)
			case tc.want != kgo.CodecNone && (comp[tc.want] == 0 || len(comp) != 1):
				t.Fatalf("want batches compressed with codec %d, saw %v", tc.want, comp)
			case tc.want == kgo.CodecGzip && got != n:
				t.Fatalf("a gzip-only consumer read %d of %d gzip records", got, n)
			}
		})
	}
}

// consumeWith reads topic with decompressor d until want records were read
// or d saw a codec it refuses.
func consumeWith(t *testing.T, brokers []string, topic string, want int, d *kafkajsCodecs) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithDecompressor(d))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := 0
	for got < want {
		for c := range d.compressed() {
			if c != kgo.CodecGzip {
				return got
			}
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return got
		}
		got += fs.NumRecords()
	}
	return got
}

func anyRecords(rs []kafkaio.Record) []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}
