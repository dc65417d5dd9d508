package main

// Command-level security tests (issue 18): the commands' own flag parsing
// and run functions, with users, TLS, SASL/SCRAM and secrets by reference.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialflow/trialflow/internal/testpki"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
)

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeFile writes v to name under dir (mode 0600) and returns its path.
func writeFile(t *testing.T, dir, name, v string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// usersFile writes a registry credentials file of name -> (password, role).
func usersFile(t *testing.T, dir string, users map[string][2]string) string {
	t.Helper()
	var b strings.Builder
	for name, u := range users {
		h, err := registry.HashPassword(u[0])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s,%s\n", name, h, u[1])
	}
	return writeFile(t, dir, "users", b.String())
}

// runCommand runs a command's run function in-process on a fresh flag set
// until ctx ends; the returned channel gets its result.
func runCommand(ctx context.Context, run func(context.Context, *flag.FlagSet, []string) error, args ...string) <-chan error {
	done := make(chan error, 1)
	go func() {
		fs := flag.NewFlagSet("trialflow", flag.ContinueOnError)
		done <- run(ctx, fs, args)
	}()
	return done
}

// checkSecuredRegistry checks a registry served over HTTPS with users
// admin (admin) and reader (read), and its audit log.
func checkSecuredRegistry(t *testing.T, url string, ca *testpki.PKI, adminPW, readerPW, auditLog string, exited <-chan error) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CA}}}
	do := func(method, path, user, pw, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Wait until it serves (over HTTPS: a plain-HTTP client would fail).
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", url+"/subjects", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the command exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry at %s never answered: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("registry URL %s: want https", url)
	}
	if c := do("DELETE", "/subjects/dead_letter-value?permanent=true", "", "", ""); c != http.StatusUnauthorized {
		t.Errorf("unauthenticated DELETE: %d, want 401", c)
	}
	if c := do("DELETE", "/subjects/dead_letter-value", "admin", "wrong-password", ""); c != http.StatusUnauthorized {
		t.Errorf("DELETE with a wrong password: %d, want 401", c)
	}
	if c := do("GET", "/subjects", "reader", readerPW, ""); c != http.StatusOK {
		t.Errorf("reader GET /subjects: %d, want 200", c)
	}
	if c := do("POST", "/subjects/sec-test-value/versions", "reader", readerPW, `{"schema":"\"string\""}`); c != http.StatusForbidden {
		t.Errorf("reader's register: %d, want 403", c)
	}
	if c := do("PUT", "/config", "reader", readerPW, `{"compatibility":"NONE"}`); c != http.StatusForbidden {
		t.Errorf("reader's PUT /config: %d, want 403", c)
	}
	if c := do("PUT", "/config/sec-test-value", "admin", adminPW, `{"compatibility":"FULL"}`); c != http.StatusOK {
		t.Errorf("admin's PUT /config/sec-test-value: %d, want 200", c)
	}
	b, err := os.ReadFile(auditLog)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	type entry struct {
		User, Action, Path, Outcome string
		Status                      int
	}
	var entries []entry
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	has := func(user, action, path string, status int) bool {
		for _, e := range entries {
			if e.User == user && e.Action == action && e.Path == path && e.Status == status {
				return true
			}
		}
		return false
	}
	if !has("admin", "config", "/config/sec-test-value", http.StatusOK) {
		t.Errorf("the admin's config change is not in the audit log naming admin:\n%s", b)
	}
	if !has("reader", "register", "/subjects/sec-test-value/versions", http.StatusForbidden) {
		t.Errorf("the reader's refused register is not in the audit log:\n%s", b)
	}
	if !has("(unauthenticated)", "delete", "/subjects/dead_letter-value", http.StatusUnauthorized) {
		t.Errorf("the unauthenticated DELETE is not in the audit log:\n%s", b)
	}
	if bytes.Contains(b, []byte(adminPW)) || bytes.Contains(b, []byte(readerPW)) || bytes.Contains(b, []byte("wrong-password")) {
		t.Error("a password is in the audit log")
	}
}

// TestRegistryServeCommandSecured runs `registry serve` and `stack up`
// through their own flag parsing with a users file, an audit log and TLS
// flags: over HTTPS an unauthenticated DELETE gets 401, a read-only user's
// register gets 403, an admin's change is in the audit log naming admin.
func TestRegistryServeCommandSecured(t *testing.T) {
	const adminPW, readerPW = "admin-pw-5e1d0b7a", "reader-pw-99a0c3f2"
	pki := testpki.New(t, "client")
	dir := t.TempDir()
	users := usersFile(t, dir, map[string][2]string{"admin": {adminPW, "admin"}, "reader": {readerPW, "read"}})

	t.Run("registry serve", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		audit := filepath.Join(t.TempDir(), "audit.log")
		addr := freeAddr(t)
		done := runCommand(ctx, registryServe, "--addr", addr, "--users", users, "--audit-log", audit,
			"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey)
		checkSecuredRegistry(t, "https://"+addr, &pki, adminPW, readerPW, audit, done)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("stack up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		data := t.TempDir()
		addr := freeAddr(t)
		t.Setenv("TF_TEST_REGISTRY_ADMIN_PW", adminPW)
		// The stack registers the contracts as admin, over HTTPS, by reference.
		done := runCommand(ctx, stackUp, "--kafka-port", "0", "--registry-addr", addr, "--data", data,
			"--registry-users", users, "--registry-tls-cert", pki.ServerCert, "--registry-tls-key", pki.ServerKey,
			"--registry-user", "admin", "--registry-password", "env:TF_TEST_REGISTRY_ADMIN_PW", "--registry-ca", pki.CAFile)
		// Audit log by default in DATA/registry/audit.log.
		checkSecuredRegistry(t, "https://"+addr, &pki, adminPW, readerPW, filepath.Join(data, "registry", "audit.log"), done)
		t.Setenv("TF_TEST_READER_PW", readerPW)
		rc, err := registry.NewClient("https://"+addr, registry.WithAuth(registry.Auth{User: "reader", Password: secret.Env("TF_TEST_READER_PW"), CAFile: pki.CAFile}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.IDFor(schemas.ApprovedPatients.ValueSubject(), schemas.ApprovedPatients.Schema()); err != nil {
			t.Errorf("stack up did not register the contracts as admin: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// captureOutput sends os.Stdout, os.Stderr, the log package and slog's
// default logger to a file until the returned function is called, which
// restores them and returns what was written.
func captureOutput(t *testing.T) func() string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, logOut, slogDefault := os.Stdout, os.Stderr, log.Writer(), slog.Default()
	os.Stdout, os.Stderr = f, f
	log.SetOutput(f)
	slog.SetDefault(slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return func() string {
		os.Stdout, os.Stderr = stdout, stderr
		log.SetOutput(logOut)
		slog.SetDefault(slogDefault)
		f.Close()
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}
