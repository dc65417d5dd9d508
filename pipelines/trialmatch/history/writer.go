package history

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// DateLayout is the layout of the date partition value (UTC).
const DateLayout = "2006-01-02"

// Partition is one Hive-style partition of the history: the tenant and the
// UTC date of the records' event time.
type Partition struct {
	Tenant string
	Date   string // DateLayout
}

// PartitionOf returns the partition that holds a.
func PartitionOf(a *schemas.ApprovedPatient) Partition {
	return Partition{Tenant: a.Tenant, Date: a.EventTime.UTC().Format(DateLayout)}
}

// Path returns the partition directory under root:
// root/tenant=<tenant>/date=<date>, with values escaped as Hive does.
func (p Partition) Path(root string) string {
	return filepath.Join(root, "tenant="+escape(p.Tenant), "date="+escape(p.Date))
}

// File is one history file written by a Writer.
type File struct {
	Path   string
	Tenant string
	Date   string
	Rows   int
	Bytes  int64
}

// Option configures a Writer or Read.
type Option interface{ apply(*config) }

type config struct {
	mem     memory.Allocator
	codec   compress.Compression
	maxRows int
}

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithAllocator sets the Arrow allocator for builders, Parquet encoding and
// reading (default memory.DefaultAllocator).
func WithAllocator(mem memory.Allocator) Option {
	return optFunc(func(c *config) { c.mem = mem })
}

// WithCompression sets the Parquet compression codec (default Snappy).
func WithCompression(codec compress.Compression) Option {
	return optFunc(func(c *config) { c.codec = codec })
}

// WithMaxRowsPerFile bounds the rows buffered per partition: when a
// partition reaches n rows its file is written at once, which bounds a
// writer's memory on large bundles (default 100000; n < 1 means the
// default).
func WithMaxRowsPerFile(n int) Option {
	return optFunc(func(c *config) {
		if n > 0 {
			c.maxRows = n
		}
	})
}

func newConfig(opts []Option) config {
	c := config{mem: memory.DefaultAllocator, codec: compress.Codecs.Snappy, maxRows: 100000}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// Writer buffers approved-patient records per partition in Arrow builders
// and writes one Parquet file per partition on Flush. A Writer is not safe
// for concurrent use; Release it when done.
type Writer struct {
	dir     string
	cfg     config
	parts   map[Partition]*array.RecordBuilder
	written []File
}

// NewWriter returns a Writer of history files under the local directory dir.
func NewWriter(dir string, opts ...Option) *Writer {
	return &Writer{dir: dir, cfg: newConfig(opts), parts: map[Partition]*array.RecordBuilder{}}
}

// Validate reports why a cannot be written to the history, or nil. The
// error carries a deadletter reason code.
func Validate(a *schemas.ApprovedPatient) error {
	switch {
	case a.Tenant == "":
		return deadletter.Errorf(deadletter.InvalidRecord, "history: match %q has no tenant", a.MatchID)
	case a.EventTime.IsZero():
		return deadletter.Errorf(deadletter.InvalidRecord, "history: match %q of tenant %q has no event time", a.MatchID, a.Tenant)
	case a.Action != "NEW" && a.Action != "RETRACTED":
		return deadletter.Errorf(deadletter.InvalidRecord, "history: match %q of tenant %q has action %q, want NEW or RETRACTED", a.MatchID, a.Tenant, a.Action)
	}
	return nil
}

// Add buffers a in its partition. It returns Validate's error for records
// that cannot be written, and an error when a full partition could not be
// written out.
func (w *Writer) Add(a *schemas.ApprovedPatient) error {
	if err := Validate(a); err != nil {
		return err
	}
	p := PartitionOf(a)
	rb, ok := w.parts[p]
	if !ok {
		rb = array.NewRecordBuilder(w.cfg.mem, Schema)
		w.parts[p] = rb
	}
	appendRow(rb, a)
	if rb.Field(0).Len() >= w.cfg.maxRows {
		f, err := w.writePartition(p, rb)
		if err != nil {
			return err
		}
		w.written = append(w.written, f)
	}
	return nil
}

// Buffered returns the number of records buffered and not yet written.
func (w *Writer) Buffered() int {
	n := 0
	for _, rb := range w.parts {
		n += rb.Field(0).Len()
	}
	return n
}

// Flush writes a file for every partition with buffered records and
// returns the files written since the last Flush, in partition order. On
// error, the files already written are returned with it and the records of
// the failed partition stay buffered.
func (w *Writer) Flush() ([]File, error) {
	keys := make([]Partition, 0, len(w.parts))
	for p, rb := range w.parts {
		if rb.Field(0).Len() > 0 {
			keys = append(keys, p)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Tenant != keys[j].Tenant {
			return keys[i].Tenant < keys[j].Tenant
		}
		return keys[i].Date < keys[j].Date
	})
	var err error
	for _, p := range keys {
		f, ferr := w.writePartition(p, w.parts[p])
		if ferr != nil {
			err = ferr
			break
		}
		w.written = append(w.written, f)
	}
	out := w.written
	w.written = nil
	return out, err
}

// Release frees the builders. Buffered records that were not flushed are
// dropped.
func (w *Writer) Release() {
	for p, rb := range w.parts {
		rb.Release()
		delete(w.parts, p)
	}
}

// writePartition writes the rows of rb to a new file in p, leaving rb empty
// on success. The file is written under a hidden temporary name and
// renamed to part-<sha256 of its bytes>.parquet, so that a reader never
// sees a partial file and a retried bundle with the same rows replaces its
// earlier file with identical bytes instead of adding a copy.
func (w *Writer) writePartition(p Partition, rb *array.RecordBuilder) (File, error) {
	dir := p.Path(w.dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return File{}, fmt.Errorf("history: partition %s/%s: %w", p.Tenant, p.Date, err)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	f, err := os.CreateTemp(dir, ".part-*.tmp")
	if err != nil {
		return File{}, fmt.Errorf("history: partition %s/%s: %w", p.Tenant, p.Date, err)
	}
	tmp := f.Name()
	fail := func(err error) (File, error) {
		f.Close()
		os.Remove(tmp)
		// Put the rows back so that a later Flush can retry them.
		rows, _ := rowsOf(nil, rec)
		for i := range rows {
			appendRow(rb, &rows[i])
		}
		return File{}, fmt.Errorf("history: writing partition %s/%s: %w", p.Tenant, p.Date, err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	// Match and patient ids are unique or nearly so: dictionary encoding
	// them only costs a hash table insert per row.
	props := parquet.NewWriterProperties(parquet.WithCompression(w.cfg.codec), parquet.WithAllocator(w.cfg.mem),
		parquet.WithCreatedBy("trialflow history"),
		parquet.WithDictionaryFor("match_id", false), parquet.WithDictionaryFor("patient_id", false))
	aprops := pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(w.cfg.mem))
	fw, err := pqarrow.NewFileWriter(Schema, cw, props, aprops)
	if err != nil {
		return fail(err)
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return fail(err)
	}
	if err := fw.Close(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	final := filepath.Join(dir, "part-"+hex.EncodeToString(h.Sum(nil)[:16])+".parquet")
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return File{}, fmt.Errorf("history: partition %s/%s: %w", p.Tenant, p.Date, err)
	}
	return File{Path: final, Tenant: p.Tenant, Date: p.Date, Rows: int(rec.NumRows()), Bytes: cw.n}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// escape escapes a partition value as Hive does: every byte outside
// [A-Za-z0-9._-] becomes %XX, so values never contain a path separator.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// unescape reverses escape.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("history: partition value %q: truncated escape", s)
		}
		v, err := hex.DecodeString(s[i+1 : i+3])
		if err != nil {
			return "", fmt.Errorf("history: partition value %q: %w", s, err)
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), nil
}
