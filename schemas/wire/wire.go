package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MagicByte is the first byte of every Confluent-framed message.
const MagicByte byte = 0

// HeaderSize is the size of the frame header: magic byte and schema id.
const HeaderSize = 5

// Errors returned by Parse; test with errors.Is.
var (
	ErrShortBuffer = errors.New("wire: short buffer")
	ErrMagicByte   = errors.New("wire: wrong magic byte")
)

// FrameError describes a message that is not Confluent-framed.
type FrameError struct {
	Err   error // ErrShortBuffer or ErrMagicByte
	Len   int   // length of the message
	Magic byte  // the first byte, when there is one
}

func (e *FrameError) Error() string {
	if e.Err == ErrShortBuffer {
		return fmt.Sprintf("wire: short buffer: %d bytes, a frame needs at least %d", e.Len, HeaderSize)
	}
	return fmt.Sprintf("wire: wrong magic byte 0x%02x, want 0x00", e.Magic)
}

func (e *FrameError) Unwrap() error { return e.Err }

// AppendHeader appends the frame header for schema id to dst.
func AppendHeader(dst []byte, id uint32) []byte {
	return append(dst, MagicByte, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// Append appends a whole frame (header and payload) to dst.
func Append(dst []byte, id uint32, payload []byte) []byte {
	return append(AppendHeader(dst, id), payload...)
}

// Parse splits a framed message into its schema id and payload. The payload
// aliases msg.
func Parse(msg []byte) (id uint32, payload []byte, err error) {
	if len(msg) < HeaderSize {
		// Returned by value so that the common success path never allocates;
		// the error itself is built only on failure.
		return 0, nil, shortErr(msg)
	}
	if msg[0] != MagicByte {
		return 0, nil, &FrameError{Err: ErrMagicByte, Len: len(msg), Magic: msg[0]}
	}
	return binary.BigEndian.Uint32(msg[1:5]), msg[HeaderSize:], nil
}

func shortErr(msg []byte) error {
	e := &FrameError{Err: ErrShortBuffer, Len: len(msg)}
	if len(msg) > 0 {
		e.Magic = msg[0]
	}
	return e
}

// SchemaID returns the schema id of a framed message without the payload.
func SchemaID(msg []byte) (uint32, error) {
	id, _, err := Parse(msg)
	return id, err
}
