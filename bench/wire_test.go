package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/trialflow/trialflow/schemas/wire"
)

// wireSink keeps results alive so the compiler cannot drop the work.
var wireSink struct {
	id      uint32
	payload []byte
}

// wireCopyingDecode is the baseline: the shape of a typical hand-rolled
// decoder that reads the header through an io.Reader and copies the payload.
func wireCopyingDecode(msg []byte) (uint32, []byte, error) {
	r := bytes.NewReader(msg)
	var magic byte
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return 0, nil, err
	}
	if magic != 0 {
		return 0, nil, errors.New("wrong magic byte")
	}
	var id uint32
	if err := binary.Read(r, binary.BigEndian, &id); err != nil {
		return 0, nil, err
	}
	payload, err := io.ReadAll(r)
	return id, payload, err
}

// BenchmarkWireDecode measures splitting a Confluent frame into schema id
// and payload: wire.Parse (zero-copy) against a copying baseline, for a
// small and a medium payload. MB/s counts whole frames.
func BenchmarkWireDecode(b *testing.B) {
	for _, size := range []int{64, 1024} {
		msg := wire.Append(nil, 42, bytes.Repeat([]byte{0xA5}, size))
		b.Run(fmt.Sprintf("Parse/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				id, p, err := wire.Parse(msg)
				if err != nil {
					b.Fatal(err)
				}
				wireSink.id, wireSink.payload = id, p
			}
		})
		b.Run(fmt.Sprintf("baseline-copying/%dB", size), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				id, p, err := wireCopyingDecode(msg)
				if err != nil {
					b.Fatal(err)
				}
				wireSink.id, wireSink.payload = id, p
			}
		})
	}
	// Encoding into a reused buffer, for completeness.
	payload := bytes.Repeat([]byte{0xA5}, 1024)
	b.Run("Append/1024B", func(b *testing.B) {
		buf := make([]byte, 0, wire.HeaderSize+len(payload))
		b.SetBytes(int64(wire.HeaderSize + len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			buf = wire.Append(buf[:0], 42, payload)
		}
		wireSink.payload = buf
	})
}
