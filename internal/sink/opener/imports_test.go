package opener_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the package to its doc comment: nothing above the
// sink layer is among its dependencies.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	const mod = "github.com/contentful/auditlogs/"
	for _, dep := range strings.Fields(string(out)) {
		p, ok := strings.CutPrefix(dep, mod)
		if !ok {
			continue
		}
		for _, banned := range []string{"internal/app", "internal/export", "internal/exportfn", "internal/fanoutfn", "internal/retryfn",
			"internal/ingestfn", "internal/verify", "internal/registration", "internal/localdev", "cmd", "functions"} {
			if p == banned || strings.HasPrefix(p, banned+"/") {
				t.Errorf("the opener depends on %s", dep)
			}
		}
	}
}
