package registry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

const (
	recV1 = `{"type":"record","name":"R","namespace":"t","fields":[{"name":"a","type":"int"}]}`
	recV2 = `{"type":"record","name":"R","namespace":"t","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}`
	recV3 = `{"type":"record","name":"R","namespace":"t","fields":[{"name":"a","type":"string"}]}`
)

func startServer(t *testing.T, dir string, opts ...registry.ServerOption) string {
	t.Helper()
	url, srv, err := registry.StartServer("127.0.0.1:0", dir, opts...)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return url
}

// call sends a raw request and decodes the JSON answer.
func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw := rec.Body.String()
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return rec.Code, m, raw
}

func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

func newMemServer(t *testing.T, opts ...registry.ServerOption) *registry.Server {
	t.Helper()
	s, err := registry.NewServer("", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSrclientOverHTTP drives the server with srclient (through Client and
// directly), as production code would drive Confluent's registry.
func TestSrclientOverHTTP(t *testing.T) {
	url := startServer(t, "")
	c, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	pf := schemas.PatientFacts.Schema()
	id, err := c.Register(schemas.PatientFacts.ValueSubject(), pf)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	got, err := c.SchemaByID(id)
	if err != nil || got == "" {
		t.Fatalf("SchemaByID(%d) = %.40q, %v", id, got, err)
	}
	if id2, err := c.IDFor(schemas.PatientFacts.ValueSubject(), pf); err != nil || id2 != id {
		t.Errorf("IDFor = %d, %v; want %d", id2, err, id)
	}
	lid, lschema, err := c.Latest(schemas.PatientFacts.ValueSubject())
	if err != nil || lid != id || lschema != got {
		t.Errorf("Latest = %d, %v; want %d", lid, err, id)
	}
	// The same schema, reformatted, gets the same id in another subject.
	var anyJSON any
	_ = json.Unmarshal([]byte(pf), &anyJSON)
	compact, _ := json.Marshal(anyJSON)
	otherSubject := registry.Subject(registry.RecordName, "patient_facts", "org.trialflow.facts.PatientFact", false)
	if id3, err := c.Register(otherSubject, string(compact)); err != nil || id3 != id {
		t.Errorf("same schema under %s: id %d, %v; want %d", otherSubject, id3, err, id)
	}
	v, err := c.SchemaByVersion(otherSubject, 1)
	if err != nil || v.ID != id || v.Version != 1 {
		t.Errorf("SchemaByVersion = %+v, %v", v, err)
	}
	// A different schema gets a new id.
	for _, ct := range schemas.All()[1:] {
		if nid, err := c.Register(ct.ValueSubject(), ct.Schema()); err != nil || nid == id {
			t.Errorf("Register %s: id %d, %v", ct.Topic, nid, err)
		}
	}

	sr := c.SR()
	subjects, err := sr.GetSubjects()
	if err != nil || len(subjects) != 6 {
		t.Errorf("GetSubjects = %v, %v", subjects, err)
	}
	pairs, err := sr.GetSubjectVersionsById(id)
	if err != nil || len(pairs) != 2 {
		t.Errorf("GetSubjectVersionsById = %v, %v", pairs, err)
	}
	if ok, err := sr.IsSchemaCompatible(schemas.PatientFacts.ValueSubject(), pf, "latest", srclient.Avro); err != nil || !ok {
		t.Errorf("IsSchemaCompatible = %v, %v", ok, err)
	}
	if _, err := sr.ChangeSubjectCompatibilityLevel(otherSubject, srclient.Full); err != nil {
		t.Errorf("ChangeSubjectCompatibilityLevel: %v", err)
	}
	if l, err := sr.GetCompatibilityLevel(otherSubject, false); err != nil || *l != srclient.Full {
		t.Errorf("GetCompatibilityLevel = %v, %v", l, err)
	}
	if l, err := sr.GetGlobalCompatibilityLevel(); err != nil || *l != srclient.Backward {
		t.Errorf("GetGlobalCompatibilityLevel = %v, %v", l, err)
	}
	if err := sr.DeleteSubject(otherSubject, true); err != nil {
		t.Errorf("DeleteSubject(permanent): %v", err)
	}
	if vs, err := sr.GetSchemaVersions(otherSubject); err == nil {
		t.Errorf("GetSchemaVersions after delete = %v, want an error", vs)
	}
	// Ids outlive their subjects.
	c.Forget()
	if _, err := c.SchemaByID(id); err != nil {
		t.Errorf("SchemaByID after delete: %v", err)
	}
	if _, err := c.SchemaByID(9999); registry.ErrorCode(err) != registry.CodeSchemaNotFound {
		t.Errorf("SchemaByID(9999) = %v, want code 40403", err)
	}
	if _, _, err := c.Latest("nope"); registry.ErrorCode(err) != registry.CodeSubjectNotFound {
		t.Errorf("Latest(nope) = %v, want code 40401", err)
	}
}

func TestClientAutoRegisterAndCache(t *testing.T) {
	s := newMemServer(t)
	ts := httptest.NewServer(s)
	defer ts.Close()
	off, _ := registry.NewClient(ts.URL)
	_, err := off.IDFor("r-value", recV1)
	if !errors.Is(err, registry.ErrNotRegistered) {
		t.Fatalf("IDFor without auto-register = %v, want ErrNotRegistered", err)
	}
	on, _ := registry.NewClient(ts.URL, registry.WithAutoRegister(true))
	id, err := on.IDFor("r-value", recV1)
	if err != nil {
		t.Fatalf("IDFor with auto-register: %v", err)
	}
	if id2, err := off.IDFor("r-value", recV1); err != nil || id2 != id {
		t.Fatalf("IDFor after registration = %d, %v", id2, err)
	}
	if _, err := off.SchemaByID(id); err != nil {
		t.Fatal(err)
	}
	// Cached lookups no longer need the registry.
	ts.Close()
	if got, err := off.IDFor("r-value", recV1); err != nil || got != id {
		t.Errorf("cached IDFor = %d, %v", got, err)
	}
	if _, err := off.SchemaByID(id); err != nil {
		t.Errorf("cached SchemaByID: %v", err)
	}
	// Auto-register still enforces compatibility.
	ts2 := httptest.NewServer(s)
	defer ts2.Close()
	on2, _ := registry.NewClient(ts2.URL, registry.WithAutoRegister(true))
	if _, err := on2.IDFor("r-value", recV3); registry.ErrorCode(err) != registry.CodeIncompatible {
		t.Errorf("auto-register of an incompatible schema = %v, want 409", err)
	}
}

func TestClientBasicAuthAndTLS(t *testing.T) {
	s := newMemServer(t, registry.WithServerBasicAuth("alice", "s3cret"))
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case logs a handshake error
	ts.StartTLS()
	defer ts.Close()
	pool := ts.Client().Transport.(*http.Transport).TLSClientConfig
	good, err := registry.NewClient(ts.URL, registry.WithBasicAuth("alice", "s3cret"), registry.WithTLSConfig(pool))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.Register("r-value", recV1); err != nil {
		t.Errorf("Register with auth over TLS: %v", err)
	}
	bad, _ := registry.NewClient(ts.URL, registry.WithBasicAuth("alice", "wrong"), registry.WithTLSConfig(pool))
	if _, err := bad.Register("r-value", recV1); registry.ErrorCode(err) != registry.CodeUnauthorized {
		t.Errorf("Register with a wrong password = %v, want 401", err)
	}
	untrusted, _ := registry.NewClient(ts.URL, registry.WithBasicAuth("alice", "s3cret"))
	if _, err := untrusted.Register("r-value", recV1); err == nil {
		t.Error("Register without trusting the server's certificate: no error")
	}
}

// mutatePF edits the patient_facts schema as JSON.
func mutatePF(t *testing.T, edit func(root map[string]any)) string {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal([]byte(schemas.PatientFacts.Schema()), &root); err != nil {
		t.Fatal(err)
	}
	edit(root)
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func field(fields any, name string) map[string]any {
	for _, f := range fields.([]any) {
		if fm := f.(map[string]any); fm["name"] == name {
			return fm
		}
	}
	return nil
}

// TestPatientFactsEvolution is the evolution story of the issue, on the
// real patient_facts contract, through srclient.
func TestPatientFactsEvolution(t *testing.T) {
	url := startServer(t, t.TempDir())
	c, _ := registry.NewClient(url)
	subject := schemas.PatientFacts.ValueSubject()
	v1 := schemas.PatientFacts.Schema()
	id1, err := c.Register(subject, v1)
	if err != nil {
		t.Fatal(err)
	}

	// BACKWARD (default): adding a field with a default is accepted.
	v2 := mutatePF(t, func(root map[string]any) {
		root["fields"] = append(root["fields"].([]any), map[string]any{
			"name": "consent_scope", "type": "string", "default": "research", "doc": "Consent scope."})
	})
	id2, err := c.Register(subject, v2)
	if err != nil || id2 == id1 {
		t.Fatalf("adding a defaulted field under BACKWARD: id %d, %v", id2, err)
	}

	// Changing variant.exon from int to string is refused with 409 naming it.
	v3 := mutatePF(t, func(root map[string]any) {
		variant := field(root["fields"], "variant")
		rec := variant["type"].([]any)[1].(map[string]any)
		field(rec["fields"], "exon")["type"] = []any{"null", "string"}
	})
	_, err = c.Register(subject, v3)
	if registry.ErrorCode(err) != registry.CodeIncompatible || !strings.Contains(err.Error(), `field "variant.exon"`) {
		t.Errorf("changing exon to string: %v, want 409 naming variant.exon", err)
	}
	if ok, _ := c.SR().IsSchemaCompatible(subject, v3, "latest", srclient.Avro); ok {
		t.Error("compatibility endpoint says the exon change is compatible")
	}

	// FORWARD: removing a field without a default (tenant) is refused.
	if _, err := c.SR().ChangeSubjectCompatibilityLevel(subject, srclient.Forward); err != nil {
		t.Fatal(err)
	}
	v4 := mutatePF(t, func(root map[string]any) {
		var kept []any
		for _, f := range root["fields"].([]any) {
			if f.(map[string]any)["name"] != "tenant" {
				kept = append(kept, f)
			}
		}
		root["fields"] = kept
	})
	_, err = c.Register(subject, v4)
	if registry.ErrorCode(err) != registry.CodeIncompatible || !strings.Contains(err.Error(), `field "tenant"`) {
		t.Errorf("removing tenant under FORWARD: %v, want 409 naming tenant", err)
	}
	// NONE lets it through.
	if _, err := c.SR().ChangeSubjectCompatibilityLevel(subject, srclient.None); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(subject, v4); err != nil {
		t.Errorf("removing tenant under NONE: %v", err)
	}
	if vs, _ := c.SR().GetSchemaVersions(subject); len(vs) != 3 {
		t.Errorf("versions = %v, want [1 2 3]", vs)
	}
}

// TestBadInput sends every client mistake of the issue and checks the
// status and Confluent error code; none may be a 500.
func TestBadInput(t *testing.T) {
	s := newMemServer(t)
	if code, _, raw := call(t, s, "POST", "/subjects/r-value/versions", schemaBody(recV1)); code != 200 {
		t.Fatalf("register: %d %s", code, raw)
	}
	huge := `{"schema":"` + strings.Repeat(" ", registry.MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, body string
		status, code             int
		msg                      string
	}{
		{"malformed schema JSON", "POST", "/subjects/x/versions", schemaBody(`{"type":"record",`), 422, 42201, "invalid JSON"},
		{"invalid schema", "POST", "/subjects/x/versions", schemaBody(`{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}`), 422, 42201, `unknown type "Nope"`},
		{"bad default", "POST", "/subjects/x/versions", schemaBody(`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`), 422, 42201, "invalid default"},
		{"empty schema", "POST", "/subjects/x/versions", `{}`, 422, 42201, "no \"schema\""},
		{"protobuf", "POST", "/subjects/x/versions", `{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF"}`, 422, 42201, "AVRO only"},
		{"reference to nothing", "POST", "/subjects/x/versions", `{"schema":"\"int\"","references":[{"name":"a","subject":"b","version":1}]}`, 422, 42201, `subject "b" has no version 1`},
		{"reference without version", "POST", "/subjects/x/versions", `{"schema":"\"int\"","references":[{"name":"a","subject":"b"}]}`, 422, 42201, "needs a name, a subject and a version"},
		{"body not JSON", "POST", "/subjects/x/versions", `schema please`, 400, 400, "not the expected JSON"},
		{"body too large", "POST", "/subjects/x/versions", huge, 413, 413, "larger than"},
		{"lookup invalid schema", "POST", "/subjects/r-value", schemaBody(`[`), 422, 42201, "invalid JSON"},
		{"lookup unknown subject", "POST", "/subjects/nope", schemaBody(recV1), 404, 40401, "nope"},
		{"lookup unknown schema", "POST", "/subjects/r-value", schemaBody(recV2), 404, 40403, "not found"},
		{"unknown subject versions", "GET", "/subjects/nope/versions", "", 404, 40401, "Subject 'nope' not found"},
		{"unknown subject version", "GET", "/subjects/nope/versions/1", "", 404, 40401, ""},
		{"unknown version", "GET", "/subjects/r-value/versions/7", "", 404, 40402, "Version 7 not found"},
		{"invalid version", "GET", "/subjects/r-value/versions/seven", "", 422, 42202, "not a valid version"},
		{"version zero", "GET", "/subjects/r-value/versions/0", "", 422, 42202, ""},
		{"unknown id", "GET", "/schemas/ids/4242", "", 404, 40403, "Schema 4242 not found"},
		{"non-numeric id", "GET", "/schemas/ids/abc", "", 404, 40403, ""},
		{"unknown id versions", "GET", "/schemas/ids/4242/versions", "", 404, 40403, ""},
		{"invalid level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203, "SIDEWAYS"},
		{"invalid subject level", "PUT", "/config/r-value", `{"compatibility":""}`, 422, 42203, ""},
		{"config body too large", "PUT", "/config", huge, 413, 413, ""},
		{"no subject config", "GET", "/config/r-value", "", 404, 40408, ""},
		{"delete missing config", "DELETE", "/config/r-value", "", 404, 40408, ""},
		{"invalid mode", "PUT", "/mode", `{"mode":"SIDEWAYS"}`, 422, 42204, ""},
		// Confluent: nothing to be incompatible with, as a first registration.
		{"compat unknown subject latest", "POST", "/compatibility/subjects/nope/versions/latest", schemaBody(recV1), 200, 0, ""},
		{"compat unknown subject all", "POST", "/compatibility/subjects/nope/versions", schemaBody(recV1), 200, 0, ""},
		{"compat unknown subject version", "POST", "/compatibility/subjects/nope/versions/1", schemaBody(recV1), 404, 40401, "Subject 'nope' not found"},
		{"compat unknown version", "POST", "/compatibility/subjects/r-value/versions/9", schemaBody(recV1), 404, 40402, ""},
		{"compat invalid schema", "POST", "/compatibility/subjects/r-value/versions/latest", schemaBody(`{}`), 422, 42201, ""},
		{"compat wrong method", "GET", "/compatibility/subjects/r-value/versions/latest", "", 405, 405, ""},
		{"delete unknown subject", "DELETE", "/subjects/nope", "", 404, 40401, ""},
		{"delete unknown version", "DELETE", "/subjects/r-value/versions/5", "", 404, 40402, ""},
		{"permanent before soft", "DELETE", "/subjects/r-value?permanent=true", "", 404, 40405, ""},
		{"permanent version before soft", "DELETE", "/subjects/r-value/versions/1?permanent=true", "", 404, 40407, ""},
		{"unknown endpoint", "GET", "/nowhere", "", 404, 404, "no such endpoint"},
		{"wrong method", "PATCH", "/subjects/r-value/versions", "", 405, 405, ""},
		{"empty subject", "POST", "/subjects//versions", schemaBody(recV1), 404, 40401, "empty subject"},
		{"empty subject config", "PUT", "/config//", `{"compatibility":"FULL"}`, 200, 0, ""},
		{"bad escape", "GET", "/subjects/%zz/versions", "", 404, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var code int
			var body map[string]any
			var raw string
			if tt.name == "bad escape" {
				req, _ := http.NewRequest("GET", "http://x/", nil)
				req.URL.RawPath, req.URL.Path = "/subjects/%zz/versions", "/subjects/%zz/versions"
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				code, raw = rec.Code, rec.Body.String()
				_ = json.Unmarshal([]byte(raw), &body)
			} else {
				code, body, raw = call(t, s, tt.method, tt.path, tt.body)
			}
			if code >= 500 {
				t.Fatalf("status %d for a client mistake: %s", code, raw)
			}
			if code != tt.status {
				t.Errorf("status %d, want %d: %s", code, tt.status, raw)
			}
			if tt.code != 0 && body["error_code"] != float64(tt.code) {
				t.Errorf("error_code %v, want %d: %s", body["error_code"], tt.code, raw)
			}
			if tt.msg != "" && !strings.Contains(fmt.Sprint(body["message"]), tt.msg) {
				t.Errorf("message %q, want it to contain %q", body["message"], tt.msg)
			}
		})
	}
	// Read-only mode refuses writes with 42205.
	if code, _, raw := call(t, s, "PUT", "/mode", `{"mode":"READONLY"}`); code != 200 {
		t.Fatalf("PUT /mode: %d %s", code, raw)
	}
	if code, body, _ := call(t, s, "POST", "/subjects/r-value/versions", schemaBody(recV2)); code != 422 || body["error_code"] != float64(42205) {
		t.Errorf("register in READONLY: %d %v", code, body)
	}
}

func TestDeletesAndVersions(t *testing.T) {
	s := newMemServer(t)
	for _, sch := range []string{recV1, recV2} {
		if code, _, raw := call(t, s, "POST", "/subjects/r/versions", schemaBody(sch)); code != 200 {
			t.Fatalf("register: %s", raw)
		}
	}
	steps := []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/subjects/r/versions", 200, "[1,2]"},
		{"DELETE", "/subjects/r/versions/2", 200, "2"},
		{"DELETE", "/subjects/r/versions/2", 404, "40406"},
		{"GET", "/subjects/r/versions", 200, "[1]"},
		{"GET", "/subjects/r/versions?deleted=true", 200, "[1,2]"},
		{"GET", "/subjects/r/versions/2", 404, "40402"},
		{"GET", "/subjects/r/versions/2?deleted=true", 200, `"version":2`},
		{"GET", "/subjects/r/versions/latest", 200, `"version":1`},
		{"DELETE", "/subjects/r/versions/2?permanent=true", 200, "2"},
		{"GET", "/subjects/r/versions/2?deleted=true", 404, "40402"},
		{"DELETE", "/subjects/r", 200, "[1]"},
		{"DELETE", "/subjects/r", 404, "40404"},
		{"GET", "/subjects", 200, "[]"},
		{"GET", "/subjects?deleted=true", 200, `["r"]`},
		{"DELETE", "/subjects/r?permanent=true", 200, "[1]"},
		{"GET", "/subjects?deleted=true", 200, "[]"},
		{"GET", "/schemas/ids/1", 200, `"schema"`},
		{"GET", "/schemas/ids/1/schema", 200, `"type":"record"`},
		{"GET", "/schemas/types", 200, `["AVRO"]`},
	}
	for _, st := range steps {
		code, _, raw := call(t, s, st.method, st.path, "")
		if code != st.status || !strings.Contains(raw, st.want) {
			t.Errorf("%s %s = %d %s, want %d containing %s", st.method, st.path, code, raw, st.status, st.want)
		}
	}
	// A new registration after a soft delete takes the next version number.
	call(t, s, "POST", "/subjects/q/versions", schemaBody(recV1))
	call(t, s, "DELETE", "/subjects/q/versions/1", "")
	call(t, s, "POST", "/subjects/q/versions", schemaBody(recV1))
	if code, _, raw := call(t, s, "GET", "/subjects/q/versions", ""); code != 200 || raw != "[2]\n" {
		t.Errorf("versions after soft delete and re-register = %s", raw)
	}
}

func TestConfigAndCompatibilityEndpoint(t *testing.T) {
	s := newMemServer(t)
	call(t, s, "POST", "/subjects/r/versions", schemaBody(recV1))
	steps := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/config", "", 200, `"compatibilityLevel":"BACKWARD"`},
		{"GET", "/config/r?defaultToGlobal=true", "", 200, `"BACKWARD"`},
		{"POST", "/compatibility/subjects/r/versions/latest", schemaBody(recV3), 200, `"is_compatible":false`},
		{"POST", "/compatibility/subjects/r/versions/latest?verbose=true", schemaBody(recV3), 200, `field \"a\": reader type string cannot read writer type int (version 1, BACKWARD)`},
		{"POST", "/compatibility/subjects/r/versions?verbose=true", schemaBody(recV2), 200, `"is_compatible":true,"messages":[]`},
		{"PUT", "/config/r", `{"compatibility":"none"}`, 200, `"compatibility":"NONE"`},
		{"GET", "/config/r", "", 200, `"NONE"`},
		{"POST", "/compatibility/subjects/r/versions/1", schemaBody(recV3), 200, `"is_compatible":true`},
		{"POST", "/subjects/r/versions", schemaBody(recV3), 200, `"id":2`},
		{"DELETE", "/config/r", "", 200, `"compatibilityLevel":"NONE"`},
		{"PUT", "/config", `{"compatibility":"FULL_TRANSITIVE"}`, 200, `FULL_TRANSITIVE`},
		{"POST", "/subjects/r/versions", schemaBody(recV2), 409, `version 2`},
		{"DELETE", "/config", "", 200, `FULL_TRANSITIVE`},
		{"GET", "/config", "", 200, `BACKWARD`},
		{"GET", "/mode", "", 200, `READWRITE`},
		{"GET", "/", "", 200, `{}`},
	}
	for _, st := range steps {
		code, _, raw := call(t, s, st.method, st.path, st.body)
		if code != st.status || !strings.Contains(raw, st.want) {
			t.Errorf("%s %s = %d %s, want %d containing %s", st.method, st.path, code, raw, st.status, st.want)
		}
	}
}

// TestRestart: an acknowledged registration survives a stop and a restart
// on the same directory, and so do deletes and configuration.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	url, srv, err := registry.StartServer("127.0.0.1:0", dir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := registry.NewClient(url)
	id1, err := c.Register("r-value", recV1)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := c.Register("r-value", recV2)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := c.Register(schemas.PatientFacts.ValueSubject(), schemas.PatientFacts.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SR().ChangeSubjectCompatibilityLevel("r-value", srclient.None); err != nil {
		t.Fatal(err)
	}
	if err := c.SR().DeleteSubjectByVersion("r-value", 1, false); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	url = startServer(t, dir)
	c, _ = registry.NewClient(url)
	for id, want := range map[int]string{id1: recV1, id2: recV2} {
		if got, err := c.SchemaByID(id); err != nil || got != want {
			t.Errorf("after restart SchemaByID(%d) = %q, %v", id, got, err)
		}
	}
	if got, err := c.SchemaByID(pf); err != nil || got == "" {
		t.Errorf("after restart SchemaByID(patient_facts) = %v", err)
	}
	if id, schema, err := c.Latest("r-value"); err != nil || id != id2 || schema != recV2 {
		t.Errorf("after restart Latest = %d, %v", id, err)
	}
	if v, err := c.SchemaByVersion(schemas.PatientFacts.ValueSubject(), 1); err != nil || v.ID != pf {
		t.Errorf("after restart patient_facts v1 = %+v, %v", v, err)
	}
	if vs, err := c.SR().GetSchemaVersions("r-value"); err != nil || len(vs) != 1 || vs[0] != 2 {
		t.Errorf("after restart versions = %v, %v (version 1 was soft-deleted)", vs, err)
	}
	if l, err := c.SR().GetCompatibilityLevel("r-value", false); err != nil || *l != srclient.None {
		t.Errorf("after restart level = %v, %v", l, err)
	}
	// New ids continue after the replayed ones.
	if id3, err := c.Register("r-value", recV3); err != nil || id3 <= pf {
		t.Errorf("register after restart: id %d, %v", id3, err)
	}
}

func TestTornAndCorruptLog(t *testing.T) {
	dir := t.TempDir()
	s, err := registry.NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	call(t, s, "POST", "/subjects/r/versions", schemaBody(recV1))
	s.Close()
	path := filepath.Join(dir, registry.LogFile)
	good, _ := os.ReadFile(path)

	// A torn last line (crash mid-write, never acknowledged) is cut off.
	torn := append(append([]byte{}, good...), []byte(`{"op":"register","subject":"r","vers`)...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = registry.NewServer(dir)
	if err != nil {
		t.Fatalf("open with a torn tail: %v", err)
	}
	if code, _, raw := call(t, s, "GET", "/subjects/r/versions", ""); code != 200 || raw != "[1]\n" {
		t.Errorf("after torn tail: %d %s", code, raw)
	}
	if code, _, _ := call(t, s, "POST", "/subjects/r/versions", schemaBody(recV2)); code != 200 {
		t.Errorf("register after torn tail: %d", code)
	}
	s.Close()
	after, _ := os.ReadFile(path)
	if !bytes.HasPrefix(after, good) || bytes.Contains(after, []byte(`"vers{`)) || after[len(after)-1] != '\n' {
		t.Errorf("log after recovery:\n%s", after)
	}

	// A damaged line in the middle is corruption: refuse to start.
	bad := append([]byte("garbage\n"), after...)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.NewServer(dir); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("open with a corrupt line = %v, want an error naming line 1", err)
	}
}

func TestStartServerBadAddr(t *testing.T) {
	if _, _, err := registry.StartServer("256.0.0.1:99999", ""); err == nil {
		t.Error("StartServer on a bad address: no error")
	}
	_ = io.EOF
}

// TestConcurrentRegister: concurrent writers get distinct ids for distinct
// schemas, one id for one schema across subjects, and gap-free versions.
func TestConcurrentRegister(t *testing.T) {
	url := startServer(t, t.TempDir())
	const n = 8
	errs := make(chan error, 2*n)
	ids := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			c, _ := registry.NewClient(url)
			sch := fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"a","type":"int"}]}`, i)
			_, err := c.Register(fmt.Sprintf("s%d", i), sch)
			errs <- err
			id, err := c.Register(fmt.Sprintf("same-%d", i), recV1)
			ids <- id
			errs <- err
		}()
	}
	first := -1
	for i := 0; i < n; i++ {
		id := <-ids
		if first == -1 {
			first = id
		}
		if id != first {
			t.Errorf("same schema got ids %d and %d", first, id)
		}
	}
	for i := 0; i < 2*n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	c, _ := registry.NewClient(url)
	subjects, _ := c.SR().GetSubjects()
	if len(subjects) != 2*n {
		t.Errorf("%d subjects, want %d", len(subjects), 2*n)
	}
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
		v, err := c.SchemaByVersion(fmt.Sprintf("s%d", i), 1)
		if err != nil || seen[v.ID] || v.ID == first {
			t.Errorf("s%d: %+v, %v (ids must be distinct)", i, v, err)
		}
		seen[v.ID] = true
	}
}
