package jobgraph_test

import (
	"encoding/base64"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/trialflow/trialflow/internal/jobgraph"
)

// leakyFn carries a secret as a value: what must never be done.
type leakyFn struct{ Password string }

func (f *leakyFn) ProcessElement(x int) int { return x }

func init() { register.DoFn1x1[int, int](&leakyFn{}) }

// TestFindsASecretInADoFn is the control: a DoFn field holding a secret is
// found in the serialized graph, so an absence elsewhere means something.
func TestFindsASecretInADoFn(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo(s, &leakyFn{Password: "pw-7f3a9c2e41"}, beam.Create(s, 1))
	b, err := jobgraph.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !jobgraph.Contains(b, "pw-7f3a9c2e41") {
		t.Fatal("the secret of a DoFn field was not found in the job graph")
	}
	if jobgraph.Contains(b, "pw-never-there") {
		t.Fatal("found a string that is not there")
	}
}

func TestContainsNestedBase64(t *testing.T) {
	in := base64.StdEncoding.EncodeToString([]byte("xx" + base64.StdEncoding.EncodeToString([]byte("...the-secret-value..."))))
	if !jobgraph.Contains([]byte("prefix:"+in+":suffix"), "the-secret-value") {
		t.Fatal("nested base64 not searched")
	}
}
