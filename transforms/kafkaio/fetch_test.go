package kafkaio_test

import (
	"context"
	"testing"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// ListRanges lists every partition from its earliest to its end offset,
// and ReadRange reads exactly a range's records, in offset order.
func TestListRangesAndReadRange(t *testing.T) {
	brokers := newCluster(t, 3, "in")
	want := produce(t, brokers, "in", 0, 40)
	ctx := context.Background()
	conn := kafkaio.Conn{Brokers: brokers}
	ranges, err := kafkaio.ListRanges(ctx, conn, "in")
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges) != 3 {
		t.Fatalf("%d ranges, want 3: %v", len(ranges), ranges)
	}
	n := 0
	for i, r := range ranges {
		if r.Partition != int32(i) || r.Topic != "in" {
			t.Fatalf("range %d is %+v", i, r)
		}
		next := r.Start
		if err := kafkaio.ReadRange(ctx, conn, r, 0, func(rec kafkaio.Record) error {
			if rec.Partition != r.Partition || rec.Offset != next {
				t.Errorf("read %s/%d@%d, want %s/%d@%d", rec.Topic, rec.Partition, rec.Offset, r.Topic, r.Partition, next)
			}
			next++
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if next != r.End {
			t.Errorf("partition %d: read to %d, want %d", r.Partition, next, r.End)
		}
	}
	if n != len(want) {
		t.Fatalf("read %d records, produced %d", n, len(want))
	}
	if _, err := kafkaio.ListRanges(ctx, conn, "missing"); err == nil {
		t.Error("ListRanges of a missing topic: no error")
	}
}
