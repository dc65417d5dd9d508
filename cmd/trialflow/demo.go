package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
)

func init() {
	register(command{
		name:    "demo",
		summary: "run the embedded default: schema registry, local Kafka and the pipeline on in-process Prism",
		run:     demo,
	})
}

func demo(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "trialflow-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	return registryDemo(os.Stdout, dir)
}

// registryDemo shows the data contracts governed by the embedded registry:
// registration, an accepted and a refused evolution, and durability across a
// restart.
func registryDemo(out io.Writer, dir string) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }

	url, srv, err := registry.StartServer("127.0.0.1:0", dir)
	if err != nil {
		return err
	}
	step("embedded Schema Registry on %s (data in %s)", url, dir)
	client, err := registry.NewClient(url)
	if err != nil {
		srv.Close()
		return err
	}
	ids := map[string]int{}
	for _, c := range schemas.All() {
		id, err := client.Register(c.ValueSubject(), c.Schema())
		if err != nil {
			srv.Close()
			return fmt.Errorf("demo: register %s: %w", c.ValueSubject(), err)
		}
		ids[c.ValueSubject()] = id
		step("registered %-26s id %d", c.ValueSubject(), id)
	}

	facts := schemas.PatientFacts.Schema()
	// BACKWARD: a new optional field with a default is accepted.
	v2 := strings.Replace(facts, `{"name": "source",`,
		`{"name": "facility", "type": ["null", "string"], "default": null, "doc": "Facility that reported the fact."},
    {"name": "source",`, 1)
	id2, err := client.Register(schemas.PatientFacts.ValueSubject(), v2)
	if err != nil {
		srv.Close()
		return fmt.Errorf("demo: evolve patient_facts: %w", err)
	}
	step("patient_facts v2 (adds optional field facility with a default): accepted under BACKWARD, id %d", id2)

	// An incompatible change is refused with the reason.
	bad := strings.Replace(facts, `{"name": "tenant", "type": "string"`, `{"name": "tenant", "type": "int"`, 1)
	if _, err := client.Register(schemas.PatientFacts.ValueSubject(), bad); err == nil {
		srv.Close()
		return fmt.Errorf("demo: the registry accepted an incompatible schema")
	} else {
		step("patient_facts with tenant changed to int: refused (%d): %v", registry.ErrorCode(err), err)
	}
	if err := srv.Close(); err != nil {
		return err
	}

	// Durability: restart on the same directory and read back by id.
	url, srv, err = registry.StartServer("127.0.0.1:0", dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	client, err = registry.NewClient(url)
	if err != nil {
		return err
	}
	for subject, id := range ids {
		if _, err := client.SchemaByID(id); err != nil {
			return fmt.Errorf("demo: after restart, schema %d of %s: %w", id, subject, err)
		}
	}
	latest, _, err := client.Latest(schemas.PatientFacts.ValueSubject())
	if err != nil {
		return err
	}
	step("restarted registry on %s: all %d schemas readable by id; latest patient_facts-value is id %d", url, len(ids), latest)
	return nil
}
