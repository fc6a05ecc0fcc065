package app_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/logstore/factory"
)

// TestConfigFromEnv: defaults, set values, and malformed values named
// with the variable.
func TestConfigFromEnv(t *testing.T) {
	t.Setenv("AUDITLOG_EVENTS_TABLE", "events")
	t.Setenv("AUDITLOG_REGISTRY_TABLE", "registry")
	for _, k := range []string{"AUDITLOG_LEASE_SECONDS", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "AUDITLOG_PART_SIZE_MIB", "AUDITLOG_FANOUT_CONCURRENCY", "AUDITLOG_UPLOAD_CONCURRENCY", "AUDITLOG_SHARDS", "AUDITLOG_INGEST_INCLUDE_POST", "AUDITLOG_LOG_STORE_RETENTION_DAYS", "AUDITLOG_LOG_STORE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AUDITLOG_REJECTS_PREFIX", "") // restored after the test
	os.Unsetenv("AUDITLOG_REJECTS_PREFIX")
	c, err := app.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if c.Lease != exportjob.Lease || c.FunctionTimeout != exportjob.FunctionTimeout || c.PartSize != 8<<20 || c.FanOutConcurrency != 16 || c.Concurrency != 4 || c.IncludePOST || c.RejectsPrefix != "rejects/" ||
		c.LogStore.Kind != "dynamodb" || c.LogStore.DynamoDB.Table != "events" || c.LogStore.DynamoDB.Options != (dynamostore.Options{}) {
		t.Fatalf("defaults %+v", c)
	}
	t.Setenv("AUDITLOG_LEASE_SECONDS", "100")
	t.Setenv("AUDITLOG_FUNCTION_TIMEOUT_SECONDS", "30")
	t.Setenv("AUDITLOG_FANOUT_CONCURRENCY", "1")
	t.Setenv("AUDITLOG_INGEST_INCLUDE_POST", "true")
	t.Setenv("AUDITLOG_LOG_STORE_RETENTION_DAYS", "40")
	t.Setenv("AUDITLOG_SHARDS", "8")
	t.Setenv("AUDITLOG_LOG_STORE", "dynamodb")
	t.Setenv("AUDITLOG_REJECTS_PREFIX", "")
	if c, err = app.FromEnv(); err != nil || c.Lease != 100*time.Second || c.FunctionTimeout != 30*time.Second || c.FanOutConcurrency != 1 || !c.IncludePOST || c.RejectsPrefix != "" ||
		c.LogStore.DynamoDB.Options.Retention != 40*24*time.Hour || c.LogStore.DynamoDB.Options.Shards != 8 || c.LogStore.Kind != "dynamodb" {
		t.Fatalf("set: %+v, %v", c, err)
	}
	for k, v := range map[string]string{"AUDITLOG_LEASE_SECONDS": "0", "AUDITLOG_FUNCTION_TIMEOUT_SECONDS": "901", "AUDITLOG_PART_SIZE_MIB": "4", "AUDITLOG_FANOUT_CONCURRENCY": "many", "AUDITLOG_INGEST_INCLUDE_POST": "yes", "AUDITLOG_LOG_STORE_RETENTION_DAYS": "1", "AUDITLOG_SHARDS": "0", "AUDITLOG_LOG_STORE": "s3"} {
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
// is the TTL the log store's writer sets and the export's oldest day; left
// unset, both are the store's default.
func TestRetentionReachesWriterAndExporter(t *testing.T) {
	for _, c := range []struct{ set, want time.Duration }{{40 * 24 * time.Hour, 40 * 24 * time.Hour}, {0, dynamostore.DefaultRetention}} {
		cfg := app.Config{RegistryTable: "r", LogStore: factory.Config{DynamoDB: factory.DynamoDB{Table: "e", Options: dynamostore.Options{Retention: c.set}}}}
		a, err := app.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := a.Store.(*dynamostore.Store) // the default kind
		if s.Retention() != c.want || a.Exporter.Retention != c.want {
			t.Fatalf("retention %s: store retention %s, export retention %s, want %s", c.set, s.Retention(), a.Exporter.Retention, c.want)
		}
		// A shard-count mismatch names the variable.
		if s.ShardsName != "AUDITLOG_SHARDS" || s.Shards != dynamostore.DefaultShards {
			t.Fatalf("store shards %d named %q, want %d named AUDITLOG_SHARDS", s.Shards, s.ShardsName, dynamostore.DefaultShards)
		}
	}
	// An unknown kind names the variable and the value.
	_, err := app.New(context.Background(), app.Config{RegistryTable: "r", LogStore: factory.Config{Kind: "lake"}})
	if err == nil || !strings.Contains(err.Error(), "AUDITLOG_LOG_STORE") || !strings.Contains(err.Error(), `"lake"`) {
		t.Fatalf("kind lake: %v, want an error naming AUDITLOG_LOG_STORE and the value", err)
	}
}
