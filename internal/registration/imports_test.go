package registration_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the package to its doc comment: its callers pass the
// App's parts in, so neither the App nor anything above it is among its
// dependencies.
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
			"internal/ingestfn", "internal/verify", "internal/localdev", "cmd", "functions"} {
			if p == banned || strings.HasPrefix(p, banned+"/") {
				t.Errorf("registration depends on %s", dep)
			}
		}
	}
}
