package compat_test

import (
	"testing"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/registry/compat"
)

// Every data contract parses, reads itself and survives its canonical form.
func TestContractsParse(t *testing.T) {
	for _, c := range schemas.All() {
		s, err := compat.Parse(c.Schema())
		if err != nil {
			t.Errorf("%s: %v", c.File, err)
			continue
		}
		if got := compat.Check(s, s); len(got) != 0 {
			t.Errorf("%s cannot read itself: %v", c.File, got)
		}
		back, err := compat.Parse(s.Normalized())
		if err != nil {
			t.Errorf("%s: normalized form does not parse: %v", c.File, err)
			continue
		}
		if back.Normalized() != s.Normalized() {
			t.Errorf("%s: normalized form is not stable", c.File)
		}
	}
}
