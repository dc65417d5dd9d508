package history

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/trialflow/trialflow/schemas"
)

// Read returns every record of the history under the local directory dir,
// in path order (tenant, date, file name) and file order. It reads only
// finished files (tenant=*/date=*/part-*.parquet) and checks that every row
// belongs to the partition its file is in: a row of another tenant or date
// is an error, never returned silently. A missing dir is an empty history.
func Read(dir string, opts ...Option) ([]schemas.ApprovedPatient, error) {
	paths, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var out []schemas.ApprovedPatient
	for _, path := range paths {
		p, err := partitionOfPath(dir, path)
		if err != nil {
			return nil, err
		}
		n := len(out)
		out, err = ReadFile(path, out, opts...)
		if err != nil {
			return nil, err
		}
		for i := n; i < len(out); i++ {
			if got := PartitionOf(&out[i]); got != p {
				return nil, fmt.Errorf("history: %s: row %d (match %q) belongs to tenant %q date %s, not to its partition",
					path, i-n, out[i].MatchID, got.Tenant, got.Date)
			}
		}
	}
	return out, nil
}

// Files returns the finished history files under dir, sorted. A missing dir
// has no files.
func Files(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		name := d.Name()
		if !d.IsDir() && strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".parquet") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: listing %s: %w", dir, err)
	}
	return paths, nil
}

// partitionOfPath parses root/tenant=T/date=D/part-*.parquet.
func partitionOfPath(root, path string) (Partition, error) {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return Partition{}, fmt.Errorf("history: %s: %w", path, err)
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "tenant=") || !strings.HasPrefix(parts[1], "date=") {
		return Partition{}, fmt.Errorf("history: %s is not under tenant=*/date=*", path)
	}
	t, err := unescape(strings.TrimPrefix(parts[0], "tenant="))
	if err != nil {
		return Partition{}, err
	}
	d, err := unescape(strings.TrimPrefix(parts[1], "date="))
	if err != nil {
		return Partition{}, err
	}
	return Partition{Tenant: t, Date: d}, nil
}

// ReadFile appends the records of one history file to dst. A corrupt file
// is an error naming it.
func ReadFile(path string, dst []schemas.ApprovedPatient, opts ...Option) (out []schemas.ApprovedPatient, err error) {
	cfg := newConfig(opts)
	// The Parquet decoder trusts lengths in the file; a corrupt file must
	// not take the process down.
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, fmt.Errorf("history: %s: corrupt file: %v", path, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return dst, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(cfg.mem)))
	if err != nil {
		return dst, fmt.Errorf("history: %s: %w", path, err)
	}
	defer pf.Close()
	// Writer never stores the Arrow schema; a file that carries one is not
	// ours, and decoding it trusts unchecked flatbuffer lengths.
	if kv := pf.MetaData().KeyValueMetadata(); kv != nil && kv.FindValue("ARROW:schema") != nil {
		return dst, fmt.Errorf("history: %s: unexpected ARROW:schema metadata: not a history file", path)
	}
	if err := checkLayout(pf); err != nil {
		return dst, fmt.Errorf("history: %s: corrupt file: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, cfg.mem)
	if err != nil {
		return dst, fmt.Errorf("history: %s: %w", path, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return dst, fmt.Errorf("history: %s: %w", path, err)
	}
	if err := checkSchema(sc); err != nil {
		return dst, fmt.Errorf("%w (in %s)", err, path)
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return dst, fmt.Errorf("history: %s: %w", path, err)
	}
	defer rr.Release()
	for rr.Next() {
		if dst, err = rowsOf(dst, rr.RecordBatch()); err != nil {
			return dst, fmt.Errorf("%w (in %s)", err, path)
		}
	}
	if err := rr.Err(); err != nil {
		return dst, fmt.Errorf("history: %s: %w", path, err)
	}
	return dst, nil
}

// maxChunkBytes bounds the uncompressed size of one column chunk that Read
// accepts (a file holds at most MaxRowsPerFile rows of one bundle and stays far
// below it).
const maxChunkBytes = 64 << 20

// checkLayout checks the column chunk offsets and sizes of a Parquet file
// against its size before the decoder trusts them: the decoder reads
// chunks in goroutines of its own, where a panic cannot be recovered.
func checkLayout(pf *file.Reader) error {
	md := pf.MetaData()
	size := md.GetSourceFileSize()
	for rg := 0; rg < pf.NumRowGroups(); rg++ {
		rmd := md.RowGroup(rg)
		if rmd.NumRows() < 0 {
			return fmt.Errorf("row group %d has %d rows", rg, rmd.NumRows())
		}
		for c := 0; c < rmd.NumColumns(); c++ {
			col, err := rmd.ColumnChunk(c)
			if err != nil {
				return fmt.Errorf("row group %d column %d: %w", rg, c, err)
			}
			start := col.DataPageOffset()
			if col.HasDictionaryPage() && col.DictionaryPageOffset() > 0 && start > col.DictionaryPageOffset() {
				start = col.DictionaryPageOffset()
			}
			n := col.TotalCompressedSize()
			if start < 0 || n < 0 || start > size || n > size-start {
				return fmt.Errorf("row group %d column %d: chunk at %d of %d bytes is outside the %d-byte file", rg, c, start, n, size)
			}
			if u := col.TotalUncompressedSize(); u < 0 || u > maxChunkBytes {
				return fmt.Errorf("row group %d column %d: uncompressed size %d out of range", rg, c, u)
			}
			if v := col.NumValues(); v < 0 || v > maxChunkBytes {
				return fmt.Errorf("row group %d column %d: %d values out of range", rg, c, v)
			}
		}
	}
	return nil
}
