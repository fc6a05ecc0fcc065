// Package emulator starts and stops the local stand-ins for the cloud
// services (moto_server, local-kms, Azurite, and a Lambda function under
// the Lambda Runtime Interface Emulator) as processes on 127.0.0.1, each
// on a free port, and stops them by PID (their whole process group).
// Tests use it through testenv, attached to the test binary and in
// temporary folders; the local stack (`make up`) starts them detached,
// in .local, and stops them from another process by their recorded PIDs.
//
// It imports only the standard library, nothing of this module. Production
// code never imports it: testenv, pagetest and the local stack do, and
// auditctl links it only through the local stack (up, down, demo).
package emulator

import (
	"bytes"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Server is one running emulator.
type Server struct {
	Name string
	Tool string // the executable's base name, to recognise the process later
	Host string // 127.0.0.1:port
	URL  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  string
	dir  string // removed at Stop when temporary
	temp bool
	done chan struct{}
}

// PID is the server's process ID, also its process group ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// LogPath is the file that holds the server's output.
func (s *Server) LogPath() string { return s.log }

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
	if s.temp {
		_ = os.RemoveAll(s.dir)
	}
}

// Running tells whether pid is a live process running tool: a recorded
// PID may have been reused by an unrelated process since.
func Running(pid int, tool string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name; Z is a zombie.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(cmdline, []byte(tool))
}

// StopPID stops a server that another process started: SIGTERM to its
// process group, SIGKILL after 5 seconds. It does nothing, and says so,
// when pid no longer runs tool.
func StopPID(pid int, tool string) (stopped bool) {
	if !Running(pid, tool) {
		return false
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for Running(pid, tool) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
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

// LookTool finds a tool on PATH, then in the project's own tool folders
// (.tools/bin from `go install`, node_modules/.bin from `npm ci`).
func LookTool(name string) (string, error) {
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

// FreePort is a TCP port of 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Spec says how to run one emulator.
type Spec struct {
	Name string
	Tool string
	Args func(port int, dir string) []string
	Env  func(port int, dir string) []string
}

// Options say where and how a server runs.
type Options struct {
	Env []string // added to the environment
	// Dir, when set, holds the server's log (<Dir>/<name>.log) and data
	// (<Dir>/<name>) and is kept at Stop; else a temporary folder is
	// used and removed at Stop.
	Dir string
	// Detach lets the server outlive this process (`make up`); else it
	// is killed when this process dies (tests).
	Detach bool
}

// Start runs sp on a free port of 127.0.0.1, attached and in a temporary
// folder, with extraEnv added to its environment, and waits until it
// accepts connections.
func Start(sp Spec, extraEnv []string) (*Server, error) {
	return StartWith(sp, Options{Env: extraEnv})
}

// StartWith runs sp on a free port of 127.0.0.1 as opts say and waits
// until it accepts connections.
func StartWith(sp Spec, opts Options) (*Server, error) {
	bin, err := LookTool(sp.Tool)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before the server binds it
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		dir, logPath := opts.Dir, ""
		if dir == "" {
			if dir, err = os.MkdirTemp("", "auditlogs-"+sp.Name+"-"); err != nil {
				return nil, err
			}
			logPath = filepath.Join(dir, "server.log")
		} else {
			logPath = filepath.Join(dir, sp.Name+".log")
			dir = filepath.Join(dir, sp.Name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
		logFile, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		var args []string
		if sp.Args != nil {
			args = sp.Args(port, dir)
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.Env = append(os.Environ(), opts.Env...)
		if sp.Env != nil {
			cmd.Env = append(cmd.Env, sp.Env(port, dir)...)
		}
		// Own process group, so Stop reaches children (pyenv shims, node)
		// and a terminal's Ctrl-C does not; attached servers are killed
		// with the test binary if that dies first.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if !opts.Detach {
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}
		if err := cmd.Start(); err != nil {
			logFile.Close()
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		logFile.Close()
		s := &Server{Name: sp.Name, Tool: filepath.Base(bin), Host: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd, log: logPath, dir: dir,
			temp: opts.Dir == "", done: make(chan struct{})}
		s.URL = "http://" + s.Host
		go func() { _ = cmd.Wait(); close(s.done) }()
		if err := waitListening(s, 60*time.Second); err != nil {
			out, _ := os.ReadFile(logPath)
			s.Stop()
			lastErr = fmt.Errorf("%s did not start: %v; its log:\n%s", sp.Name, err, tail(out, 2000))
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

// Moto is moto_server: S3, DynamoDB, STS, IAM, SQS. Its Python loads
// motofix/sitecustomize.py (written to the server's folder, named by
// PYTHONPATH), which makes moto accept the signature of an S3 request whose
// path or query holds escaped characters as S3 does: keys and prefixes such
// as raw/day=2026-12-01/ (see the file).
var Moto = Spec{Name: "moto", Tool: "moto_server", Args: func(port int, _ string) []string {
	return []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}
}, Env: func(_ int, dir string) []string {
	fix := filepath.Join(dir, "motofix")
	if err := os.MkdirAll(fix, 0o755); err != nil {
		return nil // moto then refuses such requests: the tests that send them fail
	}
	if err := os.WriteFile(filepath.Join(fix, "sitecustomize.py"), motoFix, 0o644); err != nil {
		return nil
	}
	return []string{"PYTHONPATH=" + fix}
}}

//go:embed motofix/sitecustomize.py
var motoFix []byte

// LocalKMS is local-kms (it binds all interfaces: it has no host option).
var LocalKMS = Spec{Name: "local-kms", Tool: "local-kms", Env: func(port int, dir string) []string {
	return []string{"PORT=" + strconv.Itoa(port), "KMS_DATA_PATH=" + filepath.Join(dir, "data"), "KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333"}
}}

// Azurite is the Azurite blob service.
var Azurite = Spec{Name: "azurite", Tool: "azurite-blob", Args: func(port int, dir string) []string {
	return []string{"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--location", filepath.Join(dir, "data"),
		"--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"}
}}

// RIE runs a Lambda function's bootstrap binary under the Lambda Runtime
// Interface Emulator: its invoke API on the server's port (function name
// "function"), the Runtime API the binary talks to on runtimePort.
func RIE(bootstrap string, runtimePort int) Spec {
	return Spec{Name: "lambda-rie", Tool: "aws-lambda-rie", Args: func(port int, _ string) []string {
		return []string{"--runtime-interface-emulator-address", "127.0.0.1:" + strconv.Itoa(port),
			"--runtime-api-address", "127.0.0.1:" + strconv.Itoa(runtimePort), bootstrap}
	}}
}
