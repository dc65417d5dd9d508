package columnar

import (
	"context"
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
	"github.com/trialflow/trialflow/transforms/columnar/avroarrow"
	"github.com/trialflow/trialflow/transforms/columnar/columnartest"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

func init() {
	register.Function1x1(batchRows)
	register.Function2x0(batchPatients)
	register.Function1x1(deadCode)
	register.Function1x1(deadHasSource)
	register.Emitter1[string]()
}

// batchRows counts a batch's rows and releases it.
func batchRows(rec arrow.RecordBatch) int {
	defer rec.Release()
	return int(rec.NumRows())
}

// batchPatients emits the patient ids of a batch and releases it.
func batchPatients(rec arrow.RecordBatch, emit func(string)) {
	defer rec.Release()
	col := rec.Column(rec.Schema().FieldIndices("patient_id")[0]).(*array.String)
	for i := 0; i < col.Len(); i++ {
		emit(col.Value(i))
	}
}

func deadCode(r deadletter.Record) string { return r.ReasonCode }

// testInput returns good framed facts, bad messages (one per reason) and the
// ids and reason codes to expect.
func testInput(t testing.TB, n int) (msgs [][]byte, patients []any, codes []any) {
	t.Helper()
	good, err := columnartest.Framed(11, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := avroarrow.New(schemas.PatientFacts.Schema(), avroarrow.WithProjection("patient_id"),
		avroarrow.WithSchemaSource(avroarrow.MapSource{1: schemas.PatientFacts.Schema()}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range good {
		if err := d.AppendFramed(m); err != nil {
			t.Fatal(err)
		}
	}
	rec := d.Flush()
	for i := 0; i < int(rec.NumRows()); i++ {
		patients = append(patients, rec.Column(0).(*array.String).Value(i))
	}
	rec.Release()
	bad := [][]byte{
		{0, 0},                                  // short
		{1, 0, 0, 0, 1, 2},                      // wrong magic byte
		wire.Append(nil, 99, good[0][5:]),       // unknown schema id
		good[1][:len(good[1])-3],                // truncated
		append(append([]byte{}, good[2]...), 9), // trailing byte
	}
	codes = []any{string(deadletter.ShortBuffer), string(deadletter.WrongMagicByte), string(deadletter.UnknownSchemaID),
		string(deadletter.TruncatedPayload), string(deadletter.InvalidPayload)}
	msgs = append(msgs, good[:n/2]...)
	msgs = append(msgs, bad...)
	msgs = append(msgs, good[n/2:]...)
	return msgs, patients, codes
}

func testConfig() Config {
	return Config{
		Reader:     schemas.PatientFacts.Schema(),
		Projection: columnartest.MatchingColumns,
		Flatten:    true,
		MaxRows:    64,
		Schemas:    map[int]string{1: schemas.PatientFacts.Schema()},
	}
}

// TestBatchFnDirect drives the DoFn's lifecycle by hand with a checked
// allocator: batch limits, dead letters, conservation and Release.
func TestBatchFnDirect(t *testing.T) {
	msgs, patients, codes := testInput(t, 300)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fn := &batchFn{Cfg: testConfig()}
	fn.st.mem = mem
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	var batches []arrow.RecordBatch
	var times []beam.EventTime
	emit := func(et beam.EventTime, rec arrow.RecordBatch) {
		batches = append(batches, rec)
		times = append(times, et)
	}
	var dead []deadletter.Record
	ctx := context.Background()
	for i, m := range msgs {
		if err := fn.ProcessElement(ctx, beam.EventTime(i), m, emit, func(r deadletter.Record) { dead = append(dead, r) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := fn.FinishBundle(ctx, emit, nil); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for i, b := range batches {
		if b.NumRows() > 64 {
			t.Errorf("batch %d has %d rows, limit 64", i, b.NumRows())
		}
		if i > 0 && times[i] < times[i-1] {
			t.Errorf("batch %d event time %v before %v", i, times[i], times[i-1])
		}
		rows += int(b.NumRows())
		b.Release()
	}
	if rows+len(dead) != len(msgs) {
		t.Fatalf("conservation: %d rows + %d dead letters != %d inputs", rows, len(dead), len(msgs))
	}
	if rows != len(patients) || len(dead) != len(codes) {
		t.Fatalf("%d rows, %d dead; want %d, %d", rows, len(dead), len(patients), len(codes))
	}
	for i, r := range dead {
		if r.ReasonCode != codes[i] || r.Stage != Stage || r.Payload != nil || r.PayloadSHA256 == nil {
			t.Errorf("dead letter %d: code %s stage %s payload %v sha %v; want code %s", i, r.ReasonCode, r.Stage, r.Payload != nil, r.PayloadSHA256 != nil, codes[i])
		}
	}
	if dead[2].SchemaID == nil || *dead[2].SchemaID != 99 {
		t.Errorf("unknown-schema dead letter lacks schema id 99: %+v", dead[2])
	}
}

func TestBatchSourceRegistry(t *testing.T) {
	RegisterSchemaSource("test-map", func() (avroarrow.SchemaSource, error) {
		return avroarrow.MapSource{1: schemas.PatientFacts.Schema()}, nil
	})
	cfg := testConfig()
	cfg.Schemas, cfg.Source = nil, "test-map"
	fn := &batchFn{Cfg: cfg}
	if err := fn.Setup(); err != nil {
		t.Fatal(err)
	}
	msgs, _, _ := testInput(t, 4)
	var dead []deadletter.Record
	for _, m := range msgs {
		_ = fn.ProcessElement(context.Background(), 0, m, func(beam.EventTime, arrow.RecordBatch) {}, func(r deadletter.Record) { dead = append(dead, r) })
	}
	if len(dead) != 5 {
		t.Fatalf("%d dead letters, want 5", len(dead))
	}
	cfg.Source = "missing"
	if err := (&batchFn{Cfg: cfg}).Setup(); err == nil {
		t.Fatal("unregistered source: no error")
	}
	if err := (&batchFn{Cfg: Config{Reader: "{"}}).Setup(); err == nil {
		t.Fatal("bad reader schema: no error")
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		code deadletter.Code
	}{
		{avroarrow.ErrIncompatible, deadletter.IncompatibleSchema},
		{avroarrow.ErrLimit, deadletter.InvalidPayload},
		{&avroarrow.DecodeError{Err: avroarrow.ErrTruncated}, deadletter.TruncatedPayload},
	} {
		err := Classify(c.err)
		if deadletter.CodeOf(err) != c.code || !errors.Is(err, c.err) {
			t.Errorf("Classify(%v) = %v (%s), want %s", c.err, err, deadletter.CodeOf(err), c.code)
		}
	}
}

// TestBatchPipeline runs Batch on the default runner (Prism): batches cross
// a Reshuffle, so the Arrow IPC coder carries them between stages, and every
// input comes out as a row or a dead letter.
func TestBatchPipeline(t *testing.T) {
	msgs, patients, codes := testInput(t, 500)
	p, s := beam.NewPipelineWithRoot()
	in := beam.CreateList(s, msgs)
	batches, dead := Batch(s, testConfig(), in)
	shuffled := beam.Reshuffle(s, batches)
	ids := beam.ParDo(s, batchPatients, shuffled)
	passert.Equals(s, ids, patients...)
	passert.Equals(s, beam.ParDo(s, deadCode, dead), codes...)
	// Conservation: rows + dead letters = inputs.
	rows := stats.Sum(s, beam.ParDo(s, batchRows, beam.Reshuffle(s, batches)))
	passert.Equals(s, rows, len(patients))
	passert.Count(s, dead, "dead letters", len(msgs)-len(patients))
	ptest.RunAndValidate(t, p)
}

// TestBatchRecordsPipeline is TestBatchPipeline for Kafka records: dead
// letters carry the source position.
func TestBatchRecordsPipeline(t *testing.T) {
	msgs, patients, codes := testInput(t, 200)
	var recs []kafkaio.Record
	for i, m := range msgs {
		recs = append(recs, kafkaio.Record{Topic: "patient_facts", Partition: 3, Offset: int64(i), Value: m})
	}
	p, s := beam.NewPipelineWithRoot()
	batches, dead := BatchRecords(s, testConfig(), beam.CreateList(s, recs))
	passert.Equals(s, beam.ParDo(s, batchPatients, beam.Reshuffle(s, batches)), patients...)
	passert.Equals(s, beam.ParDo(s, deadCode, dead), codes...)
	oks := make([]any, len(codes))
	for i := range oks {
		oks[i] = true
	}
	passert.Equals(s, beam.ParDo(s, deadHasSource, dead), oks...)
	ptest.RunAndValidate(t, p)
}

// deadHasSource reports whether a dead letter carries its Kafka position and
// a payload reference instead of the payload.
func deadHasSource(r deadletter.Record) bool {
	return r.SourceTopic != nil && *r.SourceTopic == "patient_facts" && r.SourceOffset != nil &&
		r.PayloadRef != nil && r.Payload == nil
}
