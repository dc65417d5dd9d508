package engine_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The engine imports nothing from Beam, directly or through another
// package: every execution drives it, and a tick is tested without a
// runner.
func TestImportsNoBeam(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list -deps listed %q; want the package and its dependencies", deps)
	}
	for _, p := range deps {
		if strings.Contains(p, "github.com/apache/beam") {
			t.Errorf("package engine depends on %s", p)
		}
	}
}
