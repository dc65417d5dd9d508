package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/schemas"
)

func TestMain(m *testing.M) {
	ptest.MainWithDefault(m, "prism")
}

func init() {
	beam.RegisterType(reflect.TypeOf((*schemas.ApprovedPatient)(nil)).Elem())
	register.DoFn3x0[context.Context, schemas.ApprovedPatient, func(schemas.ApprovedPatient)](&countingFn{})
	register.Emitter1[schemas.ApprovedPatient]()
}

// countingFn is a stage as the pipeline writes them: records without a
// tenant are dead letters, the others pass and are counted as matches.
type countingFn struct {
	Stage string
	st    Stage
}

func (fn *countingFn) Setup() { fn.st = NewStage(fn.Stage) }

func (fn *countingFn) ProcessElement(ctx context.Context, a schemas.ApprovedPatient, emit func(schemas.ApprovedPatient)) {
	fn.st.In(ctx, 1)
	if a.Tenant == "" {
		fn.st.DeadLetter(ctx, "invalid_record")
		beam.NewCounter(DeadLetterNamespace, "test.emit/invalid_record").Inc(ctx, 1) // as deadletter.Emit does
		return
	}
	fn.st.Out(ctx, 1)
	fn.st.Match(ctx, &a)
	emit(a)
}

// records: 6 NEW with latencies 1..6 s, 2 RETRACTED, 2 without tenant.
func records() []schemas.ApprovedPatient {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	var out []schemas.ApprovedPatient
	for i := 1; i <= 10; i++ {
		a := schemas.ApprovedPatient{MatchID: fmt.Sprint(i), Tenant: "practice-01", ProtocolNo: "17-251", Action: "NEW",
			EventTime: t0, MatchTime: t0.Add(time.Duration(i) * time.Second)}
		switch {
		case i > 8:
			a.Tenant = ""
		case i > 6:
			a.Action = "RETRACTED"
		}
		out = append(out, a)
	}
	return out
}

// TestSummarizeAndServe runs a counting stage on Prism (LOOPBACK, in this
// process), then checks the Beam metrics through Summarize and the live
// Prometheus values through an HTTP scrape of Serve's endpoint.
func TestSummarizeAndServe(t *testing.T) {
	const stage = "test_stage"
	p, s := beam.NewPipelineWithRoot()
	out := beam.ParDo(s, &countingFn{Stage: stage}, beam.CreateList(s, records()))
	beam.ParDo(s, &countingFn{Stage: "second"}, out)
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(res)
	got, ok := sum.Stage(stage)
	if !ok {
		t.Fatalf("no stage %q in %+v", stage, sum)
	}
	want := StageSummary{Stage: stage, In: 10, Out: 8, DeadLetters: 2, Matches: 6, Retractions: 2,
		Latency: LatencySummary{Count: 6, SumMs: 21000, MinMs: 1000, MaxMs: 6000}}
	if got != want {
		t.Errorf("stage summary = %+v, want %+v", got, want)
	}
	if got.In != got.Out+got.DeadLetters {
		t.Errorf("in %d != out %d + dead letters %d", got.In, got.Out, got.DeadLetters)
	}
	if sec, _ := sum.Stage("second"); sec.In != 8 || sec.Out != 8 {
		t.Errorf("second stage = %+v, want 8 in and out", sec)
	}
	var dl int64
	for _, d := range sum.DeadLetters {
		if d.Reason == "invalid_record" {
			dl += d.Count
		}
	}
	if dl != 4 { // 2 from the stage, 2 from the deadletter namespace
		t.Errorf("dead letters %+v, want 4 invalid_record", sum.DeadLetters)
	}
	// deadletter.Emit's are reported under the stage the records name,
	// not the runner's id of the step.
	named := false
	for _, d := range sum.DeadLetters {
		named = named || (d.Stage == "test.emit" && d.Count == 2)
	}
	if !named {
		t.Errorf("dead letters %+v, want 2 of stage test.emit", sum.DeadLetters)
	}
	var buf bytes.Buffer
	if err := sum.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), stage) || !strings.Contains(buf.String(), "3500.0") {
		t.Errorf("table lacks the stage row or its mean latency:\n%s", buf.String())
	}
	t.Logf("\n%s", buf.String())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", url, resp.Status, err)
	}
	for _, line := range []string{
		`trialflow_records_in_total{stage="test_stage"} 10`,
		`trialflow_records_out_total{stage="test_stage"} 8`,
		`trialflow_dead_letters_total{reason="invalid_record",stage="test_stage"} 2`,
		`trialflow_matches_total{action="NEW",stage="test_stage"} 6`,
		`trialflow_matches_total{action="RETRACTED",stage="test_stage"} 2`,
		`trialflow_event_to_match_latency_seconds_count{stage="test_stage"} 6`,
		`trialflow_event_to_match_latency_seconds_sum{stage="test_stage"} 21`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("scrape lacks %q", line)
		}
	}
	cancel()
	time.Sleep(100 * time.Millisecond)
}

func TestServeBadAddress(t *testing.T) {
	if _, err := Serve(context.Background(), "256.0.0.1:bad"); err == nil {
		t.Fatal("Serve on a bad address succeeded")
	}
}

func TestSummarizeNil(t *testing.T) {
	var buf bytes.Buffer
	if err := Summarize(nil).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(buf.String()), "stage") {
		t.Fatalf("empty summary table = %q", buf.String())
	}
}
