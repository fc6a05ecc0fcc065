// Package testenv starts the local emulators that integration tests and
// benchmarks run against (moto_server, local-kms, Azurite) and builds SDK
// configurations that reach them through the standard AWS_ENDPOINT_URL
// variables only.
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
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing emulator into a failure.
const RequireEnv = "AUDITLOG_REQUIRE_EMULATORS"

// Server is one running emulator.
type Server struct {
	Name string
	Host string // 127.0.0.1:port
	URL  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  string
	dir  string
	done chan struct{}
}

// Stop kills the server's process group and removes its temporary files.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	_ = os.RemoveAll(s.dir)
}

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" || os.Getenv("CI") == "true" {
		tb.Fatalf("emulator unavailable (%s=1 or CI): %s", RequireEnv, msg)
	}
	tb.Skipf("SKIPPED, emulator unavailable: %s (run `make tools` or `make test`)", msg)
}

// RepoRoot is the folder holding go.mod.
func RepoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// lookTool finds a tool on PATH, then in the project's own tool folders
// (.tools/bin from `go install`, node_modules/.bin from `npm ci`).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	root := RepoRoot()
	for _, dir := range []string{".tools/bin", "node_modules/.bin"} {
		p := filepath.Join(root, dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH, in .tools/bin or in node_modules/.bin", name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type spec struct {
	name string
	tool string
	args func(port int, dir string) []string
	env  func(port int, dir string) []string
}

func start(sp spec, extraEnv []string) (*Server, error) {
	bin, err := lookTool(sp.tool)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "auditlogs-"+sp.name+"-")
		if err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, "server.log")
		logFile, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		var args []string
		if sp.args != nil {
			args = sp.args(port, dir)
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.Env = append(os.Environ(), extraEnv...)
		if sp.env != nil {
			cmd.Env = append(cmd.Env, sp.env(port, dir)...)
		}
		// Own process group, so Stop reaches children (pyenv shims, node);
		// and killed with the test binary if that dies first.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logFile.Close()
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		logFile.Close()
		s := &Server{Name: sp.name, Host: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd, log: logPath, dir: dir, done: make(chan struct{})}
		s.URL = "http://" + s.Host
		go func() { _ = cmd.Wait(); close(s.done) }()
		if err := waitListening(s, 60*time.Second); err != nil {
			out, _ := os.ReadFile(logPath)
			s.Stop()
			lastErr = fmt.Errorf("%s did not start: %v; its log:\n%s", sp.name, err, tail(out, 2000))
			continue
		}
		return s, nil
	}
	return nil, lastErr
}

// waitListening polls with bare TCP connects: an HTTP probe would count
// against moto's INITIAL_NO_AUTH_ACTION_COUNT.
func waitListening(s *Server, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("process exited")
		default:
		}
		c, err := net.DialTimeout("tcp", s.Host, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nothing listening on %s after %s", s.Host, timeout)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

var moto = spec{name: "moto", tool: "moto_server", args: func(port int, _ string) []string {
	return []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}
}}

var localKMS = spec{name: "local-kms", tool: "local-kms", env: func(port int, dir string) []string {
	return []string{"PORT=" + strconv.Itoa(port), "KMS_DATA_PATH=" + filepath.Join(dir, "data"), "KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333"}
}}

var azurite = spec{name: "azurite", tool: "azurite-blob", args: func(port int, dir string) []string {
	return []string{"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--location", filepath.Join(dir, "data"),
		"--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"}
}}

// StartMoto starts a moto_server of the test's own, stopped when the test
// ends. Pass env such as "INITIAL_NO_AUTH_ACTION_COUNT=9".
func StartMoto(tb testing.TB, env ...string) *Server { return startFor(tb, moto, env) }

func startFor(tb testing.TB, sp spec, env []string) *Server {
	tb.Helper()
	s, err := start(sp, env)
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

func sharedServer(tb testing.TB, sp spec) *Server {
	tb.Helper()
	sharedMu.Lock()
	sh := sharedServers[sp.name]
	if sh == nil {
		sh = &shared{}
		sharedServers[sp.name] = sh
	}
	sharedMu.Unlock()
	sh.once.Do(func() { sh.srv, sh.err = start(sp, nil) })
	if sh.err != nil {
		unavailable(tb, "%v", sh.err)
	}
	return sh.srv
}

// Moto is a moto_server shared by the package's tests (S3, DynamoDB, STS,
// IAM without authentication). Tests must use names of their own.
func Moto(tb testing.TB) *Server { return sharedServer(tb, moto) }

// LocalKMS is a local-kms shared by the package's tests.
func LocalKMS(tb testing.TB) *Server { return sharedServer(tb, localKMS) }

// Azurite is an Azurite blob service shared by the package's tests.
func Azurite(tb testing.TB) *Server { return sharedServer(tb, azurite) }

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
