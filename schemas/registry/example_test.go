package registry_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

// A producer registers its contract once, then looks up the id per record
// from the cache; a consumer resolves the id in a frame to the writer schema.
func ExampleClient() {
	url, srv, err := registry.StartServer("127.0.0.1:0", "") // in memory
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	c, err := registry.NewClient(url)
	if err != nil {
		panic(err)
	}
	subject := registry.Subject(registry.TopicName, schemas.PatientFacts.Topic, "org.trialflow.facts.PatientFact", false)
	id, err := c.Register(subject, schemas.PatientFacts.Schema())
	if err != nil {
		panic(err)
	}
	same, _ := c.IDFor(subject, schemas.PatientFacts.Schema()) // cached: no request, no allocation
	writer, _ := c.SchemaByID(id)
	fmt.Println(subject, id, same == id, strings.Contains(writer, "PatientFact"))

	// Without WithAutoRegister(true), unknown schemas are refused.
	_, err = c.IDFor("trials-value", `"string"`)
	fmt.Println(err != nil)
	// Output:
	// patient_facts-value 1 true true
	// true
}

// The server is an http.Handler: mount it, or run it with StartServer. It
// refuses an incompatible schema with 409 and says which field is at fault.
func ExampleServer() {
	srv, err := registry.NewServer("") // "" keeps state in memory; pass a directory to persist
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	post := func(body string) {
		resp, err := http.Post(ts.URL+"/subjects/r-value/versions", "application/vnd.schemaregistry.v1+json", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(b))
	}
	post(`{"schema": "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"}`)
	post(`{"schema": "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"}`)
	// Output:
	// 200 {"id":1}
	// 409 {"error_code":409,"message":"Schema being registered is incompatible with an earlier schema for subject \"r-value\" under BACKWARD: field \"a\": reader type string cannot read writer type int (version 1, BACKWARD)"}
}
