package naive_test

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/trialflow/trialflow/pipelines/trialmatch/naive"
	"github.com/trialflow/trialflow/pipelines/trialmatch/synth"
)

// The naive pipeline over in-memory inputs: facts, trial versions and
// regulatory events in, the approved_patients changelog out. Over Kafka,
// naive.FromKafka reads and decodes the three topics first.
func ExampleBuild() {
	c := synth.DefaultConfig()
	c.Patients, c.Trials, c.Span = 100, 6, 6*time.Hour
	d := synth.Generate(c)

	p, s := beam.NewPipelineWithRoot()
	out := naive.Build(s, naive.Inputs{
		Facts:      beam.Create(s, values(d.Facts)...),
		Trials:     beam.Create(s, values(d.Trials)...),
		Regulatory: beam.Create(s, values(d.Regulatory)...),
	}, naive.Config{Tick: time.Minute})
	passert.NonEmpty(s, out.Matches)
	passert.Empty(s, out.DeadLetters)
	passert.Equals(s, stats.Sum(s, out.Folded), int64(len(d.Facts)))
	if err := ptest.Run(p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("every fact folded, matches published, no dead letter")
	// Output: every fact folded, matches published, no dead letter
}
