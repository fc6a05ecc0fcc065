package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
)

// TestRetentionReachesWriterAndExporter: AUDITLOG_LOG_STORE_RETENTION_DAYS
// is the TTL the log store's writer sets and the export's oldest day.
func TestRetentionReachesWriterAndExporter(t *testing.T) {
	a, err := app.New(context.Background(), config.Config{EventsTable: "e", RegistryTable: "r", Shards: 16, Retention: 40 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if a.Store.Retention != 40*24*time.Hour || a.Exporter.RetentionOrDefault() != 40*24*time.Hour {
		t.Fatalf("store retention %s, export retention %s, want 40 days", a.Store.Retention, a.Exporter.RetentionOrDefault())
	}
	// A shard-count mismatch names the variable.
	if a.Store.ShardsName != "AUDITLOG_SHARDS" || a.Store.Shards != 16 {
		t.Fatalf("store shards %d named %q, want 16 named AUDITLOG_SHARDS", a.Store.Shards, a.Store.ShardsName)
	}
}
