package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// TestRetentionReachesStoreAndExporter: AUDITLOG_LOG_STORE_RETENTION_DAYS
// is the lake store's retention and the export's oldest day; unset, both
// are the store's own default.
func TestRetentionReachesStoreAndExporter(t *testing.T) {
	for _, c := range []struct{ set, want time.Duration }{{40 * 24 * time.Hour, 40 * 24 * time.Hour}, {0, lakestore.DefaultRetention}} {
		a, err := app.New(context.Background(), config.Config{LakeBucket: "l", RegistryTable: "r", Retention: c.set})
		if err != nil {
			t.Fatal(err)
		}
		s := a.Store.(*lakestore.Store) // the default kind
		if s.Retention() != c.want || a.Exporter.Retention != c.want {
			t.Fatalf("retention %s: store retention %s, export retention %s, want %s", c.set, s.Retention(), a.Exporter.Retention, c.want)
		}
	}
	// An unknown kind names the variable and the value.
	_, err := app.New(context.Background(), config.Config{LakeBucket: "l", RegistryTable: "r", LogStore: "dynamodb"})
	if err == nil || !strings.Contains(err.Error(), "AUDITLOG_LOG_STORE") || !strings.Contains(err.Error(), `"dynamodb"`) {
		t.Fatalf("kind dynamodb: %v, want an error naming AUDITLOG_LOG_STORE and the value", err)
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
