package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
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

// TestConfigDefaultsAreTheComponents: a setting left unset means the same
// in the configuration as in the component app hands it to (the leaf
// package config cannot take its defaults from them), and the default
// rejects prefix is the one the ingest's role may write under.
func TestConfigDefaultsAreTheComponents(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"shards", config.DefaultShards, dynamostore.DefaultShards},
		{"log store retention", config.DefaultRetention, dynamostore.DefaultRetention},
		{"export retention", config.DefaultRetention, export.DefaultRetention},
		{"S3 part size", int64(config.DefaultPartSizeMiB << 20), int64(s3sink.DefaultPartSize)},
		{"Azure block size", int64(config.DefaultPartSizeMiB << 20), int64(azuresink.DefaultBlockSize)},
		{"S3 upload concurrency", config.DefaultUploadConcurrency, s3sink.DefaultConcurrency},
		{"Azure upload concurrency", config.DefaultUploadConcurrency, azuresink.DefaultConcurrency},
		{"rejects prefix", config.DefaultRejectsPrefix, grants.RejectsPrefix},
	} {
		if c.got != c.want {
			t.Errorf("%s: config's default %v, the component's %v", c.name, c.got, c.want)
		}
	}
}
