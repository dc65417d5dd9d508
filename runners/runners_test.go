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
