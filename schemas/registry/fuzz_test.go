package registry_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialflow/trialflow/schemas/registry"
)

// FuzzReplay feeds arbitrary bytes to the log replay: opening must either
// succeed or fail with an error, never panic, and a server that opens must
// answer requests.
func FuzzReplay(f *testing.F) {
	f.Add([]byte(`{"op":"register","subject":"r","version":1,"id":1,"schema":"\"int\""}` + "\n"))
	f.Add([]byte(`{"op":"register","subject":"r","version":1,"id":1,"schema":"\"int\""}` + "\n" +
		`{"op":"delete_version","subject":"r","version":1}` + "\n" + `{"op":"config","level":"FULL"}` + "\n" + `{"op":"mode","mode":"READONLY"}` + "\n"))
	f.Add([]byte(`{"op":"delete_subject","subject":"r","permanent":true}` + "\n"))
	f.Add([]byte(`{"op":"register","subj`))
	f.Fuzz(func(t *testing.T, log []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, registry.LogFile), log, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := registry.NewServer(dir)
		if err != nil {
			return
		}
		defer s.Close()
		for _, path := range []string{"/subjects", "/subjects/r/versions/latest", "/schemas/ids/1", "/config/r"} {
			if code, _, raw := call(t, s, "GET", path, ""); code >= 500 {
				t.Fatalf("GET %s after replay: %d %s", path, code, raw)
			}
		}
	})
}

// FuzzRegister posts arbitrary bodies; a client mistake never gets a 500.
func FuzzRegister(f *testing.F) {
	f.Add(schemaBody(recV1))
	f.Add(schemaBody(recV2))
	f.Add(`{"schema":"[\"null\",\"int\"]","schemaType":"AVRO"}`)
	f.Add(`{"schema":"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}"}`)
	f.Add(`{"schema":7}`)
	s, err := registry.NewServer("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/subjects/r/versions", "/subjects/r", "/compatibility/subjects/r/versions/latest?verbose=true"} {
			if code, _, raw := call(t, s, "POST", path, body); code >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, code, raw)
			}
		}
		if strings.Contains(body, "compatibility") {
			if code, _, raw := call(t, s, "PUT", "/config/r", body); code >= 500 {
				t.Fatalf("PUT /config/r %q: %d %s", body, code, raw)
			}
		}
	})
}
