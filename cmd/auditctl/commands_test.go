package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localstack"
	"github.com/contentful/auditlogs/internal/testenv"
)

// TestLoadPutExport runs the operator's commands against a local stack:
// load events, register an S3 destination, export the day.
func TestLoadPutExport(t *testing.T) {
	testenv.RequireTools(t, "moto_server", "local-kms", "azurite-blob")
	ctx := context.Background()
	st, err := localstack.Start(ctx)
	defer st.Stop()
	if err != nil {
		t.Fatal(err)
	}
	day := audit.DayOf(time.Now()).AddDays(-1)
	var events []audit.Event
	for i := range 2500 { // more than one batch of the loader
		events = append(events, audit.Event{OrgID: "cli-org", RequestID: fmt.Sprintf("r%06d", i),
			RequestTime: day.Start().Add(time.Duration(i) * time.Second), RequestMethod: "PUT", RequestPath: fmt.Sprintf("/spaces/s/entries/%d", i), ResponseStatus: 200})
	}
	file := filepath.Join(t.TempDir(), "day.ndjson")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.WriteNDJSON(f, events...); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if out, err := run("events", "load", "--file", file); err != nil || !strings.Contains(out, "stored 2500 events") {
		t.Fatalf("events load: %v\n%s", err, out)
	}
	role, err := st.CustomerRole(ctx, "cli-org")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("destination", "put", "--org", "cli-org", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", role, "--prefix", "audit"); err != nil || !strings.Contains(out, `prefix "audit/"`) {
		t.Fatalf("destination put: %v\n%s", err, out)
	}
	out, err := run("export", "--org", "cli-org", "--day", day.String())
	if err != nil || !strings.Contains(out, "rows    2500") || !strings.Contains(out, "audit/contentful-audit-unstable-beta-cli-org-") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if _, err := run("destination", "put", "--org", "cli-org", "--s3-bucket", "Bad_Bucket", "--region", "us-east-1", "--role-arn", role); err == nil || !strings.Contains(err.Error(), `bucket "Bad_Bucket"`) {
		t.Fatalf("bad bucket: %v", err)
	}
	if _, err := run("export", "--org", "cli-org", "--day", "yesterday"); !isUsage(err) {
		t.Fatalf("bad day: %v, want a usage error", err)
	}
	if _, err := run("export", "--day", day.String()); err == nil || !isUsage(err) {
		t.Fatalf("missing --org: %v, want a usage error", err)
	}
}
