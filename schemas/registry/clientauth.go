package registry

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/trialflow/trialflow/secret"
)

// Auth says how a client authenticates to a registry and verifies it, by
// reference: it names a password file or environment variable and PEM
// files, never a secret value, so it can be a field of a serialized DoFn
// and be resolved on the worker (WithAuth, in NewClient, in Setup). The
// zero Auth is an unauthenticated client with the system's roots.
type Auth struct {
	User     string     // HTTP basic user
	Password secret.Ref // the user's password
	CAFile   string     // PEM bundle that signs an https registry (system roots when empty)
	CertFile string     // PEM client certificate (mutual TLS)
	KeyFile  string     // PEM client key
}

// IsZero reports whether a is the zero Auth.
func (a Auth) IsZero() bool { return a == Auth{} }

// WithAuth resolves a when the client is made (NewClient fails, naming the
// reference, when the secret cannot be read).
func WithAuth(a Auth) ClientOption {
	return func(c *clientConfig) {
		if a.IsZero() {
			return
		}
		if a.User != "" || !a.Password.IsZero() {
			if a.User == "" || a.Password.IsZero() {
				c.err = errors.New("registry: credentials need both a user and a password reference")
				return
			}
			pw, err := a.Password.Resolve()
			if err != nil {
				c.err = fmt.Errorf("registry: password of %s: %w", a.User, err)
				return
			}
			c.user, c.pass = a.User, pw
		}
		if a.CAFile != "" || a.CertFile != "" || a.KeyFile != "" {
			cfg, err := a.tlsConfig()
			if err != nil {
				c.err = err
				return
			}
			c.tlsConfig = cfg
		}
	}
}

func (a Auth) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if a.CAFile != "" {
		pool, err := readPool(a.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return nil, errors.New("registry: a client certificate needs both its certificate and key files")
	}
	if a.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("registry: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
