package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/localstack"
)

// TestLoadPutExport runs the operator's commands against a local stack:
// load events, register an S3 destination, export the day.
func TestLoadPutExport(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	day := audit.DayOf(time.Now()).AddDays(-1)
	var events []audit.Event
	for i := range 2500 { // more than one batch of the loader
		events = append(events, audit.Event{OrgID: "cli-org", RequestID: fmt.Sprintf("r%06d", i),
			RequestTime: day.Start().Add(time.Duration(i) * time.Second), RequestMethod: "PUT", RequestPath: fmt.Sprintf("/spaces/s/entries/%d", i), ResponseStatus: 200})
	}
	file := ndjsonFile(t, events)

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
	// The ledger: a second export is skipped, a forced one delivers again,
	// and status shows the day delivered on the second attempt.
	if out, err := run("export", "--org", "cli-org", "--day", day.String()); err != nil || !strings.Contains(out, "already delivered") || !strings.Contains(out, "rows    2500") {
		t.Fatalf("second export: %v\n%s", err, out)
	}
	if out, err := run("export", "--org", "cli-org", "--day", day.String(), "--force"); err != nil || strings.Contains(out, "already") || !strings.Contains(out, "rows    2500") {
		t.Fatalf("forced export: %v\n%s", err, out)
	}
	out, err = run("status", "--org", "cli-org", "--days", "2", "--json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var sl statusList
	if err := json.Unmarshal([]byte(out), &sl); err != nil || len(sl.Rows) != 2 || sl.Invalid == nil || len(sl.Invalid) != 0 {
		t.Fatalf("status rows: %v\n%s", err, out)
	}
	rows := sl.Rows
	if r := rows[1]; r.Day != day || r.Status != "delivered" || r.Entry.Attempts != 2 || r.Entry.Rows != 2500 || rows[0].Status != "none" {
		t.Fatalf("status %+v", rows)
	}
	if out, err := run("status", "--org", "cli-org"); err != nil || !strings.Contains(out, "delivered") || !strings.Contains(out, "audit/contentful-audit-") {
		t.Fatalf("status table: %v\n%s", err, out)
	}

	// An event loaded for the delivered day is noted in the ledger as the
	// ingest notes one: the day is stale, and the next export (not
	// forced) delivers it again, complete.
	late := events[0]
	late.RequestID, late.RequestTime = "late-1", day.Start().Add(23*time.Hour)
	if out, err := run("events", "load", "--file", ndjsonFile(t, []audit.Event{late})); err != nil || !strings.Contains(out, "stored 1 events") {
		t.Fatalf("events load of a late event: %v\n%s", err, out)
	}
	if e := ledgerDays(t, st, "cli-org", day, day)[day]; !e.Stale() || e.LateEvents != 1 {
		t.Fatalf("ledger after a late event: %+v, want the delivered day stale with 1 late event", e)
	}
	if out, err := run("export", "--org", "cli-org", "--day", day.String()); err != nil || strings.Contains(out, "already") || !strings.Contains(out, "rows    2501") {
		t.Fatalf("export of the stale day: %v\n%s", err, out)
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

	// Generated events: the printed count per org is what its file holds.
	out, err = run("events", "generate", "--orgs", "2", "--events", "300", "--day", day.String(), "--org-prefix", "gen")
	if err != nil || !strings.Contains(out, "stored 300 events") {
		t.Fatalf("events generate: %v\n%s", err, out)
	}
	var want int
	if _, err := fmt.Sscanf(out[strings.Index(out, "gen-0001"):], "gen-0001\t%d", &want); err != nil || want < 1 || want >= 300 {
		t.Fatalf("events generate printed no count for gen-0001: %v\n%s", err, out)
	}
	// Its own role: the local stack refuses cli-org's (a role trusts one
	// org's external ID), as AWS would.
	genRole, err := st.CustomerRole(ctx, "gen-0001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run("destination", "put", "--org", "gen-0001", "--s3-bucket", localstack.Bucket, "--region", "us-east-1", "--role-arn", genRole); err != nil {
		t.Fatal(err)
	}
	if out, err := run("export", "--org", "gen-0001", "--day", day.String()); err != nil || !strings.Contains(out, fmt.Sprintf("rows    %d\n", want)) {
		t.Fatalf("export of generated events: %v\n%s, want %d rows", err, out, want)
	}
	if _, err := run("events", "generate", "--orgs", "5", "--events", "3", "--day", day.String()); !isUsage(err) {
		t.Fatalf("fewer events than orgs: %v, want a usage error", err)
	}

	// run: the fan-out through the Lambda Invoke API, here to a local
	// endpoint that accepts Event invocations as Lambda does.
	invocations := fanOutEndpoint(t, day)
	out, err = run("run", "--day", day.String(), "--json")
	if err != nil || !strings.Contains(out, `"invoked":2`) {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if invoked := invocations(); len(invoked) != 2 || invoked["cli-org"] != 1 || invoked["gen-0001"] != 1 {
		t.Fatalf("invocations %v, want one for each registered org", invoked)
	}
}
