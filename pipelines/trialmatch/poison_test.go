package trialmatch_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
)

// Event times the pipeline cannot represent: a fact at -2^62 ms once
// stopped streaming for good (its JSON encoding failed on every restart).
var (
	farPast   = time.UnixMilli(-1 << 62)
	farFuture = time.UnixMilli(1 << 62)
	// Beam's coders cannot carry a time outside years [0, 9999] either, so
	// a typed PCollection never holds one: Build's typed inputs get times
	// that are encodable but outside schemas' range.
	before1900 = time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC)
	after2200  = time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)
)

// checkStage asserts a source stage's conservation from its metrics:
// in records, out of them admitted, the rest dead letters.
func checkStage(t *testing.T, sum metrics.Summary, name string, in, out int64) {
	t.Helper()
	st, _ := sum.Stage(name)
	if st.In != in || st.Out != out || st.In != st.Out+st.DeadLetters {
		t.Errorf("stage %s: in %d, out %d, dead letters %d; want in %d = out %d + dead letters %d",
			name, st.In, st.Out, st.DeadLetters, in, out, in-out)
	}
}

// Poison records of every kind reach Build's typed inputs: each is a dead
// letter with its own reason code, the rest of the input is matched as
// without them, in both executions, and every record is accounted for.
func TestPoisonRecords(t *testing.T) {
	for _, e := range []trialmatch.Execution{trialmatch.Streaming, trialmatch.Batch} {
		t.Run(e.String(), func(t *testing.T) { testPoisonRecords(t, e) })
	}
}

func testPoisonRecords(t *testing.T, e trialmatch.Execution) {
	b := &factBuilder{}
	b.patient("A", "p1", 2, "Lung Adenocarcinoma")
	b.variant("A", "p1", 2.5, "EGFR", "p.L858R")
	valid := len(b.facts)
	vital := func(f *schemas.PatientFact) {
		f.Kind = schemas.KindVital
		f.Vital = &schemas.VitalStatus{Status: "ALIVE"}
	}
	b.add("A", "p1", 3, func(f *schemas.PatientFact) { vital(f); f.EventTime = before1900 })
	b.add("A", "p1", 3, func(f *schemas.PatientFact) { vital(f); f.EventTime = after2200 })
	b.add("A", "p1", 3, func(f *schemas.PatientFact) { vital(f); f.IngestTime = after2200 })
	b.add("A\xff", "p1", 3, vital)
	b.add("A", "p\xfe1", 3, vital)
	b.add("A", "p1", 3, func(f *schemas.PatientFact) {
		f.Kind = schemas.KindTumorMarker
		f.Marker = &schemas.TumorMarker{Marker: "TMB", Value: schemas.Ptr(math.NaN())}
	})

	lung := ctml("T1", arm("ARM A", clin("oncotree_primary_diagnosis", "Lung"), gen("hugo_symbol", "EGFR", "variant_category", "Mutation")))
	trials := []schemas.Trial{
		{ProtocolNo: "T1", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: lung},
		{ProtocolNo: "T1", Version: 2, EventTime: before1900, Status: "OPEN", CTMLFormat: "JSON", CTML: lung},
		{ProtocolNo: "T\xff1", Version: 1, EventTime: at(0), Status: "OPEN", CTMLFormat: "JSON", CTML: lung},
	}
	reg := []schemas.RegulatoryEvent{
		{EventID: "r1", ProtocolNo: "T1", Scope: "TRIAL", Action: "APPROVED", ValidFrom: at(1), EventTime: at(1), Reference: "IRB-T1"},
		{EventID: "r2", ProtocolNo: "T1", Scope: "TRIAL", Action: "CLOSED", ValidFrom: at(2), ValidTo: &after2200, EventTime: at(2), Reference: "x"},
		{EventID: "r3", ProtocolNo: "T1", Scope: "ARM", ArmCode: schemas.Ptr("ARM\xffA"), Action: "CLOSED", ValidFrom: at(2), EventTime: at(2), Reference: "x"},
	}

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts: beam.CreateList(s, b.facts), Trials: beam.CreateList(s, trials), Regulatory: beam.CreateList(s, reg),
	}, trialmatch.Config{Shards: 2, Tick: time.Minute, Execution: e})
	passert.Equals(s, beam.ParDo(s, describe, out.Matches), "A p1 T1 NEW ARM A")
	passert.Equals(s, beam.ParDo(s, deadCode, out.DeadLetters),
		"trialmatch.KeyFacts event_time_out_of_range",
		"trialmatch.KeyFacts event_time_out_of_range",
		"trialmatch.KeyFacts event_time_out_of_range",
		"trialmatch.KeyFacts invalid_utf8",
		"trialmatch.KeyFacts invalid_utf8",
		"trialmatch.KeyFacts non_finite_number",
		"trialmatch.OpenTrials event_time_out_of_range",
		"trialmatch.OpenTrials invalid_utf8",
		"trialmatch.OpenTrials event_time_out_of_range",
		"trialmatch.OpenTrials invalid_utf8",
	)
	// Conservation: facts in = folded + fact dead letters (6).
	passert.Equals(s, stats.Sum(s, out.Folded), int64(valid))
	res := ptest.RunAndValidate(t, p)
	sum := metrics.Summarize(res)
	checkStage(t, sum, "facts", int64(len(b.facts)), int64(valid))
	checkStage(t, sum, "trials", int64(len(trials)), 1)
	checkStage(t, sum, "regulatory", int64(len(reg)), 1)
}

// The same over Kafka, where the edge is the Kafka decode: poison facts,
// trials and regulatory events (times out of range, non-UTF-8
// identifiers, records over the size limit) produced among a synthetic
// data set are dead letters on the dead_letter topic with their reason
// codes and sources; approved_patients is what the data set alone gives;
// every record produced is folded or admitted, or a dead letter.
func TestPoisonRecordsOverKafka(t *testing.T) {
	for _, e := range []trialmatch.Execution{trialmatch.Streaming, trialmatch.Batch, trialmatch.CoPartitioned} {
		t.Run(e.String(), func(t *testing.T) { testPoisonOverKafka(t, e) })
	}
}

func testPoisonOverKafka(t *testing.T, e trialmatch.Execution) {
	ctx := context.Background()
	stack, err := local.Start(ctx, local.Options{RegisterContracts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()
	ids := stack.SchemaIDs()
	factID := uint32(ids[schemas.PatientFacts.ValueSubject()])
	trialID := uint32(ids[schemas.Trials.ValueSubject()])
	regID := uint32(ids[schemas.Regulatory.ValueSubject()])

	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 120, 4, 6*time.Hour
	d := synth.Generate(c)
	want := expectedActive(t, d, c.Start.Add(c.Span))
	if len(want) == 0 {
		t.Fatal("the data set yields no match; the test would prove nothing")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n, err := synth.Produce(ctx, cl, d, synth.IDs{Facts: factID, Trials: trialID, Regulatory: regID}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	trialCodec, err := schemas.Trials.Codec()
	if err != nil {
		t.Fatal(err)
	}
	regCodec, err := schemas.Regulatory.Codec()
	if err != nil {
		t.Fatal(err)
	}
	encFact := func(f schemas.PatientFact) []byte {
		body, err := f.AppendAvroBody(nil)
		if err != nil {
			t.Fatal(err)
		}
		return wire.Append(nil, factID, body)
	}
	encTrial := func(x schemas.Trial) []byte {
		body, err := trialCodec.BinaryFromNative(nil, x.Native())
		if err != nil {
			t.Fatal(err)
		}
		return wire.Append(nil, trialID, body)
	}
	encReg := func(x schemas.RegulatoryEvent) []byte {
		body, err := regCodec.BinaryFromNative(nil, x.Native())
		if err != nil {
			t.Fatal(err)
		}
		return wire.Append(nil, regID, body)
	}
	// The size limit: above every valid record, so only the oversized
	// poison crosses it.
	limit := 0
	for _, f := range d.Facts {
		limit = max(limit, len(encFact(*f))+len(f.PatientID))
	}
	for _, x := range d.Trials {
		limit = max(limit, len(encTrial(*x))+len(x.ProtocolNo))
	}
	limit += 256
	big := strings.Repeat("x", limit)

	fact := *d.Facts[0]
	factWith := func(f func(*schemas.PatientFact)) []byte {
		x := fact
		f(&x)
		return encFact(x)
	}
	trial := *d.Trials[0]
	trialWith := func(f func(*schemas.Trial)) []byte {
		x := trial
		x.ProtocolNo = "POISON"
		f(&x)
		return encTrial(x)
	}
	rg := *d.Regulatory[0]
	regWith := func(f func(*schemas.RegulatoryEvent)) []byte {
		x := rg
		x.EventID, x.ProtocolNo = "poison", "POISON"
		f(&x)
		return encReg(x)
	}
	poison := map[string][][]byte{
		schemas.PatientFacts.Topic: {
			factWith(func(f *schemas.PatientFact) { f.FactID, f.EventTime = "poison-1", farPast }),
			factWith(func(f *schemas.PatientFact) { f.FactID, f.EventTime = "poison-2", farFuture }),
			factWith(func(f *schemas.PatientFact) { f.FactID, f.Tenant = "poison-3", f.Tenant+"\xff" }),
			factWith(func(f *schemas.PatientFact) { f.FactID, f.PatientID = "poison-4", "\xc3\x28" }),
			factWith(func(f *schemas.PatientFact) { f.FactID, f.Source = "poison-5", big }),
		},
		schemas.Trials.Topic: {
			trialWith(func(x *schemas.Trial) { x.EventTime = farPast }),
			trialWith(func(x *schemas.Trial) { x.ProtocolNo = "P\xff" }),
			trialWith(func(x *schemas.Trial) { x.CTML = big }),
		},
		schemas.Regulatory.Topic: {
			regWith(func(x *schemas.RegulatoryEvent) { x.ValidTo = &farFuture }),
			regWith(func(x *schemas.RegulatoryEvent) { x.ArmCode = schemas.Ptr("A\xfe") }),
			regWith(func(x *schemas.RegulatoryEvent) { x.Reference = big }),
		},
	}
	var recs []*kgo.Record
	for topic, values := range poison {
		for _, v := range values {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("poison"), Value: v, Timestamp: c.Start.Add(time.Hour)})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.FromKafka(s, trialmatch.KafkaConfig{
		Brokers: stack.Bootstrap(), RegistryURL: stack.RegistryURL(), MaxRecordBytes: limit,
		Pipeline: trialmatch.Config{Shards: 2, Tick: 10 * time.Minute, Execution: e},
	})
	if out.Execution != e {
		t.Fatalf("ran %v, want %v", out.Execution, e)
	}
	// Conservation for the facts topic: every valid fact is folded, the
	// poison ones are the fact dead letters checked below.
	passert.Equals(s, stats.Sum(s, out.Folded), int64(n.Facts))
	res := ptest.RunAndValidate(t, p)
	sum := metrics.Summarize(res)
	checkStage(t, sum, "trials", int64(n.Trials), int64(n.Trials))
	checkStage(t, sum, "regulatory", int64(n.Regulatory), int64(n.Regulatory))

	approved, err := trialmatch.ReadApproved(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.ApprovedPatients.Topic)
	if err != nil {
		t.Fatal(err)
	}
	got := activeOf(approved)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("active matches with poison records: %d, want %d (the data set's alone)", len(got), len(want))
	}

	dead, err := trialmatch.ReadDeadLetters(ctx, stack.Bootstrap(), stack.RegistryURL(), schemas.DeadLetters.Topic)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	perTopic := map[string]int{}
	for _, r := range dead {
		if r.SourceTopic == nil {
			t.Fatalf("dead letter without its source: %+v", r)
		}
		if strings.Contains(r.Reason, "\xff") || strings.Contains(r.Reason, big) {
			t.Fatalf("dead letter echoes the bad value: %.200q", r.Reason)
		}
		codes = append(codes, *r.SourceTopic+" "+r.ReasonCode)
		perTopic[*r.SourceTopic]++
	}
	sort.Strings(codes)
	wantCodes := []string{
		"patient_facts event_time_out_of_range", "patient_facts event_time_out_of_range",
		"patient_facts invalid_utf8", "patient_facts invalid_utf8", "patient_facts record_too_large",
		"regulatory event_time_out_of_range", "regulatory invalid_utf8", "regulatory record_too_large",
		"trials event_time_out_of_range", "trials invalid_utf8", "trials record_too_large",
	}
	if strings.Join(codes, "\n") != strings.Join(wantCodes, "\n") {
		t.Fatalf("dead letters:\n%s\nwant:\n%s", strings.Join(codes, "\n"), strings.Join(wantCodes, "\n"))
	}
	// Conservation per topic: produced = folded or admitted (above) + dead letters.
	for topic, values := range poison {
		if perTopic[topic] != len(values) {
			t.Errorf("%s: %d dead letters for %d poison records", topic, perTopic[topic], len(values))
		}
	}
}
