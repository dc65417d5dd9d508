package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The join payloads are events in a compact binary form: signed varints and
// length-prefixed strings, in field order. Decoders check every length.

// ErrTruncated reports a payload that ends inside a field.
var ErrTruncated = errors.New("nexmark: truncated payload")

// ErrTrailing reports a payload with bytes after its last field.
var ErrTrailing = errors.New("nexmark: trailing bytes after the last field")

// end records an error when bytes are left after the last field.
func (r *reader) end() {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes left: %w", len(r.b), ErrTrailing)
	}
}

// maxString bounds a decoded string field.
const maxString = 1 << 16

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str(field string) string {
	if r.err != nil {
		return ""
	}
	l, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrTruncated
		return ""
	}
	if l > maxString || l > uint64(len(r.b)-n) {
		r.err = fmt.Errorf("nexmark: %s length %d exceeds the %d bytes left (limit %d): %w", field, l, len(r.b)-n, maxString, ErrTruncated)
		return ""
	}
	s := string(r.b[n : n+int(l)])
	r.b = r.b[n+int(l):]
	return s
}

// AppendPerson appends the encoding of p to b.
func AppendPerson(b []byte, p *Person) []byte {
	b = binary.AppendVarint(b, p.ID)
	b = appendString(b, p.Name)
	b = appendString(b, p.Email)
	b = appendString(b, p.City)
	b = appendString(b, p.State)
	return binary.AppendVarint(b, p.DateTime)
}

// DecodePerson decodes a payload written by AppendPerson.
func DecodePerson(b []byte) (Person, error) {
	r := reader{b: b}
	p := Person{ID: r.int(), Name: r.str("person name"), Email: r.str("person email"),
		City: r.str("person city"), State: r.str("person state"), DateTime: r.int()}
	r.end()
	if r.err != nil {
		return Person{}, fmt.Errorf("decode person: %w", r.err)
	}
	return p, nil
}

// AppendAuction appends the encoding of a to b.
func AppendAuction(b []byte, a *Auction) []byte {
	for _, v := range []int64{a.ID, a.Seller, a.Category, a.InitialBid, a.Reserve, a.DateTime, a.Expires} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// DecodeAuction decodes a payload written by AppendAuction.
func DecodeAuction(b []byte) (Auction, error) {
	r := reader{b: b}
	a := Auction{ID: r.int(), Seller: r.int(), Category: r.int(), InitialBid: r.int(),
		Reserve: r.int(), DateTime: r.int(), Expires: r.int()}
	r.end()
	if r.err != nil {
		return Auction{}, fmt.Errorf("decode auction: %w", r.err)
	}
	return a, nil
}

// AppendBid appends the encoding of bid to b.
func AppendBid(b []byte, bid *Bid) []byte {
	for _, v := range []int64{bid.Auction, bid.Bidder, bid.Price, bid.DateTime} {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// DecodeBid decodes a payload written by AppendBid.
func DecodeBid(b []byte) (Bid, error) {
	r := reader{b: b}
	bid := Bid{Auction: r.int(), Bidder: r.int(), Price: r.int(), DateTime: r.int()}
	r.end()
	if r.err != nil {
		return Bid{}, fmt.Errorf("decode bid: %w", r.err)
	}
	return bid, nil
}
