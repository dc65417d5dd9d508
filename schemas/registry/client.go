package registry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/riferrei/srclient"

	"github.com/trialflow/trialflow/schemas/registry/compat"
)

// Confluent Schema Registry error codes, as carried in the error_code field
// of an error body and in Error.Code.
const (
	CodeSubjectNotFound       = 40401
	CodeVersionNotFound       = 40402
	CodeSchemaNotFound        = 40403
	CodeSubjectSoftDeleted    = 40404
	CodeSubjectNotSoftDeleted = 40405
	CodeVersionSoftDeleted    = 40406
	CodeVersionNotSoftDeleted = 40407
	CodeSubjectConfigNotFound = 40408
	CodeSubjectModeNotFound   = 40409
	CodeIncompatible          = 409
	CodeInvalidSchema         = 42201
	CodeInvalidVersion        = 42202
	CodeInvalidCompatibility  = 42203
	CodeInvalidMode           = 42204
	CodeOperationNotPermitted = 42205
	CodeReferenceExists       = 42206
	CodeRequestEntityTooLarge = 413
	CodeUnauthorized          = 401
	CodeForbidden             = 40301
	CodeMalformedRequest      = 400
	CodeNotFound              = 404
	CodeMethodNotAllowed      = 405
	CodeInternal              = 50001
)

// ErrNotRegistered is returned (wrapped) by Client.IDFor when the schema is
// not registered under the subject and auto-registration is off.
var ErrNotRegistered = errors.New("registry: schema not registered")

// Error is an error body returned by a Schema Registry: the HTTP status is
// implied by Code (40401 and friends are 404s, 42201 and friends are 422s).
type Error struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("registry: error %d: %s", e.Code, e.Message)
}

// ErrorCode returns the Confluent error code carried by err, or 0 when err
// does not come from a registry error body.
func ErrorCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// SubjectNameStrategy chooses the subject a topic's keys or values are
// registered under, as Confluent serializers do.
type SubjectNameStrategy int

const (
	// TopicName is "<topic>-key" or "<topic>-value" (Confluent's default).
	TopicName SubjectNameStrategy = iota
	// RecordName is the record's full name, whatever the topic.
	RecordName
	// TopicRecordName is "<topic>-<record full name>".
	TopicRecordName
)

// String returns Confluent's class-like short name of the strategy.
func (s SubjectNameStrategy) String() string {
	switch s {
	case TopicName:
		return "TopicNameStrategy"
	case RecordName:
		return "RecordNameStrategy"
	case TopicRecordName:
		return "TopicRecordNameStrategy"
	}
	return fmt.Sprintf("SubjectNameStrategy(%d)", int(s))
}

// ParseSubjectNameStrategy accepts "topic", "record", "topic_record" (or
// "topicrecord") and the String forms, case-insensitively.
func ParseSubjectNameStrategy(s string) (SubjectNameStrategy, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "")) {
	case "topic", "topicname", "topicnamestrategy":
		return TopicName, nil
	case "record", "recordname", "recordnamestrategy":
		return RecordName, nil
	case "topicrecord", "topicrecordname", "topicrecordnamestrategy":
		return TopicRecordName, nil
	}
	return 0, fmt.Errorf("registry: unknown subject name strategy %q (want topic, record or topic_record)", s)
}

// Subject returns the subject name for a topic's key or value schema whose
// record full name (namespace.name) is recordFullName.
func Subject(strategy SubjectNameStrategy, topic, recordFullName string, isKey bool) string {
	switch strategy {
	case RecordName:
		return recordFullName
	case TopicRecordName:
		return topic + "-" + recordFullName
	}
	if isKey {
		return topic + "-key"
	}
	return topic + "-value"
}

// ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	httpClient   *http.Client
	tlsConfig    *tls.Config
	user, pass   string
	bearer       string
	timeout      time.Duration
	autoRegister bool
	err          error // from an option that resolves files (WithAuth)
}

// WithBasicAuth sends HTTP basic credentials with every request.
func WithBasicAuth(user, password string) ClientOption {
	return func(c *clientConfig) { c.user, c.pass = user, password }
}

// WithBearerToken sends "Authorization: Bearer token" with every request.
func WithBearerToken(token string) ClientOption {
	return func(c *clientConfig) { c.bearer = token }
}

// WithTLSConfig uses cfg for https:// registries (client certificates,
// private CAs). It is ignored when WithHTTPClient is also given.
func WithTLSConfig(cfg *tls.Config) ClientOption {
	return func(c *clientConfig) { c.tlsConfig = cfg }
}

// WithHTTPClient uses hc for every request.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *clientConfig) { c.httpClient = hc }
}

// WithTimeout bounds every request (default 5s). It is ignored when
// WithHTTPClient is also given.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.timeout = d }
}

// WithAutoRegister lets IDFor register a schema that is not yet registered
// under its subject. It is off by default: producers in production should
// use schemas registered (and compatibility-checked) ahead of time.
func WithAutoRegister(on bool) ClientOption {
	return func(c *clientConfig) { c.autoRegister = on }
}

// Client talks to a Confluent-compatible Schema Registry through srclient
// and caches what never changes: a schema by its global id, a schema by
// subject and version, and the id of a (subject, schema) pair. The cached
// paths take a read lock and a map lookup and do not allocate. Latest is
// never cached, since the latest version moves.
//
// A Client is safe for concurrent use.
type Client struct {
	sr           *srclient.SchemaRegistryClient
	autoRegister bool

	mu        sync.RWMutex
	byID      map[int]string
	byVersion map[subjectVersion]Version
	ids       map[subjectSchema]int
}

type subjectVersion struct {
	subject string
	version int
}

type subjectSchema struct {
	subject, schema string
}

// Version is one registered version of a subject.
type Version struct {
	Subject string
	Version int
	ID      int
	Schema  string
}

// NewClient returns a client for the registry at url (for example
// "http://127.0.0.1:8081").
func NewClient(url string, opts ...ClientOption) (*Client, error) {
	if url == "" {
		return nil, errors.New("registry: empty registry URL")
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("registry: registry URL %q must start with http:// or https://", url)
	}
	cfg := clientConfig{timeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	hc := cfg.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.tlsConfig != nil {
			tr.TLSClientConfig = cfg.tlsConfig
		}
		hc = &http.Client{Transport: tr, Timeout: cfg.timeout}
	}
	sr := srclient.NewSchemaRegistryClient(strings.TrimRight(url, "/"), srclient.WithClient(hc))
	// Our own cache replaces srclient's: srclient would also cache "latest"
	// forever and builds its keys with fmt (an allocation per lookup).
	sr.CachingEnabled(false)
	if cfg.user != "" || cfg.pass != "" {
		if cfg.user == "" || cfg.pass == "" {
			return nil, errors.New("registry: basic auth needs both a user and a password")
		}
		sr.SetCredentials(cfg.user, cfg.pass)
	}
	if cfg.bearer != "" {
		sr.SetBearerToken(cfg.bearer)
	}
	return &Client{
		sr:           sr,
		autoRegister: cfg.autoRegister,
		byID:         map[int]string{},
		byVersion:    map[subjectVersion]Version{},
		ids:          map[subjectSchema]int{},
	}, nil
}

// SR returns the underlying srclient client, for the REST calls this type
// does not wrap (configuration, deletion).
func (c *Client) SR() *srclient.SchemaRegistryClient { return c.sr }

// SchemaByID returns the writer schema JSON registered under the global id.
// A schema registered with references comes back self-contained: the
// referenced types are fetched and defined inline (in the normalized
// form), so a decoder can use it alone.
func (c *Client) SchemaByID(id int) (string, error) {
	c.mu.RLock()
	s, ok := c.byID[id]
	c.mu.RUnlock()
	if ok {
		return s, nil
	}
	sch, err := c.sr.GetSchema(id)
	if err != nil {
		return "", fmt.Errorf("registry: schema id %d: %w", id, convert(err))
	}
	text := sch.Schema()
	if len(sch.References()) > 0 {
		parsed, err := c.resolve(text, sch.References(), 0)
		if err != nil {
			return "", fmt.Errorf("registry: schema id %d: %w", id, err)
		}
		text = parsed.Normalized()
	}
	c.mu.Lock()
	c.byID[id] = text
	c.mu.Unlock()
	return text, nil
}

// maxReferenceDepth bounds chains of references (a cycle would not end).
const maxReferenceDepth = 32

// resolve parses text with its references, fetched by subject and version
// (and theirs, depth first).
func (c *Client) resolve(text string, refs []srclient.Reference, depth int) (*compat.Schema, error) {
	if depth > maxReferenceDepth {
		return nil, fmt.Errorf("references nested deeper than %d", maxReferenceDepth)
	}
	var deps []*compat.Schema
	for _, r := range refs {
		v, err := c.sr.GetSchemaByVersion(r.Subject, r.Version)
		if err != nil {
			return nil, fmt.Errorf("reference %q (subject %q version %d): %w", r.Name, r.Subject, r.Version, convert(err))
		}
		dep, err := c.resolve(v.Schema(), v.References(), depth+1)
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", r.Name, err)
		}
		deps = append(deps, dep)
	}
	return compat.ParseWithReferences(text, deps...)
}

// SchemaByVersion returns one version of a subject (version >= 1).
func (c *Client) SchemaByVersion(subject string, version int) (Version, error) {
	c.mu.RLock()
	v, ok := c.byVersion[subjectVersion{subject, version}]
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	if version < 1 {
		return Version{}, fmt.Errorf("registry: subject %q: version %d: versions start at 1", subject, version)
	}
	sch, err := c.sr.GetSchemaByVersion(subject, version)
	if err != nil {
		return Version{}, fmt.Errorf("registry: subject %q version %d: %w", subject, version, convert(err))
	}
	v = Version{Subject: subject, Version: sch.Version(), ID: sch.ID(), Schema: sch.Schema()}
	c.mu.Lock()
	c.byVersion[subjectVersion{subject, version}] = v
	c.byID[v.ID] = v.Schema
	c.mu.Unlock()
	return v, nil
}

// Latest returns the latest version's id and schema for subject, asking the
// registry every time.
func (c *Client) Latest(subject string) (id int, schema string, err error) {
	v, err := c.LatestVersion(subject)
	return v.ID, v.Schema, err
}

// LatestVersion is Latest with the version number.
func (c *Client) LatestVersion(subject string) (Version, error) {
	sch, err := c.sr.GetLatestSchema(subject)
	if err != nil {
		return Version{}, fmt.Errorf("registry: subject %q latest version: %w", subject, convert(err))
	}
	v := Version{Subject: subject, Version: sch.Version(), ID: sch.ID(), Schema: sch.Schema()}
	c.mu.Lock()
	c.byVersion[subjectVersion{subject, v.Version}] = v
	c.byID[v.ID] = v.Schema
	c.mu.Unlock()
	return v, nil
}

// Register registers schema under subject (the registry checks it against
// the subject's compatibility level) and returns its global id. Registering
// a schema that is already registered returns the existing id.
func (c *Client) Register(subject, schema string) (int, error) {
	sch, err := c.sr.CreateSchema(subject, schema, srclient.Avro)
	if err != nil {
		return 0, fmt.Errorf("registry: register under subject %q: %w", subject, convert(err))
	}
	c.mu.Lock()
	c.ids[subjectSchema{subject, schema}] = sch.ID()
	c.byID[sch.ID()] = sch.Schema()
	c.mu.Unlock()
	return sch.ID(), nil
}

// IDFor returns the id of schema as registered under subject. When it is
// not registered, IDFor registers it if the client was built with
// WithAutoRegister(true), and otherwise returns an error wrapping
// ErrNotRegistered.
func (c *Client) IDFor(subject, schema string) (int, error) {
	k := subjectSchema{subject, schema}
	c.mu.RLock()
	id, ok := c.ids[k]
	c.mu.RUnlock()
	if ok {
		return id, nil
	}
	sch, err := c.sr.LookupSchema(subject, schema, srclient.Avro)
	if err == nil {
		c.mu.Lock()
		c.ids[k] = sch.ID()
		c.byID[sch.ID()] = sch.Schema()
		c.mu.Unlock()
		return sch.ID(), nil
	}
	err = convert(err)
	switch ErrorCode(err) {
	case CodeSubjectNotFound, CodeSchemaNotFound:
		if c.autoRegister {
			return c.Register(subject, schema)
		}
		return 0, fmt.Errorf("registry: subject %q: %w (auto-register is off; register it first): %w", subject, ErrNotRegistered, err)
	}
	return 0, fmt.Errorf("registry: look up schema under subject %q: %w", subject, err)
}

// Forget drops every cached entry, for tests and for operators who
// permanently deleted and re-created schemas.
func (c *Client) Forget() {
	c.mu.Lock()
	clear(c.byID)
	clear(c.byVersion)
	clear(c.ids)
	c.mu.Unlock()
}

// convert turns srclient's error value into *Error so callers can use
// errors.As and ErrorCode.
func convert(err error) error {
	var se srclient.Error
	if errors.As(err, &se) {
		return &Error{Code: se.Code, Message: se.Message}
	}
	return err
}
