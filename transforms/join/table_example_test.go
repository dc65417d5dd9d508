package join_test

import (
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/trialflow/trialflow/transforms/join"
)

// approval is a regulatory event of the example: an action on a protocol,
// valid over [From, To) in milliseconds.
type approval struct {
	Protocol string
	From, To int64
	Action   string
}

// keyApproval makes an approval a version of its protocol.
func keyApproval(a approval, emit func(beam.EventTime, string, join.Version)) {
	emit(mtime.FromMilliseconds(a.From), a.Protocol, join.Version{From: a.From, To: a.To, Data: []byte(a.Action)})
}

// openAt is a TableFunc: a protocol is open while an approval is valid and
// no suspension is.
func openAt(_ string, valid []join.Version, _ int64) ([]byte, error) {
	approved, suspended := false, false
	for _, v := range valid {
		switch string(v.Data) {
		case "APPROVED":
			approved = true
		case "SUSPENDED":
			suspended = true
		}
	}
	if approved && !suspended {
		return []byte("open"), nil
	}
	return []byte("closed"), nil
}

// seen collects the example's output; Prism runs the DoFns in this process.
var seen struct {
	sync.Mutex
	lines []string
}

func collectChange(ts beam.EventTime, c join.Change) {
	seen.Lock()
	defer seen.Unlock()
	seen.lines = append(seen.lines, fmt.Sprintf("%s at %d ms: %s", c.Key, ts.Milliseconds(), c.Data))
}

func init() {
	join.RegisterTableFunc(openAt)
	register.Function2x0(keyApproval)
	register.Function2x0(collectChange)
	register.Emitter3[beam.EventTime, string, join.Version]()
	beam.RegisterType(reflect.TypeOf(approval{}))
}

// An approval valid from 10 to 50 ms and a suspension from 20 to 30 ms: the
// protocol opens, closes while suspended, opens again when the suspension
// expires, and closes when the approval does.
func ExampleTemporalTable() {
	p, s := beam.NewPipelineWithRoot()
	approvals := beam.ParDo(s, keyApproval, beam.Create(s,
		approval{Protocol: "P1", From: 10, To: 50, Action: "APPROVED"},
		approval{Protocol: "P1", From: 20, To: 30, Action: "SUSPENDED"}))
	beam.ParDo0(s, collectChange, join.TemporalTable(s, approvals, openAt))
	if err := ptest.Run(p); err != nil {
		fmt.Println(err)
		return
	}
	sort.Strings(seen.lines)
	for _, l := range seen.lines {
		fmt.Println(l)
	}
	// Output:
	// P1 at 10 ms: open
	// P1 at 20 ms: closed
	// P1 at 30 ms: open
	// P1 at 50 ms: closed
}
