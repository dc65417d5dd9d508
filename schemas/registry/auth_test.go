package registry_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/internal/testpki"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
)

// usersFile writes a credentials file with a read, a write and an admin
// user (password "<name>-pw") and a certificate-only reader.
func usersFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test users\n")
	for _, u := range []struct{ name, role string }{{"reader", "read"}, {"writer", "write"}, {"owner", "admin"}} {
		h, err := registry.HashPassword(u.name + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u.name + ": " + h + "," + u.role + "\n")
	}
	b.WriteString("worker: -,read\n")
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func authedServer(t *testing.T, opts ...registry.ServerOption) (url, audit string) {
	t.Helper()
	us, err := registry.LoadUsers(usersFile(t))
	if err != nil {
		t.Fatal(err)
	}
	audit = filepath.Join(t.TempDir(), "audit.log")
	return startServer(t, "", append([]registry.ServerOption{registry.WithUsers(us), registry.WithAuditLog(audit)}, opts...)...), audit
}

func do(t *testing.T, hc *http.Client, method, url, user, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	if user != "" {
		req.SetBasicAuth(user, user+"-pw")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func auditLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestRolesAndAudit: an unauthenticated DELETE gets 401, a read-only
// user's register 403, a writer registers but may not delete or set
// compatibility, the admin may; every change is in the audit log with its
// user.
func TestRolesAndAudit(t *testing.T) {
	url, audit := authedServer(t)
	hc := http.DefaultClient
	subj := url + "/subjects/dead_letter-value"
	body := schemaBody(recV1)
	for _, c := range []struct {
		method, url, user, body string
		want                    int
	}{
		{"GET", url + "/subjects", "", "", 401},
		{"POST", subj + "/versions", "reader", body, 403},
		{"POST", subj + "/versions", "writer", body, 200},
		{"GET", subj + "/versions/1", "reader", "", 200},
		{"POST", subj, "reader", body, 200}, // lookup
		{"DELETE", subj, "", "", 401},
		{"DELETE", subj + "?permanent=true", "", "", 401},
		{"DELETE", subj, "writer", "", 403},
		{"PUT", url + "/config", "writer", `{"compatibility":"NONE"}`, 403},
		{"PUT", url + "/mode", "reader", `{"mode":"READONLY"}`, 403},
		{"PUT", url + "/config/dead_letter-value", "owner", `{"compatibility":"FULL"}`, 200},
		{"DELETE", subj, "owner", "", 200},
	} {
		if got := do(t, hc, c.method, c.url, c.user, c.body); got != c.want {
			t.Errorf("%s %s as %q: status %d, want %d", c.method, c.url, c.user, got, c.want)
		}
	}
	// A wrong password is no password.
	req, _ := http.NewRequest("GET", url+"/subjects", nil)
	req.SetBasicAuth("owner", "guess")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong password: %v %v", resp, err)
	}

	type entry struct{ user, action string }
	var got []entry
	for _, m := range auditLines(t, audit) {
		got = append(got, entry{m["user"].(string), m["action"].(string) + " " + m["outcome"].(string)})
	}
	want := []entry{
		{"reader", "register denied"}, {"writer", "register ok"},
		{"(unauthenticated)", "delete unauthenticated"}, {"(unauthenticated)", "delete unauthenticated"},
		{"writer", "delete denied"}, {"writer", "config denied"}, {"reader", "mode denied"},
		{"owner", "config ok"}, {"owner", "delete ok"},
	}
	if len(got) != len(want) {
		t.Fatalf("audit log:\n%v\nwant\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit line %d: %v, want %v", i, got[i], want[i])
		}
	}
	// Reads are not changes: nothing else was logged.
}

// TestAuditLogAppends: a restarted server appends to the audit log.
func TestAuditLogAppends(t *testing.T) {
	us, err := registry.LoadUsers(usersFile(t))
	if err != nil {
		t.Fatal(err)
	}
	audit := filepath.Join(t.TempDir(), "audit.log")
	for i := 0; i < 2; i++ {
		url, srv, err := registry.StartServer("127.0.0.1:0", "", registry.WithUsers(us), registry.WithAuditLog(audit))
		if err != nil {
			t.Fatal(err)
		}
		do(t, http.DefaultClient, "POST", url+"/subjects/s-value/versions", "writer", schemaBody(recV1))
		srv.Close()
	}
	if n := len(auditLines(t, audit)); n != 2 {
		t.Fatalf("%d audit lines, want 2", n)
	}
}

// TestTLSClientCertificates: an https registry requiring client
// certificates; the Client verifies it with a CA file, authenticates with
// its certificate (common name "worker", a read-only user) or with a
// password by reference; without a certificate the handshake fails.
func TestTLSClientCertificates(t *testing.T) {
	pki := testpki.New(t, "worker")
	cfg, err := registry.ServerTLSConfig(pki.ServerCert, pki.ServerKey, pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := authedServer(t, registry.WithTLS(cfg))
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("url %s", url)
	}
	// Certificate only: the worker may read, not register.
	c, err := registry.NewClient(url, registry.WithAuth(registry.Auth{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SR().GetSubjects(); err != nil {
		t.Fatalf("read with a client certificate: %v", err)
	}
	if _, err := c.Register("s-value", recV1); registry.ErrorCode(err) != registry.CodeForbidden {
		t.Fatalf("register by a read-only certificate: %v", err)
	}
	// Certificate and password: the writer registers.
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("writer-pw\n"), 0o600)
	c, err = registry.NewClient(url, registry.WithAuth(registry.Auth{User: "writer", Password: secret.File(pw),
		CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register("s-value", recV1); err != nil {
		t.Fatalf("register by the writer: %v", err)
	}
	// No client certificate: refused in the handshake.
	c, err = registry.NewClient(url, registry.WithAuth(registry.Auth{User: "writer", Password: secret.File(pw), CAFile: pki.CAFile}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SR().GetSubjects(); err == nil {
		t.Fatal("a client without a certificate was served")
	}
}

func TestReadUsersRefusesClearPasswords(t *testing.T) {
	for _, in := range []string{"alice: hunter2,admin\n", "alice: $2a$10$short,admin\n", "alice $2a$,read\n", "alice: -,root\n", ""} {
		_, err := registry.ReadUsers(strings.NewReader(in))
		if err == nil {
			t.Errorf("%q accepted", in)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestUnauthenticatedOnlyOnLoopback: the zero-config server is refused an
// address beyond loopback unless explicitly allowed.
func TestUnauthenticatedOnlyOnLoopback(t *testing.T) {
	if _, _, err := registry.StartServer("0.0.0.0:0", ""); err == nil || !strings.Contains(err.Error(), "without authentication") {
		t.Fatalf("err = %v", err)
	}
	_, srv, err := registry.StartServer("0.0.0.0:0", "", registry.AllowUnauthenticated())
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	url, srv, err := registry.StartServer("localhost:0", "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_ = url
}
