package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

// TestEveryCauseIsExplainedAndDocumented: each cause has a message and a
// fix of its own, and the customer's guide names it, so a code printed by
// `auditctl verify --json` can always be looked up.
func TestEveryCauseIsExplainedAndDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "onboarding.md"))
	if err != nil {
		t.Fatal(err)
	}
	d := destination.Destination{OrgID: "acme", Kind: destination.KindS3, S3: &destination.S3{Bucket: "b", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/R"}}
	generic, _ := explain("no-such-cause", d, nil)
	seen := map[Cause]bool{}
	for _, c := range Causes {
		if seen[c] {
			t.Errorf("cause %s listed twice", c)
		}
		seen[c] = true
		msg, fix := explain(c, d, nil)
		if msg == generic || msg == "" || fix == "" {
			t.Errorf("cause %s has no message or fix of its own: %q / %q", c, msg, fix)
		}
		if !strings.Contains(string(doc), "`"+string(c)+"`") {
			t.Errorf("docs/onboarding.md does not name cause `%s`", c)
		}
	}
}
