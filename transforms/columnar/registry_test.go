package columnar

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/columnar/columnartest"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// The registry client is a SchemaSource.
var _ avroarrow.SchemaSource = (*registry.Client)(nil)

// TestBatchWithRegistry finds writer schemas through the embedded Schema
// Registry, registered as a named source, as a pipeline would.
func TestBatchWithRegistry(t *testing.T) {
	url, srv, err := registry.StartServer("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := registry.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Register(schemas.PatientFacts.ValueSubject(), schemas.PatientFacts.Schema())
	if err != nil {
		t.Fatal(err)
	}
	RegisterSchemaSource("test-registry", func() (avroarrow.SchemaSource, error) {
		return registry.NewClient(url)
	})
	msgs, err := columnartest.Framed(21, 50, uint32(id))
	if err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, wire.Append(nil, uint32(id)+1000, msgs[0][wire.HeaderSize:]))

	cfg := testConfig()
	cfg.Schemas, cfg.Source = nil, "test-registry"
	fn := &batchFn{Cfg: cfg}
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	rows := 0
	emit := func(_ beam.EventTime, rec arrow.RecordBatch) {
		rows += int(rec.NumRows())
		rec.Release()
	}
	var dead []deadletter.Record
	for _, m := range msgs {
		if err := fn.ProcessElement(context.Background(), 0, m, emit, func(r deadletter.Record) { dead = append(dead, r) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := fn.FinishBundle(context.Background(), emit, nil); err != nil {
		t.Fatal(err)
	}
	if rows != 50 || len(dead) != 1 || dead[0].ReasonCode != string(deadletter.UnknownSchemaID) {
		t.Fatalf("rows %d, dead %v; want 50 rows and one unknown_schema_id", rows, dead)
	}
}
