package config_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/config"
)

// TestREADMETable: README.md's configuration table lists every variable
// this package names, and names nothing else; the functions its "used by"
// column names for a variable are those that read it.
func TestREADMETable(t *testing.T) {
	consts := variableConsts(t)
	rows := readmeRows(t)
	for name, c := range consts {
		if _, ok := rows[name]; !ok {
			t.Errorf("README.md's configuration table lacks %s (config.%s)", name, c)
		}
	}
	for name := range rows {
		if _, ok := consts[name]; !ok {
			t.Errorf("README.md's configuration table lists %s, which package config does not name", name)
		}
	}
	names := slices.Sorted(maps.Keys(rows))
	for _, f := range config.Functions {
		reads := append(f.Required(), f.Optional()...)
		for _, name := range names {
			usedBy := rows[name]
			if listed := slices.Contains(usedBy, f); listed != slices.Contains(reads, name) {
				t.Errorf("README.md: %s: the %s function listed in \"used by\": %v; it reads it: %v", name, f, listed, !listed)
			}
		}
	}
}

// variableConsts are the string constants of the package's source whose
// value is a variable's name, by value.
func variableConsts(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					if strings.HasPrefix(s, config.Prefix) && s != config.Prefix {
						out[s] = vs.Names[i].Name
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no variable names in the package's source")
	}
	return out
}

// readmeRows are the AUDITLOG_* variables of the table under README.md's
// "## Configuration", each with the functions of its "used by" column.
func readmeRows(t *testing.T) map[string][]config.Function {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	byWord := map[string][]config.Function{"all": config.Functions, "export": {config.Export}, "retry": {config.Retry},
		"fan-out": {config.FanOut}, "ingest": {config.Ingest}, "compact": {config.Compact}, "api": {config.API}}
	rows := map[string][]config.Function{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 4 {
			continue
		}
		var usedBy []config.Function
		for _, w := range strings.Split(cells[1], ", ") {
			usedBy = append(usedBy, byWord[w]...) // commands are `quoted`, not functions
		}
		for _, v := range strings.Split(strings.TrimPrefix(cells[0], "| "), ", ") {
			name := strings.Trim(v, "`")
			if !strings.HasPrefix(name, config.Prefix) {
				continue // AWS_*, CI
			}
			if _, dup := rows[name]; dup {
				t.Errorf("README.md lists %s twice", name)
			}
			rows[name] = usedBy
		}
	}
	if len(rows) == 0 {
		t.Fatal("README.md's configuration table has no AUDITLOG_* rows")
	}
	return rows
}
