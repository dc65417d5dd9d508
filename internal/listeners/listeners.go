package listeners

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrUnsupported is returned where /proc/net is not available (not Linux).
var ErrUnsupported = errors.New("listeners: /proc/net/tcp not available")

// tcpListen is the state code of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// Of returns the local addresses of the TCP sockets in LISTEN state that
// process pid holds open (os.Getpid() for this process).
func Of(pid int) ([]netip.AddrPort, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []netip.AddrPort
	for _, f := range []string{"tcp", "tcp6"} {
		path := fmt.Sprintf("/proc/%d/net/%s", pid, f)
		fh, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) && f == "tcp6" {
				continue // no IPv6 in the kernel
			}
			if os.IsNotExist(err) {
				return nil, ErrUnsupported
			}
			return nil, fmt.Errorf("listeners: %w", err)
		}
		socks, err := Parse(fh, f == "tcp6")
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("listeners: %s: %w", path, err)
		}
		for _, s := range socks {
			if s.Listening && inodes[s.Inode] {
				out = append(out, s.Local)
			}
		}
	}
	return out, nil
}

// NonLoopback returns the addresses of ls that are not loopback addresses.
func NonLoopback(ls []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range ls {
		if !a.Addr().Unmap().IsLoopback() {
			out = append(out, a)
		}
	}
	return out
}

func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, ErrUnsupported
		}
		return nil, fmt.Errorf("listeners: %w", err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(s, "]")] = true
		}
	}
	return inodes, nil
}

// Socket is one line of /proc/net/tcp or /proc/net/tcp6.
type Socket struct {
	Local     netip.AddrPort
	Listening bool
	Inode     string
}

// Parse reads the lines of /proc/net/tcp (v6 false) or /proc/net/tcp6.
func Parse(r interface{ Read([]byte) (int, error) }, v6 bool) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	var out []Socket
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			return nil, fmt.Errorf("short line %q", sc.Text())
		}
		ap, err := parseAddr(f[1], v6)
		if err != nil {
			return nil, err
		}
		out = append(out, Socket{Local: ap, Listening: f[3] == tcpListen, Inode: f[9]})
	}
	return out, sc.Err()
}

// parseAddr reads "0100007F:1F90": the address as 32-bit words in host
// (little-endian) byte order, then the port in hex.
func parseAddr(s string, v6 bool) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (!v6 && len(raw) != 4) || (v6 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i+4 <= len(raw); i += 4 { // each 32-bit word is little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
