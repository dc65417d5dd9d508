package listeners_test

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/internal/listeners"
)

func TestParse(t *testing.T) {
	const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0
`
	got, err := listeners.Parse(strings.NewReader(tcp), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []listeners.Socket{
		{Local: netip.MustParseAddrPort("127.0.0.1:8080"), Listening: true, Inode: "111"},
		{Local: netip.MustParseAddrPort("0.0.0.0:80"), Listening: true, Inode: "222"},
		{Local: netip.MustParseAddrPort("127.0.0.1:8080"), Listening: false, Inode: "333"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	const tcp6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 444 1
`
	got, err = listeners.Parse(strings.NewReader(tcp6), true)
	if err != nil || len(got) != 1 || got[0].Local != netip.MustParseAddrPort("[::1]:8080") {
		t.Fatalf("tcp6: %v, %v", got, err)
	}
}

func TestOfThisProcess(t *testing.T) {
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	any, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer any.Close()
	ls, err := listeners.Of(os.Getpid())
	if err == listeners.ErrUnsupported {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	bad := listeners.NonLoopback(ls)
	if len(ls) != 2 || len(bad) != 1 || bad[0].Port() != uint16(any.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("listening %v, non-loopback %v", ls, bad)
	}
}
