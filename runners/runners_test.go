package runners_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"

	"github.com/trialflow/trialflow/runners"
)

func TestCheck(t *testing.T) {
	if err := runners.Check("prism", nil); err != nil {
		t.Fatal(err)
	}
	err := runners.Check("spork", nil)
	if err == nil || !strings.Contains(err.Error(), `unknown runner "spork"`) {
		t.Fatalf("err = %v", err)
	}
	saved := *jobopts.Endpoint
	*jobopts.Endpoint = ""
	defer func() { *jobopts.Endpoint = saved }()
	if err := runners.Check("flink", nil); err == nil || !strings.Contains(err.Error(), "needs --endpoint") {
		t.Fatalf("flink without endpoint: err = %v", err)
	}
}

// Run on in-process Prism starts the job server and web UI and reports the UI.
func TestRunPrismWithWebUI(t *testing.T) {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	col := beam.Create(s, 1, 2, 3)
	passert.Sum(s, col, "sum", 3, 6)
	var log bytes.Buffer
	saved := *jobopts.Endpoint
	defer func() { *jobopts.Endpoint = saved }()
	if _, err := runners.Run(context.Background(), p, runners.WithRunner("prism"), runners.WithLog(&log)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "Prism web UI: http://localhost:") {
		t.Fatalf("log = %q", log.String())
	}
}

// Run sets Prism's prism_disable_sdf_split experiment itself, once, beside
// experiments given on the command line.
func TestRunSetsPrismExperimentOnce(t *testing.T) {
	beam.Init()
	saved, savedEndpoint := *jobopts.Experiments, *jobopts.Endpoint
	defer func() { *jobopts.Experiments, *jobopts.Endpoint = saved, savedEndpoint }()
	*jobopts.Experiments = "some_other"
	for range 2 {
		p, s := beam.NewPipelineWithRoot()
		passert.Sum(s, beam.Create(s, 1, 2), "sum", 2, 3)
		if _, err := runners.Run(context.Background(), p, runners.WithRunner("prism"), runners.WithoutWebUI()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := *jobopts.Experiments, "some_other,"+runners.PrismSDFSplitExperiment; got != want {
		t.Fatalf("--experiments = %q, want %q", got, want)
	}
}
