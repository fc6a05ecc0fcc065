package fanoutfn_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the package to its doc comment: the fan-out starts
// exports by their payload (internal/exportjob) and links neither the
// export pipeline nor the delivery.
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
		for _, banned := range []string{"internal/export", "internal/delivery", "internal/exportfn", "internal/retryfn", "internal/app"} {
			if p == banned || strings.HasPrefix(p, banned+"/") {
				t.Errorf("the fan-out depends on %s", dep)
			}
		}
	}
}
