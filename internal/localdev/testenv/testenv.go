// Package testenv starts the local emulators (through package emulator)
// that integration tests and benchmarks run against (moto_server,
// local-kms, Azurite) and builds SDK configurations that reach them
// through the standard AWS_ENDPOINT_URL variables only.
//
// Each server listens on 127.0.0.1 (local-kms cannot be told a host) on a
// free port, logs to a temporary file, and is stopped by PID: per test with
// Start*, or at the end of the package's tests for the shared ones, which
// need TestMain to call Main.
//
// When AUDITLOG_REQUIRE_EMULATORS=1 (make test and CI set it), a tool that
// is missing or a server that does not start fails the test. Otherwise the
// test is skipped with a message that says what to install: a plain
// `go test ./...` on a machine without the tools still runs the unit tests.
//
// Tests only: production code imports it only from _test.go files; the
// test helpers pagetest, sastest and dynamotest, tests only themselves,
// import it in their code. Of this module it imports only emulator and
// internal/config (the name of AUDITLOG_REQUIRE_EMULATORS); it must not
// import a store, a sink or internal/app, so that every package's tests
// can use it without a cycle.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/localdev/emulator"
)

// Server is one running emulator.
type Server = emulator.Server

// Required reports whether a missing emulator or tool must fail the run
// (AUDITLOG_REQUIRE_EMULATORS=1, or CI) rather than skip.
func Required() bool {
	return os.Getenv(config.EnvRequireEmulators) == "1" || os.Getenv("CI") == "true"
}

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("emulator unavailable (%s=1 or CI): %s", config.EnvRequireEmulators, msg)
	}
	tb.Skipf("SKIPPED, emulator unavailable: %s (run `make tools` or `make test`)", msg)
}

// RepoRoot is the folder holding go.mod.
func RepoRoot() string { return emulator.RepoRoot() }

// SampleEvent returns the sample event events/<name> of the repository,
// which the handlers' JSON-contract tests and local runs share.
func SampleEvent(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "events", name))
	if err != nil {
		tb.Fatalf("sample event: %v", err)
	}
	return b
}

// StartMoto starts a moto_server of the test's own, stopped when the test
// ends. Pass env such as "INITIAL_NO_AUTH_ACTION_COUNT=9".
func StartMoto(tb testing.TB, env ...string) *Server { return startFor(tb, emulator.Moto, env) }

func startFor(tb testing.TB, sp emulator.Spec, env []string) *Server {
	tb.Helper()
	s, err := emulator.Start(sp, env)
	if err != nil {
		unavailable(tb, "%v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

type shared struct {
	once sync.Once
	srv  *Server
	err  error
}

var (
	sharedMu      sync.Mutex
	sharedServers = map[string]*shared{}
)

func sharedServer(tb testing.TB, sp emulator.Spec) *Server {
	tb.Helper()
	sharedMu.Lock()
	sh := sharedServers[sp.Name]
	if sh == nil {
		sh = &shared{}
		sharedServers[sp.Name] = sh
	}
	sharedMu.Unlock()
	sh.once.Do(func() { sh.srv, sh.err = emulator.Start(sp, nil) })
	if sh.err != nil {
		unavailable(tb, "%v", sh.err)
	}
	return sh.srv
}

// Moto is a moto_server shared by the package's tests (S3, DynamoDB, STS,
// IAM without authentication). Tests must use names of their own.
func Moto(tb testing.TB) *Server { return sharedServer(tb, emulator.Moto) }

// LocalKMS is a local-kms shared by the package's tests.
func LocalKMS(tb testing.TB) *Server { return sharedServer(tb, emulator.LocalKMS) }

// Azurite is an Azurite blob service shared by the package's tests.
func Azurite(tb testing.TB) *Server { return sharedServer(tb, emulator.Azurite) }

// Main runs the package's tests and then stops the shared servers. Use it
// from TestMain: os.Exit(testenv.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for _, sh := range sharedServers {
		sh.srv.Stop()
	}
	return code
}

// Context returns a context that ends with the test.
func Context(tb testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	return ctx
}

// UniqueName returns a lowercase name that is valid as an S3 bucket, an
// Azure container and a DynamoDB table, unique within the process.
func UniqueName(prefix string) string {
	n := uniq.Add(1)
	return strings.ToLower(fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), n))
}

// RequireTools fails (with AUDITLOG_REQUIRE_EMULATORS=1 or in CI) or skips
// the test unless every named tool is installed; for tests that start a
// whole local stack themselves.
func RequireTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, name := range names {
		if _, err := emulator.LookTool(name); err != nil {
			unavailable(tb, "%v", err)
		}
	}
}

// PrintLog logs the end of a server's log (its last 4,000 bytes) into the
// test's output, with each of secrets masked: to see which request a
// private moto did or did not authenticate.
func PrintLog(tb testing.TB, s *Server, secrets ...string) {
	tb.Helper()
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		tb.Logf("log of %s: %v", s.Host, err)
		return
	}
	text := string(b)
	for _, sec := range secrets {
		if sec != "" {
			text = strings.ReplaceAll(text, sec, "<secret>")
		}
	}
	if len(text) > 4000 {
		text = text[len(text)-4000:]
	}
	tb.Logf("log of %s:\n%s", s.Host, text)
}

// SyncBuffer is a bytes.Buffer that handlers logging from several
// goroutines can write to while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
