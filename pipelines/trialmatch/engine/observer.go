package engine

import (
	"sync"

	"github.com/trialflow/trialflow/pipelines/trialmatch/decide"
	"github.com/trialflow/trialflow/schemas"
)

// Observer is told what an Engine does: its counts, and the inputs it
// rejects. Its methods are called on the goroutine running the engine,
// after the work they report (Decided after the records went to publish).
type Observer interface {
	// Folded reports facts offered to the patient views (in) and folded
	// into them (folded); the others were Rejected. It is not called for
	// a fold that met no fact.
	Folded(in, folded int64)
	// Rejected reports an input the engine skipped.
	Rejected(Rejection)
	// Judged reports verdicts taken in one batch: against every open
	// trial (all), and against the trials that changed only
	// (changedOnly).
	Judged(all, changedOnly int64)
	// Decided reports verdicts applied to ledgers and the records they
	// published, in order.
	Decided(verdicts int64, recs []schemas.ApprovedPatient)
}

// Reason is why the engine rejected an input, a stable code.
type Reason string

// InvalidFact is the reason of a fact that does not fold into its
// patient's view (a kind with no detail the profile uses, a fact for
// another patient). Its value is transforms/deadletter's InvalidRecord.
const InvalidFact Reason = "invalid_record"

// Step names where in the engine an input was rejected.
type Step string

// PatientView is the fold of facts into single patient views.
const PatientView Step = "PatientView"

// Rejection is an input the engine skipped: what, where and why.
type Rejection struct {
	Fact   *schemas.PatientFact
	Step   Step
	Reason Reason
	Err    error
}

// Counts is an Observer that adds up what it is told. Safe for concurrent
// use; read its fields once the engines are done.
type Counts struct {
	mu sync.Mutex
	// FactsIn and FactsFolded are Folded's; Rejections holds what was
	// rejected.
	FactsIn, FactsFolded int64
	Rejections           []Rejection
	// JudgedAll and JudgedChangedOnly are Judged's.
	JudgedAll, JudgedChangedOnly int64
	// Verdicts, New and Retracted are Decided's.
	Verdicts, New, Retracted int64
}

var _ Observer = (*Counts)(nil)

// Folded adds to FactsIn and FactsFolded.
func (c *Counts) Folded(in, folded int64) {
	c.mu.Lock()
	c.FactsIn += in
	c.FactsFolded += folded
	c.mu.Unlock()
}

// Rejected appends r to Rejections.
func (c *Counts) Rejected(r Rejection) {
	c.mu.Lock()
	c.Rejections = append(c.Rejections, r)
	c.mu.Unlock()
}

// Judged adds to JudgedAll and JudgedChangedOnly.
func (c *Counts) Judged(all, changedOnly int64) {
	c.mu.Lock()
	c.JudgedAll += all
	c.JudgedChangedOnly += changedOnly
	c.mu.Unlock()
}

// Decided adds to Verdicts, New and Retracted.
func (c *Counts) Decided(verdicts int64, recs []schemas.ApprovedPatient) {
	c.mu.Lock()
	c.Verdicts += verdicts
	for i := range recs {
		switch recs[i].Action {
		case decide.New:
			c.New++
		case decide.Retracted:
			c.Retracted++
		}
	}
	c.mu.Unlock()
}

// discard is the Observer of an engine given none.
type discard struct{}

func (discard) Folded(int64, int64)                      {}
func (discard) Rejected(Rejection)                       {}
func (discard) Judged(int64, int64)                      {}
func (discard) Decided(int64, []schemas.ApprovedPatient) {}
