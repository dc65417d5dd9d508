package match

import (
	"fmt"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// Target is what compiled clause clause (a Hit's Clause) matches: a Match
// with the trial's fields set (protocol, level, step, arm, dose level,
// internal id, suspension) and neither patient nor reasons. With it a
// caller of MatchBatchHits can tell which protocol a hit is for without
// building reasons, and build them with Matches only for the hits it needs
// them for (new matches, say).
func (e *Engine) Target(clause int32) (Match, error) {
	if clause < 0 || int(clause) >= len(e.clauses) {
		return Match{}, fmt.Errorf("match: clause %d out of range (%d clauses)", clause, len(e.clauses))
	}
	c := e.clauses[clause]
	return Match{
		ProtocolNo: c.trial.ProtocolNo, Level: c.level, StepCode: c.stepCode,
		ArmCode: c.armCode, DoseLevel: c.doseCode, InternalID: c.internalID, Suspended: c.suspended,
	}, nil
}

// Location names the trial compiled clause clause (a Hit's Clause) belongs
// to and where in it the clause sits: the index of its step in t.Steps, of
// its arm in that step's Arms and of its dose level in that arm's
// DoseLevels, arm and dose -1 for a clause above them. The trial is the
// one given to Compile (the same pointer).
func (e *Engine) Location(clause int32) (t *criteria.Trial, step, arm, dose int, err error) {
	if clause < 0 || int(clause) >= len(e.clauses) {
		return nil, 0, 0, 0, fmt.Errorf("match: clause %d out of range (%d clauses)", clause, len(e.clauses))
	}
	c := e.clauses[clause]
	return c.trial, c.step, c.arm, c.dose, nil
}
