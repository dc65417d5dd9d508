package kafkaio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ListRanges lists every partition of topic as a PartitionRange from its
// earliest offset to its end offset now, in partition order. It is for
// stages that read a partition themselves (ReadRange) instead of through
// Read: a stage fused around one partition of a topic that is already
// partitioned by the key it needs.
func ListRanges(ctx context.Context, conn Conn, topic string) ([]PartitionRange, error) {
	opts, err := conn.Opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("kafkaio: end offsets of %s: %w", topic, err)
	}
	var (
		out  []PartitionRange
		lerr error
	)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) {
				lerr = fmt.Errorf("kafkaio: topic %s: %w", topic, o.Err)
			} else {
				lerr = fmt.Errorf("kafkaio: end offset of %s/%d: %w", topic, o.Partition, o.Err)
			}
			return
		}
		s, ok := starts.Lookup(topic, o.Partition)
		if !ok || s.Err != nil {
			lerr = fmt.Errorf("kafkaio: no start offset for %s/%d", topic, o.Partition)
			return
		}
		out = append(out, PartitionRange{Topic: topic, Partition: o.Partition, Start: s.Offset, End: o.Offset})
	})
	if lerr != nil {
		return nil, lerr
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kafkaio: topic %s has no partitions", topic)
	}
	slices.SortFunc(out, func(a, b PartitionRange) int { return cmp.Compare(a.Partition, b.Partition) })
	return out, nil
}

// ReadRange reads the records of r (from r.Start up to r.End, exclusive)
// in offset order and passes each to each; transaction markers are
// skipped. It returns each's first error, or an error when the range
// cannot be read to its end: a fetch error, or nothing received for
// stall while offsets are missing (the rest of the range was deleted by
// retention or compaction). A stall of 0 means one minute.
func ReadRange(ctx context.Context, conn Conn, r PartitionRange, stall time.Duration, each func(Record) error) error {
	if r.Start >= r.End {
		return nil
	}
	if stall <= 0 {
		stall = time.Minute
	}
	opts, err := conn.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: {r.Partition: kgo.NewOffset().At(r.Start)}}),
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes),
		kgo.FetchMaxBytes(fetchPartitionBytes),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("kafkaio: consumer for %s/%d: %w", r.Topic, r.Partition, err)
	}
	defer cl.Close()
	next, last := r.Start, time.Now()
	for next < r.End {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
				continue
			}
			return fmt.Errorf("kafkaio: fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var ferr error
		n := 0
		fs.EachRecord(func(kr *kgo.Record) {
			if ferr != nil || kr.Offset < next || kr.Offset >= r.End {
				return
			}
			next = kr.Offset + 1
			n++
			if !kr.Attrs.IsControl() {
				ferr = each(FromKgo(kr))
			}
		})
		if ferr != nil {
			return ferr
		}
		if n > 0 {
			last = time.Now()
		} else if time.Since(last) > stall {
			return fmt.Errorf("kafkaio: %s/%d: nothing received for %s at offset %d of [%d, %d)", r.Topic, r.Partition, stall, next, r.Start, r.End)
		}
	}
	return nil
}
