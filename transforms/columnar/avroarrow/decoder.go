package avroarrow

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/trialflow/trialflow/schemas/registry/compat"
	"github.com/trialflow/trialflow/schemas/wire"
)

// SchemaSource finds the writer schema of a Confluent-framed message by its
// schema id. The Schema Registry client satisfies it.
type SchemaSource interface {
	SchemaByID(id int) (string, error)
}

// MapSource is a SchemaSource backed by a map, for tests and for pipelines
// whose writer schemas are known up front.
type MapSource map[int]string

var _ SchemaSource = MapSource(nil)

// SchemaByID returns the schema registered under id.
func (m MapSource) SchemaByID(id int) (string, error) {
	s, ok := m[id]
	if !ok {
		return "", fmt.Errorf("schema id %d not in map", id)
	}
	return s, nil
}

type config struct {
	mem      memory.Allocator
	paths    []string
	flatten  bool
	src      SchemaSource
	maxItems int
}

// Option configures a Decoder.
type Option interface{ apply(*config) }

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithProjection builds only the columns named by dotted reader paths, e.g.
// "tenant", "variant.hugo_symbol" or "variant" (the whole record). Paths run
// through records and nullable unions, and through arrays and maps of
// records. Without a projection every field is built.
func WithProjection(paths ...string) Option {
	return optFunc(func(c *config) { c.paths = append(c.paths, paths...) })
}

// WithFlatten lays nested records out as top-level columns named by their
// dotted paths ("variant.hugo_symbol") instead of Struct columns. Columns
// below a nullable record are nullable.
func WithFlatten() Option { return optFunc(func(c *config) { c.flatten = true }) }

// WithAllocator sets the allocator of the Arrow batches (default the Go allocator).
func WithAllocator(mem memory.Allocator) Option {
	return optFunc(func(c *config) { c.mem = mem })
}

// WithSchemaSource sets where AppendFramed finds writer schemas by id.
func WithSchemaSource(src SchemaSource) Option {
	return optFunc(func(c *config) { c.src = src })
}

// WithMaxItems caps the number of array and map items in one record
// (default 1<<24), so that hostile counts of zero-byte items (nulls, empty
// records, arrays of arrays) cannot exhaust memory or time.
func WithMaxItems(n int) Option { return optFunc(func(c *config) { c.maxItems = n }) }

// Decoder decodes Avro records into Arrow columns laid out from a reader
// schema and a projection. It compiles one program per writer schema and
// accumulates rows until Flush. A Decoder is not safe for concurrent use.
type Decoder struct {
	cfg    config
	reader *node
	lay    *layout
	schema *arrow.Schema

	progs  map[uint32]*Program
	lastID uint32
	last   *Program

	rows    int
	inBytes int

	buf   []byte
	p     int
	items int // array and map items of the current record
}

// Program is the compiled decoding of one writer schema into a Decoder's columns.
type Program struct {
	d    *Decoder
	root op
}

// New compiles the Arrow layout of reader, an Avro record schema (JSON).
func New(reader string, opts ...Option) (*Decoder, error) {
	cfg := config{mem: memory.DefaultAllocator, maxItems: 1 << 24}
	for _, o := range opts {
		o.apply(&cfg)
	}
	r, err := parseSchema(reader)
	if err != nil {
		return nil, fmt.Errorf("reader %w", err)
	}
	pj, err := buildProjection(cfg.paths)
	if err != nil {
		return nil, err
	}
	lay, err := newLayout(r, pj, cfg.flatten)
	if err != nil {
		return nil, err
	}
	return &Decoder{
		cfg:    cfg,
		reader: r,
		lay:    lay,
		schema: arrow.NewSchema(lay.fields, nil),
		progs:  map[uint32]*Program{},
	}, nil
}

// Schema is the Arrow schema of the batches.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Compile compiles reading records written with the writer schema (JSON),
// resolving it against the reader schema.
func (d *Decoder) Compile(writer string) (*Program, error) {
	w, err := parseSchema(writer)
	if err != nil {
		return nil, fmt.Errorf("writer %w", err)
	}
	c := newCompiler(d.reader, w)
	root, err := c.resolve(compat.Resolve(d.reader.src, w.src), d.lay.root, "")
	if err != nil {
		return nil, err
	}
	return &Program{d: d, root: root}, nil
}

// Register compiles writer for schema id, so that AppendFramed needs no
// SchemaSource for it.
func (d *Decoder) Register(id uint32, writer string) error {
	p, err := d.Compile(writer)
	if err != nil {
		return fmt.Errorf("schema id %d: %w", id, err)
	}
	d.progs[id] = p
	return nil
}

// program returns the compiled program of schema id, compiling it on first use.
func (d *Decoder) program(id uint32) (*Program, error) {
	if d.last != nil && d.lastID == id {
		return d.last, nil
	}
	p, ok := d.progs[id]
	if !ok {
		if d.cfg.src == nil {
			return nil, fmt.Errorf("%w: %d (no schema source)", ErrUnknownSchema, id)
		}
		s, err := d.cfg.src.SchemaByID(int(id))
		if err != nil {
			return nil, fmt.Errorf("%w: %d: %w", ErrUnknownSchema, id, err)
		}
		if p, err = d.Compile(s); err != nil {
			return nil, fmt.Errorf("schema id %d: %w", id, err)
		}
		d.progs[id] = p
	}
	d.lastID, d.last = id, p
	return p, nil
}

// AppendFramed decodes one Confluent-framed message and appends it as a row.
// On error nothing is appended.
func (d *Decoder) AppendFramed(msg []byte) error {
	id, body, err := wire.Parse(msg)
	if err != nil {
		return err
	}
	p, err := d.program(id)
	if err != nil {
		return err
	}
	if err := d.Append(p, body); err != nil {
		return err
	}
	d.inBytes += wire.HeaderSize
	return nil
}

// Append decodes one plain Avro body written with p's writer schema and
// appends it as a row. On error nothing is appended.
func (d *Decoder) Append(p *Program, body []byte) error {
	if p.d != d {
		return fmt.Errorf("avroarrow: program compiled for another decoder")
	}
	d.buf, d.p, d.items = body, 0, 0
	err := d.exec(&p.root)
	if err == nil && d.p != len(body) {
		err = &DecodeError{Offset: d.p, Err: fmt.Errorf("%w: %d bytes left over after the record", ErrTrailingBytes, len(body)-d.p)}
	}
	// d.buf keeps aliasing body until the next Append: clearing it would
	// cost a second pointer write (a GC write barrier) per record.
	if err != nil {
		for _, c := range d.lay.cols {
			c.truncate(d.rows)
		}
		return err
	}
	d.rows++
	d.inBytes += len(body)
	return nil
}

// Rows is the number of rows since the last Flush.
func (d *Decoder) Rows() int { return d.rows }

// InputBytes is the number of input bytes decoded since the last Flush.
func (d *Decoder) InputBytes() int { return d.inBytes }

// ArrowBytes estimates the size of the Arrow batch that Flush would return.
func (d *Decoder) ArrowBytes() int {
	s := 0
	for _, c := range d.lay.cols {
		s += c.size()
	}
	return s
}

// Flush returns the rows appended since the last Flush as a record batch,
// allocated from the decoder's allocator, and starts a new batch. It returns
// nil when there are no rows. The caller must Release the batch, and may do
// so on any goroutine; with the Go allocator its buffers then carry a later
// batch, so nothing read from it may be used after Release.
func (d *Decoder) Flush() arrow.RecordBatch {
	if d.rows == 0 {
		return nil
	}
	cols := make([]arrow.Array, len(d.lay.cols))
	for i, c := range d.lay.cols {
		data := c.finish(d.cfg.mem)
		cols[i] = array.MakeFromData(data)
		data.Release()
	}
	rec := array.NewRecordBatch(d.schema, cols, int64(d.rows))
	for _, a := range cols {
		a.Release()
	}
	d.Reset()
	return rec
}

// Reset discards the rows appended since the last Flush.
func (d *Decoder) Reset() {
	for _, c := range d.lay.cols {
		c.reset()
	}
	d.rows, d.inBytes = 0, 0
}

func (d *Decoder) fail(o *op, err error) error {
	return &DecodeError{Path: o.path, Offset: d.p, Err: err}
}

// long1 reads a one-byte zigzag varint, the common case, small enough to
// inline; ok is false (and nothing is read) otherwise.
func (d *Decoder) long1() (v int64, ok bool) {
	p := d.p
	if p < len(d.buf) && d.buf[p] < 0x80 {
		d.p = p + 1
		u := int64(d.buf[p])
		return u>>1 ^ -(u & 1), true
	}
	return 0, false
}

// long reads a zigzag varint.
func (d *Decoder) long() (int64, error) {
	if v, ok := d.long1(); ok {
		return v, nil
	}
	return d.longSlow()
}

func (d *Decoder) longSlow() (int64, error) {
	buf, p := d.buf, d.p
	var u uint64
	for i := uint(0); i < 10; i++ {
		if p >= len(buf) {
			return 0, ErrTruncated
		}
		b := buf[p]
		p++
		if i == 9 && b > 1 {
			return 0, ErrVarint
		}
		u |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			d.p = p
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, ErrVarint
}

func (d *Decoder) int() (int32, error) {
	buf, p := d.buf, d.p
	if p < len(buf) && buf[p] < 0x80 {
		d.p = p + 1
		u := uint32(buf[p])
		return int32(u>>1) ^ -int32(u&1), nil
	}
	var u uint64
	for i := uint(0); i < 5; i++ {
		if p >= len(buf) {
			return 0, ErrTruncated
		}
		b := buf[p]
		p++
		u |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if u > math.MaxUint32 {
				return 0, ErrVarint
			}
			d.p = p
			v := uint32(u)
			return int32(v>>1) ^ -int32(v&1), nil
		}
	}
	return 0, ErrVarint
}

// bytes reads a length-prefixed byte string, aliasing the payload. The
// length is checked against what is left before anything is sliced.
func (d *Decoder) bytes() ([]byte, error) {
	if b, ok := d.bytes1(); ok {
		return b, nil
	}
	return d.bytesSlow()
}

// bytes1 reads a byte string with a one-byte length that fits, the common
// case, small enough to inline; ok is false (and nothing is read) otherwise.
func (d *Decoder) bytes1() (b []byte, ok bool) {
	p := d.p
	if p < len(d.buf) && d.buf[p]&0x81 == 0 {
		if end := p + 1 + int(d.buf[p]>>1); end <= len(d.buf) {
			d.p = end
			return d.buf[p+1 : end], true
		}
	}
	return nil, false
}

func (d *Decoder) bytesSlow() ([]byte, error) {
	n, err := d.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: negative length %d", ErrInvalidLength, n)
	}
	if rem := len(d.buf) - d.p; n > int64(rem) {
		return nil, fmt.Errorf("%w: a length of %d bytes runs past the end (%d bytes left)", ErrTruncated, n, rem)
	}
	b := d.buf[d.p : d.p+int(n)]
	d.p += int(n)
	return b, nil
}

func (d *Decoder) fixed(n int) ([]byte, error) {
	if rem := len(d.buf) - d.p; n > rem {
		return nil, fmt.Errorf("%w: a fixed of %d bytes runs past the end (%d bytes left)", ErrTruncated, n, rem)
	}
	b := d.buf[d.p : d.p+n]
	d.p += n
	return b, nil
}

// blockCount reads the item count of the next array or map block; 0 ends
// the value. minItem is the smallest encoded size of one item.
func (d *Decoder) blockCount(minItem int) (int, error) {
	n, err := d.long()
	if err != nil {
		return 0, err
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, fmt.Errorf("%w: block count %d", ErrInvalidLength, n)
		}
		n = -n
		size, err := d.long()
		if err != nil {
			return 0, err
		}
		if size < 0 {
			return 0, fmt.Errorf("%w: negative block size %d", ErrInvalidLength, size)
		}
	}
	if minItem > 0 && n > int64((len(d.buf)-d.p)/minItem) {
		return 0, fmt.Errorf("%w: a block of %d items cannot fit in the %d bytes left", ErrTruncated, n, len(d.buf)-d.p)
	}
	if n > int64(d.cfg.maxItems-d.items) {
		return 0, fmt.Errorf("%w: more than %d items in a record", ErrLimit, d.cfg.maxItems)
	}
	d.items += int(n)
	return int(n), nil
}

// decimal128 converts a big-endian two's complement integer to the 16
// little-endian bytes of a Decimal128.
func appendDecimal(dst, b []byte) ([]byte, error) {
	var sign byte
	if len(b) > 0 && b[0]&0x80 != 0 {
		sign = 0xff
	}
	if len(b) > 16 {
		for _, x := range b[:len(b)-16] {
			if x != sign {
				return nil, fmt.Errorf("%w: decimal of %d bytes overflows Decimal128", ErrInvalidValue, len(b))
			}
		}
		b = b[len(b)-16:]
		if (b[0]&0x80 != 0) != (sign != 0) {
			return nil, fmt.Errorf("%w: decimal overflows Decimal128", ErrInvalidValue)
		}
	}
	var le [16]byte
	for i := range le {
		le[i] = sign
	}
	for i := 0; i < len(b); i++ {
		le[i] = b[len(b)-1-i]
	}
	return append(dst, le[:]...), nil
}

func (d *Decoder) exec(o *op) error {
again: // tail calls (union branches) loop here instead of recursing
	switch o.code {
	case oSeq:
		for i := range o.kids {
			if err := d.exec(&o.kids[i]); err != nil {
				return err
			}
		}
	case oStruct:
		o.col.ok()
		for i := range o.kids {
			if err := d.exec(&o.kids[i]); err != nil {
				return err
			}
		}
	case oSkipBool:
		if d.p >= len(d.buf) {
			return d.fail(o, ErrTruncated)
		}
		if d.buf[d.p] > 1 {
			return d.fail(o, fmt.Errorf("%w: boolean byte %d", ErrInvalidValue, d.buf[d.p]))
		}
		d.p++
	case oSkipVarint:
		if _, ok := d.long1(); !ok {
			if _, err := d.longSlow(); err != nil {
				return d.fail(o, err)
			}
		}
	case oSkipBytes:
		if _, ok := d.bytes1(); !ok {
			if _, err := d.bytesSlow(); err != nil {
				return d.fail(o, err)
			}
		}
	case oSkipFixed:
		if _, err := d.fixed(o.n); err != nil {
			return d.fail(o, err)
		}
	case oSkipArray, oSkipMap:
		for {
			n, err := d.blockCount(o.n)
			if err != nil {
				return d.fail(o, err)
			}
			if n == 0 {
				break
			}
			for range n {
				if o.code == oSkipMap {
					if _, err := d.bytes(); err != nil {
						return d.fail(o, err)
					}
				}
				if err := d.exec(&o.kids[0]); err != nil {
					return err
				}
			}
		}
	case oSkipUnion, oUnion:
		i, ok := d.long1()
		if !ok {
			var err error
			if i, err = d.longSlow(); err != nil {
				return d.fail(o, err)
			}
		}
		if i < 0 || i >= int64(len(o.kids)) {
			return d.fail(o, fmt.Errorf("%w: union index %d of %d branches", ErrInvalidValue, i, len(o.kids)))
		}
		o = &o.kids[i]
		goto again
	case oOpt:
		i, ok := d.long1()
		if !ok {
			var err error
			if i, err = d.longSlow(); err != nil {
				return d.fail(o, err)
			}
		}
		if i == int64(o.n) {
			o.col.n++ // a null leaf: values fill lazily, the validity bit stays clear
			return nil
		}
		if i != int64(1-o.n) {
			return d.fail(o, fmt.Errorf("%w: union index %d of 2 branches", ErrInvalidValue, i))
		}
		o = &o.kids[i]
		goto again
	case oOptNulls:
		i, ok := d.long1()
		if !ok {
			var err error
			if i, err = d.longSlow(); err != nil {
				return d.fail(o, err)
			}
		}
		if i == int64(o.n) {
			for _, c := range o.nulls {
				c.n++ // as oSetNull with n == 1
			}
			return nil
		}
		if i != int64(1-o.n) {
			return d.fail(o, fmt.Errorf("%w: union index %d of 2 branches", ErrInvalidValue, i))
		}
		o = &o.kids[i]
		goto again
	case oSetNull:
		if o.n == 1 {
			// Leaves and lists only: each null is a counter bump (values
			// fill lazily, the validity bit stays clear).
			for _, c := range o.nulls {
				c.n++
			}
			return nil
		}
		for _, c := range o.nulls {
			if c.kind < cStruct {
				// Leaves and lists fill their values lazily and a null
				// leaves its validity bit clear: a counter is all it takes.
				c.n++
				continue
			}
			c.appendNull()
		}
	case oBool:
		if d.p >= len(d.buf) {
			return d.fail(o, ErrTruncated)
		}
		b := d.buf[d.p]
		if b > 1 {
			return d.fail(o, fmt.Errorf("%w: boolean byte %d", ErrInvalidValue, b))
		}
		d.p++
		c := o.col
		if len(c.u8) != c.n {
			c.fill()
		}
		c.u8 = append(c.u8, b)
		c.ok()
	case oInt:
		v, err := d.int()
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		if len(c.i32) != c.n {
			c.fill()
		}
		c.i32 = append(c.i32, v)
		c.ok()
	case oIntLong, oIntF32, oIntF64:
		v, err := d.int()
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		c.fill()
		switch o.code {
		case oIntLong:
			c.i64 = append(c.i64, int64(v))
		case oIntF32:
			c.f32 = append(c.f32, float32(v))
		default:
			c.f64 = append(c.f64, float64(v))
		}
		c.ok()
	case oLong:
		v, err := d.long()
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		if len(c.i64) != c.n {
			c.fill()
		}
		c.i64 = append(c.i64, v)
		c.ok()
	case oLongF32, oLongF64:
		v, err := d.long()
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		c.fill()
		if o.code == oLongF32 {
			c.f32 = append(c.f32, float32(v))
		} else {
			c.f64 = append(c.f64, float64(v))
		}
		c.ok()
	case oF32, oF32F64:
		b, err := d.fixed(4)
		if err != nil {
			return d.fail(o, err)
		}
		v := math.Float32frombits(binary.LittleEndian.Uint32(b))
		c := o.col
		c.fill()
		if o.code == oF32 {
			c.f32 = append(c.f32, v)
		} else {
			c.f64 = append(c.f64, float64(v))
		}
		c.ok()
	case oF64:
		b, err := d.fixed(8)
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		if len(c.f64) != c.n {
			c.fill()
		}
		c.f64 = append(c.f64, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		c.ok()
	case oBytes:
		b, ok := d.bytes1()
		if !ok {
			var err error
			if b, err = d.bytesSlow(); err != nil {
				return d.fail(o, err)
			}
		}
		c := o.col
		if len(c.offs) != c.n+1 {
			c.fillOffs()
		}
		data := c.data
		if n := len(data); len(b) <= 16 && cap(b) >= 16 && cap(data)-n >= 16 {
			// A short string is copied as two 8-byte words, without a
			// memmove call: both slices have the room (beyond their
			// lengths, within their capacities), and only len(b) bytes
			// are kept.
			dst, src := data[n:n+16], b[:16]
			binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src))
			binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(src[8:]))
			data = data[:n+len(b)]
		} else {
			data = append(data, b...)
		}
		if len(data) > math.MaxInt32 {
			return d.fail(o, fmt.Errorf("%w: column %s passed 2 GiB after %d rows", ErrTooLarge, c.path, d.rows))
		}
		c.data = data
		c.offs = append(c.offs, int32(len(data)))
		c.ok()
	case oFixed:
		b, err := d.fixed(o.n)
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		c.fill()
		c.data = append(c.data, b...)
		c.ok()
	case oDecBytes, oDecFixed:
		var b []byte
		var err error
		if o.code == oDecBytes {
			b, err = d.bytes()
		} else {
			b, err = d.fixed(o.n)
		}
		if err != nil {
			return d.fail(o, err)
		}
		c := o.col
		c.fill()
		if c.data, err = appendDecimal(c.data, b); err != nil {
			return d.fail(o, err)
		}
		c.ok()
	case oEnum:
		i, ok := d.long1()
		if !ok {
			var err error
			if i, err = d.longSlow(); err != nil {
				return d.fail(o, err)
			}
		}
		if i < 0 || i >= int64(len(o.enumMap)) {
			return d.fail(o, fmt.Errorf("%w: enum index %d of %d symbols", ErrInvalidValue, i, len(o.enumMap)))
		}
		r := o.enumMap[i]
		if r < 0 {
			return d.fail(o, fmt.Errorf("%w: writer enum symbol %d unknown to the reader, which has no default", ErrIncompatible, i))
		}
		c := o.col
		if len(c.i32) != c.n {
			c.fill()
		}
		c.i32 = append(c.i32, r)
		c.ok()
	case oList, oMap:
		c := o.col
		c.fill()
		for {
			n, err := d.blockCount(o.n)
			if err != nil {
				return d.fail(o, err)
			}
			if n == 0 {
				break
			}
			for range n {
				if o.code == oMap {
					k, err := d.bytes()
					if err != nil {
						return d.fail(o, err)
					}
					kc := c.kids[0]
					kc.data = append(kc.data, k...)
					kc.offs = append(kc.offs, int32(len(kc.data)))
					kc.n++
				}
				if err := d.exec(&o.kids[0]); err != nil {
					return err
				}
			}
		}
		c.offs = append(c.offs, int32(c.kids[0].n))
		c.ok()
	case oUnionWrap:
		c := o.col
		c.tids = append(c.tids, int8(o.n))
		c.i32 = append(c.i32, int32(c.kids[o.n].n))
		c.n++
		o = &o.kids[0]
		goto again
	case oDefault:
		buf, p := d.buf, d.p
		d.buf, d.p = o.def, 0
		err := d.exec(&o.kids[0])
		d.buf, d.p = buf, p
		return err
	case oFail:
		return d.fail(o, o.err)
	default:
		return d.fail(o, fmt.Errorf("avroarrow: internal: opcode %d", o.code))
	}
	return nil
}
