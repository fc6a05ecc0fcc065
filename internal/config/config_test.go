package config_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/exportjob"
)

// TestConfigFromEnv: defaults, set values, and malformed values named
// with the variable.
func TestConfigFromEnv(t *testing.T) {
	t.Setenv("AUDITLOG_LAKE_BUCKET", "lake")
	t.Setenv("AUDITLOG_REGISTRY_TABLE", "registry")
	for _, k := range []string{"AUDITLOG_LEASE_SECONDS", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "AUDITLOG_PART_SIZE_MIB", "AUDITLOG_FANOUT_CONCURRENCY", "AUDITLOG_UPLOAD_CONCURRENCY", "AUDITLOG_INGEST_INCLUDE_POST", "AUDITLOG_LOG_STORE_RETENTION_DAYS", "AUDITLOG_LOG_STORE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AUDITLOG_REJECTS_PREFIX", "") // restored after the test
	os.Unsetenv("AUDITLOG_REJECTS_PREFIX")
	c, err := config.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Lease != exportjob.Lease || c.FunctionTimeout != exportjob.FunctionTimeout || c.PartSize != 8<<20 || c.FanOutConcurrency != 16 || c.Concurrency != 4 || c.IncludePOST || c.RejectsPrefix != "rejects/" ||
		c.LogStore != "" || c.LakeBucket != "lake" || c.Retention != 0 { // the log store's own defaults apply
		t.Fatalf("defaults %+v", c)
	}
	t.Setenv("AUDITLOG_LEASE_SECONDS", "100")
	t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "30")
	t.Setenv("AUDITLOG_FANOUT_CONCURRENCY", "1")
	t.Setenv("AUDITLOG_INGEST_INCLUDE_POST", "true")
	t.Setenv("AUDITLOG_LOG_STORE_RETENTION_DAYS", "40")
	t.Setenv("AUDITLOG_LOG_STORE", "lake")
	t.Setenv("AUDITLOG_REJECTS_PREFIX", "")
	if c, err = config.FromEnv(); err != nil || c.Lease != 100*time.Second || c.FunctionTimeout != 30*time.Second || c.FanOutConcurrency != 1 || !c.IncludePOST || c.RejectsPrefix != "" || c.Retention != 40*24*time.Hour ||
		c.LogStore != "lake" {
		t.Fatalf("set: %+v, %v", c, err)
	}
	for k, v := range map[string]string{"AUDITLOG_LEASE_SECONDS": "0", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS": "901", "AUDITLOG_PART_SIZE_MIB": "4", "AUDITLOG_FANOUT_CONCURRENCY": "many", "AUDITLOG_INGEST_INCLUDE_POST": "yes", "AUDITLOG_LOG_STORE_RETENTION_DAYS": "1", "AUDITLOG_UPLOAD_CONCURRENCY": "0"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if _, err := config.FromEnv(); err == nil || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), v) {
				t.Fatalf("%s=%s: %v, want an error naming the variable and the value", k, v, err)
			}
		})
	}
}

// TestLeaseOutlastsFunctionTimeout: a lease that does not exceed the
// function's timeout plus the lease margin is a configuration error naming
// the variable and its value; one second more is accepted.
func TestLeaseOutlastsFunctionTimeout(t *testing.T) {
	t.Setenv("AUDITLOG_LAKE_BUCKET", "lake")
	t.Setenv("AUDITLOG_REGISTRY_TABLE", "registry")
	for _, c := range []struct{ lease, timeout string }{{"960", ""}, {"900", ""}, {"90", "30"}, {"31", "30"}} {
		t.Setenv("AUDITLOG_LEASE_SECONDS", c.lease)
		t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", c.timeout)
		_, err := config.FromEnv()
		if err == nil || !strings.Contains(err.Error(), "AUDITLOG_LEASE_SECONDS") || !strings.Contains(err.Error(), `"`+c.lease+`"`) {
			t.Errorf("lease %s s, function timeout %q: %v; want an error naming AUDITLOG_LEASE_SECONDS and its value", c.lease, c.timeout, err)
		}
	}
	// The default timeout with a lease that the default one exceeds.
	t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "")
	t.Setenv("AUDITLOG_LEASE_SECONDS", "")
	if _, err := config.FromEnv(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	t.Setenv("AUDITLOG_LEASE_SECONDS", "961")
	if c, err := config.FromEnv(); err != nil || c.Lease != 961*time.Second {
		t.Fatalf("lease 961 s: %+v, %v", c, err)
	}
}

// TestFromMap reads as FromEnv does.
func TestFromMap(t *testing.T) {
	env := map[string]string{"AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_REGISTRY_TABLE": "registry", "AUDITLOG_UPLOAD_CONCURRENCY": "2",
		"AUDITLOG_AZURE_EMULATOR_HOSTS": "127.0.0.1:1,127.0.0.1:2", "AUDITLOG_REJECTS_PREFIX": "", "AUDITLOG_RETRY_QUEUE_URL": "https://sqs/retry"}
	c, err := config.FromMap(env)
	if err != nil || c.LakeBucket != "lake" || c.Concurrency != 2 || len(c.EmulatorHosts) != 2 || c.RejectsPrefix != "" || c.RetryQueueURL != "https://sqs/retry" ||
		c.Lease != config.DefaultLease || c.PartSize != config.DefaultPartSizeMiB<<20 {
		t.Fatalf("%+v, %v", c, err)
	}
	delete(env, "AUDITLOG_REGISTRY_TABLE")
	if _, err := config.FromMap(env); err == nil || err.Error() != "environment variable AUDITLOG_REGISTRY_TABLE is not set" {
		t.Fatalf("without the registry: %v", err)
	}
}

// TestSigningKeyID: the signing key's variable is read by FromEnv and by
// KeysFromEnv (auditctl keys public), and required by neither: what needs
// a signer says so (app.NewSigner); the functions that deliver require it
// at their cold start (every delivered file gets its signed manifest).
func TestSigningKeyID(t *testing.T) {
	env := map[string]string{"AUDITLOG_LAKE_BUCKET": "lake", "AUDITLOG_REGISTRY_TABLE": "registry"}
	c, err := config.FromMap(env)
	if err != nil || c.SigningKeyID != "" {
		t.Fatalf("without it: %q, %v", c.SigningKeyID, err)
	}
	env[config.EnvSigningKeyID] = "arn:aws:kms:us-east-1:111122223333:key/sign"
	if c, err = config.FromMap(env); err != nil || c.SigningKeyID != env[config.EnvSigningKeyID] {
		t.Fatalf("with it: %q, %v", c.SigningKeyID, err)
	}
	t.Setenv("AUDITLOG_SIGNING_KEY_ID", "alias/sign")
	if c := config.KeysFromEnv(); c.SigningKeyID != "alias/sign" {
		t.Fatalf("KeysFromEnv: %q", c.SigningKeyID)
	}
	for _, f := range []config.Function{config.Export, config.Retry} {
		if !slices.Contains(f.Required(), "AUDITLOG_SIGNING_KEY_ID") {
			t.Errorf("the %s function does not require AUDITLOG_SIGNING_KEY_ID", f)
		}
	}
}

// TestLeaf: the package imports the standard library and the export's
// contract only (see the package doc).
func TestLeaf(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && path != "github.com/contentful/auditlogs/internal/exportjob" {
				t.Errorf("%s imports %s", file, path)
			}
		}
	}
}
