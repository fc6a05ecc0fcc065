package localstack

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/testenv"
)

// TestDemo runs `make demo`'s code path: both orgs' files are delivered
// through the production wiring (registry, KMS decryption, role
// assumption, streaming uploads) and read back with matching checksums.
func TestDemo(t *testing.T) {
	testenv.RequireTools(t, "moto_server", "local-kms", "azurite-blob")
	var out bytes.Buffer
	err := Demo(context.Background(), &out, filepath.Join(testenv.RepoRoot(), "events", "sample-day.ndjson"))
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"== delivered org acme-s3 day", "== delivered org globex-azure day", "5 rows",
		`"fields.title=""Spring, sale""&locale=de-DE"`, "Ünïcödé-日本", "== emulators stopped",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(text, "sig=") {
		t.Error("demo output shows a SAS signature")
	}
	if t.Failed() {
		t.Log(text)
	}
}
