package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
)

// TestLoadCompactRead: with the lake as log store (on moto's S3), `events
// load` writes raw objects, `compact` makes the org-days of the day, and
// they hold exactly the loaded events; a second compact changes nothing.
func TestLoadCompactRead(t *testing.T) {
	ctx := context.Background()
	moto := testenv.StartMoto(t)
	bucket := testenv.UniqueName("cli-lake")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AUDITLOG_REGISTRY_TABLE": "unused-registry",
		"AUDITLOG_LOG_STORE": "lake", "AUDITLOG_LAKE_BUCKET": bucket, "AUDITLOG_LEDGER_TABLE": "",
	} {
		t.Setenv(k, v)
	}
	client := s3.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}), s3obj.PathStyleForEmulators)
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	day := audit.DayOf(time.Now()).AddDays(-1)
	var events []audit.Event
	for i := range 2500 {
		org := []string{"acme", "globex"}[i%2]
		events = append(events, audit.Event{OrgID: org, RequestID: fmt.Sprintf("r%06d", i),
			RequestTime: day.Start().Add(time.Duration(86399-i*30) * time.Second), RequestMethod: "PUT", RequestPath: fmt.Sprintf("/spaces/s/entries/%d", i), ResponseStatus: 200})
	}
	events = append(events, events[7]) // loaded twice: one row
	if out, err := run("events", "load", "--file", ndjsonFile(t, events)); err != nil || !strings.Contains(out, "stored 2501 events") {
		t.Fatalf("events load: %v\n%s", err, out)
	}
	out, err := run("compact", "--day", day.String(), "--json")
	if err != nil {
		t.Fatalf("compact: %v\n%s", err, out)
	}
	var results []compaction.Result
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("compact --json: %v\n%s", err, out)
	}
	var rows, dups int64
	for _, r := range results {
		rows += r.Rows
		dups += r.Duplicates
	}
	if len(results) != lake.Buckets || rows != 2500 || dups != 1 {
		t.Fatalf("compact: %d bucket-days, %d rows, %d duplicates; want %d, 2500, 1", len(results), rows, dups, lake.Buckets)
	}
	store := &lakestore.Store{Lake: s3obj.New(client, bucket)}
	for _, org := range []string{"acme", "globex"} {
		var got []audit.Event
		if err := store.ReadDay(ctx, org, day, func(e *audit.Event) error { got = append(got, *e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1250 || got[0].RequestTime.After(got[1249].RequestTime) || got[0].OrgID != org {
			t.Fatalf("%s: %d events, first %+v", org, len(got), got[0])
		}
	}
	out, err = run("compact", "--day", day.String(), "--bucket", fmt.Sprint(lake.BucketOf("acme")))
	if err != nil || !strings.Contains(out, "up to date") || !strings.Contains(out, "1 bucket-days compacted, 1250 rows") {
		t.Fatalf("compact again: %v\n%s", err, out)
	}
	if _, err := run("compact", "--day", day.String(), "--bucket", "64"); !isUsage(err) {
		t.Fatalf("--bucket 64: %v, want a usage error", err)
	}
}
