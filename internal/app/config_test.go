package app_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/exportjob"
)

// TestConfigFromEnv: defaults, set values, and malformed values named
// with the variable.
func TestConfigFromEnv(t *testing.T) {
	t.Setenv("AUDITLOG_EVENTS_TABLE", "events")
	t.Setenv("AUDITLOG_REGISTRY_TABLE", "registry")
	for _, k := range []string{"AUDITLOG_LEASE_SECONDS", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "AUDITLOG_PART_SIZE_MIB", "AUDITLOG_FANOUT_CONCURRENCY", "AUDITLOG_UPLOAD_CONCURRENCY", "AUDITLOG_SHARDS", "AUDITLOG_INGEST_INCLUDE_POST", "AUDITLOG_LOG_STORE_RETENTION_DAYS"} {
		t.Setenv(k, "")
	}
	t.Setenv("AUDITLOG_REJECTS_PREFIX", "") // restored after the test
	os.Unsetenv("AUDITLOG_REJECTS_PREFIX")
	c, err := app.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Lease != exportjob.Lease || c.FunctionTimeout != exportjob.FunctionTimeout || c.PartSize != 8<<20 || c.FanOutConcurrency != 16 || c.Concurrency != 4 || c.IncludePOST || c.RejectsPrefix != "rejects/" || c.Retention != 35*24*time.Hour {
		t.Fatalf("defaults %+v", c)
	}
	t.Setenv("AUDITLOG_LEASE_SECONDS", "100")
	t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "30")
	t.Setenv("AUDITLOG_FANOUT_CONCURRENCY", "1")
	t.Setenv("AUDITLOG_INGEST_INCLUDE_POST", "true")
	t.Setenv("AUDITLOG_LOG_STORE_RETENTION_DAYS", "40")
	t.Setenv("AUDITLOG_REJECTS_PREFIX", "")
	if c, err = app.FromEnv(); err != nil || c.Lease != 100*time.Second || c.FunctionTimeout != 30*time.Second || c.FanOutConcurrency != 1 || !c.IncludePOST || c.RejectsPrefix != "" || c.Retention != 40*24*time.Hour {
		t.Fatalf("set: %+v, %v", c, err)
	}
	for k, v := range map[string]string{"AUDITLOG_LEASE_SECONDS": "0", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS": "901", "AUDITLOG_PART_SIZE_MIB": "4", "AUDITLOG_FANOUT_CONCURRENCY": "many", "AUDITLOG_INGEST_INCLUDE_POST": "yes", "AUDITLOG_LOG_STORE_RETENTION_DAYS": "1"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, v)
			if _, err := app.FromEnv(); err == nil || !strings.Contains(err.Error(), k) || !strings.Contains(err.Error(), v) {
				t.Fatalf("%s=%s: %v, want an error naming the variable and the value", k, v, err)
			}
		})
	}
}

// TestLeaseOutlastsFunctionTimeout: a lease that does not exceed the
// function's timeout plus the lease margin is a configuration error naming
// the variable and its value; one second more is accepted.
func TestLeaseOutlastsFunctionTimeout(t *testing.T) {
	t.Setenv("AUDITLOG_EVENTS_TABLE", "events")
	t.Setenv("AUDITLOG_REGISTRY_TABLE", "registry")
	for _, c := range []struct{ lease, timeout string }{{"960", ""}, {"900", ""}, {"90", "30"}, {"31", "30"}} {
		t.Setenv("AUDITLOG_LEASE_SECONDS", c.lease)
		t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", c.timeout)
		_, err := app.FromEnv()
		if err == nil || !strings.Contains(err.Error(), "AUDITLOG_LEASE_SECONDS") || !strings.Contains(err.Error(), `"`+c.lease+`"`) {
			t.Errorf("lease %s s, function timeout %q: %v; want an error naming AUDITLOG_LEASE_SECONDS and its value", c.lease, c.timeout, err)
		}
	}
	// The default timeout with a lease that the default one exceeds.
	t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "")
	t.Setenv("AUDITLOG_LEASE_SECONDS", "")
	if _, err := app.FromEnv(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	t.Setenv("AUDITLOG_LEASE_SECONDS", "961")
	if c, err := app.FromEnv(); err != nil || c.Lease != 961*time.Second {
		t.Fatalf("lease 961 s: %+v, %v", c, err)
	}
}

// TestRetentionReachesWriterAndExporter: AUDITLOG_LOG_STORE_RETENTION_DAYS
// is the TTL the log store's writer sets and the export's oldest day.
func TestRetentionReachesWriterAndExporter(t *testing.T) {
	a, err := app.New(context.Background(), app.Config{EventsTable: "e", RegistryTable: "r", Shards: 16, Retention: 40 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if a.Store.Retention() != 40*24*time.Hour || a.Exporter.RetentionOrDefault() != 40*24*time.Hour {
		t.Fatalf("store retention %s, export retention %s, want 40 days", a.Store.Retention(), a.Exporter.RetentionOrDefault())
	}
	// A shard-count mismatch names the variable.
	if a.Store.ShardsName != "AUDITLOG_SHARDS" || a.Store.Shards != 16 {
		t.Fatalf("store shards %d named %q, want 16 named AUDITLOG_SHARDS", a.Store.Shards, a.Store.ShardsName)
	}
}
