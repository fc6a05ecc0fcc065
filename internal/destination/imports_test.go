package destination_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the package to its doc comment: the model depends on
// neither the SAS checks nor a sink nor the registry, which depend on it.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	const mod = "github.com/contentful/auditlogs/"
	for _, dep := range strings.Fields(string(out)) {
		p, ok := strings.CutPrefix(dep, mod)
		if !ok {
			p = dep // outside the module
		}
		for _, banned := range []string{"internal/sas", "internal/sink", "internal/registry", "internal/export", "internal/app"} {
			if p == banned || strings.HasPrefix(p, banned+"/") {
				t.Errorf("destination depends on %s", dep)
			}
		}
	}
}
