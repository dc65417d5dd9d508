package history

import (
	"context"
	"fmt"
	"reflect"

	"github.com/apache/arrow-go/v18/parquet/compress"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// Stage is the stage name of the history sink in dead letters and metrics.
const Stage = "history"

func init() {
	beam.RegisterType(reflect.TypeOf((*schemas.ApprovedPatient)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*File)(nil)).Elem())
	register.DoFn4x1[context.Context, schemas.ApprovedPatient, func(deadletter.Record), func(beam.EventTime, File), error](&writeFn{})
	register.Emitter2[beam.EventTime, File]()
	register.Emitter1[deadletter.Record]()
}

// Write writes matches (PCollection<schemas.ApprovedPatient>) as Parquet
// history files under the local directory dir and returns the files written
// (PCollection<File>, in the global window). Records that cannot be written
// (no tenant, no event time, unknown action) are counted as dead letters
// and dropped; use WriteWithDeadLetters to keep them.
func Write(s beam.Scope, dir string, matches beam.PCollection, opts ...WriteOption) beam.PCollection {
	files, _ := WriteWithDeadLetters(s, dir, matches, opts...)
	return files
}

// WriteWithDeadLetters is Write that also returns the rejected records as
// PCollection<deadletter.Record> (stage "history", code invalid_record).
// Both outputs are in the global window, whatever the input's windowing.
//
// Every bundle buffers its rows per (tenant, date) in Arrow builders and
// writes one file per partition in FinishBundle (or earlier, when a
// partition reaches the row limit), so in streaming a file appears per
// partition per bundle. Inputs may be in any window: files ignore windows.
func WriteWithDeadLetters(s beam.Scope, dir string, matches beam.PCollection, opts ...WriteOption) (files, dead beam.PCollection) {
	s = s.Scope("history.Write")
	fn := &writeFn{Dir: dir}
	for _, o := range opts {
		o(fn)
	}
	// Files are emitted from FinishBundle, which has no window: rewindow
	// the input into the global window so that the output's windowing
	// strategy says what its elements carry.
	global := beam.WindowInto(s, window.NewGlobalWindows(), matches)
	dead, files = beam.ParDo2(s, fn, global)
	return files, dead
}

// WriteOption configures Write. (The Beam DoFn is serialized, so its
// options are plain values rather than the Option of NewWriter.)
type WriteOption func(*writeFn)

// MaxRowsPerFile bounds the rows a bundle buffers per partition; see
// WithMaxRowsPerFile.
func MaxRowsPerFile(n int) WriteOption { return func(fn *writeFn) { fn.MaxRows = n } }

// Compression sets the Parquet codec by name: "snappy" (default), "zstd",
// "gzip" or "none".
func Compression(name string) WriteOption { return func(fn *writeFn) { fn.Codec = name } }

type writeFn struct {
	Dir     string
	MaxRows int
	Codec   string

	w      *Writer
	opts   []Option
	maxTS  mtime.Time
	rowsIn beam.Counter
	files  beam.Counter
}

func (fn *writeFn) Setup() error {
	fn.opts = []Option{WithMaxRowsPerFile(fn.MaxRows)}
	switch fn.Codec {
	case "", "snappy":
	case "zstd":
		fn.opts = append(fn.opts, WithCompression(compress.Codecs.Zstd))
	case "gzip":
		fn.opts = append(fn.opts, WithCompression(compress.Codecs.Gzip))
	case "none":
		fn.opts = append(fn.opts, WithCompression(compress.Codecs.Uncompressed))
	default:
		return fmt.Errorf("history: unknown compression %q (want snappy, zstd, gzip or none)", fn.Codec)
	}
	fn.rowsIn = beam.NewCounter("trialflow.history", "rows_written")
	fn.files = beam.NewCounter("trialflow.history", "files_written")
	return nil
}

func (fn *writeFn) StartBundle(_ context.Context, _ func(deadletter.Record), _ func(beam.EventTime, File)) {
	fn.w = NewWriter(fn.Dir, fn.opts...)
	fn.maxTS = mtime.MinTimestamp
}

func (fn *writeFn) ProcessElement(ctx context.Context, a schemas.ApprovedPatient, dead func(deadletter.Record), _ func(beam.EventTime, File)) error {
	if err := fn.w.Add(&a); err != nil {
		if deadletter.CodeOf(err) == deadletter.Unclassified {
			return err // an I/O error: fail the bundle so the runner retries it
		}
		opts := []deadletter.Option{}
		if a.Tenant != "" {
			opts = append(opts, deadletter.WithTenant(a.Tenant))
		}
		deadletter.Emit(ctx, dead, deadletter.New(Stage, err, opts...))
		return nil
	}
	if ts := mtime.FromTime(a.EventTime); ts > fn.maxTS {
		fn.maxTS = ts
	}
	return nil
}

// FinishBundle writes the buffered partitions. Files are emitted in the
// global window with the largest event time of the bundle's rows.
func (fn *writeFn) FinishBundle(ctx context.Context, _ func(deadletter.Record), emit func(beam.EventTime, File)) error {
	defer fn.w.Release()
	files, err := fn.w.Flush()
	if err != nil {
		return err
	}
	for _, f := range files {
		fn.rowsIn.Inc(ctx, int64(f.Rows))
		fn.files.Inc(ctx, 1)
		emit(fn.maxTS, f)
	}
	return nil
}

func (fn *writeFn) Teardown() {
	if fn.w != nil {
		fn.w.Release()
	}
}
