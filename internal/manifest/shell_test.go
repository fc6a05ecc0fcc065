package manifest_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/manifest/manifesttest"
)

// shellTools are what docs/verify-deliveries.sh runs.
var shellTools = []string{"openssl", "awk", "sort", "find", "mktemp", "rm", "wc", "tr", "head", "grep", "sha256sum"}

// posixShell is dash when installed (the strictest POSIX sh at hand),
// else sh; the test fails under AUDITLOG_REQUIRE_EMULATORS=1 and skips
// otherwise when a tool the script needs is missing.
func posixShell(t *testing.T) string {
	t.Helper()
	for _, tool := range shellTools {
		if _, err := exec.LookPath(tool); err != nil {
			if testenv.Required() {
				t.Fatalf("the shell verifier needs %s: %v", tool, err)
			}
			t.Skipf("SKIPPED: the shell verifier needs %s: %v", tool, err)
		}
	}
	for _, sh := range []string{"dash", "sh"} {
		if p, err := exec.LookPath(sh); err == nil {
			return p
		}
	}
	t.Skip("SKIPPED: no sh")
	return ""
}

// runScript runs the shell verifier and returns its problem lines, its
// summary (the org lines and the last line) and whether it exited 0; any
// other exit than 0 or 1 fails the test.
func runScript(t *testing.T, shell, keyPEM, dir string, env ...string) (problems []string, summary string, ok bool) {
	t.Helper()
	cmd := exec.Command(shell, filepath.Join(testenv.RepoRoot(), "docs", "verify-deliveries.sh"), keyPEM, dir)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case err == nil:
		ok = true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
	default:
		t.Fatalf("verify-deliveries.sh: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("verify-deliveries.sh wrote to stderr:\n%s", stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "org ") {
			summary += l + "\n"
		} else {
			problems = append(problems, l)
		}
	}
	return problems, summary + lines[len(lines)-1], ok
}

// lineKindKeys is the script's problem lines ("KIND PATH: detail") as
// "kind key", sorted.
func lineKindKeys(lines []string) []string {
	var out []string
	for _, l := range lines {
		kind, rest, _ := strings.Cut(l, " ")
		k, _, _ := strings.Cut(rest, ": ")
		out = append(out, kind+" "+k)
	}
	slices.Sort(out)
	return out
}

// TestShellVerifier runs docs/verify-deliveries.sh on every folder of
// TestVerify: it must name the same problems, in the same words but for
// an unreadable manifest's (the Go decoder's error is its own), exit 1
// exactly when there are, and count what it checked as Verify does.
func TestShellVerifier(t *testing.T) {
	shell := posixShell(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir, key, want := sc.build(t)
			slices.Sort(want)
			r, err := manifest.Verify(dir, key)
			if err != nil {
				t.Fatal(err)
			}
			lines, summary, ok := runScript(t, shell, manifesttest.WritePublicKey(t, key), dir)
			t.Logf("verify-deliveries.sh:\n%s\n%s", strings.Join(lines, "\n"), summary)
			got, goLines := lineKindKeys(lines), []string(nil)
			if !slices.Equal(got, want) {
				t.Fatalf("script's problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for _, x := range r.Problems {
				goLines = append(goLines, x.String())
			}
			slices.Sort(lines)
			slices.Sort(goLines)
			for i := range lines {
				if strings.HasPrefix(lines[i], string(manifest.ManifestUnreadable)+" ") {
					continue
				}
				if lines[i] != goLines[i] {
					t.Errorf("script and auditctl word a problem differently:\n%s\n%s", lines[i], goLines[i])
				}
			}
			if ok != r.OK() {
				t.Errorf("script exit 0 = %v, Verify OK = %v", ok, r.OK())
			}
			var wantSummary string
			for _, o := range r.Orgs {
				wantSummary += fmt.Sprintf("org %s: %d days from %s to %s, %d manifests in its chain\n", o.OrgID, o.Days, o.FirstDay, o.LastDay, o.Chain)
			}
			found := map[int]string{0: "no problems", 1: "1 problem"}[len(r.Problems)]
			if found == "" {
				found = strconv.Itoa(len(r.Problems)) + " problems"
			}
			wantSummary += fmt.Sprintf("checked %d manifests (%d signatures valid) and %d files: %s", r.Manifests, r.Signatures, r.Files, found)
			if summary != wantSummary {
				t.Errorf("summary\n%s\nwant\n%s", summary, wantSummary)
			}
		})
	}
}

// TestShellVerifierUnderBash: bash too (macOS's /bin/sh is a bash) reads
// the script as a POSIX sh, on a few of the folders.
func TestShellVerifierUnderBash(t *testing.T) {
	posixShell(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("SKIPPED: no bash")
	}
	for _, sc := range scenarios {
		switch sc.name {
		case "good", "manifest deleted", "prefix with quotes and spaces, folder with a space", "day redelivered twice, a day between":
		default:
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			dir, key, want := sc.build(t)
			slices.Sort(want)
			lines, summary, ok := runScript(t, bash, manifesttest.WritePublicKey(t, key), dir, "POSIXLY_CORRECT=1")
			got := lineKindKeys(lines)
			if !slices.Equal(got, want) || ok != (len(want) == 0) {
				t.Fatalf("under bash: exit 0 %v, problems:\n%s\n%s\nwant:\n%s", ok, strings.Join(got, "\n"), summary, strings.Join(want, "\n"))
			}
		})
	}
}

// TestShellVerifierWithoutSha256sum: where sha256sum is missing (macOS)
// the script hashes with openssl, and still finds a changed file.
func TestShellVerifierWithoutSha256sum(t *testing.T) {
	shell := posixShell(t)
	bin := t.TempDir()
	for _, tool := range shellTools {
		if tool == "sha256sum" {
			continue
		}
		p, _ := exec.LookPath(tool)
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	d, dl := five(t)
	key := manifesttest.WritePublicKey(t, pub(d))
	if lines, summary, ok := runScript(t, shell, key, d.Dir, "PATH="+bin); !ok || len(lines) != 0 {
		t.Fatalf("good folder without sha256sum: %v\n%s\n%s", ok, strings.Join(lines, "\n"), summary)
	}
	d.FlipByte(t, dl[1].File, 5, '#')
	lines, _, ok := runScript(t, shell, key, d.Dir, "PATH="+bin)
	if ok || len(lines) != 1 || !strings.HasPrefix(lines[0], string(manifest.FileChanged)+" "+dl[1].File+": has SHA-256 ") {
		t.Fatalf("changed file without sha256sum: exit 0 %v\n%s", ok, strings.Join(lines, "\n"))
	}
}

// TestOpenSSL: openssl verifies a manifest's signature as the customer
// doc says, refuses it for a changed byte, and computes the fingerprint
// the manifest names.
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if testenv.Required() {
			t.Fatal(err)
		}
		t.Skip("SKIPPED: no openssl")
	}
	d := manifesttest.New(t, "acme")
	x := d.Days(t, "2026-11-24")[0]
	key := manifesttest.WritePublicKey(t, pub(d))
	verify := func() (string, error) {
		out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", key, "-signature", d.Path(x.Signature), d.Path(x.Manifest)).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || strings.TrimSpace(out) != "Verified OK" {
		t.Fatalf("openssl dgst -verify: %v\n%s", err, out)
	}
	der, err := exec.Command("openssl", "pkey", "-pubin", "-in", key, "-outform", "DER").Output()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(d.Path(x.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.SigningKeyFingerprint != manifest.Hash(der) {
		t.Fatalf("manifest names fingerprint %s, openssl's DER of the key hashes to %s", m.SigningKeyFingerprint, manifest.Hash(der))
	}
	d.FlipByte(t, x.Manifest, len(b)-5, 'X')
	if out, err := verify(); err == nil {
		t.Fatalf("openssl verified a changed manifest:\n%s", out)
	}
}
