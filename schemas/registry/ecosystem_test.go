package registry_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/trialflow/trialflow/schemas/registry"
)

const (
	addressV1 = `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"}]}`
	// addressV2 adds a field without a default: BACKWARD-incompatible.
	addressV2 = `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}`
	// person refers to com.acme.Address, defined by a referenced schema.
	person   = `{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"home","type":"Address"}]}`
	personV2 = `{"type":"record","name":"Person","namespace":"com.acme","fields":[{"name":"name","type":"string"},{"name":"home","type":"Address"},{"name":"age","type":"int"}]}`
)

func refBody(schema string, refs ...registry.Reference) string {
	b, _ := json.Marshal(map[string]any{"schema": schema, "references": refs})
	return string(b)
}

func mustCall(t *testing.T, s *registry.Server, method, path, body string, want int) (map[string]any, string) {
	t.Helper()
	code, m, raw := call(t, s, method, path, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	return m, raw
}

// TestSchemaReferences registers a schema that refers to a type of
// another subject's version, and checks it on lookup, in GET answers, in
// compatibility checks, in referencedby and against deletion.
func TestSchemaReferences(t *testing.T) {
	s := newMemServer(t)
	mustCall(t, s, "POST", "/subjects/address/versions", schemaBody(addressV1), 200)
	ref := registry.Reference{Name: "com.acme.Address", Subject: "address", Version: 1}
	m, _ := mustCall(t, s, "POST", "/subjects/person-value/versions", refBody(person, ref), 200)
	id := m["id"].(float64)

	// Without its reference the schema does not parse.
	if code, m, raw := call(t, s, "POST", "/subjects/other/versions", schemaBody(person)); code != 422 || m["error_code"] != float64(42201) {
		t.Errorf("person without references: %d %s", code, raw)
	}
	// A reference naming a type its version does not define.
	bad := registry.Reference{Name: "com.acme.Nope", Subject: "address", Version: 1}
	if code, _, raw := call(t, s, "POST", "/subjects/other/versions", refBody(person, bad)); code != 422 || !strings.Contains(raw, "does not define it") {
		t.Errorf("reference to an undefined name: %d %s", code, raw)
	}

	// Registering again, and version -1 (the latest), answer the same id.
	latest := registry.Reference{Name: "com.acme.Address", Subject: "address", Version: -1}
	if m, _ := mustCall(t, s, "POST", "/subjects/person-value/versions", refBody(person, latest), 200); m["id"] != id {
		t.Errorf("re-register with version -1: id %v, want %v", m["id"], id)
	}
	// Lookup matches schema and references; the same text with no
	// references, or the types inline, is another schema.
	m, _ = mustCall(t, s, "POST", "/subjects/person-value", refBody(person, ref), 200)
	if m["id"] != id || m["version"] != float64(1) {
		t.Errorf("lookup: %v", m)
	}
	refs, _ := json.Marshal(m["references"])
	if string(refs) != `[{"name":"com.acme.Address","subject":"address","version":1}]` {
		t.Errorf("lookup references: %s", refs)
	}
	inline := strings.Replace(person, `"type":"Address"`, `"type":`+addressV1, 1)
	if code, m, raw := call(t, s, "POST", "/subjects/person-value", schemaBody(inline)); code != 404 || m["error_code"] != float64(40403) {
		t.Errorf("lookup of the inline form: %d %s", code, raw)
	}

	// GET answers carry the references, as registered.
	_, raw := mustCall(t, s, "GET", "/subjects/person-value/versions/1", "", 200)
	if !strings.Contains(raw, `"references":[{"name":"com.acme.Address","subject":"address","version":1}]`) {
		t.Errorf("GET version: %s", raw)
	}
	_, raw = mustCall(t, s, "GET", "/schemas/ids/"+jsonNum(id), "", 200)
	if !strings.Contains(raw, `"references":[{"name":"com.acme.Address","subject":"address","version":1}]`) {
		t.Errorf("GET /schemas/ids: %s", raw)
	}
	_, raw = mustCall(t, s, "GET", "/subjects/address/versions/1/referencedby", "", 200)
	if strings.TrimSpace(raw) != "["+jsonNum(id)+"]" {
		t.Errorf("referencedby = %s, want [%v]", raw, id)
	}

	// Compatibility resolves the references of the new schema: personV2
	// adds a field without a default (BACKWARD-incompatible).
	m, _ = mustCall(t, s, "POST", "/compatibility/subjects/person-value/versions/latest", refBody(personV2, ref), 200)
	if m["is_compatible"] != false {
		t.Errorf("personV2: %v", m)
	}
	m, _ = mustCall(t, s, "POST", "/compatibility/subjects/person-value/versions", refBody(person, ref), 200)
	if m["is_compatible"] != true {
		t.Errorf("person against itself: %v", m)
	}
	// The referenced subject evolves under its own rules.
	if code, _, raw := call(t, s, "POST", "/subjects/address/versions", schemaBody(addressV2)); code != 409 {
		t.Errorf("addressV2: %d %s", code, raw)
	}

	// A referenced version cannot be deleted (42206) while referenced.
	for _, path := range []string{"/subjects/address/versions/1", "/subjects/address"} {
		if code, m, raw := call(t, s, "DELETE", path, ""); code != 422 || m["error_code"] != float64(registry.CodeReferenceExists) {
			t.Errorf("DELETE %s: %d %s", path, code, raw)
		}
	}
	mustCall(t, s, "DELETE", "/subjects/person-value", "", 200)
	mustCall(t, s, "DELETE", "/subjects/address/versions/1", "", 200)
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSchemaReferencesSurviveRestart replays a log holding references.
func TestSchemaReferencesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := registry.NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustCall(t, s, "POST", "/subjects/address/versions", schemaBody(addressV1), 200)
	ref := registry.Reference{Name: "com.acme.Address", Subject: "address", Version: 1}
	m, _ := mustCall(t, s, "POST", "/subjects/person-value/versions", refBody(person, ref), 200)
	mustCall(t, s, "PUT", "/mode/person-value", `{"mode":"READONLY"}`, 200)
	s.Close()
	s = newServerAt(t, dir)
	got, _ := mustCall(t, s, "POST", "/subjects/person-value", refBody(person, ref), 200)
	if got["id"] != m["id"] {
		t.Errorf("after restart: id %v, want %v", got["id"], m["id"])
	}
	if mode, _ := mustCall(t, s, "GET", "/mode/person-value", "", 200); mode["mode"] != "READONLY" {
		t.Errorf("mode after restart: %v", mode)
	}
}

func newServerAt(t *testing.T, dir string) *registry.Server {
	t.Helper()
	s, err := registry.NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSchemaReferencesWithSrclient registers and reads a schema with
// references through riferrei/srclient.
func TestSchemaReferencesWithSrclient(t *testing.T) {
	url := startServer(t, "")
	sr := srclient.CreateSchemaRegistryClient(url)
	sr.CodecCreationEnabled(false) // a schema with references does not compile alone
	if _, err := sr.CreateSchema("address", addressV1, srclient.Avro); err != nil {
		t.Fatal(err)
	}
	ref := srclient.Reference{Name: "com.acme.Address", Subject: "address", Version: 1}
	created, err := sr.CreateSchema("person-value", person, srclient.Avro, ref)
	if err != nil {
		t.Fatalf("CreateSchema with a reference: %v", err)
	}
	got, err := sr.LookupSchema("person-value", person, srclient.Avro, ref)
	if err != nil || got.ID() != created.ID() {
		t.Fatalf("LookupSchema = %v, %v; want id %d", got, err, created.ID())
	}
	latest, err := sr.GetLatestSchema("person-value")
	if err != nil || len(latest.References()) != 1 || latest.References()[0] != ref {
		t.Fatalf("GetLatestSchema references = %v, %v", latest, err)
	}
	if ok, err := sr.IsSchemaCompatible("person-value", personV2, "latest", srclient.Avro, ref); err != nil || ok {
		t.Errorf("IsSchemaCompatible(personV2) = %v, %v; want false", ok, err)
	}
	// registry.Client gives decoders the schema self-contained.
	c, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	text, err := c.SchemaByID(created.ID())
	if err != nil {
		t.Fatalf("Client.SchemaByID: %v", err)
	}
	if _, err := goavro.NewCodec(text); err != nil || !strings.Contains(text, `"city"`) {
		t.Errorf("Client.SchemaByID = %s (%v), want Address inline", text, err)
	}
	// Confluent's answer for a subject that does not exist: compatible.
	if ok, err := sr.IsSchemaCompatible("nobody-value", addressV1, "latest", srclient.Avro); err != nil || !ok {
		t.Errorf("IsSchemaCompatible(unknown subject) = %v, %v; want true", ok, err)
	}
}

// TestListingEndpoints checks subjectPrefix on GET /subjects and GET
// /schemas with its filters.
func TestListingEndpoints(t *testing.T) {
	s := newMemServer(t)
	mustCall(t, s, "POST", "/subjects/address/versions", schemaBody(addressV1), 200)
	mustCall(t, s, "PUT", "/config/address", `{"compatibility":"NONE"}`, 200)
	mustCall(t, s, "POST", "/subjects/address/versions", schemaBody(addressV2), 200)
	mustCall(t, s, "POST", "/subjects/orders-value/versions", schemaBody(`"string"`), 200)
	mustCall(t, s, "POST", "/subjects/orders-key/versions", schemaBody(`"long"`), 200)
	mustCall(t, s, "DELETE", "/subjects/orders-key", "", 200)

	for _, c := range []struct{ path, want string }{
		{"/subjects", `["address","orders-value"]`},
		{"/subjects?subjectPrefix=orders", `["orders-value"]`},
		{"/subjects?subjectPrefix=orders&deleted=true", `["orders-key","orders-value"]`},
		{"/subjects?subjectPrefix=zzz", `[]`},
	} {
		if _, raw := mustCall(t, s, "GET", c.path, "", 200); strings.TrimSpace(raw) != c.want {
			t.Errorf("GET %s = %s, want %s", c.path, raw, c.want)
		}
	}

	type item struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
		ID      int    `json:"id"`
		Schema  string `json:"schema"`
	}
	list := func(path string) []string {
		_, raw := mustCall(t, s, "GET", path, "", 200)
		var items []item
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, raw)
		}
		var out []string
		for _, it := range items {
			if it.Schema == "" || it.ID == 0 {
				t.Errorf("GET %s: item without schema or id: %+v", path, it)
			}
			out = append(out, it.Subject+"/"+jsonNum(it.Version))
		}
		return out
	}
	for _, c := range []struct{ path, want string }{
		{"/schemas", "address/1 address/2 orders-value/1"},
		{"/schemas?deleted=true", "address/1 address/2 orders-key/1 orders-value/1"},
		{"/schemas?subjectPrefix=addr", "address/1 address/2"},
		{"/schemas?latestOnly=true", "address/2 orders-value/1"},
		{"/schemas?offset=1&limit=1", "address/2"},
		{"/schemas?offset=9", ""},
	} {
		if got := strings.Join(list(c.path), " "); got != c.want {
			t.Errorf("GET %s = %q, want %q", c.path, got, c.want)
		}
	}
	if code, _, raw := call(t, s, "GET", "/schemas?limit=x", ""); code != 400 {
		t.Errorf("limit=x: %d %s", code, raw)
	}
}

// TestModes checks global and per-subject /mode: READONLY refuses changes
// to its subject only, a subject's mode overrides the registry's, and
// IMPORT registers with the given id and version, without compatibility
// checks.
func TestModes(t *testing.T) {
	s := newMemServer(t)
	mustCall(t, s, "POST", "/subjects/a/versions", schemaBody(addressV1), 200)

	if m, _ := mustCall(t, s, "GET", "/mode", "", 200); m["mode"] != "READWRITE" {
		t.Errorf("global mode %v", m)
	}
	if code, m, raw := call(t, s, "GET", "/mode/a", ""); code != 404 || m["error_code"] != float64(registry.CodeSubjectModeNotFound) {
		t.Errorf("subject without mode: %d %s", code, raw)
	}
	if m, _ := mustCall(t, s, "GET", "/mode/a?defaultToGlobal=true", "", 200); m["mode"] != "READWRITE" {
		t.Errorf("defaultToGlobal: %v", m)
	}

	// READONLY on one subject.
	if m, _ := mustCall(t, s, "PUT", "/mode/a", `{"mode":"READONLY"}`, 200); m["mode"] != "READONLY" {
		t.Errorf("PUT mode: %v", m)
	}
	if code, m, raw := call(t, s, "POST", "/subjects/a/versions", schemaBody(addressV2)); code != 422 || m["error_code"] != float64(registry.CodeOperationNotPermitted) {
		t.Errorf("register in READONLY subject: %d %s", code, raw)
	}
	if code, _, raw := call(t, s, "DELETE", "/subjects/a", ""); code != 422 {
		t.Errorf("delete in READONLY subject: %d %s", code, raw)
	}
	mustCall(t, s, "POST", "/subjects/b/versions", schemaBody(`"string"`), 200) // other subjects stay writable
	mustCall(t, s, "GET", "/subjects/a/versions/1", "", 200)                    // and reads go on

	// The registry READONLY, subject a READWRITE: a's own mode wins.
	mustCall(t, s, "PUT", "/mode/a", `{"mode":"READWRITE"}`, 200)
	mustCall(t, s, "PUT", "/mode", `{"mode":"READONLY"}`, 200)
	if code, _, raw := call(t, s, "POST", "/subjects/c/versions", schemaBody(`"int"`)); code != 422 {
		t.Errorf("register under a READONLY registry: %d %s", code, raw)
	}
	mustCall(t, s, "POST", "/subjects/a/versions", schemaBody(`{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string","default":""}]}`), 200)
	if m, _ := mustCall(t, s, "DELETE", "/mode/a", "", 200); m["mode"] != "READWRITE" {
		t.Errorf("DELETE mode answers the previous one: %v", m)
	}
	if code, _, raw := call(t, s, "POST", "/subjects/a/versions", schemaBody(addressV1)); code != 422 {
		t.Errorf("after DELETE /mode/a the registry's READONLY applies: %d %s", code, raw)
	}
	mustCall(t, s, "PUT", "/mode", `{"mode":"READWRITE"}`, 200)

	// IMPORT: only into an empty subject unless force; ids and versions
	// as given; no compatibility check; an id may not change its schema.
	if code, _, raw := call(t, s, "PUT", "/mode/a", `{"mode":"IMPORT"}`); code != 422 || !strings.Contains(raw, "Cannot import") {
		t.Errorf("IMPORT on a subject with schemas: %d %s", code, raw)
	}
	mustCall(t, s, "PUT", "/mode/imp", `{"mode":"IMPORT"}`, 200)
	if code, _, raw := call(t, s, "POST", "/subjects/imp/versions", schemaBody(addressV1)); code != 422 || !strings.Contains(raw, "must give its id") {
		t.Errorf("import without id: %d %s", code, raw)
	}
	body := func(schema string, id, version int) string {
		b, _ := json.Marshal(map[string]any{"schema": schema, "id": id, "version": version})
		return string(b)
	}
	if m, _ := mustCall(t, s, "POST", "/subjects/imp/versions", body(`"bytes"`, 100, 7), 200); m["id"] != float64(100) {
		t.Errorf("import: %v", m)
	}
	mustCall(t, s, "POST", "/subjects/imp/versions", body(`"double"`, 101, 0), 200) // not compatible: no check in IMPORT
	m, _ := mustCall(t, s, "GET", "/subjects/imp/versions/latest", "", 200)
	if m["id"] != float64(101) || m["version"] != float64(8) {
		t.Errorf("imported latest: %v", m)
	}
	mustCall(t, s, "GET", "/subjects/imp/versions/7", "", 200)
	if code, _, raw := call(t, s, "POST", "/subjects/imp/versions", body(`"float"`, 100, 0)); code != 422 || !strings.Contains(raw, "Overwrite") {
		t.Errorf("import over a taken id: %d %s", code, raw)
	}
	// Outside IMPORT a registration may not give its id.
	if code, _, raw := call(t, s, "POST", "/subjects/b/versions", body(`"boolean"`, 500, 0)); code != 422 || !strings.Contains(raw, "not in import mode") {
		t.Errorf("id outside IMPORT: %d %s", code, raw)
	}
	// New ids continue after the imported ones.
	mustCall(t, s, "PUT", "/mode/imp", `{"mode":"READWRITE"}`, 200)
	if m, _ := mustCall(t, s, "POST", "/subjects/fresh/versions", schemaBody(`"boolean"`), 200); m["id"] != float64(102) {
		t.Errorf("id after import: %v", m)
	}
	mustCall(t, s, "PUT", "/mode/a?force=true", `{"mode":"IMPORT"}`, 200)
	if code, _, raw := call(t, s, "PUT", "/mode/a", `{"mode":"SIDEWAYS"}`); code != 422 {
		t.Errorf("invalid mode: %d %s", code, raw)
	}
}
