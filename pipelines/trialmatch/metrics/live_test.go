package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/trialflow/trialflow/schemas"
)

func init() {
	register.DoFn2x0[context.Context, schemas.ApprovedPatient](&blockingFn{})
}

// release holds blockingFn until the test has scraped the live values. The
// Prism workers run in this process (LOOPBACK), so they share it.
var (
	release     = make(chan struct{})
	releaseOnce sync.Once
)

type blockingFn struct{ st Stage }

func (fn *blockingFn) Setup() { fn.st = NewStage("live_stage") }

func (fn *blockingFn) ProcessElement(ctx context.Context, a schemas.ApprovedPatient) {
	fn.st.In(ctx, 1)
	fn.st.Match(ctx, &a)
	if a.MatchID == "last" {
		<-release
	}
}

// TestLiveValuesWhileStreaming scrapes the endpoint while a streaming
// (TestStream) pipeline is still running on Prism and sees its counts.
func TestLiveValuesWhileStreaming(t *testing.T) {
	defer releaseOnce.Do(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	cfg := teststream.NewConfig()
	for i, id := range []string{"a", "b", "last"} {
		a := schemas.ApprovedPatient{MatchID: id, Tenant: "practice-01", Action: "NEW", EventTime: t0, MatchTime: t0.Add(2 * time.Second)}
		if err := cfg.AddElements(t0.UnixMilli()+int64(i), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.AdvanceWatermarkToInfinity(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &blockingFn{}, teststream.Create(s, cfg))
	done := make(chan error, 1)
	go func() { done <- ptest.Run(p) }()

	want := `trialflow_matches_total{action="NEW",stage="live_stage"} 3` + "\n"
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("pipeline ended before the scrape saw its counts: %v", err)
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape never showed %q", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
