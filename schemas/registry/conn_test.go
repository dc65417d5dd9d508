package registry_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
)

// TestConnCarriesNoSecret: a Conn marshals (as Beam serializes a DoFn's
// fields) to its URL and references only; the password is read on the
// "worker", when Client is called, and reaches the embedded registry.
func TestConnCarriesNoSecret(t *testing.T) {
	url, _ := authedServer(t)
	const pw = "writer-pw"
	t.Setenv("TF_TEST_REGISTRY_PW", pw)
	conn := registry.Conn{URL: url, Auth: registry.Auth{User: "writer", Password: secret.Env("TF_TEST_REGISTRY_PW")}}

	b, err := json.Marshal(struct{ Registry registry.Conn }{conn})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), pw) {
		t.Fatalf("marshalled Conn carries the password: %s", b)
	}
	if !strings.Contains(string(b), "TF_TEST_REGISTRY_PW") {
		t.Errorf("marshalled Conn lacks the reference: %s", b)
	}
	if s := conn.String(); strings.Contains(s, pw) || !strings.Contains(s, "env:TF_TEST_REGISTRY_PW") {
		t.Errorf("String() = %q", s)
	}

	var back struct{ Registry registry.Conn }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	cl, err := back.Registry.Client()
	if err != nil {
		t.Fatal(err)
	}
	id, err := cl.Register("conn-value", recV1)
	if err != nil || id <= 0 {
		t.Fatalf("Register through the Conn: id %d, %v", id, err)
	}
}

// TestConnPasswordFile: the password may come from a file; a wrong one is
// refused by the registry, and the error does not show it.
func TestConnPasswordFile(t *testing.T) {
	url, _ := authedServer(t)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte("reader-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not-the-pw-4711\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := registry.Conn{URL: url, Auth: registry.Auth{User: "reader", Password: secret.File(good)}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SR().GetSubjects(); err != nil {
		t.Errorf("reader with the right password: %v", err)
	}
	cl, err = registry.Conn{URL: url, Auth: registry.Auth{User: "reader", Password: secret.File(bad)}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.SR().GetSubjects()
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	if strings.Contains(err.Error(), "not-the-pw-4711") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestConnValidate(t *testing.T) {
	for _, c := range []struct {
		conn registry.Conn
		want string
	}{
		{registry.Conn{}, "no URL"},
		{registry.Conn{URL: "localhost:8081"}, "must start with http"},
		{registry.Conn{URL: "http://r", Auth: registry.Auth{User: "u"}}, "both a user and a password"},
		{registry.Conn{URL: "http://r", Auth: registry.Auth{Password: secret.Env("X")}}, "both a user and a password"},
		{registry.Conn{URL: "http://r", Auth: registry.Auth{CertFile: "c.pem"}}, "certificate and key"},
		{registry.Conn{URL: "http://r", Auth: registry.Auth{User: "u", Password: secret.Env("TF_TEST_UNSET_VARIABLE")}}, "TF_TEST_UNSET_VARIABLE"},
	} {
		_, err := c.conn.Client()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Client error %v, want one containing %q", c.conn, err, c.want)
		}
	}
	if err := (registry.Conn{URL: "https://r", Auth: registry.Auth{User: "u", Password: secret.Env("TF_TEST_UNSET_VARIABLE")}}).Validate(); err != nil {
		t.Errorf("Validate resolved the secret: %v", err)
	}
}
