package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the memory a zstd frame may ask for (its window).
const maxZstdWindow = 64 << 20

// Decompressor decompresses gzip and zstd with reusable decoders; it is safe
// for concurrent use. The zero value is ready.
type Decompressor struct {
	zstd sync.Pool // *zstd.Decoder
	gzip sync.Pool // *gzip.Reader
}

// Decompress appends the decompression of src to dst and returns it; it
// fails with ErrTooLarge as soon as the output would exceed limit bytes.
func (d *Decompressor) Decompress(dst, src []byte, comp Compression, limit int64) ([]byte, error) {
	switch comp {
	case None, "":
		if int64(len(src)) > limit {
			return dst, tooLarge(limit)
		}
		return append(dst, src...), nil
	case Zstd:
		dec, _ := d.zstd.Get().(*zstd.Decoder)
		if dec == nil {
			var err error
			// Decoders are pooled across calls with different limits, so
			// the per-call cap is enforced by readCapped; the decoder
			// itself only bounds the window a frame may ask for.
			dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(false))
			if err != nil {
				return dst, fmt.Errorf("envelope: zstd: %w", err)
			}
		}
		if err := dec.Reset(bytes.NewReader(src)); err != nil {
			d.zstd.Put(dec)
			return dst, zstdErr(err, limit)
		}
		out, err := readCapped(dst, dec, limit)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			err = zstdErr(err, limit)
		}
		dec.Reset(nil) // drop the reference to src
		d.zstd.Put(dec)
		return out, err
	case Gzip:
		zr, _ := d.gzip.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return dst, fmt.Errorf("envelope: gzip: %w: %w", ErrCompression, err)
		}
		out, err := readCapped(dst, zr, limit)
		d.gzip.Put(zr)
		return out, err
	}
	return dst, fmt.Errorf("envelope: compression %q: %w", string(comp), ErrCompression)
}

// zstdErr classifies a zstd error: a frame that declares a window or size
// beyond the cap is a bomb, anything else is corruption.
func zstdErr(err error, limit int64) error {
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return tooLarge(limit)
	}
	if errors.Is(err, ErrCompression) {
		return err
	}
	return fmt.Errorf("envelope: zstd: %w: %w", ErrCompression, err)
}

// Decompress is Decompressor.Decompress on a shared Decompressor.
func Decompress(dst, src []byte, comp Compression, limit int64) ([]byte, error) {
	return shared.Decompress(dst, src, comp, limit)
}

var shared Decompressor

func tooLarge(limit int64) error {
	return fmt.Errorf("envelope: decompressed size exceeds %d bytes: %w", limit, ErrTooLarge)
}

// readCapped appends everything r yields to dst, failing once more than
// limit bytes have been produced. It never reads more than limit+1 bytes.
func readCapped(dst []byte, r io.Reader, limit int64) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			grow := cap(dst) - start
			if grow < 32<<10 {
				grow = 32 << 10
			}
			if room := limit + 1 - int64(cap(dst)-start); int64(grow) > room {
				grow = int(room)
			}
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limit {
			return dst[:start], tooLarge(limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("envelope: %w: %w", ErrCompression, err)
		}
	}
}

// Compress compresses src with comp at the default level (for sealing and
// tests); None returns a copy of src.
func Compress(src []byte, comp Compression) ([]byte, error) {
	var buf bytes.Buffer
	switch comp {
	case None, "":
		return append([]byte(nil), src...), nil
	case Gzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(src); err != nil {
			return nil, fmt.Errorf("envelope: gzip: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("envelope: gzip: %w", err)
		}
		return buf.Bytes(), nil
	case Zstd:
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("envelope: zstd: %w", err)
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil), nil
	}
	return nil, fmt.Errorf("envelope: compression %q: %w", string(comp), ErrCompression)
}
