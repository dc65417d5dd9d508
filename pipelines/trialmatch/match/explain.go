package match

import (
	"fmt"

	"github.com/trialflow/trialflow/pipelines/trialmatch/criteria"
)

// Explanation says why one clause (the step, arm or dose level of an arm)
// does or does not hold for a profile.
type Explanation struct {
	ProtocolNo string
	Level      Level
	ArmCode    string
	DoseLevel  string
	Result     Truth
	// Excluded is set when the patient is left out whatever the criteria
	// say (deceased without WithMatchOnDeceased).
	Excluded string
	// Failed lists criteria known to be false, e.g. "diagnosis Lung".
	Failed []string
	// Missing lists criteria that are unknown for lack of data.
	Missing []string
	// Decisive lists the missing criteria any one of which, if tested and
	// satisfied, would make the clause hold: "would match if PD-L1 were
	// tested" is Decisive = ["PD-L1 TPS >=50"].
	Decisive []string
}

// Explain evaluates, three-valued, every compiled clause of an arm (its
// step, the arm and its dose levels) for profile p. An unknown protocol or
// arm (or one not compiled, e.g. closed) is an error.
func (e *Engine) Explain(p *Profile, protocolNo, armCode string) ([]Explanation, error) {
	var out []Explanation
	armOpen := false
	for _, c := range e.clauses {
		if c.trial.ProtocolNo == protocolNo && c.level == LevelStep {
			for _, st := range c.trial.Steps {
				for _, a := range st.Arms {
					if a.Code == armCode && (e.onClosed || !a.Suspended) {
						armOpen = true
					}
				}
			}
		}
		if c.trial.ProtocolNo == protocolNo && c.level != LevelStep && c.armCode == armCode {
			armOpen = true
		}
	}
	if !armOpen {
		return nil, fmt.Errorf("match: protocol %q has no open arm %q among the compiled trials", protocolNo, armCode)
	}
	for _, c := range e.clauses {
		if c.trial.ProtocolNo != protocolNo {
			continue
		}
		if c.level != LevelStep && c.armCode != armCode {
			continue
		}
		if c.level == LevelStep && !stepHasArm(c, armCode) {
			continue
		}
		x := Explanation{ProtocolNo: protocolNo, Level: c.level, ArmCode: c.armCode, DoseLevel: c.doseCode}
		x.Result = e.eval(c.root, p, nil)
		if p.Deceased && !e.onDeceased {
			x.Excluded = "patient is deceased"
		}
		criteria.Walk(c.root, func(n *criteria.Node) {
			switch n.Kind {
			case criteria.ClinicalLeaf:
				for _, f := range fields(n.Clinical) {
					e.explainAtom(&x, c, p, override{node: n, field: f}, e.clinicalField(n.Clinical, f, p), describe(n.Clinical, f))
				}
			case criteria.GenomicLeaf:
				text := genomicText(n.Genomic)
				if n.Genomic.Negate {
					text = "no " + text
				}
				e.explainAtom(&x, c, p, override{node: n}, e.genomicLeaf(n.Genomic, p), text)
			}
		})
		out = append(out, x)
	}
	return out, nil
}

func stepHasArm(c *clause, armCode string) bool {
	for _, st := range c.trial.Steps {
		if st.Code != c.stepCode {
			continue
		}
		for _, a := range st.Arms {
			if a.Code == armCode {
				return true
			}
		}
	}
	return false
}

func (e *Engine) explainAtom(x *Explanation, c *clause, p *Profile, ov override, v Truth, text string) {
	switch v {
	case False:
		x.Failed = append(x.Failed, text)
	case Unknown:
		x.Missing = append(x.Missing, text)
		if x.Result != True {
			ov.value = True
			if e.eval(c.root, p, &ov) == True {
				x.Decisive = append(x.Decisive, text)
			}
		}
	}
}
