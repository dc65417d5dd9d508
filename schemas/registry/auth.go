package registry

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what an authenticated user may do, in the spirit of Confluent's
// RBAC roles for Schema Registry. Each role includes the ones before it.
type Role int

const (
	// RoleRead reads subjects, versions, schemas, config and mode, looks
	// schemas up and checks compatibility (DeveloperRead).
	RoleRead Role = iota + 1
	// RoleWrite also registers schemas (DeveloperWrite).
	RoleWrite
	// RoleAdmin also sets compatibility (config) and mode and deletes
	// subjects and versions (ResourceOwner).
	RoleAdmin
)

// String returns "read", "write" or "admin".
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole reads "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("registry: unknown role %q (want read, write or admin)", s)
}

// User is one entry of a credentials file.
type User struct {
	Name string
	Hash []byte // bcrypt hash of the password; nil: certificate only
	Role Role
}

// Users are the users a Server authenticates, by name.
type Users map[string]User

// HashPassword returns the bcrypt hash of password, for a credentials file.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("registry: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("registry: hash password: %w", err)
	}
	return string(h), nil
}

// ReadUsers reads a credentials file, one user per line, in the shape of
// Confluent's JAAS property file but with hashes instead of passwords:
//
//	# NAME: BCRYPT_HASH,ROLE
//	ingest: $2a$10$...,write
//	ops: $2a$10$...,admin
//	dashboard: $2a$10$...,read
//	flink-worker: -,read      (no password: a client certificate whose CN is the name)
//
// A password in clear is refused: a hash must be a bcrypt hash
// ("$2a$", "$2b$" or "$2y$"); `trialflow registry hash-password` makes one.
func ReadUsers(r io.Reader) (Users, error) {
	us := Users{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		hash, role, ok2 := strings.Cut(strings.TrimSpace(rest), ",")
		if !ok || !ok2 || name == "" {
			return nil, fmt.Errorf("registry: credentials line %d: want NAME: BCRYPT_HASH,ROLE", n)
		}
		u := User{Name: name}
		var err error
		if u.Role, err = ParseRole(role); err != nil {
			return nil, fmt.Errorf("registry: credentials line %d: %w", n, err)
		}
		switch hash = strings.TrimSpace(hash); {
		case hash == "-":
		case strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$"):
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				return nil, fmt.Errorf("registry: credentials line %d (user %s): bad bcrypt hash: %w", n, name, err)
			}
			u.Hash = []byte(hash)
		default:
			return nil, fmt.Errorf("registry: credentials line %d (user %s): not a bcrypt hash; passwords are never stored in clear (make a hash with `trialflow registry hash-password`)", n, name)
		}
		if _, dup := us[name]; dup {
			return nil, fmt.Errorf("registry: credentials line %d: user %s given twice", n, name)
		}
		us[name] = u
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("registry: credentials: %w", err)
	}
	if len(us) == 0 {
		return nil, errors.New("registry: credentials file names no user")
	}
	return us, nil
}

// LoadUsers reads the credentials file at path (see ReadUsers).
func LoadUsers(path string) (Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer f.Close()
	us, err := ReadUsers(f)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return us, nil
}

// WithUsers makes the server authenticate every request (HTTP basic
// credentials checked against bcrypt hashes, or a verified client
// certificate whose common name is a user) and authorise it by the user's
// role: 401 without valid credentials, 403 when the role is too low.
func WithUsers(us Users) ServerOption {
	return func(c *serverConfig) { c.users = us }
}

// WithAuditLog appends one JSON line per change (register, config, mode,
// delete), allowed or refused, to the file at path, naming the user. The
// file is opened append-only and each line is synced before the answer.
func WithAuditLog(path string) ServerOption {
	return func(c *serverConfig) { c.auditPath = path }
}

// WithTLS serves HTTPS with cfg (StartServer); see ServerTLSConfig. With
// cfg.ClientCAs set, a verified client certificate authenticates its common
// name.
func WithTLS(cfg *tls.Config) ServerOption {
	return func(c *serverConfig) { c.tls = cfg }
}

// AllowUnauthenticated lets StartServer listen beyond loopback without
// users or client certificates. Without it StartServer refuses to.
func AllowUnauthenticated() ServerOption {
	return func(c *serverConfig) { c.allowOpen = true }
}

// ServerTLSConfig loads a server certificate and key (PEM) and, when
// clientCAFile is not empty, requires client certificates signed by it.
func ServerTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("registry: TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCAFile != "" {
		pool, err := readPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func readPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("registry: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// authRequired reports whether requests must be authenticated.
func (c *serverConfig) authRequired() bool {
	return len(c.users) > 0 || c.user != "" || c.pass != "" || (c.tls != nil && c.tls.ClientCAs != nil)
}

// checkListen refuses a listen address beyond loopback for a server that
// authenticates no one, unless AllowUnauthenticated was given.
func (c *serverConfig) checkListen(addr string) error {
	if c.authRequired() || c.allowOpen {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("registry: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("registry: refusing to serve without authentication on %s (beyond loopback): give users (--users) or client certificates (--tls-client-ca), or allow it explicitly (--allow-unauthenticated)", addr)
}

// principal is an authenticated caller.
type principal struct {
	name string
	role Role
}

// verified caches sha256(password) of users whose bcrypt check passed, so
// a client's steady requests do not each pay bcrypt's cost.
type verified struct {
	mu sync.Mutex
	ok map[string][sha256.Size]byte
}

// authenticate returns the caller, or nil when the request carries no
// valid credentials.
func (s *Server) authenticate(r *http.Request) *principal {
	c := &s.cfg
	if u, p, ok := r.BasicAuth(); ok {
		if c.user != "" && subtle.ConstantTimeCompare([]byte(u), []byte(c.user)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(c.pass)) == 1 {
			return &principal{name: u, role: RoleAdmin}
		}
		usr, found := c.users[u]
		if !found || usr.Hash == nil {
			return nil
		}
		sum := sha256.Sum256([]byte(p))
		s.verified.mu.Lock()
		prev, seen := s.verified.ok[u]
		s.verified.mu.Unlock()
		if seen && subtle.ConstantTimeCompare(prev[:], sum[:]) == 1 {
			return &principal{name: u, role: usr.Role}
		}
		if bcrypt.CompareHashAndPassword(usr.Hash, []byte(p)) != nil {
			return nil
		}
		s.verified.mu.Lock()
		if s.verified.ok == nil {
			s.verified.ok = map[string][sha256.Size]byte{}
		}
		s.verified.ok[u] = sum
		s.verified.mu.Unlock()
		return &principal{name: u, role: usr.Role}
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		if len(c.users) == 0 { // the client CA is the authority
			return &principal{name: cn, role: RoleAdmin}
		}
		if usr, ok := c.users[cn]; ok {
			return &principal{name: cn, role: usr.Role}
		}
	}
	return nil
}

// access is what a request needs and, for a change, its audit action.
func access(r *http.Request) (need Role, action string) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return RoleRead, ""
	case http.MethodPost:
		if len(p) == 3 && p[0] == "subjects" && p[2] == "versions" {
			return RoleWrite, "register"
		}
		return RoleRead, "" // lookups and compatibility checks change nothing
	}
	switch p[0] {
	case "config":
		return RoleAdmin, "config"
	case "mode":
		return RoleAdmin, "mode"
	case "subjects":
		return RoleAdmin, "delete"
	}
	return RoleAdmin, strings.ToLower(r.Method)
}

// auditEntry is one line of the audit log.
type auditEntry struct {
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Remote  string    `json:"remote"`
	Action  string    `json:"action"`
	Method  string    `json:"method"`
	Path    string    `json:"path"`
	Query   string    `json:"query,omitempty"`
	Status  int       `json:"status"`
	Outcome string    `json:"outcome"` // "ok", "denied" or the error message
}

// auditLog is an append-only file of auditEntry lines.
type auditLog struct {
	mu sync.Mutex
	f  *os.File
}

func openAudit(path string) (*auditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("registry: audit log: %w", err)
	}
	return &auditLog{f: f}, nil
}

func (a *auditLog) write(e auditEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("registry: audit log: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("registry: audit log: %w", err)
	}
	return nil
}

func (a *auditLog) close() error { return a.f.Close() }
