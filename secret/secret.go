package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Ref refers to a secret held in a file or an environment variable. At most
// one of File and Env is set; the zero Ref refers to no secret. A Ref holds
// no secret material, so it may be part of a serialized DoFn.
type Ref struct {
	File string // read the secret from this file (surrounding white space trimmed)
	Env  string // read the secret from this environment variable
}

// File refers to the secret in the file at path.
func File(path string) Ref { return Ref{File: path} }

// Env refers to the secret in the environment variable name.
func Env(name string) Ref { return Ref{Env: name} }

// Parse reads "file:PATH" or "env:NAME". The empty string is the zero Ref.
// Anything else is refused, so that a secret typed as a value by mistake is
// not taken (and is not echoed in the error).
func Parse(s string) (Ref, error) {
	switch {
	case s == "":
		return Ref{}, nil
	case strings.HasPrefix(s, "file:") && len(s) > len("file:"):
		return File(s[len("file:"):]), nil
	case strings.HasPrefix(s, "env:") && len(s) > len("env:"):
		return Env(s[len("env:"):]), nil
	}
	return Ref{}, errors.New("secret: want a reference file:PATH or env:NAME, not a value")
}

// IsZero reports whether r refers to no secret.
func (r Ref) IsZero() bool { return r.File == "" && r.Env == "" }

// String is the reference ("file:PATH", "env:NAME" or ""), never the secret.
func (r Ref) String() string {
	switch {
	case r.File != "":
		return "file:" + r.File
	case r.Env != "":
		return "env:" + r.Env
	}
	return ""
}

// Set parses s into r, so that a *Ref is a flag.Value.
func (r *Ref) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Resolve returns the secret. A file's content and a variable's value are
// trimmed of surrounding white space (a trailing newline is common); an
// empty secret, an unset variable or an unreadable file is an error naming
// the reference. The zero Ref resolves to "".
func (r Ref) Resolve() (string, error) {
	if r.File != "" && r.Env != "" {
		return "", fmt.Errorf("secret: %s and env:%s both given; want one", r.String(), r.Env)
	}
	var v string
	switch {
	case r.File != "":
		b, err := os.ReadFile(r.File)
		if err != nil {
			return "", fmt.Errorf("secret: %w", err)
		}
		v = strings.TrimSpace(string(b))
	case r.Env != "":
		s, ok := os.LookupEnv(r.Env)
		if !ok {
			return "", fmt.Errorf("secret: environment variable %s is not set", r.Env)
		}
		v = strings.TrimSpace(s)
	default:
		return "", nil
	}
	if v == "" {
		return "", fmt.Errorf("secret: %s is empty", r)
	}
	return v, nil
}
