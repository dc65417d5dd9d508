package avroarrow

import (
	"bytes"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// validate checks a batch's shape and that it survives an Arrow IPC round
// trip unchanged, which exercises every buffer.
func validate(rec arrow.RecordBatch) error {
	for i, c := range rec.Columns() {
		if int64(c.Len()) != rec.NumRows() {
			return fmt.Errorf("column %d has %d rows, batch %d", i, c.Len(), rec.NumRows())
		}
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return fmt.Errorf("ipc write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("ipc close: %w", err)
	}
	r, err := ipc.NewReader(&buf, ipc.WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		return fmt.Errorf("ipc read: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		return fmt.Errorf("ipc read: no batch: %v", r.Err())
	}
	if !array.RecordEqual(rec, r.RecordBatch()) {
		return fmt.Errorf("ipc round trip changed the batch")
	}
	return nil
}
