package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"strings"
	"testing"
)

// TestServerAddressDefaultsLoopback: the default of every listen-address
// flag of every command (and of the global flags, such as --prism_host) is
// off or a loopback address.
func TestServerAddressDefaultsLoopback(t *testing.T) {
	listenFlag := func(name string) bool {
		for _, w := range []string{"addr", "host", "listen", "bind"} {
			if strings.Contains(strings.ToLower(name), w) {
				return true
			}
		}
		return false
	}
	loopback := func(v string) bool {
		if v == "" {
			return true // off
		}
		host := v
		if h, _, err := net.SplitHostPort(v); err == nil {
			host = h
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	checked := 0
	check := func(where string, fs *flag.FlagSet) {
		fs.VisitAll(func(f *flag.Flag) {
			if !listenFlag(f.Name) {
				return
			}
			checked++
			if !loopback(f.DefValue) {
				t.Errorf("%s --%s defaults to %q, beyond loopback", where, f.Name, f.DefValue)
			}
		})
	}
	for _, c := range commands {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if err := c.run(context.Background(), fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v; want its flags defined and flag.ErrHelp", c.name, err)
		}
		check(c.name, fs)
	}
	check("global", flag.CommandLine)
	if flag.CommandLine.Lookup("prism_host") == nil || checked < 4 {
		t.Fatalf("checked %d address flags; want at least registry serve --addr, stack up --registry-addr, match --metrics-addr and --prism_host", checked)
	}
}
