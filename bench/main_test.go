package bench

import (
	"os"
	"testing"

	"github.com/trialflow/trialflow/runners/local/faulttest"
)

// TestMain removes the binaries faulttest.Build made for the recovery
// benchmark.
func TestMain(m *testing.M) {
	code := m.Run()
	faulttest.RemoveBuilds()
	os.Exit(code)
}
