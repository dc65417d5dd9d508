package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/runners/local/faulttest"
)

// procTree returns pid and its descendants.
func procTree(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after the last ')'.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[p] = pp
			}
		}
	}
	tree := []int{pid}
	for changed := true; changed; {
		changed = false
		for p, pp := range parent {
			in, ppIn := false, false
			for _, q := range tree {
				in = in || q == p
				ppIn = ppIn || q == pp
			}
			if !in && ppIn {
				tree = append(tree, p)
				changed = true
			}
		}
	}
	return tree
}

// TestSecretsNotInArgv runs the real trialflow binary: `match` on a broker
// that requires SASL/SCRAM over TLS and an HTTPS registry with users, its
// passwords by reference. While it runs, the command line of it and of
// every process it starts (/proc/PID/cmdline, what ps shows) holds no
// password, and neither does its output. A password, a pseudonym key or a
// key-encryption key given as a value where a reference is expected is
// refused (exit 2) with an error that says what to give instead and does
// not echo the value.
func TestSecretsNotInArgv(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc")
	}
	if testing.Short() {
		t.Skip("builds and runs the trialflow binary")
	}
	bin := faulttest.Build(t, ".")
	s := newSecuredStack(t)
	s.gen(t, 0)

	args := append(append([]string{"match"}, s.clientFlags()...), "--shards", "2", "--tick", "10m")
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &out}, &syncWriter{w: &out}
	cmd.Env = os.Environ() // holds TF_TEST_KAFKA_PW: the reference's target
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	seen := map[int]bool{}
	var cmdlines []string
	sample := func() {
		for _, pid := range procTree(cmd.Process.Pid) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || len(b) == 0 {
				continue
			}
			line := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
			if !seen[pid] {
				seen[pid] = true
				cmdlines = append(cmdlines, line)
			}
			for name, v := range s.secrets() {
				if strings.Contains(line, v) {
					t.Errorf("the %s is in the command line of process %d", name, pid)
				}
			}
		}
	}
	sample() // right after exec: the binary's own argv
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-time.After(20 * time.Millisecond):
			sample()
		}
	}
	if err != nil {
		t.Fatalf("match: %v\n%s", err, out.String())
	}
	if len(cmdlines) == 0 || !strings.Contains(cmdlines[0], "--kafka-password env:"+s.kafkaPWEnv) {
		t.Fatalf("command lines seen %q: the argv check proves nothing", cmdlines)
	}
	for name, v := range s.secrets() {
		if strings.Contains(out.String(), v) {
			t.Errorf("the %s is in match's output", name)
		}
	}
	if !strings.Contains(out.String(), "pipeline metrics") && !strings.Contains(out.String(), "Prism web UI") {
		t.Errorf("match's output lacks the runner's notices:\n%s", out.String())
	}
	t.Logf("command lines seen: %q", cmdlines)

	// Values where references are expected.
	const rawPW = "raw-password-6a1f0e93"
	rawKey := strings.Repeat("5a", 32)
	rawKEK := "base64key://" + strings.Repeat("QUJD", 10) + "QUJDREVGR0g="
	for _, c := range []struct {
		args  []string
		value string
	}{
		{[]string{"--kafka-sasl", "SCRAM-SHA-512", "--kafka-user", "matcher", "--kafka-password", rawPW}, rawPW},
		{[]string{"--registry-password=" + rawPW}, rawPW},
		{[]string{"--bucket", "file:///tmp", "--keeper", "k1=file:/k", "--tenant-key", "practice-01=" + rawKey}, rawKey},
		{[]string{"--bucket", "file:///tmp", "--keeper", "k1=" + rawKEK, "--tenant-key", "practice-01=file:/k"}, strings.TrimPrefix(rawKEK, "base64key://")},
	} {
		name := "match"
		if strings.Contains(strings.Join(c.args, " "), "--bucket") {
			name = "ingest"
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, append([]string{name}, c.args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%s %q: %v, want exit status 2\n%s", name, c.args, err, out.String())
		}
		if strings.Contains(out.String(), c.value) {
			t.Errorf("%s %q: the refusal echoes the value:\n%s", name, c.args, out.String())
		}
		if !strings.Contains(out.String(), "file:") || !strings.Contains(out.String(), "env:") {
			t.Errorf("%s %q: the refusal does not say to give file:PATH or env:NAME:\n%s", name, c.args, out.String())
		}
	}
}
