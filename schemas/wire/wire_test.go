package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/schemas/wire"
)

func TestRoundTrip(t *testing.T) {
	for _, id := range []uint32{0, 1, 255, 256, 1 << 24, 0xFFFFFFFF} {
		msg := wire.Append(nil, id, []byte("payload"))
		if len(msg) != wire.HeaderSize+7 {
			t.Fatalf("len = %d", len(msg))
		}
		gotID, p, err := wire.Parse(msg)
		if err != nil || gotID != id || string(p) != "payload" {
			t.Fatalf("Parse(%x) = %d %q %v", msg, gotID, p, err)
		}
	}
}

func TestKnownBytes(t *testing.T) {
	got := wire.Append(nil, 0x01020304, []byte{0xAA})
	want := []byte{0, 1, 2, 3, 4, 0xAA}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		in      []byte
		is      error
		message string
	}{
		{nil, wire.ErrShortBuffer, "short buffer: 0 bytes"},
		{[]byte{0, 0, 0, 1}, wire.ErrShortBuffer, "short buffer: 4 bytes"},
		{[]byte{1, 0, 0, 0, 1}, wire.ErrMagicByte, "wrong magic byte 0x01"},
		{[]byte("{\"json\":1}"), wire.ErrMagicByte, "wrong magic byte 0x7b"},
	}
	for _, c := range cases {
		_, _, err := wire.Parse(c.in)
		if !errors.Is(err, c.is) {
			t.Errorf("Parse(%x) err = %v, want %v", c.in, err, c.is)
			continue
		}
		if !strings.Contains(err.Error(), c.message) {
			t.Errorf("Parse(%x) err = %q, want it to contain %q", c.in, err, c.message)
		}
		var fe *wire.FrameError
		if !errors.As(err, &fe) || fe.Len != len(c.in) {
			t.Errorf("Parse(%x): want *FrameError with Len %d, got %#v", c.in, len(c.in), err)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	buf := make([]byte, 0, 64)
	msg := wire.Append(nil, 42, []byte("abc"))
	n := testing.AllocsPerRun(100, func() {
		buf = wire.Append(buf[:0], 42, []byte("abc"))
		if _, _, err := wire.Parse(msg); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("allocs per run = %v, want 0", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1, 2})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, msg []byte) {
		id, p, err := wire.Parse(msg)
		if err != nil {
			if len(msg) >= wire.HeaderSize && msg[0] == 0 {
				t.Fatalf("valid frame rejected: %v", err)
			}
			return
		}
		if again := wire.Append(nil, id, p); !bytes.Equal(again, msg) {
			t.Fatalf("re-encode %x != %x", again, msg)
		}
	})
}

func ExampleAppend() {
	msg := wire.Append(nil, 7, []byte{0x02, 0x61})
	id, payload, err := wire.Parse(msg)
	fmt.Printf("% x\n%d %x %v\n", msg, id, payload, err)
	// Output:
	// 00 00 00 00 07 02 61
	// 7 0261 <nil>
}
