package kafkaio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	beam.RegisterCoder(reflect.TypeOf(Record{}), encodeRecord, decodeRecord)
}

// Record is one Kafka record: where it was read (or is to be written), its
// timestamp, key, headers and value.
//
// On Write, Topic is where the record goes unless ToTopic is given (which
// wins for every record), and Partition is used only with KeepPartition: a
// partition number (0 or more) keeps the record there, a negative one lets
// the key choose. Without KeepPartition the key always chooses.
type Record struct {
	Topic     string // read from; on Write, the topic unless ToTopic is given
	Partition int32  // read from; on Write with KeepPartition, the partition when >= 0
	Offset    int64  // -1 for records not read from Kafka
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Header returns the value of the first header named key.
func (r *Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// FromKgo converts a franz-go record. Key, value and header values alias
// the franz-go record's buffers.
func FromKgo(kr *kgo.Record) Record {
	r := Record{
		Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset,
		Timestamp: kr.Timestamp, Key: kr.Key, Value: kr.Value,
	}
	if len(kr.Headers) > 0 {
		r.Headers = make([]Header, len(kr.Headers))
		for i, h := range kr.Headers {
			r.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}

// Kgo converts r to a franz-go record for producing, Partition included:
// whether the producer uses it is its partitioner's choice (Write's: see
// KeepPartition).
func (r *Record) Kgo() *kgo.Record {
	kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	if len(r.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
	return kr
}

// Limits of the binary form, so hostile input cannot make ParseRecord
// allocate without bound.
const (
	maxRecordHeaders = 1 << 16
)

// nilLen marks a nil byte slice (Kafka distinguishes a null key from an
// empty one).
const nilLen = -1

// AppendBinary appends the Beam coder form of r to dst: topic, partition,
// offset, timestamp (Unix milliseconds), key, value and headers, each
// length-prefixed with a varint.
func (r *Record) AppendBinary(dst []byte) []byte {
	dst = appendString(dst, r.Topic)
	dst = binary.AppendVarint(dst, int64(r.Partition))
	dst = binary.AppendVarint(dst, r.Offset)
	var ms int64
	if !r.Timestamp.IsZero() {
		ms = r.Timestamp.UnixMilli()
	} else {
		ms = minTimestampMilli
	}
	dst = binary.AppendVarint(dst, ms)
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendString(dst, h.Key)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// binarySize is the length of r's AppendBinary form.
func (r *Record) binarySize() int {
	ms := int64(minTimestampMilli)
	if !r.Timestamp.IsZero() {
		ms = r.Timestamp.UnixMilli()
	}
	n := stringSize(r.Topic) + varintLen(int64(r.Partition)) + varintLen(r.Offset) + varintLen(ms) +
		bytesSize(r.Key) + bytesSize(r.Value) + uvarintLen(uint64(len(r.Headers)))
	for _, h := range r.Headers {
		n += stringSize(h.Key) + bytesSize(h.Value)
	}
	return n
}

// stringSize and bytesSize are the lengths of appendString's and
// appendBytes's forms.
func stringSize(s string) int { return varintLen(int64(len(s))) + len(s) }

func bytesSize(b []byte) int {
	if b == nil {
		return varintLen(nilLen)
	}
	return varintLen(int64(len(b))) + len(b)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// varintLen is the length of binary.AppendVarint's form of v (zigzag).
func varintLen(v int64) int { return uvarintLen(uint64(v<<1) ^ uint64(v>>63)) }

// minTimestampMilli encodes a zero Timestamp.
const minTimestampMilli = -1 << 62

// ErrCorrupt is returned (wrapped) by ParseRecord for bytes that are not a
// Record's binary form.
var ErrCorrupt = errors.New("kafkaio: corrupt record encoding")

// ParseRecord decodes the binary form written by AppendBinary. Key, value
// and header values alias b.
func ParseRecord(b []byte) (Record, error) {
	d := decoder{b: b}
	var r Record
	r.Topic = string(d.bytes("topic"))
	r.Partition = int32(d.varint("partition"))
	r.Offset = d.varint("offset")
	if ms := d.varint("timestamp"); ms != minTimestampMilli {
		r.Timestamp = time.UnixMilli(ms).UTC()
	}
	r.Key = d.bytes("key")
	r.Value = d.bytes("value")
	n := d.uvarint("header count")
	if d.err == nil && (n > maxRecordHeaders || n > uint64(len(d.b))) {
		d.fail("header count", fmt.Sprintf("%d headers in %d remaining bytes", n, len(d.b)))
	}
	if d.err == nil && n > 0 {
		r.Headers = make([]Header, n)
		for i := range r.Headers {
			r.Headers[i].Key = string(d.bytes("header key"))
			r.Headers[i].Value = d.bytes("header value")
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("end", fmt.Sprintf("%d trailing bytes", len(d.b)))
	}
	if d.err != nil {
		return Record{}, d.err
	}
	return r, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendVarint(dst, int64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, nilLen)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what, msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d: %s", ErrCorrupt, what, d.off, msg)
	}
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what, "bad varint")
		return 0
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what, "bad varint")
		return 0
	}
	d.b, d.off = d.b[n:], d.off+n
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.varint(what)
	if d.err != nil {
		return nil
	}
	if n == nilLen {
		return nil
	}
	if n < 0 || n > int64(len(d.b)) {
		d.fail(what, fmt.Sprintf("length %d with %d bytes left", n, len(d.b)))
		return nil
	}
	v := d.b[:n:n]
	d.b, d.off = d.b[n:], d.off+int(n)
	return v
}

func encodeRecord(r Record) []byte { return r.AppendBinary(nil) }

func decodeRecord(b []byte) (Record, error) { return ParseRecord(b) }
