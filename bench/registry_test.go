package bench

import (
	"testing"

	"github.com/riferrei/srclient"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
)

var registrySink struct {
	s  string
	id int
	v  registry.Version
	sr *srclient.Schema
}

// registryBenchSetup starts an in-memory embedded registry with the
// patient_facts contract registered and returns its URL and the id.
func registryBenchSetup(b *testing.B) (url string, id int) {
	b.Helper()
	url, srv, err := registry.StartServer("127.0.0.1:0", "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	c, err := registry.NewClient(url)
	if err != nil {
		b.Fatal(err)
	}
	id, err = c.Register(schemas.PatientFacts.ValueSubject(), schemas.PatientFacts.Schema())
	if err != nil {
		b.Fatal(err)
	}
	return url, id
}

// BenchmarkRegistryCachedLookup measures the per-record registry lookups
// of a decoder (schema by id) and an encoder (id for subject and schema)
// on registry.Client's cache, against srclient's own cache and an uncached
// HTTP round trip to the embedded server, in the same run. MB/s counts the
// patient_facts schema bytes resolved per lookup.
func BenchmarkRegistryCachedLookup(b *testing.B) {
	url, id := registryBenchSetup(b)
	subject := schemas.PatientFacts.ValueSubject()
	schema := schemas.PatientFacts.Schema()
	size := int64(len(schema))

	c, err := registry.NewClient(url)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.SchemaByID(id); err != nil {
		b.Fatal(err)
	}
	if _, err := c.IDFor(subject, schema); err != nil {
		b.Fatal(err)
	}
	if _, err := c.SchemaByVersion(subject, 1); err != nil {
		b.Fatal(err)
	}
	b.Run("Client.SchemaByID", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			s, err := c.SchemaByID(id)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.s = s
		}
	})
	b.Run("Client.IDFor", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			got, err := c.IDFor(subject, schema)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.id = got
		}
	})
	b.Run("Client.SchemaByVersion", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			v, err := c.SchemaByVersion(subject, 1)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.v = v
		}
	})
	// The decoder's whole per-record header path: frame -> id -> schema.
	frame := wire.Append(nil, uint32(id), make([]byte, 256))
	b.Run("wire.Parse+Client.SchemaByID", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		b.ReportAllocs()
		for b.Loop() {
			fid, _, err := wire.Parse(frame)
			if err != nil {
				b.Fatal(err)
			}
			s, err := c.SchemaByID(int(fid))
			if err != nil {
				b.Fatal(err)
			}
			registrySink.s = s
		}
	})

	// Baseline 1: srclient with its own cache enabled.
	cached := srclient.NewSchemaRegistryClient(url)
	if _, err := cached.GetSchema(id); err != nil {
		b.Fatal(err)
	}
	if _, err := cached.GetSchemaByVersion(subject, 1); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-srclient-cache.GetSchema", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			s, err := cached.GetSchema(id)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.sr = s
		}
	})
	b.Run("baseline-srclient-cache.GetSchemaByVersion", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			s, err := cached.GetSchemaByVersion(subject, 1)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.sr = s
		}
	})

	// Baseline 2: no cache, an HTTP round trip per lookup (loopback).
	uncached := srclient.NewSchemaRegistryClient(url)
	uncached.CachingEnabled(false)
	b.Run("baseline-uncached-HTTP.GetSchema", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			s, err := uncached.GetSchema(id)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.sr = s
		}
	})
	b.Run("baseline-uncached-HTTP.LookupSchema", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			s, err := uncached.LookupSchema(subject, schema, srclient.Avro)
			if err != nil {
				b.Fatal(err)
			}
			registrySink.sr = s
		}
	})
}
