package kafkaio

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/trialflow/trialflow/secret"
)

// SASL mechanisms accepted by Conn.SASLMechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Conn holds how to reach and authenticate to a Kafka cluster. It is part
// of serialized DoFns, so it holds only plain values and no secret: the
// SASL password is a reference (a file or an environment variable) resolved
// by Opts on the worker, in Setup. Files named here must exist on the
// workers, and variables be set there.
type Conn struct {
	Brokers []string

	SASLMechanism string     // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUser      string     // SASL user
	SASLPassword  secret.Ref // SASL password, by reference

	TLS                bool   // connect with TLS
	TLSCAFile          string // PEM CA bundle; system roots when empty
	TLSCertFile        string // PEM client certificate (mutual TLS)
	TLSKeyFile         string // PEM client key
	TLSServerName      string // overrides the server name checked
	TLSInsecureSkipVfy bool   // tests only: do not verify the server

	// Compression is the codec producers built from the Conn compress
	// record batches with, by Kafka's name: "none" (the default when
	// empty), "gzip", "snappy", "lz4" or "zstd". Consumers read whatever
	// codec a batch carries, so it matters only to what other clients
	// can read; see the package doc for which clients read which codecs.
	Compression string
}

// Producer compression codecs, by the names Kafka's compression.type uses.
const (
	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
	CompressionZstd   = "zstd"
)

// codec maps a Conn.Compression name to franz-go's codec.
func codec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", CompressionNone:
		return kgo.NoCompression(), nil
	case CompressionGzip:
		return kgo.GzipCompression(), nil
	case CompressionSnappy:
		return kgo.SnappyCompression(), nil
	case CompressionLZ4:
		return kgo.Lz4Compression(), nil
	case CompressionZstd:
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("kafkaio: unknown compression %q (want %s, %s, %s, %s or %s)",
		name, CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd)
}

// ConnOption sets connection options of Read and Write.
type ConnOption interface {
	ReadOption
	WriteOption
}

type connOpt func(*Conn)

func (f connOpt) applyRead(c *readConfig)   { f(&c.conn) }
func (f connOpt) applyWrite(c *writeConfig) { f(&c.conn) }

// WithSASLPlain authenticates with SASL PLAIN (over TLS: PLAIN sends the
// password as is), with the password read from the reference on the worker.
func WithSASLPlain(user string, password secret.Ref) ConnOption {
	return connOpt(func(c *Conn) { c.SASLMechanism, c.SASLUser, c.SASLPassword = SASLPlain, user, password })
}

// WithSASLScram authenticates with SASL SCRAM; mechanism is SASLScramSHA256
// or SASLScramSHA512; the password is read from the reference on the worker.
func WithSASLScram(mechanism, user string, password secret.Ref) ConnOption {
	return connOpt(func(c *Conn) { c.SASLMechanism, c.SASLUser, c.SASLPassword = mechanism, user, password })
}

// WithTLS connects with TLS, verifying the brokers against caFile (PEM; the
// system roots when empty) and presenting certFile/keyFile when both are set.
func WithTLS(caFile, certFile, keyFile string) ConnOption {
	return connOpt(func(c *Conn) { c.TLS, c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile = true, caFile, certFile, keyFile })
}

// WithConn replaces the whole connection configuration (brokers included).
func WithConn(conn Conn) ConnOption {
	return connOpt(func(c *Conn) { *c = conn })
}

// Validate reports a clear error for an unusable configuration.
func (c Conn) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafkaio: no brokers")
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "", SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		return fmt.Errorf("kafkaio: unknown SASL mechanism %q (want %s, %s or %s)",
			c.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if c.SASLMechanism != "" && (c.SASLUser == "" || c.SASLPassword.IsZero()) {
		return fmt.Errorf("kafkaio: SASL %s needs a user and a password reference", c.SASLMechanism)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("kafkaio: TLS client certificate and key must be given together")
	}
	if _, err := codec(c.Compression); err != nil {
		return err
	}
	return nil
}

// Opts returns the franz-go options for the connection, with the producer
// compression of Compression (none when empty, where franz-go alone would
// prefer snappy).
func (c Conn) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	comp, _ := codec(c.Compression) // checked by Validate
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ProducerBatchCompression(comp)}
	var pass string
	if c.SASLMechanism != "" {
		var err error
		if pass, err = c.SASLPassword.Resolve(); err != nil {
			return nil, fmt.Errorf("kafkaio: SASL password of %s: %w", c.SASLUser, err)
		}
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case SASLPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: pass}.AsMechanism()))
	case SASLScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: pass}.AsSha256Mechanism()))
	case SASLScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: pass}.AsSha512Mechanism()))
	}
	if c.TLS {
		cfg, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

func (c Conn) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName, InsecureSkipVerify: c.TLSInsecureSkipVfy} //nolint:gosec // opt-in for tests
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("kafkaio: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafkaio: TLS CA file %s holds no PEM certificate", c.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafkaio: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
