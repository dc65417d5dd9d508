package metrics_test

import (
	"context"
	"fmt"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beammetrics "github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"

	"github.com/trialflow/trialflow/pipelines/trialmatch/metrics"
	"github.com/trialflow/trialflow/schemas"
)

// decodeFn shows a stage counting its records; the Stage is set in Setup.
type decodeFn struct {
	st metrics.Stage
}

func (fn *decodeFn) Setup() { fn.st = metrics.NewStage("decode") }

func (fn *decodeFn) ProcessElement(ctx context.Context, b []byte, emit func(schemas.ApprovedPatient)) {
	fn.st.In(ctx, 1)
	if len(b) == 0 {
		fn.st.DeadLetter(ctx, "short_buffer")
		return
	}
	fn.st.Out(ctx, 1)
	emit(schemas.ApprovedPatient{})
}

func ExampleStage() {
	_ = &decodeFn{} // beam.ParDo(s, &decodeFn{}, raw)
}

func ExampleServe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := metrics.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = url // print it while the streaming pipeline runs; cancel ctx to stop
	fmt.Println("serving")
	// Output: serving
}

func ExampleSummary_WriteTable() {
	// After a run: res, err := beamx.Run(ctx, p) (or ptest.RunWithMetrics).
	var res beam.PipelineResult = fakeResult{}
	metrics.Summarize(res).WriteTable(os.Stdout)
	// Output:
	// stage  in  out  dead letters  matches  retractions
}

// fakeResult is a job result without metrics.
type fakeResult struct{}

func (fakeResult) Metrics() beammetrics.Results { return beammetrics.Results{} }
func (fakeResult) JobID() string                { return "example" }
