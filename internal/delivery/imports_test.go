package delivery_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the package to its doc comment: no Lambda adapter, no
// Lambda package and not the App are among its dependencies.
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
		for _, banned := range []string{"internal/exportfn", "internal/retryfn", "internal/fanoutfn", "internal/ingestfn", "internal/app",
			"internal/localdev", "cmd", "functions", "github.com/aws/aws-lambda-go"} {
			if p == banned || strings.HasPrefix(p, banned+"/") {
				t.Errorf("delivery depends on %s", dep)
			}
		}
	}
}
