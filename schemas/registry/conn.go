package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Conn says how to reach a Schema Registry: its URL and Auth (user,
// password by reference, CA and client certificate files). It is the
// registry's counterpart of kafkaio.Conn: it holds plain values and no
// secret, so a DoFn may carry it into a serialized pipeline, and Client
// builds the *Client on the worker (in Setup), reading the password from
// its file or environment variable there. Files it names must exist on the
// workers, and variables be set there.
type Conn struct {
	URL  string // http:// or https:// base URL
	Auth Auth   // credentials and CA, by reference; the zero Auth is none
}

// Validate reports a clear error for an unusable Conn without reading any
// file or secret.
func (c Conn) Validate() error {
	if c.URL == "" {
		return errors.New("registry: connection has no URL")
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return fmt.Errorf("registry: registry URL %q must start with http:// or https://", c.URL)
	}
	if (c.Auth.User == "") != c.Auth.Password.IsZero() {
		return errors.New("registry: credentials need both a user and a password reference")
	}
	if (c.Auth.CertFile == "") != (c.Auth.KeyFile == "") {
		return errors.New("registry: a client certificate needs both its certificate and key files")
	}
	return nil
}

// Client validates c, resolves its password and certificates and returns
// a client; opts come after c's own (WithAutoRegister, WithTimeout, ...).
// Errors name the reference, never the secret.
func (c Conn) Client(opts ...ClientOption) (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return NewClient(c.URL, append([]ClientOption{WithAuth(c.Auth)}, opts...)...)
}

// String is the URL, and the user and password reference when set: never
// a secret, so a Conn may be logged.
func (c Conn) String() string {
	if c.Auth.User == "" {
		return c.URL
	}
	return fmt.Sprintf("%s (user %s, password %s)", c.URL, c.Auth.User, c.Auth.Password)
}
