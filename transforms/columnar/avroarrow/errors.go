package avroarrow

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of decoding and compiling; test with errors.Is.
var (
	// ErrTruncated: the payload ends inside a value.
	ErrTruncated = errors.New("avroarrow: truncated payload")
	// ErrInvalidLength: a negative length or count, or one larger than the rest of the payload.
	ErrInvalidLength = errors.New("avroarrow: invalid length")
	// ErrVarint: a varint longer than its type allows or out of range for an int.
	ErrVarint = errors.New("avroarrow: malformed varint")
	// ErrInvalidValue: a boolean other than 0 or 1, a union or enum index out of range,
	// or a decimal too wide for Decimal128.
	ErrInvalidValue = errors.New("avroarrow: invalid value")
	// ErrTrailingBytes: bytes are left over after the record.
	ErrTrailingBytes = errors.New("avroarrow: trailing bytes after record")
	// ErrLimit: an array or map has more items than the decoder's limit.
	ErrLimit = errors.New("avroarrow: item limit exceeded")
	// ErrIncompatible: the writer schema cannot be read as the reader schema.
	ErrIncompatible = errors.New("avroarrow: incompatible schemas")
	// ErrUnsupported: a schema feature the decoder does not handle (recursive types).
	ErrUnsupported = errors.New("avroarrow: unsupported schema")
	// ErrUnknownSchema: no writer schema for a message's schema id.
	ErrUnknownSchema = errors.New("avroarrow: unknown schema id")
	// ErrTooLarge: a column would exceed the 2 GiB offsets of an Arrow batch; flush sooner.
	ErrTooLarge = errors.New("avroarrow: batch too large")
)

// DecodeError locates a decoding failure in the payload and the schema.
type DecodeError struct {
	Path   string // dotted reader path of the value, e.g. "variant.hugo_symbol"
	Offset int    // byte offset in the Avro body where the value starts or failed
	Err    error
}

// Error says what was wrong once, in words: "avroarrow: record truncated
// at body byte 1 (field id): a length of 36 bytes runs past the end (8
// bytes left)".
func (e *DecodeError) Error() string {
	what, detail := "invalid record", e.Err.Error()
	for _, w := range inWords {
		if errors.Is(e.Err, w.err) {
			what = w.words
			detail = strings.TrimPrefix(strings.TrimPrefix(detail, w.err.Error()), ": ")
			break
		}
	}
	s := fmt.Sprintf("avroarrow: %s at body byte %d", what, e.Offset)
	if e.Path != "" {
		s += " (field " + e.Path + ")"
	}
	if detail != "" {
		s += ": " + detail
	}
	return s
}

// inWords says what each error means for the record, for DecodeError.
var inWords = []struct {
	err   error
	words string
}{
	{ErrTruncated, "record truncated"},
	{ErrInvalidLength, "invalid length"},
	{ErrVarint, "malformed varint"},
	{ErrInvalidValue, "invalid value"},
	{ErrTrailingBytes, "invalid record"},
	{ErrLimit, "too many array or map items"},
	{ErrIncompatible, "record unreadable by the reader schema"},
	{ErrUnsupported, "unsupported schema"},
	{ErrUnknownSchema, "unknown schema id"},
	{ErrTooLarge, "batch too large"},
}

func (e *DecodeError) Unwrap() error { return e.Err }
