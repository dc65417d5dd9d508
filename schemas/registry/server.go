package registry

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas/registry/compat"
)

// MaxBodyBytes bounds a request body; larger bodies get 413.
const MaxBodyBytes = 1 << 20

const contentType = "application/vnd.schemaregistry.v1+json"

// ServerOption configures a Server.
type ServerOption func(*serverConfig)

type serverConfig struct {
	user, pass string
	level      compat.Level
	users      Users
	auditPath  string
	tls        *tls.Config
	allowOpen  bool
}

// WithServerBasicAuth makes the server require HTTP basic credentials: one
// user, with the admin role. WithUsers gives several users their roles.
func WithServerBasicAuth(user, password string) ServerOption {
	return func(c *serverConfig) { c.user, c.pass = user, password }
}

// WithDefaultLevel sets the global compatibility level used until one is
// set through PUT /config (default BACKWARD).
func WithDefaultLevel(l compat.Level) ServerOption {
	return func(c *serverConfig) { c.level = l }
}

// Server is an embedded Confluent-compatible Schema Registry for Avro that
// enforces compatibility. It is an http.Handler; see StartServer to listen.
type Server struct {
	cfg serverConfig

	mu  sync.RWMutex
	st  *state
	log *wal // nil when in memory

	verified verified
	audit    *auditLog // nil without WithAuditLog
}

var _ http.Handler = (*Server)(nil)

// NewServer opens a registry whose state lives in dataDir (replaying its
// log), or in memory when dataDir is "".
func NewServer(dataDir string, opts ...ServerOption) (*Server, error) {
	cfg := serverConfig{level: compat.Default}
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := compat.ParseLevel(string(cfg.level)); err != nil {
		return nil, fmt.Errorf("registry: default level: %w", err)
	}
	s := &Server{cfg: cfg, st: newState(cfg.level)}
	if cfg.auditPath != "" {
		a, err := openAudit(cfg.auditPath)
		if err != nil {
			return nil, err
		}
		s.audit = a
	}
	if dataDir != "" {
		w, err := openWAL(dataDir, s.st)
		if err != nil {
			if s.audit != nil {
				s.audit.close()
			}
			return nil, err
		}
		s.log = w
	}
	return s, nil
}

// Close closes the log. The server must not be used afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audit != nil {
		s.audit.close()
		s.audit = nil
	}
	if s.log == nil {
		return nil
	}
	err := s.log.close()
	s.log = nil
	s.st = newState(s.cfg.level)
	if err != nil {
		return fmt.Errorf("registry: close log: %w", err)
	}
	return nil
}

// StartServer opens a server on dataDir and serves it on addr
// ("127.0.0.1:0" picks a free port). It returns the base URL (https:// with
// WithTLS); closing the returned io.Closer stops serving and closes the
// log. A server that authenticates no one (neither WithUsers,
// WithServerBasicAuth nor client certificates) is refused an address
// beyond loopback unless AllowUnauthenticated is given.
func StartServer(addr, dataDir string, opts ...ServerOption) (url string, srv io.Closer, err error) {
	s, err := NewServer(dataDir, opts...)
	if err != nil {
		return "", nil, err
	}
	if err := s.cfg.checkListen(addr); err != nil {
		s.Close()
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return "", nil, fmt.Errorf("registry: listen on %s: %w", addr, err)
	}
	scheme := "http://"
	if s.cfg.tls != nil {
		ln, scheme = tls.NewListener(ln, s.cfg.tls), "https://"
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	r := &running{hs: hs, s: s, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = hs.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return scheme + ln.Addr().String(), r, nil
}

type running struct {
	hs   *http.Server
	s    *Server
	done chan struct{}
}

func (r *running) Close() error {
	err := r.hs.Close()
	<-r.done
	if cerr := r.s.Close(); err == nil {
		err = cerr
	}
	return err
}

// apiError is a Confluent error body with its HTTP status.
type apiError struct {
	status int
	Code   int    `json:"error_code"`
	Msg    string `json:"message"`
}

func (e *apiError) Error() string { return e.Msg }

func errf(status, code int, format string, args ...any) *apiError {
	return &apiError{status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func subjectNotFound(subject string) *apiError {
	return errf(404, CodeSubjectNotFound, "Subject '%s' not found.", subject)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a write error means the client went away
}

// ServeHTTP serves Confluent's REST API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			writeJSON(w, 500, errf(500, CodeInternal, "internal error: %v", v))
		}
	}()
	need, action := access(r)
	who := &principal{name: "anonymous", role: RoleAdmin} // the zero-config default on loopback
	if s.cfg.authRequired() {
		if who = s.authenticate(r); who == nil {
			ae := errf(401, CodeUnauthorized, "Unauthorized")
			s.auditChange(w, r, action, "", ae.status, "unauthenticated")
			w.Header().Set("WWW-Authenticate", `Basic realm="trialflow registry"`)
			writeJSON(w, ae.status, ae)
			return
		}
	}
	if who.role < need {
		ae := errf(403, CodeForbidden, "User %s (role %s) is denied %s %s: it needs role %s", who.name, who.role, r.Method, r.URL.Path, need)
		s.auditChange(w, r, action, who.name, ae.status, "denied")
		writeJSON(w, ae.status, ae)
		return
	}
	v, err := s.route(r)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errf(500, CodeInternal, "%v", err)
		}
		s.auditChange(w, r, action, who.name, ae.status, ae.Msg)
		writeJSON(w, ae.status, ae)
		return
	}
	if !s.auditChange(w, r, action, who.name, 200, "ok") {
		return
	}
	if raw, ok := v.(rawSchema); ok {
		w.Header().Set("Content-Type", contentType)
		_, _ = io.WriteString(w, string(raw))
		return
	}
	writeJSON(w, 200, v)
}

// auditChange writes the audit line of a change (action not empty). It
// reports false, having answered 500, when the line could not be written.
func (s *Server) auditChange(w http.ResponseWriter, r *http.Request, action, user string, status int, outcome string) bool {
	if action == "" || s.audit == nil {
		return true
	}
	if user == "" {
		user = "(unauthenticated)"
	}
	err := s.audit.write(auditEntry{Time: time.Now().UTC(), User: user, Remote: r.RemoteAddr, Action: action,
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status, Outcome: outcome})
	if err != nil && status == 200 {
		writeJSON(w, 500, errf(500, CodeInternal, "the change was made but its audit line was not written: %v", err))
		return false
	}
	return true
}

// rawSchema is written as is (GET .../schema).
type rawSchema string

func splitPath(r *http.Request) ([]string, error) {
	p := strings.Trim(r.URL.EscapedPath(), "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	for i, e := range parts {
		u, err := url.PathUnescape(e)
		if err != nil {
			return nil, errf(404, CodeNotFound, "bad path segment %q: %v", e, err)
		}
		parts[i] = u
	}
	return parts, nil
}

func methodNotAllowed(r *http.Request) *apiError {
	return errf(405, CodeMethodNotAllowed, "HTTP method %s not allowed on %s", r.Method, r.URL.Path)
}

func (s *Server) route(r *http.Request) (any, error) {
	p, err := splitPath(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	m := r.Method
	n := len(p)
	if n >= 2 && (p[0] == "subjects" || p[0] == "config" || p[0] == "mode") && p[1] == "" ||
		n >= 3 && p[0] == "compatibility" && p[2] == "" {
		return nil, errf(404, CodeSubjectNotFound, "empty subject name in %s", r.URL.Path)
	}
	switch {
	case n == 0:
		if m == http.MethodGet {
			return struct{}{}, nil
		}
	case p[0] == "subjects":
		switch {
		case n == 1 && m == http.MethodGet:
			return s.listSubjects(q.Get("subjectPrefix"), q.Get("deleted") == "true"), nil
		case n == 2 && m == http.MethodPost:
			return s.lookup(r, p[1], q.Get("deleted") == "true")
		case n == 2 && m == http.MethodDelete:
			return s.deleteSubject(p[1], q.Get("permanent") == "true")
		case n == 3 && p[2] == "versions" && m == http.MethodGet:
			return s.listVersions(p[1], q.Get("deleted") == "true")
		case n == 3 && p[2] == "versions" && m == http.MethodPost:
			return s.register(r, p[1])
		case n == 4 && p[2] == "versions" && m == http.MethodGet:
			return s.getVersion(p[1], p[3], q.Get("deleted") == "true")
		case n == 4 && p[2] == "versions" && m == http.MethodDelete:
			return s.deleteVersion(p[1], p[3], q.Get("permanent") == "true")
		case n == 5 && p[2] == "versions" && p[4] == "schema" && m == http.MethodGet:
			v, err := s.getVersion(p[1], p[3], q.Get("deleted") == "true")
			if err != nil {
				return nil, err
			}
			return rawSchema(v.Schema), nil
		case n == 5 && p[2] == "versions" && p[4] == "referencedby" && m == http.MethodGet:
			v, err := s.getVersion(p[1], p[3], true)
			if err != nil {
				return nil, err
			}
			s.mu.RLock()
			defer s.mu.RUnlock()
			return s.st.referencedBy(p[1], v.Version), nil
		}
		if n <= 5 && (n < 3 || p[2] == "versions") {
			return nil, methodNotAllowed(r)
		}
	case p[0] == "schemas":
		switch {
		case n == 1 && m == http.MethodGet:
			offset, err := intParam(q, "offset", 0)
			if err != nil {
				return nil, err
			}
			limit, err := intParam(q, "limit", -1)
			if err != nil {
				return nil, err
			}
			return s.listSchemas(q.Get("subjectPrefix"), q.Get("deleted") == "true", q.Get("latestOnly") == "true", offset, limit), nil
		case n == 2 && p[1] == "types" && m == http.MethodGet:
			return []string{"AVRO"}, nil
		case n == 3 && p[1] == "ids" && m == http.MethodGet:
			ss, err := s.schemaByID(p[2])
			if err != nil {
				return nil, err
			}
			if len(ss.refs) > 0 {
				return map[string]any{"schema": ss.text, "references": ss.refs}, nil
			}
			return map[string]any{"schema": ss.text}, nil
		case n == 4 && p[1] == "ids" && p[3] == "schema" && m == http.MethodGet:
			ss, err := s.schemaByID(p[2])
			if err != nil {
				return nil, err
			}
			return rawSchema(ss.text), nil
		case n == 4 && p[1] == "ids" && (p[3] == "versions" || p[3] == "subjects") && m == http.MethodGet:
			return s.idVersions(p[2], p[3] == "subjects")
		}
	case p[0] == "compatibility":
		if n >= 4 && n <= 5 && p[1] == "subjects" && p[3] == "versions" {
			if m != http.MethodPost {
				return nil, methodNotAllowed(r)
			}
			version := ""
			if n == 5 {
				version = p[4]
			}
			return s.compatibility(r, p[2], version, q.Get("verbose") == "true")
		}
	case p[0] == "config" && n <= 2:
		subject := ""
		if n == 2 {
			subject = p[1]
		}
		switch m {
		case http.MethodGet:
			return s.getConfig(subject, q.Get("defaultToGlobal") == "true")
		case http.MethodPut:
			return s.putConfig(r, subject)
		case http.MethodDelete:
			return s.deleteConfig(subject)
		}
		return nil, methodNotAllowed(r)
	case p[0] == "mode" && n <= 2:
		subject := ""
		if n == 2 {
			subject = p[1]
		}
		switch {
		case m == http.MethodGet:
			return s.getMode(subject, q.Get("defaultToGlobal") == "true")
		case m == http.MethodPut:
			return s.putMode(r, subject, q.Get("force") == "true")
		case m == http.MethodDelete && subject != "":
			return s.deleteMode(subject)
		}
		return nil, methodNotAllowed(r)
	}
	return nil, errf(404, CodeNotFound, "HTTP %s %s: no such endpoint", m, r.URL.Path)
}

// decodeBody reads a JSON request body of at most MaxBodyBytes into v.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return errf(400, CodeMalformedRequest, "read request body: %v", err)
	}
	if len(b) > MaxBodyBytes {
		return errf(413, CodeRequestEntityTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errf(400, CodeMalformedRequest, "request body is not the expected JSON: %v", err)
	}
	return nil
}

type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
	ID         int         `json:"id"`      // IMPORT mode only
	Version    int         `json:"version"` // IMPORT mode only
}

// readRequest reads a schema request body and checks what needs no state.
func readRequest(r *http.Request) (*schemaRequest, error) {
	var req schemaRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.SchemaType != "" && !strings.EqualFold(req.SchemaType, "AVRO") {
		return nil, errf(422, CodeInvalidSchema, "Invalid schema: schema type %q is not supported; this registry serves AVRO only", req.SchemaType)
	}
	if strings.TrimSpace(req.Schema) == "" {
		return nil, errf(422, CodeInvalidSchema, `Invalid schema: the request has no "schema"`)
	}
	for _, ref := range req.References {
		if ref.Name == "" || ref.Subject == "" || ref.Version == 0 || ref.Version < -1 {
			return nil, errf(422, CodeInvalidSchema, "Invalid schema: reference %+v needs a name, a subject and a version (-1 for the latest)", ref)
		}
	}
	return &req, nil
}

// parse resolves the request's references (version -1 to the subject's
// latest live version) and parses the schema; the caller holds mu.
func (s *Server) parse(req *schemaRequest) (*compat.Schema, []Reference, error) {
	var refs []Reference
	for _, ref := range req.References {
		if ref.Version == -1 {
			sub := s.st.subjects[ref.Subject]
			if sub == nil || len(sub.live()) == 0 {
				return nil, nil, errf(422, CodeInvalidSchema, "Invalid schema: reference %q: subject %q not found", ref.Name, ref.Subject)
			}
			live := sub.live()
			ref.Version = live[len(live)-1].version
		}
		refs = append(refs, ref)
	}
	sch, err := s.st.parseRefs(req.Schema, refs)
	if err != nil {
		return nil, nil, errf(422, CodeInvalidSchema, "Invalid schema: %v", err)
	}
	// Downstream decoders use goavro: refuse what it cannot compile (with
	// the referenced types inline).
	text := req.Schema
	if len(refs) > 0 {
		text = sch.Normalized()
	}
	if _, err := goavro.NewCodec(text); err != nil {
		return nil, nil, errf(422, CodeInvalidSchema, "Invalid schema: %v", err)
	}
	return sch, refs, nil
}

func (s *Server) levelOf(subject string) compat.Level {
	if sub := s.st.subjects[subject]; sub != nil && sub.level != "" {
		return sub.level
	}
	return s.st.level
}

func (s *Server) history(sub *subjectEntry) []*compat.Schema {
	var h []*compat.Schema
	for _, v := range sub.live() {
		h = append(h, s.st.schemas[v.id].parsed)
	}
	return h
}

// commit makes rec durable, then applies it.
func (s *Server) commit(rec *logRecord) error {
	if err := s.st.validate(rec); err != nil {
		return fmt.Errorf("registry: refusing to log %s: %w", rec.Op, err)
	}
	if s.log != nil {
		if err := s.log.append(rec); err != nil {
			return err
		}
	}
	if err := s.st.apply(rec); err != nil {
		return fmt.Errorf("registry: apply %s: %w", rec.Op, err)
	}
	return nil
}

// modeOf is the mode that applies to subject ("" for the registry).
func (s *Server) modeOf(subject string) string {
	if sub := s.st.subjects[subject]; subject != "" && sub != nil && sub.mode != "" {
		return sub.mode
	}
	return s.st.mode
}

// writable refuses a change to subject ("" for the registry) in READONLY.
func (s *Server) writable(subject string) error {
	if s.modeOf(subject) == ModeReadOnly {
		if subject == "" {
			return errf(422, CodeOperationNotPermitted, "The registry is in read-only mode")
		}
		return errf(422, CodeOperationNotPermitted, "Subject '%s' is in read-only mode", subject)
	}
	return nil
}

func (s *Server) register(r *http.Request, subject string) (any, error) {
	req, err := readRequest(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(subject); err != nil {
		return nil, err
	}
	sch, refs, err := s.parse(req)
	if err != nil {
		return nil, err
	}
	text := req.Schema
	norm := identity(sch, refs)
	if s.modeOf(subject) == ModeImport {
		return s.importSchema(subject, req, text, refs, norm)
	}
	if req.ID > 0 || req.Version > 0 {
		return nil, errf(422, CodeOperationNotPermitted, "Subject '%s' is not in import mode: a registration may not give its id or version", subject)
	}
	sub := s.st.subjects[subject]
	if sub != nil {
		for _, v := range sub.live() {
			if s.st.schemas[v.id].norm == norm {
				return map[string]int{"id": v.id}, nil
			}
		}
		if issues := compat.CheckLevel(s.levelOf(subject), sch, s.history(sub)); len(issues) > 0 {
			live := sub.live()
			msgs := make([]string, len(issues))
			for i, in := range issues {
				msgs[i] = fmt.Sprintf("%s (version %d, %s)", in, live[in.Against].version, in.Direction)
			}
			return nil, errf(409, CodeIncompatible,
				"Schema being registered is incompatible with an earlier schema for subject %q under %s: %s",
				subject, s.levelOf(subject), strings.Join(msgs, "; "))
		}
	}
	id, ok := s.st.byNorm[norm]
	if !ok {
		id = s.st.nextID
		if _, taken := s.st.schemas[id]; taken {
			return nil, fmt.Errorf("registry: id %d already taken", id)
		}
	} else {
		text = s.st.schemas[id].text
	}
	rec := &logRecord{Op: "register", Subject: subject, Version: s.st.maxVersion[subject] + 1, ID: id, Schema: text, References: refs}
	if err := s.commit(rec); err != nil {
		return nil, err
	}
	return map[string]int{"id": id}, nil
}

// importSchema registers in IMPORT mode: with the id (and the version, if
// given) of the request, and no compatibility check. An id already holding
// another schema, or a schema already registered under another id, is
// refused; the caller holds mu.
func (s *Server) importSchema(subject string, req *schemaRequest, text string, refs []Reference, norm string) (any, error) {
	if req.ID < 1 {
		return nil, errf(422, CodeOperationNotPermitted, "Subject '%s' is in import mode: a registration must give its id", subject)
	}
	if old, ok := s.st.schemas[req.ID]; ok && old.norm != norm {
		return nil, errf(422, CodeOperationNotPermitted, "Overwrite new schema with id %d is not permitted.", req.ID)
	}
	if other, ok := s.st.byNorm[norm]; ok && other != req.ID {
		return nil, errf(422, CodeOperationNotPermitted, "Schema is already registered with id %d, not %d", other, req.ID)
	}
	version := req.Version
	sub := s.st.subjects[subject]
	if sub != nil {
		for _, v := range sub.versions {
			if v.id == req.ID && (version < 1 || v.version == version) {
				return map[string]int{"id": req.ID}, nil
			}
		}
	}
	if version < 1 {
		version = s.st.maxVersion[subject] + 1
	} else if sub != nil && sub.find(version) != nil {
		return nil, errf(422, CodeOperationNotPermitted, "Subject '%s' already has a version %d", subject, version)
	}
	if s.st.schemas[req.ID] != nil {
		text, refs = s.st.schemas[req.ID].text, s.st.schemas[req.ID].refs
	}
	rec := &logRecord{Op: "register", Subject: subject, Version: version, ID: req.ID, Schema: text, References: refs}
	if err := s.commit(rec); err != nil {
		return nil, err
	}
	return map[string]int{"id": req.ID}, nil
}

type versionResponse struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

// versionOf answers a subject version; the caller holds mu.
func (s *Server) versionOf(subject string, v *versionEntry) versionResponse {
	ss := s.st.schemas[v.id]
	return versionResponse{Subject: subject, Version: v.version, ID: v.id, References: ss.refs, Schema: ss.text}
}

func (s *Server) lookup(r *http.Request, subject string, deleted bool) (any, error) {
	req, err := readRequest(r)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sch, refs, err := s.parse(req)
	if err != nil {
		return nil, err
	}
	norm := identity(sch, refs)
	sub := s.st.subjects[subject]
	if sub == nil || (!deleted && len(sub.live()) == 0) {
		return nil, subjectNotFound(subject)
	}
	for _, v := range sub.versions {
		if (deleted || !v.deleted) && s.st.schemas[v.id].norm == norm {
			return s.versionOf(subject, v), nil
		}
	}
	return nil, errf(404, CodeSchemaNotFound, "Schema not found under subject '%s'", subject)
}

func (s *Server) listSubjects(prefix string, deleted bool) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []string{}
	for name, sub := range s.st.subjects {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if len(sub.live()) > 0 || (deleted && len(sub.versions) > 0) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// listSchemas answers GET /schemas: the subject versions whose subject
// starts with prefix, by subject then version, soft-deleted ones when
// deleted, only each subject's latest when latestOnly, from offset, at
// most limit of them (limit < 0: all).
func (s *Server) listSchemas(prefix string, deleted, latestOnly bool, offset, limit int) []versionResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var names []string
	for name := range s.st.subjects {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := []versionResponse{}
	for _, name := range names {
		vs := s.st.subjects[name].live()
		if deleted {
			vs = s.st.subjects[name].versions
		}
		if latestOnly && len(vs) > 0 {
			vs = vs[len(vs)-1:]
		}
		for _, v := range vs {
			out = append(out, s.versionOf(name, v))
		}
	}
	if offset >= len(out) {
		return []versionResponse{}
	}
	out = out[offset:]
	if limit >= 0 && limit < len(out) {
		out = out[:limit]
	}
	return out
}

// intParam reads a non-negative integer query parameter (def when absent).
func intParam(q url.Values, key string, def int) (int, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 && !(key == "limit" && n == -1) {
		return 0, errf(400, CodeMalformedRequest, "query parameter %s=%q is not a valid count", key, v)
	}
	return n, nil
}

func (s *Server) listVersions(subject string, deleted bool) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sub := s.st.subjects[subject]
	out := []int{}
	if sub != nil {
		for _, v := range sub.versions {
			if deleted || !v.deleted {
				out = append(out, v.version)
			}
		}
	}
	if len(out) == 0 {
		return nil, subjectNotFound(subject)
	}
	return out, nil
}

// parseVersion accepts "latest", -1 (latest) or a positive integer; 0
// stands for latest.
func parseVersion(v string) (int, error) {
	if v == "latest" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n == 0 || n < -1 {
		return 0, errf(422, CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
	}
	if n == -1 {
		return 0, nil
	}
	return n, nil
}

// findVersion resolves a version string in a subject; the caller holds mu.
func (s *Server) findVersion(subject, version string, deleted bool) (*versionEntry, error) {
	n, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	sub := s.st.subjects[subject]
	if sub == nil || len(sub.versions) == 0 || (!deleted && len(sub.live()) == 0) {
		return nil, subjectNotFound(subject)
	}
	if n == 0 {
		vs := sub.versions
		if !deleted {
			vs = sub.live()
		}
		return vs[len(vs)-1], nil
	}
	v := sub.find(n)
	if v == nil || (v.deleted && !deleted) {
		return nil, errf(404, CodeVersionNotFound, "Version %d not found.", n)
	}
	return v, nil
}

func (s *Server) getVersion(subject, version string, deleted bool) (versionResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, err := s.findVersion(subject, version, deleted)
	if err != nil {
		return versionResponse{}, err
	}
	return s.versionOf(subject, v), nil
}

func (s *Server) schemaByID(idStr string) (*storedSchema, error) {
	id, err := strconv.Atoi(idStr)
	if err != nil {
		return nil, errf(404, CodeSchemaNotFound, "Schema %q not found: ids are integers", idStr)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.st.schemas[id]
	if ss == nil {
		return nil, errf(404, CodeSchemaNotFound, "Schema %d not found", id)
	}
	return ss, nil
}

type idVersionPair struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func (s *Server) idVersions(idStr string, subjectsOnly bool) (any, error) {
	ss, err := s.schemaByID(idStr)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	pairs := []idVersionPair{}
	for name, sub := range s.st.subjects {
		for _, v := range sub.live() {
			if v.id == ss.id {
				pairs = append(pairs, idVersionPair{name, v.version})
			}
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].Subject != pairs[j].Subject {
			return pairs[i].Subject < pairs[j].Subject
		}
		return pairs[i].Version < pairs[j].Version
	})
	if !subjectsOnly {
		return pairs, nil
	}
	names := []string{}
	for i, p := range pairs {
		if i == 0 || pairs[i-1].Subject != p.Subject {
			names = append(names, p.Subject)
		}
	}
	return names, nil
}

// compatibility answers a compatibility check as Confluent does: against
// a subject with no live version, the check of all versions and of
// "latest" is compatible (nothing to be incompatible with, as a first
// registration), and a numbered version is 40401 (subject not found).
func (s *Server) compatibility(r *http.Request, subject, version string, verbose bool) (any, error) {
	req, err := readRequest(r)
	if err != nil {
		return nil, err
	}
	n, err := parseVersion(version)
	if version != "" && err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sch, _, err := s.parse(req)
	if err != nil {
		return nil, err
	}
	level := s.levelOf(subject)
	var issues []compat.Incompatibility
	var against []int
	sub := s.st.subjects[subject]
	switch {
	case sub == nil || len(sub.live()) == 0:
		if version != "" && n != 0 {
			return nil, subjectNotFound(subject)
		}
	case version == "":
		for _, v := range sub.live() {
			against = append(against, v.version)
		}
		issues = compat.CheckLevel(level, sch, s.history(sub))
	default:
		v, err := s.findVersion(subject, version, false)
		if err != nil {
			return nil, err
		}
		against = []int{v.version}
		if level != compat.None {
			issues = compat.CheckOne(level, sch, s.st.schemas[v.id].parsed, 0)
		}
	}
	if !verbose {
		return map[string]bool{"is_compatible": len(issues) == 0}, nil
	}
	msgs := []string{}
	for _, in := range issues {
		msgs = append(msgs, fmt.Sprintf("%s (version %d, %s)", in, against[in.Against], in.Direction))
	}
	return map[string]any{"is_compatible": len(issues) == 0, "messages": msgs}, nil
}

func (s *Server) getConfig(subject string, defaultToGlobal bool) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if subject == "" {
		return map[string]compat.Level{"compatibilityLevel": s.st.level}, nil
	}
	if sub := s.st.subjects[subject]; sub != nil && sub.level != "" {
		return map[string]compat.Level{"compatibilityLevel": sub.level}, nil
	}
	if defaultToGlobal {
		return map[string]compat.Level{"compatibilityLevel": s.st.level}, nil
	}
	return nil, errf(404, CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", subject)
}

func (s *Server) putConfig(r *http.Request, subject string) (any, error) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	level, err := compat.ParseLevel(req.Compatibility)
	if err != nil {
		return nil, errf(422, CodeInvalidCompatibility, "Invalid compatibility level: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(subject); err != nil {
		return nil, err
	}
	if err := s.commit(&logRecord{Op: "config", Subject: subject, Level: string(level)}); err != nil {
		return nil, err
	}
	return map[string]compat.Level{"compatibility": level}, nil
}

func (s *Server) deleteConfig(subject string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(subject); err != nil {
		return nil, err
	}
	var prev compat.Level
	if subject == "" {
		prev = s.st.level
	} else {
		sub := s.st.subjects[subject]
		if sub == nil || sub.level == "" {
			return nil, errf(404, CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", subject)
		}
		prev = sub.level
	}
	if err := s.commit(&logRecord{Op: "config", Subject: subject}); err != nil {
		return nil, err
	}
	return map[string]compat.Level{"compatibilityLevel": prev}, nil
}

// unreferenced refuses to delete a subject version that a live schema
// references (Confluent's 42206); the caller holds mu.
func (s *Server) unreferenced(subject string, version int) error {
	if ids := s.st.referencedBy(subject, version); len(ids) > 0 {
		return errf(422, CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: schema ids %v", subject, version, ids)
	}
	return nil
}

// getMode answers GET /mode and GET /mode/{subject}: a subject without a
// mode of its own is 40409 unless defaultToGlobal.
func (s *Server) getMode(subject string, defaultToGlobal bool) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sub := s.st.subjects[subject]; subject != "" && (sub == nil || sub.mode == "") && !defaultToGlobal {
		return nil, errf(404, CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", subject)
	}
	return map[string]string{"mode": s.modeOf(subject)}, nil
}

// putMode sets the registry's mode or a subject's. IMPORT needs the
// registry (or the subject) to hold no schema yet, unless force.
func (s *Server) putMode(r *http.Request, subject string, force bool) (any, error) {
	var req struct {
		Mode string `json:"mode"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	mode := strings.ToUpper(req.Mode)
	if !validMode(mode) {
		return nil, errf(422, CodeInvalidMode, "Invalid mode %q: this registry supports READWRITE, READONLY and IMPORT", req.Mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if mode == ModeImport && !force {
		for name, sub := range s.st.subjects {
			if (subject == "" || name == subject) && len(sub.versions) > 0 {
				return nil, errf(422, CodeOperationNotPermitted, "Cannot import since found existing subjects (%s); set force=true to import anyway", name)
			}
		}
	}
	if err := s.commit(&logRecord{Op: "mode", Subject: subject, Mode: mode}); err != nil {
		return nil, err
	}
	return map[string]string{"mode": mode}, nil
}

// deleteMode removes a subject's own mode and answers the one it had.
func (s *Server) deleteMode(subject string) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.st.subjects[subject]
	if sub == nil || sub.mode == "" {
		return nil, errf(404, CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", subject)
	}
	prev := sub.mode
	if err := s.commit(&logRecord{Op: "mode", Subject: subject}); err != nil {
		return nil, err
	}
	return map[string]string{"mode": prev}, nil
}

func (s *Server) deleteSubject(subject string, permanent bool) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(subject); err != nil {
		return nil, err
	}
	sub := s.st.subjects[subject]
	if sub == nil || len(sub.versions) == 0 {
		return nil, subjectNotFound(subject)
	}
	for _, v := range sub.versions {
		if err := s.unreferenced(subject, v.version); err != nil {
			return nil, err
		}
	}
	live := sub.live()
	if permanent && len(live) > 0 {
		return nil, errf(404, CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
	}
	if !permanent && len(live) == 0 {
		return nil, errf(404, CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
	}
	versions := []int{}
	for _, v := range sub.versions {
		versions = append(versions, v.version)
	}
	if !permanent {
		versions = versions[:0]
		for _, v := range live {
			versions = append(versions, v.version)
		}
	}
	if err := s.commit(&logRecord{Op: "delete_subject", Subject: subject, Permanent: permanent}); err != nil {
		return nil, err
	}
	return versions, nil
}

func (s *Server) deleteVersion(subject, version string, permanent bool) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writable(subject); err != nil {
		return nil, err
	}
	v, err := s.findVersion(subject, version, version != "latest" && version != "-1")
	if err != nil {
		return nil, err
	}
	if err := s.unreferenced(subject, v.version); err != nil {
		return nil, err
	}
	if permanent && !v.deleted {
		return nil, errf(404, CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.version)
	}
	if !permanent && v.deleted {
		return nil, errf(404, CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.version)
	}
	n := v.version
	if err := s.commit(&logRecord{Op: "delete_version", Subject: subject, Version: n, Permanent: permanent}); err != nil {
		return nil, err
	}
	return n, nil
}
