package registry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/trialflow/trialflow/schemas/registry/compat"
)

// LogFile is the name of the append-only log in a server's data directory.
const LogFile = "registry.log"

// logRecord is one line of the log: one acknowledged state change.
type logRecord struct {
	Op        string `json:"op"` // register | delete_version | delete_subject | config | mode
	Subject   string `json:"subject,omitempty"`
	Version   int    `json:"version,omitempty"`
	ID        int    `json:"id,omitempty"`
	Schema    string `json:"schema,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
	Level     string `json:"level,omitempty"` // config: "" removes the level
	Mode      string `json:"mode,omitempty"`  // mode: "" removes a subject's mode
	// References of a registered schema, each to a concrete version.
	References []Reference `json:"references,omitempty"`
}

// Reference is one of Confluent's schema references: the Avro named type
// Name (a full name) is the one defined by the schema registered as
// Subject's Version. A registration may give version -1 for the latest;
// the registry stores the concrete version.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Registry modes (Confluent's /mode): READWRITE accepts every change,
// READONLY none, and IMPORT takes registrations with the id (and version)
// the request gives, without compatibility checks.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

func validMode(m string) bool { return m == ModeReadWrite || m == ModeReadOnly || m == ModeImport }

type storedSchema struct {
	id     int
	text   string
	refs   []Reference
	parsed *compat.Schema // with its references resolved
	norm   string         // identity: the normalized form, and the references
}

// identity is what tells two registered schemas apart: the normalized
// form of the schema with its references inlined, and the references
// themselves (Confluent keeps a schema with references apart from the same
// types written inline).
func identity(parsed *compat.Schema, refs []Reference) string {
	norm := parsed.Normalized()
	if len(refs) == 0 {
		return norm
	}
	b, _ := json.Marshal(refs)
	return norm + "\x00references:" + string(b)
}

// parseRefs parses a schema with references, each resolved in st to the
// schema of a concrete subject version (soft-deleted versions included, so
// a logged registration always replays).
func (st *state) parseRefs(text string, refs []Reference) (*compat.Schema, error) {
	if len(refs) == 0 {
		return compat.Parse(text)
	}
	var deps []*compat.Schema
	for _, r := range refs {
		var v *versionEntry
		if sub := st.subjects[r.Subject]; sub != nil {
			v = sub.find(r.Version)
		}
		if v == nil {
			return nil, fmt.Errorf("reference %q: subject %q has no version %d", r.Name, r.Subject, r.Version)
		}
		dep := st.schemas[v.id].parsed
		if dep.Name != r.Name && !definesName(dep, r.Name) {
			return nil, fmt.Errorf("reference %q: subject %q version %d does not define it", r.Name, r.Subject, r.Version)
		}
		deps = append(deps, dep)
	}
	return compat.ParseWithReferences(text, deps...)
}

// definesName reports whether a named type called name is reachable from s.
func definesName(s *compat.Schema, name string) bool {
	seen := map[*compat.Schema]bool{}
	var walk func(*compat.Schema) bool
	walk = func(s *compat.Schema) bool {
		if s == nil || seen[s] {
			return false
		}
		seen[s] = true
		if s.Name == name {
			return true
		}
		for _, f := range s.Fields {
			if walk(f.Type) {
				return true
			}
		}
		for _, b := range s.Branches {
			if walk(b) {
				return true
			}
		}
		return walk(s.Items) || walk(s.Values)
	}
	return walk(s)
}

// referencedBy returns the ids of live versions whose schemas reference
// subject's version.
func (st *state) referencedBy(subject string, version int) []int {
	ids := []int{}
	seen := map[int]bool{}
	for _, sub := range st.subjects {
		for _, v := range sub.live() {
			if seen[v.id] {
				continue
			}
			for _, r := range st.schemas[v.id].refs {
				if r.Subject == subject && r.Version == version {
					ids = append(ids, v.id)
					seen[v.id] = true
					break
				}
			}
		}
	}
	sort.Ints(ids)
	return ids
}

type versionEntry struct {
	version, id int
	deleted     bool
}

type subjectEntry struct {
	versions []*versionEntry // ascending by version
	level    compat.Level    // "" means the global level applies
	mode     string          // "" means the global mode applies
}

func (s *subjectEntry) live() []*versionEntry {
	var out []*versionEntry
	for _, v := range s.versions {
		if !v.deleted {
			out = append(out, v)
		}
	}
	return out
}

func (s *subjectEntry) find(version int) *versionEntry {
	for _, v := range s.versions {
		if v.version == version {
			return v
		}
	}
	return nil
}

// state is the registry's data: everything the log replays into.
type state struct {
	schemas  map[int]*storedSchema
	byNorm   map[string]int
	subjects map[string]*subjectEntry
	// configs holds subject-level levels, also for subjects with no versions.
	level  compat.Level
	mode   string
	nextID int
	// maxVersion remembers the highest version ever given in a subject, so
	// that soft-deleted version numbers are never reused.
	maxVersion map[string]int
}

func newState(level compat.Level) *state {
	return &state{
		schemas:    map[int]*storedSchema{},
		byNorm:     map[string]int{},
		subjects:   map[string]*subjectEntry{},
		level:      level,
		mode:       ModeReadWrite,
		nextID:     1,
		maxVersion: map[string]int{},
	}
}

func (st *state) subject(name string) *subjectEntry {
	s := st.subjects[name]
	if s == nil {
		s = &subjectEntry{}
		st.subjects[name] = s
	}
	return s
}

// validate reports whether apply would accept r, without changing st.
// The server validates before logging, so that a record that is logged can
// always be replayed.
func (st *state) validate(r *logRecord) error {
	switch r.Op {
	case "register":
		if r.ID < 1 || r.Version < 1 || r.Subject == "" {
			return fmt.Errorf("registration with subject %q, version %d, id %d", r.Subject, r.Version, r.ID)
		}
		p, err := st.parseRefs(r.Schema, r.References)
		if err != nil {
			return fmt.Errorf("schema id %d: %w", r.ID, err)
		}
		norm := identity(p, r.References)
		if sub := st.subjects[r.Subject]; sub != nil && sub.find(r.Version) != nil {
			return fmt.Errorf("subject %q version %d registered twice", r.Subject, r.Version)
		}
		if old, ok := st.schemas[r.ID]; ok && old.norm != norm {
			return fmt.Errorf("id %d registered again with a different schema", r.ID)
		}
		if other, ok := st.byNorm[norm]; ok && other != r.ID {
			return fmt.Errorf("schema of id %d registered again as id %d", other, r.ID)
		}
	case "delete_version":
		sub := st.subjects[r.Subject]
		if sub == nil || sub.find(r.Version) == nil {
			return fmt.Errorf("delete of unknown version %d in subject %q", r.Version, r.Subject)
		}
	case "delete_subject":
		if st.subjects[r.Subject] == nil {
			return fmt.Errorf("delete of unknown subject %q", r.Subject)
		}
	case "config":
		if r.Level != "" {
			if _, err := compat.ParseLevel(r.Level); err != nil {
				return err
			}
		}
	case "mode":
		if !validMode(r.Mode) && (r.Subject == "" || r.Mode != "") {
			return fmt.Errorf("unknown mode %q", r.Mode)
		}
	default:
		return fmt.Errorf("unknown operation %q", r.Op)
	}
	return nil
}

// apply performs one logged change. It is used both live (after the record
// is durable) and when replaying the log, so it must be deterministic.
func (st *state) apply(r *logRecord) error {
	switch r.Op {
	case "register":
		if r.ID < 1 || r.Version < 1 || r.Subject == "" {
			return fmt.Errorf("registration with subject %q, version %d, id %d", r.Subject, r.Version, r.ID)
		}
		p, err := st.parseRefs(r.Schema, r.References)
		if err != nil {
			return fmt.Errorf("schema id %d: %w", r.ID, err)
		}
		norm := identity(p, r.References)
		if st.subjects[r.Subject] != nil && st.subjects[r.Subject].find(r.Version) != nil {
			return fmt.Errorf("subject %q version %d registered twice", r.Subject, r.Version)
		}
		if old, ok := st.schemas[r.ID]; ok {
			if old.norm != norm {
				return fmt.Errorf("id %d registered again with a different schema", r.ID)
			}
		} else {
			if other, ok := st.byNorm[norm]; ok {
				return fmt.Errorf("schema of id %d registered again as id %d", other, r.ID)
			}
			st.schemas[r.ID] = &storedSchema{id: r.ID, text: r.Schema, refs: r.References, parsed: p, norm: norm}
			st.byNorm[norm] = r.ID
		}
		if r.ID >= st.nextID {
			st.nextID = r.ID + 1
		}
		sub := st.subject(r.Subject)
		sub.versions = append(sub.versions, &versionEntry{version: r.Version, id: r.ID})
		sort.Slice(sub.versions, func(i, j int) bool { return sub.versions[i].version < sub.versions[j].version })
		if r.Version > st.maxVersion[r.Subject] {
			st.maxVersion[r.Subject] = r.Version
		}
	case "delete_version":
		sub := st.subjects[r.Subject]
		if sub == nil {
			return fmt.Errorf("delete of version %d in unknown subject %q", r.Version, r.Subject)
		}
		for i, v := range sub.versions {
			if v.version != r.Version {
				continue
			}
			if r.Permanent {
				sub.versions = append(sub.versions[:i], sub.versions[i+1:]...)
			} else {
				v.deleted = true
			}
			st.dropIfEmpty(r.Subject)
			return nil
		}
		return fmt.Errorf("delete of unknown version %d in subject %q", r.Version, r.Subject)
	case "delete_subject":
		sub := st.subjects[r.Subject]
		if sub == nil {
			return fmt.Errorf("delete of unknown subject %q", r.Subject)
		}
		if r.Permanent {
			sub.versions = nil
			sub.level, sub.mode = "", ""
			delete(st.maxVersion, r.Subject)
		} else {
			for _, v := range sub.versions {
				v.deleted = true
			}
		}
		st.dropIfEmpty(r.Subject)
	case "config":
		var lvl compat.Level
		if r.Level != "" {
			l, err := compat.ParseLevel(r.Level)
			if err != nil {
				return err
			}
			lvl = l
		}
		if r.Subject == "" {
			if lvl == "" {
				lvl = compat.Default
			}
			st.level = lvl
			return nil
		}
		st.subject(r.Subject).level = lvl
		st.dropIfEmpty(r.Subject)
	case "mode":
		if !validMode(r.Mode) && (r.Subject == "" || r.Mode != "") {
			return fmt.Errorf("unknown mode %q", r.Mode)
		}
		if r.Subject == "" {
			st.mode = r.Mode
			return nil
		}
		st.subject(r.Subject).mode = r.Mode
		st.dropIfEmpty(r.Subject)
	default:
		return fmt.Errorf("unknown operation %q", r.Op)
	}
	return nil
}

func (st *state) dropIfEmpty(name string) {
	if s := st.subjects[name]; s != nil && len(s.versions) == 0 && s.level == "" && s.mode == "" {
		delete(st.subjects, name)
	}
}

// wal is the append-only log. Every acknowledged change is one JSON line,
// written and fsynced before the change is applied in memory and answered.
type wal struct {
	f      *os.File
	size   int64
	broken error // set when a failed write could not be rolled back
}

// openWAL opens (creating if needed) the log in dir and replays it into st.
// A last line without its newline is a write torn by a crash before it was
// acknowledged: it is cut off. Any other unreadable line is corruption and
// stops the open.
func openWAL(dir string, st *state) (*wal, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("registry: data directory: %w", err)
	}
	path := filepath.Join(dir, LogFile)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("registry: open log: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// Make the new file's directory entry durable too.
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	r := bufio.NewReader(f)
	var off int64
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(b) > 0 {
				// Torn tail: never acknowledged, so drop it.
				if err := f.Truncate(off); err != nil {
					f.Close()
					return nil, fmt.Errorf("registry: cut torn tail of %s at byte %d: %w", path, off, err)
				}
				if err := f.Sync(); err != nil {
					f.Close()
					return nil, fmt.Errorf("registry: sync %s: %w", path, err)
				}
			}
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("registry: read %s: %w", path, err)
		}
		var rec logRecord
		if err := json.Unmarshal(bytes.TrimSpace(b), &rec); err != nil {
			f.Close()
			return nil, fmt.Errorf("registry: %s line %d is corrupt: %w", path, line, err)
		}
		if err := st.apply(&rec); err != nil {
			f.Close()
			return nil, fmt.Errorf("registry: %s line %d: %w", path, line, err)
		}
		off += int64(len(b))
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("registry: seek %s: %w", path, err)
	}
	return &wal{f: f, size: off}, nil
}

// append makes rec durable. On a failed write the log is cut back to its
// previous size so a half-written line never precedes later records.
func (w *wal) append(rec *logRecord) error {
	if w.broken != nil {
		return fmt.Errorf("registry: log unusable after an earlier error: %w", w.broken)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("registry: encode log record: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.f.Write(b); err != nil {
		w.rollback(err)
		return fmt.Errorf("registry: write log: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.rollback(err)
		return fmt.Errorf("registry: sync log: %w", err)
	}
	w.size += int64(len(b))
	return nil
}

func (w *wal) rollback(cause error) {
	if err := w.f.Truncate(w.size); err != nil {
		w.broken = fmt.Errorf("%w (and cutting back the log: %v)", cause, err)
		return
	}
	if _, err := w.f.Seek(w.size, io.SeekStart); err != nil {
		w.broken = fmt.Errorf("%w (and seeking: %v)", cause, err)
	}
}

func (w *wal) close() error { return w.f.Close() }
