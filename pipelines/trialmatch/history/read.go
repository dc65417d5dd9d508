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

// ReadFile appends the records of one history file to dst.
func ReadFile(path string, dst []schemas.ApprovedPatient, opts ...Option) ([]schemas.ApprovedPatient, error) {
	cfg := newConfig(opts)
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
