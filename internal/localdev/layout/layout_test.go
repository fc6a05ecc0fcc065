// Package layout holds tests of the module's structure: which packages
// may import which, and that each package says so in its doc comment. It
// has no code; it imports nothing of the module.
package layout

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/contentful/auditlogs"

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Dir        string
	GoFiles    []string
	Imports    []string // of its non-test files
	Deps       []string
}

// list runs `go list -json -deps=false` on the module's packages.
func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, patterns...)...)
	cmd.Dir = filepath.Join("..", "..", "..")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list %v: %v", patterns, err)
	}
	return pkgs
}

func local(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// TestProductionDoesNotImportLocaldev: the code that Lambda runs and the
// stack never link the packages for local runs and tests.
func TestProductionDoesNotImportLocaldev(t *testing.T) {
	for _, p := range list(t, "./functions/...", "./infra/...") {
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/internal/localdev") {
				t.Errorf("%s links %s", local(p.ImportPath), local(d))
			}
		}
	}
}

// TestArrowsPointDown: the stack links no function's handler, and the
// fan-out does not link the export pipeline it invokes.
func TestArrowsPointDown(t *testing.T) {
	handler := regexp.MustCompile(`^` + regexp.QuoteMeta(module) + `/internal/[a-z]+fn$`)
	for _, p := range list(t, "./infra/...") {
		for _, d := range p.Deps {
			if handler.MatchString(d) {
				t.Errorf("%s links the handler package %s", local(p.ImportPath), local(d))
			}
		}
	}
	for _, p := range list(t, "./functions/fanout") {
		for _, d := range p.Deps {
			switch local(d) {
			case "internal/export", "internal/delivery", "internal/exportfn", "internal/sink", "internal/logstore":
				t.Errorf("%s links %s", local(p.ImportPath), local(d))
			}
		}
	}
}

// importRules are the packages that each package must not link (directly
// or not; a path stands for its sub-packages too), as their doc comments
// say: the arrows of the house point down, from the adapters to the use
// cases to the model and the leaves.
var importRules = map[string][]string{
	// The ledgered delivery knows no Lambda and no composition root.
	"internal/delivery": {"internal/exportfn", "internal/retryfn", "internal/fanoutfn", "internal/ingestfn", "internal/app",
		"internal/localdev", "cmd", "functions", "github.com/aws/aws-lambda-go"},
	// The model holds no credentials and knows no store or sink.
	"internal/destination": {"internal/sas", "internal/sink", "internal/registry", "internal/export", "internal/app"},
	// The fan-out invokes the export; it does not link it.
	"internal/fanoutfn": {"internal/export", "internal/delivery", "internal/exportfn", "internal/retryfn", "internal/app"},
	// The registration check and the sink opener sit below every caller.
	"internal/registration": {"internal/app", "internal/export", "internal/exportfn", "internal/fanoutfn", "internal/retryfn",
		"internal/ingestfn", "internal/verify", "internal/localdev", "cmd", "functions"},
	"internal/sink/opener": {"internal/app", "internal/export", "internal/exportfn", "internal/fanoutfn", "internal/retryfn",
		"internal/ingestfn", "internal/verify", "internal/registration", "internal/localdev", "cmd", "functions"},
	// The leaves import nothing of the module but the leaves named in
	// their doc comments.
	// The lake's layout and formats, and our object storage, sit below
	// everything that reads or writes the lake.
	"internal/lake":     {module + "/internal/"},
	"internal/objstore": {module + "/internal/"},
	// Compaction knows the lake and a bucket, not the SDK, the ledger it
	// marks through one method, the log store's readers or a Lambda.
	"internal/compaction": {"internal/ledger", "internal/logstore", "internal/app", "internal/delivery", "internal/export",
		"internal/localdev", "cmd", "functions", "github.com/aws/aws-lambda-go", "github.com/aws/aws-sdk-go-v2"},
	// The lake's reader reads; it does not compact or know the SDK.
	"internal/logstore/lakestore": {"internal/compaction", "internal/app", "internal/localdev", "github.com/aws/aws-sdk-go-v2"},
	// The API's contract is a document; it links nothing of the module.
	"api":                    {module},
	"internal/failure":       {module},
	"internal/exportjob":     {module},
	"internal/retryschedule": {module + "/internal/"},
	"internal/config":        {module + "/internal/"},
	// The signer of what we deliver knows KMS, not what it signs.
	"internal/signing": {module + "/internal/"},
	// The public keys' reading and fingerprint, below the keys' users.
	"internal/rsakey": {module + "/internal/"},
	// The delivered files' formats and manifests know no sink, store,
	// ledger or KMS: the export and the seal use them.
	"internal/fileformat": {module + "/internal/"},
	"internal/manifest":   {module + "/internal/"},
	// Sealing a delivery knows its parts, not the delivery that calls it.
	"internal/seal": {"internal/delivery", "internal/app", "internal/localdev", "cmd", "functions"},
	// The API's token check sits below the API handler and knows none of
	// the service.
	"internal/apiauth": {module + "/internal/"},
	// The local IdP mints what apiauth checks without importing it.
	"internal/localdev/localidp": {module + "/internal/"},
}

// leafAllowed are the module packages a leaf of importRules may link.
var leafAllowed = map[string][]string{
	"internal/retryschedule": {"internal/exportjob"},
	"internal/config":        {"internal/exportjob"},
	"internal/lake":          {"internal/audit", "internal/redact", "internal/percent"},
	"internal/signing":       {"internal/rsakey"},
	"internal/fileformat":    {"internal/audit", "internal/csvenc", "internal/redact", "internal/percent"}, // audit links the last two
	"internal/manifest":      {"internal/audit", "internal/rsakey", "internal/redact", "internal/percent"},
}

// TestImportRules holds each package of importRules to its rule.
func TestImportRules(t *testing.T) {
	for path, banned := range importRules {
		ps := list(t, "./"+path)
		if len(ps) != 1 {
			t.Fatalf("%s: %d packages", path, len(ps))
		}
		for _, dep := range ps[0].Deps {
			p := local(dep)
			if dep == module+"/"+path || slicesContains(leafAllowed[path], p) {
				continue
			}
			for _, b := range banned {
				if dep == b || p == b || strings.HasPrefix(p, b+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) || (b == module && strings.HasPrefix(dep, module+"/")) {
					t.Errorf("%s links %s", path, dep)
				}
			}
		}
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestEveryPackageSaysWhatItMayNotImport: each package's doc comment is a
// few lines on what it holds and on its imports, so that a reader knows
// where a change belongs before opening the code.
func TestEveryPackageSaysWhatItMayNotImport(t *testing.T) {
	for _, p := range list(t, "./...") {
		if len(p.GoFiles) == 0 {
			continue // test-only packages: this one
		}
		words := len(strings.Fields(p.Doc))
		if p.Doc == "" || words < 5 {
			t.Errorf("%s: no doc comment of a few lines", local(p.ImportPath))
			continue
		}
		if !strings.Contains(fullDoc(t, p), "import") {
			t.Errorf("%s: its doc comment does not say what it may import", local(p.ImportPath))
		}
	}
}

// fullDoc is p's whole package comment, from every file that has one
// (go list gives its first sentence only).
func fullDoc(t *testing.T, p pkg) string {
	t.Helper()
	var b strings.Builder
	for _, f := range p.GoFiles {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if file.Doc != nil {
			b.WriteString(file.Doc.Text())
		}
	}
	return b.String()
}

// TestProductionDoesNotLinkTheAPITestHarness: the harness takes a
// testing.TB and links the OpenAPI validator; what Lambda and auditctl
// run needs neither.
func TestProductionDoesNotLinkTheAPITestHarness(t *testing.T) {
	for _, p := range list(t, "./functions/...", "./infra/...", "./cmd/...") {
		for _, d := range p.Deps {
			if d == module+"/internal/api/openapitest" || strings.HasPrefix(d, "github.com/pb33f/") {
				t.Errorf("%s links %s", local(p.ImportPath), d)
			}
		}
	}
}
