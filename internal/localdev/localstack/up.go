package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/localdev/emulator"
)

// Files of a stack directory (.local).
const (
	StateFile    = "stack.json"   // the processes started, for Down, and the identities' keys
	EnvFile      = "env"          // shell exports for the stack, as the operator (the CLI)
	CustomerFile = "customer.env" // shell exports for acting as the customers' administrator
)

// ExportFunctionName is what the Runtime Interface Emulator serves the
// export function as: it knows one function, named "function".
const ExportFunctionName = "function"

// state is what Up records for Down: the processes it started.
type state struct {
	Started    time.Time                       `json:"started"`
	Servers    []process                       `json:"servers"`
	Env        map[string]string               `json:"env"`
	Identities map[grants.Identity]Credentials `json:"identities"`
	Admin      Credentials                     `json:"admin"`
}

type process struct {
	Name string `json:"name"`
	Tool string `json:"tool"`
	PID  int    `json:"pid"`
	URL  string `json:"url"`
}

// Up starts the local stack in the background, detached from this
// process: moto_server, local-kms and Azurite with the resources of
// Start, and the export function's bootstrap binary (built for this
// machine) under the Lambda Runtime Interface Emulator. It records the
// processes in dir/stack.json and writes dir/env, shell exports of
// everything a process needs to use the stack. When a stack recorded in
// dir still runs, Up leaves it alone; when one was partly stopped, Up
// stops what is left of it and starts afresh.
func Up(ctx context.Context, dir, exportBinary string, out io.Writer) (err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	if exportBinary, err = filepath.Abs(exportBinary); err != nil {
		return err
	}
	if st, err := readState(dir); err == nil {
		if st.running() {
			fmt.Fprintf(out, "the local stack is already up (%s); `make down` stops it\n", filepath.Join(dir, EnvFile))
			return nil
		}
		fmt.Fprintln(out, "a local stack recorded in", dir, "is partly gone: stopping what is left of it")
		st.stop(out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if info, err := os.Stat(exportBinary); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("export function binary %s: not an executable file (build it with `make up`)", exportBinary)
	}
	// Start from empty data: what an earlier stack stored is gone with it.
	for _, name := range []string{emulator.Moto.Name, emulator.LocalKMS.Name, emulator.Azurite.Name, "lambda-rie"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	s := &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	opts := emulator.Options{Dir: dir, Detach: true}
	moto, kmsSrv, azurite, err := s.startEmulators(opts)
	if err != nil {
		return err
	}
	if err := s.provision(ctx, moto, kmsSrv, azurite); err != nil {
		return err
	}
	runtimePort, err := emulator.FreePort()
	if err != nil {
		return err
	}
	// The emulator hands its environment (the stack's, set by provision)
	// to the function, as Lambda hands a function its configuration, and
	// the credentials of the export's own identity, as Lambda hands it
	// its role's.
	opts.Env = []string{"AWS_LAMBDA_FUNCTION_NAME=auditlogs-export", "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_FUNCTION_TIMEOUT=900", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024"}
	opts.Env = append(opts.Env, s.Identities[grants.Export].Environ()...)
	rie, err := emulator.StartWith(emulator.RIE(exportBinary, runtimePort), opts)
	if err != nil {
		return err
	}
	s.servers = append(s.servers, rie)
	s.Env["AWS_ENDPOINT_URL_LAMBDA"] = rie.URL
	s.Env[config.EnvExportFunction] = ExportFunctionName
	// The emulator runs one invocation at a time and refuses a second
	// one meanwhile; Lambda would run them side by side.
	s.Env[config.EnvFanOutConcurrency] = "1"

	st := state{Started: time.Now().UTC(), Env: s.Env, Identities: s.Identities, Admin: s.Admin}
	for _, srv := range s.servers {
		st.Servers = append(st.Servers, process{Name: srv.Name, Tool: srv.Tool, PID: srv.PID(), URL: srv.URL})
	}
	if err := writeState(dir, st); err != nil {
		return err
	}
	fmt.Fprintf(out, "local stack up, in the background (logs and data in %s):\n", dir)
	for _, p := range st.Servers {
		fmt.Fprintf(out, "  %-10s %-24s pid %d\n", p.Name, p.URL, p.PID)
	}
	fmt.Fprintf(out, "log store: the lake in bucket %s; tables %s and %s, KMS keys us %s and eu %s, signing key %s, customers' buckets %s and %s, container %s\n",
		LakeBucket, RegistryTable, LedgerTable, s.KeyIDs["us"], s.KeyIDs["eu"], s.SigningKeyID, Bucket, OtherBucket, Container)
	fmt.Fprintf(out, "IAM enforced as the CDK stack grants it: the export function runs as %s, the CLI as %s (%s), the customers' administrator is %s (%s)\n",
		s.Identities[grants.Export].User, s.Identities[grants.Operator].User, EnvFile, s.Admin.User, CustomerFile)
	fmt.Fprintf(out, "use it from a shell:  . %s\n", filepath.Join(dir, EnvFile))
	return nil
}

// Down stops the processes that Up recorded in dir, by PID, and removes
// their data and the env file; the logs stay for a post-mortem. With no
// stack recorded it does nothing.
func Down(dir string, out io.Writer) error {
	st, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(out, "no local stack is recorded in", dir)
		return nil
	}
	if err != nil {
		return err
	}
	st.stop(out)
	for _, p := range st.Servers {
		if err := os.RemoveAll(filepath.Join(dir, p.Name)); err != nil {
			return err
		}
	}
	for _, f := range []string{EnvFile, CustomerFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Remove(filepath.Join(dir, StateFile))
}

func (st *state) running() bool {
	for _, p := range st.Servers {
		if !emulator.Running(p.PID, p.Tool) {
			return false
		}
	}
	return len(st.Servers) > 0
}

// stop stops the recorded processes, the function first.
func (st *state) stop(out io.Writer) {
	for _, p := range slices.Backward(st.Servers) {
		if emulator.StopPID(p.PID, p.Tool) {
			fmt.Fprintf(out, "stopped %s (pid %d)\n", p.Name, p.PID)
		} else {
			fmt.Fprintf(out, "%s (pid %d) was not running\n", p.Name, p.PID)
		}
	}
}

func readState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return st, nil
}

// writeState writes the state, then the env files, each atomically.
func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, StateFile), b); err != nil {
		return err
	}
	started := st.Started.Format(time.RFC3339)
	if err := writeEnv(filepath.Join(dir, EnvFile), st.Env,
		"# The local stack started by `make up` at "+started+"; `make down` stops it.",
		"# Its settings and the credentials of the CLI's identity ("+st.Identities[grants.Operator].User+"). Use it from a shell:  . "+filepath.Join(dir, EnvFile)); err != nil {
		return err
	}
	// The administrator's: the same endpoints, the other credentials.
	admin := map[string]string{}
	for k, v := range st.Env {
		if strings.HasPrefix(k, "AWS_") {
			admin[k] = v
		}
	}
	maps.Copy(admin, st.Admin.env())
	return writeEnv(filepath.Join(dir, CustomerFile), admin,
		"# The customers' administrator of the local account ("+st.Admin.User+"), started at "+started+": it may create buckets,",
		"# roles and policies, as a customer does in their console. Use it from a shell:  . "+filepath.Join(dir, CustomerFile))
}

func writeEnv(path string, env map[string]string, comments ...string) error {
	var b strings.Builder
	for _, c := range comments {
		b.WriteString(c + "\n")
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(env[k]))
	}
	return writeAtomic(path, []byte(b.String()))
}

func shellQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'" }

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
