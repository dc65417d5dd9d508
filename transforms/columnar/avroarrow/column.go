package avroarrow

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// colKind is the physical layout of a column.
type colKind uint8

const (
	cNull colKind = iota
	cBool
	cInt32
	cInt64
	cFloat32
	cFloat64
	cBinary
	cFixed // fixed-size binary and Decimal128 (width 16)
	cDict
	cList
	cMap
	cStruct
	cUnion
)

// column accumulates the values of one Arrow array in plain Go slices that
// keep their capacity across batches, so that steady-state decoding does not
// allocate. Appends are always one entry per parent entry, which makes a
// column truncatable to any earlier length (see truncate), the basis of the
// all-or-nothing row semantics.
type column struct {
	kind     colKind
	dt       arrow.DataType
	nullable bool
	path     string

	n     int
	vbits []uint64 // validity bitmap when nullable: set bits are valid, nulls write nothing

	u8   []byte // booleans, one byte per entry
	i32  []int32
	i64  []int64
	f32  []float32
	f64  []float64
	data []byte  // binary data, fixed-size values
	offs []int32 // binary offsets, list/map offsets (leading 0)
	tids []int8  // dense union type ids

	width int // cFixed bytes per value

	kids      []*column // list item; map key, value; struct fields; union children
	fieldCols []*column // struct: per reader field index, nil when not projected
	nullKid   int       // union: index of the null child, -1 when none
	symbols   []string  // dict

	spare [nSlots]*recycler // per buffer role: buffers of released batches (Go allocator)
}

// Buffer roles of a column, each with its own recycler (a recycled buffer
// goes back to the role, and so the element type, it was handed off from).
const (
	sVbits = iota
	sI32
	sI64
	sF32
	sF64
	sData
	sOffs
	sTids
	nSlots
)

func (c *column) reset() {
	c.n = 0
	// Validity words are cleared as they are extended (ok, finish), so
	// old bits need no clearing here.
	c.vbits = c.vbits[:0]
	c.u8 = c.u8[:0]
	c.i32 = c.i32[:0]
	c.i64 = c.i64[:0]
	c.f32 = c.f32[:0]
	c.f64 = c.f64[:0]
	c.data = c.data[:0]
	c.tids = c.tids[:0]
	c.offs = append(c.offs[:0], 0)
	for _, k := range c.kids {
		k.reset()
	}
}

// ok records one valid entry whose value has been appended.
func (c *column) ok() {
	if c.nullable {
		w := c.n >> 6
		if w >= len(c.vbits) {
			extend(&c.vbits, w+1)
		}
		c.vbits[w] |= 1 << (uint(c.n) & 63)
	}
	c.n++
}

// appendNull appends a null entry, or a zero value when the column is not
// nullable (the children of a null struct). Leaf and list storage is filled
// lazily (see fill), so a null costs a counter and a validity byte.
func (c *column) appendNull() {
	switch c.kind {
	case cStruct:
		for _, k := range c.kids {
			k.appendNull()
		}
	case cUnion:
		k := c.nullKid
		if k < 0 {
			k = 0
		}
		c.tids = append(c.tids, int8(k))
		c.i32 = append(c.i32, int32(c.kids[k].n))
		c.kids[k].appendNull()
		c.n++
		return
	}
	c.n++ // the validity bit stays clear
}

// extend extends *s to n elements, the new ones zero. Within capacity it
// only reslices, which writes no pointer (no GC write barrier on the hot
// path).
func extend[T any](s *[]T, n int) {
	old := len(*s)
	if n <= old {
		return
	}
	if n <= cap(*s) {
		*s = (*s)[:n]
		clear((*s)[old:])
		return
	}
	*s = zeros(*s, n)
}

// zeros extends s to n elements, the new ones zero.
func zeros[T any](s []T, n int) []T {
	if len(s) >= n {
		return s
	}
	old := len(s)
	s = slices.Grow(s, n-old)[:n]
	clear(s[old:])
	return s
}

// fill brings the value storage of a leaf or list column up to its entry
// count: entries appended by appendNull get zero values (empty strings and
// lists). Value appends call it only when storage lags behind.
func (c *column) fill() {
	switch c.kind {
	case cBool:
		extend(&c.u8, c.n)
	case cInt32, cDict:
		extend(&c.i32, c.n)
	case cInt64:
		extend(&c.i64, c.n)
	case cFloat32:
		extend(&c.f32, c.n)
	case cFloat64:
		extend(&c.f64, c.n)
	case cFixed:
		extend(&c.data, c.n*c.width)
	case cBinary, cList, cMap:
		if len(c.offs) < c.n+1 {
			c.fillOffs()
		}
	}
}

// fillOffs brings the offsets of a binary, list or map column up to its
// entry count: empty values repeat the last offset (binary: the data
// length, which equals it). The new offsets are written once, not cleared
// first.
func (c *column) fillOffs() {
	offs, n := c.offs, c.n+1
	old := len(offs)
	if n <= old {
		return
	}
	if n > cap(offs) {
		offs = slices.Grow(offs, n-old)
	}
	offs = offs[:n]
	last := offs[old-1]
	for i := old; i < len(offs); i++ {
		offs[i] = last
	}
	c.offs = offs
}

// truncate cuts the column back to n entries. Children are cut even when
// the column itself has n entries: a failed list or map value fills its
// child before appending its own entry.
func (c *column) truncate(n int) {
	if n > c.n {
		return
	}
	c.fill()
	c.n = n
	if w := n >> 6; w < len(c.vbits) {
		c.vbits[w] &= 1<<(uint(n)&63) - 1
		clear(c.vbits[w+1:])
	}
	switch c.kind {
	case cBool:
		c.u8 = c.u8[:n]
	case cInt32, cDict:
		c.i32 = c.i32[:n]
	case cInt64:
		c.i64 = c.i64[:n]
	case cFloat32:
		c.f32 = c.f32[:n]
	case cFloat64:
		c.f64 = c.f64[:n]
	case cBinary:
		c.offs = c.offs[:n+1]
		c.data = c.data[:c.offs[n]]
	case cFixed:
		c.data = c.data[:n*c.width]
	case cList, cMap:
		c.offs = c.offs[:n+1]
		for _, k := range c.kids {
			k.truncate(int(c.offs[n]))
		}
	case cStruct:
		for _, k := range c.kids {
			k.truncate(n)
		}
	case cUnion:
		c.tids = c.tids[:n]
		c.i32 = c.i32[:n]
		counts := make([]int, len(c.kids))
		for _, t := range c.tids {
			counts[t]++
		}
		for i, k := range c.kids {
			k.truncate(counts[i])
		}
	}
}

// size is the number of bytes the column holds, for batch size limits.
func (c *column) size() int {
	s := 8*len(c.vbits) + len(c.u8)/8 + 4*len(c.i32) + 8*len(c.i64) + 4*len(c.f32) + 8*len(c.f64) +
		len(c.data) + 4*len(c.offs) + len(c.tids)
	for _, k := range c.kids {
		s += k.size()
	}
	return s
}

func bufFrom(mem memory.Allocator, b []byte) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(b))
	copy(buf.Bytes(), b)
	return buf
}

// handoff returns the first n bytes of *s as an Arrow buffer. With the Go
// allocator, whose buffers are plain garbage-collected slices, the buffer is
// *s itself and the column continues in a buffer of a batch that has been
// released (see recycler), or else in a fresh slice of about the same
// capacity: the batch costs no copy, and in steady state with batches that
// are released no allocation and no zeroing either. Any other allocator gets
// a copy in memory it allocated, so that its accounting (and
// memory.CheckedAllocator) sees every byte of the batch.
func handoff[T byte | int8 | int32 | int64 | uint64 | float32 | float64](mem memory.Allocator, s *[]T, n int, r **recycler) *memory.Buffer {
	b := asBytes(*s)[:n]
	if _, ok := mem.(*memory.GoAllocator); !ok || n == 0 {
		return bufFrom(mem, b)
	}
	if *r == nil {
		*r = &recycler{}
	}
	buf := memory.NewBufferWithAllocator(b, *r)
	c := len(*s)
	if spare := (*r).take(c * int(unsafe.Sizeof((*s)[0]))); spare != nil {
		*s = fromBytes[T](spare)
	} else {
		*s = make([]T, 0, c+c/8)
	}
	return buf
}

// recycler is the memory.Allocator of the buffers a column hands off to a
// batch with the Go allocator: releasing the batch frees them into a short
// list, and the column takes one back for a later batch instead of
// allocating (and zeroing) a new one. A batch that is never released is
// garbage collected as with the Go allocator. Batches may be released on
// any goroutine.
type recycler struct {
	mu   sync.Mutex
	free [][]byte // full-capacity views of released buffers
}

// maxSpare bounds the released buffers a recycler keeps.
const maxSpare = 2

var goAlloc = memory.NewGoAllocator()

// Allocate and Reallocate serve Arrow code that resizes a buffer (which
// batches never do): plain Go memory.
func (r *recycler) Allocate(n int) []byte             { return goAlloc.Allocate(n) }
func (r *recycler) Reallocate(n int, b []byte) []byte { return goAlloc.Reallocate(n, b) }

// Free keeps a released buffer for reuse.
func (r *recycler) Free(b []byte) {
	if cap(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 {
		return
	}
	r.mu.Lock()
	if len(r.free) < maxSpare {
		r.free = append(r.free, b[:0])
	}
	r.mu.Unlock()
}

// take returns a released buffer of at least n bytes' capacity, or nil.
// Smaller ones are dropped: the column has outgrown them.
func (r *recycler) take(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.free) > 0 {
		b := r.free[len(r.free)-1]
		r.free[len(r.free)-1] = nil
		r.free = r.free[:len(r.free)-1]
		if cap(b) >= n {
			return b
		}
	}
	return nil
}

// asBytes views s, up to its capacity, as bytes of its length.
func asBytes[T byte | int8 | int32 | int64 | uint64 | float32 | float64](s []T) []byte {
	if cap(s) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(s[:1][0]))
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*size)[:len(s)*size]
}

// fromBytes views a buffer that asBytes made of a []T as an empty []T of
// the same capacity.
func fromBytes[T byte | int8 | int32 | int64 | uint64 | float32 | float64](b []byte) []T {
	var zero T
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), cap(b)/int(unsafe.Sizeof(zero)))[:0]
}

// littleEndian: a []uint64 in memory is then laid out as an Arrow bitmap.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// bitmapWords copies the first n bytes of a bitmap held in words.
func bitmapWords(mem memory.Allocator, words []uint64, n int) *memory.Buffer {
	if littleEndian {
		return bufFrom(mem, asBytes(words)[:n])
	}
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n)
	out := buf.Bytes()
	var tmp [8]byte
	for i, w := range words {
		binary.LittleEndian.PutUint64(tmp[:], w)
		copy(out[8*i:], tmp[:])
	}
	return buf
}

// bitmapFrom packs one-byte-per-entry flags (each 0 or 1) into an Arrow
// bitmap and counts the zeros, eight flags at a time.
func bitmapFrom(mem memory.Allocator, flags []byte) (*memory.Buffer, int) {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(len(flags)))))
	bm := buf.Bytes()
	ones := 0
	i := 0
	for ; i+8 <= len(flags); i += 8 {
		x := binary.LittleEndian.Uint64(flags[i:])
		b := byte((x * 0x0102040810204080) >> 56)
		bm[i>>3] = b
		ones += bits.OnesCount8(b)
	}
	if i < len(flags) {
		var b byte
		for j, f := range flags[i:] {
			b |= f << uint(j)
		}
		bm[i>>3] = b
		ones += bits.OnesCount8(b)
	}
	return buf, len(flags) - ones
}

// finish builds the Arrow data of the column's current contents. The caller
// owns the result and must Release it.
func (c *column) finish(mem memory.Allocator) arrow.ArrayData {
	c.fill()
	var validity *memory.Buffer
	nulls := 0
	if c.nullable && c.kind != cNull && c.kind != cUnion {
		words := (c.n + 63) >> 6
		c.vbits = zeros(c.vbits, words)
		ones := 0
		for _, w := range c.vbits[:words] {
			ones += bits.OnesCount64(w)
		}
		if nulls = c.n - ones; nulls > 0 {
			nb := int(bitutil.BytesForBits(int64(c.n)))
			if littleEndian {
				c.vbits = c.vbits[:words]
				validity = handoff(mem, &c.vbits, nb, &c.spare[sVbits])
			} else {
				validity = bitmapWords(mem, c.vbits[:words], nb)
			}
		}
	}
	var bufs []*memory.Buffer
	var kids []arrow.ArrayData
	var dict arrow.ArrayData
	switch c.kind {
	case cNull:
		bufs = []*memory.Buffer{nil}
		nulls = c.n
	case cBool:
		vals, _ := bitmapFrom(mem, c.u8)
		bufs = []*memory.Buffer{validity, vals}
	case cInt32:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.i32, 4*len(c.i32), &c.spare[sI32])}
	case cDict:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.i32, 4*len(c.i32), &c.spare[sI32])}
		b := array.NewStringBuilder(mem)
		b.AppendValues(c.symbols, nil)
		arr := b.NewArray()
		b.Release()
		dict = arr.Data()
		dict.Retain()
		arr.Release()
	case cInt64:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.i64, 8*len(c.i64), &c.spare[sI64])}
	case cFloat32:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.f32, 4*len(c.f32), &c.spare[sF32])}
	case cFloat64:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.f64, 8*len(c.f64), &c.spare[sF64])}
	case cBinary:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.offs, 4*len(c.offs), &c.spare[sOffs]), handoff(mem, &c.data, len(c.data), &c.spare[sData])}
	case cFixed:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.data, len(c.data), &c.spare[sData])}
	case cList:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.offs, 4*len(c.offs), &c.spare[sOffs])}
		kids = []arrow.ArrayData{c.kids[0].finish(mem)}
	case cMap:
		bufs = []*memory.Buffer{validity, handoff(mem, &c.offs, 4*len(c.offs), &c.spare[sOffs])}
		k, v := c.kids[0].finish(mem), c.kids[1].finish(mem)
		entries := array.NewData(c.dt.(*arrow.MapType).Elem(), c.kids[0].n, []*memory.Buffer{nil}, []arrow.ArrayData{k, v}, 0, 0)
		k.Release()
		v.Release()
		kids = []arrow.ArrayData{entries}
	case cStruct:
		bufs = []*memory.Buffer{validity}
		for _, k := range c.kids {
			kids = append(kids, k.finish(mem))
		}
	case cUnion:
		bufs = []*memory.Buffer{nil, handoff(mem, &c.tids, len(c.tids), &c.spare[sTids]), handoff(mem, &c.i32, 4*len(c.i32), &c.spare[sI32])}
		for _, k := range c.kids {
			kids = append(kids, k.finish(mem))
		}
	}
	d := array.NewData(c.dt, c.n, bufs, kids, nulls, 0)
	if dict != nil {
		d.SetDictionary(dict)
		dict.Release()
	}
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	for _, k := range kids {
		k.Release()
	}
	return d
}
