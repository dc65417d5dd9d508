package runners

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamrunners "github.com/apache/beam/sdks/v2/go/pkg/beam/runners"

	// Runner registrations, as beamx does, without the filesystems we don't use.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec/optimized"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/direct"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
)

// Default is the runner used when --runner is not given.
const Default = "prism"

// Known lists the runners trialflow supports and documents.
var Known = []string{"prism", "direct", "universal", "flink", "dataflow"}

// Name returns the selected runner: the --runner flag, or Default.
func Name() string {
	if r := strings.ToLower(strings.TrimSpace(*beamrunners.Runner)); r != "" {
		return r
	}
	return Default
}

// Option configures Run.
type Option interface{ apply(*config) }

type config struct {
	log    io.Writer
	webUI  bool
	runner string
}

type optFunc func(*config)

func (f optFunc) apply(c *config) { f(c) }

// WithLog sends runner notices (such as the Prism web UI address) to w.
func WithLog(w io.Writer) Option { return optFunc(func(c *config) { c.log = w }) }

// WithoutWebUI does not start Prism's web UI.
func WithoutWebUI() Option { return optFunc(func(c *config) { c.webUI = false }) }

// WithRunner overrides the --runner flag.
func WithRunner(name string) Option { return optFunc(func(c *config) { c.runner = name }) }

// Check reports a clear error, before any work starts, when the runner is
// unknown, lacks a flag it needs, or cannot run p: a transform of p needs
// a feature the runner lacks (Unsupported), such as state or timers on the
// direct runner. The error names the transform and the feature. A nil p
// checks the runner alone. Run calls Check.
func Check(name string, p *beam.Pipeline) error {
	switch name {
	case "prism", "direct", "dataflow":
	case "universal", "flink":
		if *jobopts.Endpoint == "" {
			return fmt.Errorf("runners: --runner=%s needs --endpoint=HOST:PORT of a Beam job server (e.g. the Flink job server on localhost:8099)", name)
		}
	default:
		return fmt.Errorf("runners: unknown runner %q; want one of %s", name, strings.Join(Known, ", "))
	}
	if p == nil {
		return nil
	}
	return Unsupported(name, p)
}

// Run executes p on the selected runner and waits for it to finish. It is
// the way to run a trialflow pipeline (rather than beamx.Run or beam.Run):
// it refuses, before any work, a pipeline the runner cannot run (Check),
// sets the Prism experiment the stateful transforms need
// (PrismSDFSplitExperiment) and starts in-process Prism.
func Run(ctx context.Context, p *beam.Pipeline, opts ...Option) (beam.PipelineResult, error) {
	c := config{log: io.Discard, webUI: true, runner: Name()}
	for _, o := range opts {
		o.apply(&c)
	}
	if err := Check(c.runner, p); err != nil {
		return nil, err
	}
	if c.runner == "prism" || c.runner == "universal" {
		// universal is how a standalone Prism is reached; other job
		// servers ignore the experiment.
		DisablePrismSDFSplit()
	}
	if c.runner == "prism" && *jobopts.Endpoint == "" {
		endpoint, ui, err := StartPrism(ctx, c.webUI)
		if err != nil {
			return nil, err
		}
		if ui != "" {
			fmt.Fprintf(c.log, "Prism web UI: %s\n", ui)
		}
		// The flags point at this run's job server only for this run.
		savedEndpoint, savedEnv := *jobopts.Endpoint, *jobopts.EnvironmentType
		defer func() { *jobopts.Endpoint, *jobopts.EnvironmentType = savedEndpoint, savedEnv }()
		*jobopts.Endpoint = endpoint
		if *jobopts.EnvironmentType == "" {
			*jobopts.EnvironmentType = "loopback"
		}
		return beam.Run(ctx, "universal", p)
	}
	return beam.Run(ctx, c.runner, p)
}

// StartPrism starts an in-process Prism job server on a free port of
// --prism_host (loopback by default) and, if webUI, its web UI on a free
// loopback port, for the life of ctx. It returns the job endpoint and the
// UI URL ("" without UI).
func StartPrism(ctx context.Context, webUI bool) (endpoint, ui string, err error) {
	endpoint, cli, err := startPrismJobServer(ctx, *PrismHost)
	if err != nil {
		return "", "", err
	}
	if !webUI {
		return endpoint, "", nil
	}
	uiPort, err := freePort()
	if err != nil {
		return endpoint, "", nil
	}
	// Prism's web UI listens on localhost:PORT.
	go func() { _ = prism.CreateWebServer(ctx, cli, prism.Options{Port: uiPort}) }()
	return endpoint, fmt.Sprintf("http://localhost:%d", uiPort), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("runners: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PrismSDFSplitExperiment turns off Prism's splitting of running bundles.
// Prism v2.77.0 can split a bundle of a stateful stage so that one key's
// elements run in two bundles at once, each with its own copy of the key's
// state, and one copy's updates are lost (seen in transforms/join's tests).
// Every trialflow pipeline has stateful stages, so Run sets it for Prism
// (in process, or a standalone one through --runner=universal): a pipeline
// run with Run needs nothing else.
const PrismSDFSplitExperiment = "prism_disable_sdf_split"

// DisablePrismSDFSplit adds PrismSDFSplitExperiment to Beam's --experiments
// flag unless it is there already. Tests that run pipelines on Prism
// through ptest call it in TestMain.
func DisablePrismSDFSplit() {
	for _, e := range strings.Split(*jobopts.Experiments, ",") {
		if strings.TrimSpace(e) == PrismSDFSplitExperiment {
			return
		}
	}
	if *jobopts.Experiments == "" {
		*jobopts.Experiments = PrismSDFSplitExperiment
	} else {
		*jobopts.Experiments += "," + PrismSDFSplitExperiment
	}
}
