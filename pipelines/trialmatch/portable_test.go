package trialmatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"

	"github.com/trialflow/trialflow/pipelines/trialmatch"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
	"github.com/trialflow/trialflow/runners"
)

// Portable submission: a standalone Prism job server, and the pipeline
// submitted to it through the Job API as to a Flink job server
// (--runner=universal --endpoint=localhost:PORT --environment_type=LOOPBACK).
func TestPortableSubmission(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	endpoint, _, err := runners.StartPrism(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 200, 6, 6*time.Hour
	d := synth.Generate(c)
	want := expectedActive(t, d, c.Start.Add(c.Span))

	p, s := beam.NewPipelineWithRoot()
	out := trialmatch.Build(s, trialmatch.Inputs{
		Facts:      beam.Create(s, values(d.Facts)...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}, trialmatch.Config{Shards: 2, Tick: 10 * time.Minute})
	active := beam.ParDo(s, latestActive, beam.GroupByKey(s, beam.ParDo(s, keyByMatch, out.Matches)))
	passert.Equals(s, active, beam.CreateList(s, want))

	savedEndpoint, savedEnv := *jobopts.Endpoint, *jobopts.EnvironmentType
	defer func() { *jobopts.Endpoint, *jobopts.EnvironmentType = savedEndpoint, savedEnv }()
	*jobopts.Endpoint, *jobopts.EnvironmentType = endpoint, "LOOPBACK"
	if _, err := beam.Run(ctx, "universal", p); err != nil {
		t.Fatalf("submit to the job server at %s: %v", endpoint, err)
	}
}
