package failure_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports holds the package to its doc comment: a leaf, it depends on
// no package of this module but itself.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/contentful/auditlogs/") && dep != "github.com/contentful/auditlogs/internal/failure" {
			t.Errorf("failure depends on %s", dep)
		}
	}
}
