package digest_test

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/pipelines/trialmatch/digest"
	"github.com/trialflow/trialflow/schemas"
)

func ExampleOf() {
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	matches := []schemas.ApprovedPatient{
		{Tenant: "practice-01", ProtocolNo: "17-251", Action: "NEW", EventTime: at.Add(5 * time.Minute)},
		{Tenant: "practice-01", ProtocolNo: "18-001", Action: "NEW", EventTime: at.Add(40 * time.Minute)},
		{Tenant: "practice-01", ProtocolNo: "17-251", Action: "RETRACTED", EventTime: at.Add(70 * time.Minute)},
		{Tenant: "practice-02", ProtocolNo: "17-251", Action: "NEW", EventTime: at.Add(10 * time.Minute)},
	}
	for _, d := range digest.Of(matches, time.Hour) {
		fmt.Println(d.Tenant, d.WindowStart.Format("15:04"), d.WindowEnd.Format("15:04"), d.New, d.Retracted, d.ByProtocol)
	}
	// Output:
	// practice-01 09:00 10:00 2 0 [{17-251 1 0} {18-001 1 0}]
	// practice-01 10:00 11:00 0 1 [{17-251 0 1}]
	// practice-02 09:00 10:00 1 0 [{17-251 1 0}]
}

// ExampleTumbling wires the digest into a pipeline: matches are
// PCollection<schemas.ApprovedPatient> timestamped with their event time.
func ExampleTumbling() {
	p, s := beam.NewPipelineWithRoot()
	matches := beam.CreateList(s, []schemas.ApprovedPatient{}) // the pipeline's matches
	digests := digest.Tumbling(s, matches, digest.Window(15*time.Minute), digest.AllowedLateness(time.Hour))
	_ = digests // PCollection<digest.Digest>: publish, or format for the practice
	_ = p
}
