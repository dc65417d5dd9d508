package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/secret"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// clientSecurity is the security flags every command that talks to Kafka
// and the Schema Registry takes. Secrets are references (file:PATH or
// env:NAME), never values: argv is visible to every user of the host (ps),
// and the references, not the secrets, travel in the pipeline to the
// workers, which resolve them in Setup.
type clientSecurity struct {
	reg   registry.Auth
	kafka kafkaio.Conn // without brokers
}

func addClientSecurityFlags(fs *flag.FlagSet) *clientSecurity {
	c := &clientSecurity{}
	fs.StringVar(&c.reg.User, "registry-user", "", "Schema Registry user (HTTP basic)")
	fs.Var(&c.reg.Password, "registry-password", "Schema Registry password, by reference: file:PATH or env:NAME")
	fs.StringVar(&c.reg.CAFile, "registry-ca", "", "PEM CA bundle of an https:// Schema Registry")
	fs.StringVar(&c.reg.CertFile, "registry-cert", "", "PEM client certificate for the Schema Registry (mutual TLS)")
	fs.StringVar(&c.reg.KeyFile, "registry-key", "", "PEM client key for --registry-cert")
	fs.BoolVar(&c.kafka.TLS, "kafka-tls", false, "connect to Kafka with TLS")
	fs.StringVar(&c.kafka.TLSCAFile, "kafka-ca", "", "PEM CA bundle of the Kafka brokers (implies --kafka-tls)")
	fs.StringVar(&c.kafka.TLSCertFile, "kafka-cert", "", "PEM client certificate for Kafka (mutual TLS; implies --kafka-tls)")
	fs.StringVar(&c.kafka.TLSKeyFile, "kafka-key", "", "PEM client key for --kafka-cert")
	fs.StringVar(&c.kafka.SASLMechanism, "kafka-sasl", "", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&c.kafka.SASLUser, "kafka-user", "", "Kafka SASL user")
	fs.Var(&c.kafka.SASLPassword, "kafka-password", "Kafka SASL password, by reference: file:PATH or env:NAME")
	return c
}

// conn returns the Kafka connection to brokers with the security flags,
// checked.
func (c *clientSecurity) conn(brokers []string) (kafkaio.Conn, error) {
	k := c.kafka
	k.Brokers = brokers
	k.SASLMechanism = strings.ToUpper(k.SASLMechanism)
	if k.TLSCAFile != "" || k.TLSCertFile != "" {
		k.TLS = true
	}
	if err := k.Validate(); err != nil {
		return kafkaio.Conn{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if k.SASLMechanism == kafkaio.SASLPlain && !k.TLS {
		fmt.Fprintln(os.Stderr, "trialflow: warning: SASL PLAIN without --kafka-tls sends the password in clear")
	}
	return k, nil
}

// kgoOpts returns franz-go options for a client of brokers (the secrets
// resolved here, in the launcher).
func (c *clientSecurity) kgoOpts(brokers []string, more ...kgo.Opt) ([]kgo.Opt, error) {
	k, err := c.conn(brokers)
	if err != nil {
		return nil, err
	}
	opts, err := k.Opts()
	if err != nil {
		return nil, err
	}
	return append(opts, more...), nil
}

// registryClient returns a Schema Registry client with the credentials.
func (c *clientSecurity) registryClient(url string, opts ...registry.ClientOption) (*registry.Client, error) {
	return registry.NewClient(url, append(opts, registry.WithAuth(c.reg))...)
}

// serverSecurity is the flags of a Schema Registry server (registry serve,
// stack up), named with prefix.
type serverSecurity struct {
	users, audit, cert, key, clientCA *string
	allowOpen                         *bool
}

func addServerSecurityFlags(fs *flag.FlagSet, prefix string) *serverSecurity {
	return &serverSecurity{
		users:     fs.String(prefix+"users", "", "credentials file of registry users (NAME: BCRYPT_HASH,ROLE per line; roles read, write, admin)"),
		audit:     fs.String(prefix+"audit-log", "", "append-only audit log of every registry change (default: DATA/audit.log with a data directory)"),
		cert:      fs.String(prefix+"tls-cert", "", "serve the registry over HTTPS with this PEM certificate"),
		key:       fs.String(prefix+"tls-key", "", "PEM key of the registry's certificate"),
		clientCA:  fs.String(prefix+"tls-client-ca", "", "require registry client certificates signed by this PEM CA"),
		allowOpen: fs.Bool(prefix+"allow-unauthenticated", false, "allow serving the registry beyond loopback without authentication"),
	}
}

func (s *serverSecurity) options(dataDir string) ([]registry.ServerOption, error) {
	var opts []registry.ServerOption
	if *s.users != "" {
		us, err := registry.LoadUsers(*s.users)
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithUsers(us))
	}
	audit := *s.audit
	if audit == "" && dataDir != "" {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		audit = dataDir + string(os.PathSeparator) + "audit.log"
	}
	if audit != "" {
		opts = append(opts, registry.WithAuditLog(audit))
	}
	if (*s.cert == "") != (*s.key == "") {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	if *s.clientCA != "" && *s.cert == "" {
		return nil, fmt.Errorf("%w: --tls-client-ca needs --tls-cert and --tls-key", errUsage)
	}
	if *s.cert != "" {
		cfg, err := registry.ServerTLSConfig(*s.cert, *s.key, *s.clientCA)
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithTLS(cfg))
	}
	if *s.allowOpen {
		opts = append(opts, registry.AllowUnauthenticated())
	}
	return opts, nil
}

func init() {
	register(command{name: "registry hash-password", summary: "read a password on stdin and print its bcrypt hash for a registry credentials file", run: hashPassword})
}

func hashPassword(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("registry hash-password: no password on stdin")
	}
	h, err := registry.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Println(h)
	return nil
}

// keeperRefs reads --keeper KEYID=REF values: a KMS URL (no key material)
// as is, or file:PATH / env:NAME holding the URL. A base64key:// URL embeds
// the key and is refused on the command line.
type keeperRefs struct {
	urls map[string]string
	refs map[string]secret.Ref
}

func (k *keeperRefs) String() string { return "" }

func (k *keeperRefs) Set(v string) error {
	id, val, ok := strings.Cut(v, "=")
	if !ok || id == "" || val == "" {
		return errors.New("want KEYID=file:PATH, KEYID=env:NAME or KEYID=<KMS URL>")
	}
	if strings.HasPrefix(val, "file:") || strings.HasPrefix(val, "env:") {
		r, err := secret.Parse(val)
		if err != nil {
			return err
		}
		k.refs[id] = r
		return nil
	}
	if strings.HasPrefix(val, "base64key:") {
		return fmt.Errorf("key %s: a base64key:// URL holds the key itself; put it in a file or variable and give %s=file:PATH or %s=env:NAME", id, id, id)
	}
	k.urls[id] = val
	return nil
}

// secretRefs is a repeatable NAME=file:PATH|env:NAME flag.
type secretRefs map[string]secret.Ref

func (p secretRefs) String() string { return "" }

func (p secretRefs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want NAME=file:PATH or NAME=env:VAR")
	}
	r, err := secret.Parse(val)
	if err != nil || r.IsZero() {
		return fmt.Errorf("%s: want a reference file:PATH or env:VAR, not a value", k)
	}
	p[k] = r
	return nil
}

// secretArgChecks are the flags whose values must be references, with the
// check each value must pass. The flag package's own error for a refused
// value quotes the value ("invalid value %q for flag ..."), so dispatch
// checks these before any flag is parsed, with errors that never show the
// value.
var secretArgChecks = map[string]func(string) error{
	"kafka-password":    checkRef,
	"registry-password": checkRef,
	"tenant-key":        func(v string) error { return secretRefs{}.Set(v) },
	"keeper": func(v string) error {
		if strings.Contains(v, "base64key:") {
			return errors.New("a base64key:// URL holds the key itself; put it in a file or an environment variable and give a reference, file:PATH or env:NAME (ingest: KEYID=file:PATH or KEYID=env:NAME)")
		}
		return nil
	},
}

func checkRef(v string) error {
	_, err := secret.Parse(v)
	return err
}

// checkSecretArgs refuses a secret value given where a reference is
// expected (--flag VALUE or --flag=VALUE), naming the flag, not the value.
func checkSecretArgs(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		check, ok := secretArgChecks[name]
		if !ok {
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				continue // the flag package reports the missing value
			}
			i++
			val = args[i]
		}
		if err := check(val); err != nil {
			return fmt.Errorf("%w: --%s: %v (the value is not shown)", errUsage, name, err)
		}
	}
	return nil
}
