package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// buckets, the embedded default
	_ "gocloud.dev/blob/memblob"  // mem:// buckets, for tests
	"gocloud.dev/gcerrors"
)

// Store errors; match them with errors.Is.
var (
	ErrNotFound      = errors.New("object not found")
	ErrOutsideBucket = errors.New("object outside the configured buckets")
	ErrSizeMismatch  = errors.New("object size differs from the claim check")
)

// Store reads sealed objects; *Buckets implements it.
type Store interface {
	// Read returns the object at uri, failing with ErrSizeMismatch unless
	// it is exactly size bytes (never reading more than size+1).
	Read(ctx context.Context, uri string, size int64) ([]byte, error)
}

// Writer writes sealed objects; *Buckets implements it.
type Writer interface {
	Write(ctx context.Context, uri string, data []byte) error
}

var (
	_ Store  = (*Buckets)(nil)
	_ Writer = (*Buckets)(nil)
)

// Buckets reads and writes objects in a fixed set of gocloud.dev/blob
// buckets, given by URL (file:///var/bundles, s3://bucket?region=...,
// gs://bucket, azblob://container). An object URI is the bucket URL
// without its query, a slash, and the key. Buckets open lazily and are
// safe for concurrent use. Import the driver packages for s3, gs or azblob
// in the binary.
type Buckets struct {
	urls []string
	mu   sync.Mutex
	open map[string]*blob.Bucket
}

// NewBuckets returns Buckets over the given bucket URLs.
func NewBuckets(urls ...string) *Buckets {
	return &Buckets{urls: append([]string(nil), urls...), open: map[string]*blob.Bucket{}}
}

func base(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return strings.TrimRight(u, "/")
}

// ObjectURI is the URI of key inside the bucket at bucketURL.
func ObjectURI(bucketURL, key string) string { return base(bucketURL) + "/" + key }

func (b *Buckets) resolve(ctx context.Context, uri string) (*blob.Bucket, string, error) {
	for _, u := range b.urls {
		p := base(u) + "/"
		if !strings.HasPrefix(uri, p) || len(uri) == len(p) {
			continue
		}
		key := uri[len(p):]
		if strings.Contains("/"+key+"/", "/../") {
			break
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		bk, ok := b.open[u]
		if !ok {
			var err error
			bk, err = blob.OpenBucket(ctx, u)
			if err != nil {
				return nil, "", fmt.Errorf("bundle: open bucket %s: %w", base(u), err)
			}
			b.open[u] = bk
		}
		return bk, key, nil
	}
	return nil, "", fmt.Errorf("bundle: %s: %w", uri, ErrOutsideBucket)
}

// Read implements Store.
func (b *Buckets) Read(ctx context.Context, uri string, size int64) ([]byte, error) {
	bk, key, err := b.resolve(ctx, uri)
	if err != nil {
		return nil, err
	}
	r, err := bk.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, fmt.Errorf("bundle: %s: %w", uri, ErrNotFound)
		}
		return nil, fmt.Errorf("bundle: read %s: %w", uri, err)
	}
	defer r.Close()
	if r.Size() != size {
		return nil, fmt.Errorf("bundle: %s is %d bytes, claim check says %d: %w", uri, r.Size(), size, ErrSizeMismatch)
	}
	buf := make([]byte, 0, size+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bundle: read %s: %w", uri, err)
		}
		if len(buf) == cap(buf) {
			return nil, fmt.Errorf("bundle: %s grew past the claimed %d bytes: %w", uri, size, ErrSizeMismatch)
		}
	}
	if int64(len(buf)) != size {
		return nil, fmt.Errorf("bundle: %s is %d bytes, claim check says %d: %w", uri, len(buf), size, ErrSizeMismatch)
	}
	return buf, nil
}

// Write implements Writer.
func (b *Buckets) Write(ctx context.Context, uri string, data []byte) error {
	bk, key, err := b.resolve(ctx, uri)
	if err != nil {
		return err
	}
	if err := bk.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("bundle: write %s: %w", uri, err)
	}
	return nil
}

// Close closes the opened buckets.
func (b *Buckets) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for u, bk := range b.open {
		errs = append(errs, bk.Close())
		delete(b.open, u)
	}
	return errors.Join(errs...)
}
