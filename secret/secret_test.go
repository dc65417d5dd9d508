package secret_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/secret"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TF_TEST_SECRET", " other ")
	for _, c := range []struct {
		in, want string
	}{{"file:" + f, "s3cret"}, {"env:TF_TEST_SECRET", "other"}, {"", ""}} {
		r, err := secret.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Resolve()
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.in, got, err, c.want)
		}
		if r.String() != c.in {
			t.Errorf("String() = %q, want %q", r.String(), c.in)
		}
	}
}

func TestErrorsNeverShowTheSecret(t *testing.T) {
	if _, err := secret.Parse("hunter2"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Parse of a value: %v", err)
	}
	if _, err := secret.Env("TF_TEST_UNSET_VARIABLE").Resolve(); err == nil || !strings.Contains(err.Error(), "TF_TEST_UNSET_VARIABLE") {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := secret.File("/nonexistent/pw").Resolve(); err == nil {
		t.Error("missing file resolved")
	}
	t.Setenv("TF_TEST_EMPTY", "")
	if _, err := secret.Env("TF_TEST_EMPTY").Resolve(); err == nil {
		t.Error("empty secret resolved")
	}
}

func TestFlagValue(t *testing.T) {
	var r secret.Ref
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	fs.Var(&r, "password", "")
	if err := fs.Parse([]string{"--password=env:PW"}); err != nil || r != secret.Env("PW") {
		t.Fatalf("got %v, %v", r, err)
	}
	if err := fs.Parse([]string{"--password=hunter2"}); err == nil {
		t.Fatal("a value was accepted as a reference")
	}
}

func ExampleRef() {
	os.Setenv("REGISTRY_PASSWORD", "not printed")
	r, _ := secret.Parse("env:REGISTRY_PASSWORD")
	fmt.Println(r) // the reference, never the secret
	pw, _ := r.Resolve()
	fmt.Println(len(pw))
	// Output:
	// env:REGISTRY_PASSWORD
	// 11
}
