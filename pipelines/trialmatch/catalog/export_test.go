package catalog

import "github.com/trialflow/trialflow/pipelines/trialmatch/match"

// Engine exposes the compiled engine to tests.
func Engine(c *Catalog) *match.Engine { return c.engine }
