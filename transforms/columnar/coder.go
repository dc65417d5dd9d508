package columnar

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// recordBatchType is the element type of PCollections of Arrow batches.
var recordBatchType = reflect.TypeOf((*arrow.RecordBatch)(nil)).Elem()

func init() {
	beam.RegisterCoder(recordBatchType, EncodeBatch, DecodeBatch)
}

// castagnoli is the CRC32C table of the coder's integrity check.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeBatch encodes a record batch as one Arrow IPC stream (schema
// message, the batch, end of stream) behind a 4-byte CRC32C of the stream.
// It is the Beam coder of arrow.RecordBatch elements: batches cross stage
// and runner boundaries as Arrow buffers, without per-row encoding. The
// batch is not released.
//
// The checksum matters because arrow-go's IPC reader trusts the lengths in
// the stream's flatbuffer metadata: a corrupted schema message can make it
// allocate without bound, a fatal out-of-memory rather than an error.
// DecodeBatch hands arrow-go only streams that this encoder wrote intact.
func EncodeBatch(rec arrow.RecordBatch) ([]byte, error) {
	if rec == nil {
		return nil, fmt.Errorf("columnar: encode nil record batch")
	}
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0, 0})
	w := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := w.Write(rec); err != nil {
		return nil, fmt.Errorf("columnar: encode record batch: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("columnar: encode record batch: %w", err)
	}
	out := buf.Bytes()
	binary.LittleEndian.PutUint32(out, crc32.Checksum(out[4:], castagnoli))
	return out, nil
}

// DecodeBatch decodes a batch encoded by EncodeBatch into Go-allocated
// memory. The caller owns the batch and should Release it.
func DecodeBatch(b []byte) (arrow.RecordBatch, error) {
	return DecodeBatchWith(memory.DefaultAllocator, b)
}

// DecodeBatchWith is DecodeBatch with an allocator. Input that fails the
// checksum returns an error; a panic inside the Arrow IPC reader is turned
// into one.
func DecodeBatchWith(mem memory.Allocator, b []byte) (rec arrow.RecordBatch, err error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("columnar: decode record batch: %d bytes, too short", len(b))
	}
	if sum := crc32.Checksum(b[4:], castagnoli); sum != binary.LittleEndian.Uint32(b) {
		return nil, fmt.Errorf("columnar: decode record batch: checksum mismatch (corrupt element)")
	}
	b = b[4:]
	defer func() {
		if p := recover(); p != nil {
			if rec != nil {
				rec.Release()
			}
			rec, err = nil, fmt.Errorf("columnar: decode record batch: corrupt IPC stream: %v", p)
		}
	}()
	// Nothing in an uncompressed stream is larger than the stream itself:
	// bound the reader's metadata and body sizes and its allocations by it,
	// so a corrupt length cannot make it allocate more.
	limit := int64(len(b)) + 64
	budget := &budgetAllocator{mem: mem, left: int(2*limit + 1<<16)}
	r, err := ipc.NewReader(bytes.NewReader(b), ipc.WithAllocator(budget),
		ipc.WithMetadataSizeLimit(limit), ipc.WithBodySizeLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("columnar: decode record batch: %w", err)
	}
	defer r.Release()
	if !r.Next() {
		if err := r.Err(); err != nil {
			return nil, fmt.Errorf("columnar: decode record batch: %w", err)
		}
		return nil, fmt.Errorf("columnar: decode record batch: stream holds no batch")
	}
	rec = r.RecordBatch()
	rec.Retain()
	if r.Next() {
		rec.Release()
		return nil, fmt.Errorf("columnar: decode record batch: stream holds more than one batch")
	}
	return rec, nil
}

// budgetAllocator fails (by panicking, recovered in DecodeBatchWith) once
// more than its budget has been allocated.
type budgetAllocator struct {
	mem  memory.Allocator
	left int
}

var _ memory.Allocator = (*budgetAllocator)(nil)

var errBudget = fmt.Errorf("allocation budget exceeded")

func (a *budgetAllocator) Allocate(n int) []byte {
	if n > a.left {
		panic(errBudget)
	}
	a.left -= n
	return a.mem.Allocate(n)
}

func (a *budgetAllocator) Reallocate(n int, b []byte) []byte {
	if grow := n - len(b); grow > a.left {
		panic(errBudget)
	} else if grow > 0 {
		a.left -= grow
	}
	return a.mem.Reallocate(n, b)
}

func (a *budgetAllocator) Free(b []byte) { a.mem.Free(b) }
