package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
)

// TestEventsLoadRefusesAnotherShardCount: events loaded with the default
// AUDITLOG_SHARDS (16) record it in the table on moto; a load with
// AUDITLOG_SHARDS=8 then fails, naming the variable, its value and the
// table's, and stores nothing.
func TestEventsLoadRefusesAnotherShardCount(t *testing.T) {
	ctx := context.Background()
	moto := testenv.StartMoto(t)
	table := testenv.UniqueName("cli-events")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AUDITLOG_EVENTS_TABLE": table, "AUDITLOG_REGISTRY_TABLE": "unused-registry",
		"AUDITLOG_LEDGER_TABLE": "", "AUDITLOG_SHARDS": "", "AUDITLOG_LOG_STORE": "dynamodb", "AUDITLOG_LAKE_BUCKET": "",
	} {
		t.Setenv(k, v)
	}
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	if err := dynamostore.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	day := audit.DayOf(time.Now()).AddDays(-1)
	file := func(prefix string) string {
		var events []audit.Event
		for i := range 30 {
			events = append(events, audit.Event{OrgID: "acme", RequestID: fmt.Sprintf("%s-%02d", prefix, i), RequestTime: day.Start().Add(time.Duration(i) * time.Minute),
				RequestMethod: "PUT", RequestPath: "/spaces/s/entries/e", ResponseStatus: 200})
		}
		return ndjsonFile(t, events)
	}
	if out, err := run("events", "load", "--file", file("a")); err != nil || !strings.Contains(out, "stored 30 events") {
		t.Fatalf("events load with the default shards: %v\n%s", err, out)
	}
	t.Setenv("AUDITLOG_SHARDS", "8")
	out, err := run("events", "load", "--file", file("b"))
	if err == nil || !strings.Contains(err.Error(), "AUDITLOG_SHARDS is 8") || !strings.Contains(err.Error(), "AUDITLOG_SHARDS=16") {
		t.Fatalf("events load with AUDITLOG_SHARDS=8: %v\n%s, want a refusal naming AUDITLOG_SHARDS, 8 and 16", err, out)
	}
	s := dynamostore.New(db, table)
	n := 0
	if err := s.ReadDay(ctx, "acme", day, func(*audit.Event) error { n++; return nil }); err != nil || n != 30 {
		t.Fatalf("the day holds %d events (%v), want the first load's 30 only", n, err)
	}
}
