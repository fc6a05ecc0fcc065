package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ingest/replay"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

// TestIngestReplay: a batch the ingest gave up on, named by an
// on-failure record in the queue, is read back from the stream on moto and
// stored by `auditctl ingest replay`; the message is then gone.
func TestIngestReplay(t *testing.T) {
	ctx := context.Background()
	st := startStack(t)
	kin, sq := kinesis.NewFromConfig(st.AWS), sqs.NewFromConfig(st.AWS)
	streamARN := testenv.NewStream(t, kin)
	day := audit.DayOf(time.Now()).AddDays(-3)
	old := audit.DayOf(time.Now()).AddDays(-9) // before even tomorrow's catch-up window
	rec := func(id, method string, d audit.Day) string {
		return fmt.Sprintf(`{"request_id":%q,"org_id":"replay-org","request_time":%q,"request_method":%q,"request_path":"/spaces/sp1/environments/master/entries/%s","response_status":200,"content_length":1,"actor_id":"app:a1"}`,
			id, d.Start().Add(time.Hour).Format(time.RFC3339), method, id)
	}
	records := []string{rec("r0", "PUT", day), rec("r1", "PUT", day), rec("r2", "GET", day), `{"request_id":"r3"`, rec("r4", "DELETE", day), rec("r5", "PUT", old)}
	var shard string
	var seqs []string
	for _, r := range records {
		out, err := kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String(streamARN), PartitionKey: aws.String("replay-org"), Data: []byte(r)})
		if err != nil {
			t.Fatal(err)
		}
		shard = aws.ToString(out.ShardId)
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	failure := func(from, to string) string {
		b, _ := json.Marshal(map[string]any{
			"requestContext":   map[string]any{"condition": "RecordAgeExceeded", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:ingest"},
			"version":          "1.0",
			"KinesisBatchInfo": replay.BatchInfo{ShardID: shard, StartSequenceNumber: from, EndSequenceNumber: to, BatchSize: 4, StreamARN: streamARN},
		})
		return string(b)
	}
	// The stack's queue: the operator may read that one only.
	url := st.Env["AUDITLOG_INGEST_FAILURES_QUEUE_URL"]
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(failure(seqs[1], seqs[4]))}); err != nil {
		t.Fatal(err)
	}

	// Neither a queue nor a file: a usage error.
	t.Setenv("AUDITLOG_INGEST_FAILURES_QUEUE_URL", "")
	if _, err := run("ingest", "replay"); !isUsage(err) {
		t.Fatalf("no queue: err = %v, want a usage error", err)
	}
	rejects := filepath.Join(t.TempDir(), "rejects.jsonl")
	t.Setenv("AUDITLOG_INGEST_FAILURES_QUEUE_URL", url)
	out, err := run("ingest", "replay", "--rejects", rejects)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	for _, want := range []string{
		shard + " " + seqs[1] + ".." + seqs[4] + "  read 4  stored 2  skipped 1  rejected 1  stored, message deleted",
		"1 messages: 1 replayed and deleted, 0 left in the queue",
		"replay-org " + day.String() + "  2 events  the next daily run delivers it again",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(rejects); err != nil || !strings.Contains(string(b), shard+":"+seqs[3]) {
		t.Fatalf("rejects %s (%v), want the record %s:%s", b, err, shard, seqs[3])
	}
	a, err := app.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run("compact", "--day", day.String(), "--bucket", fmt.Sprint(lake.BucketOf("replay-org"))); err != nil {
		t.Fatalf("compact: %v\n%s", err, out)
	}
	var ids []string
	if err := a.Store.ReadDay(ctx, "replay-org", day, func(e *audit.Event) error { ids = append(ids, e.RequestID); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"r1", "r4"}) {
		t.Fatalf("stored %v, want r1 and r4 (records 1 to 4, audited)", ids)
	}
	if out, err := run("ingest", "replay", "--json"); err != nil || strings.TrimSpace(out) != `{"outcomes":[],"late_days":[]}` {
		t.Fatalf("the queue is not empty: %v\n%s", err, out)
	}

	// A saved record whose range runs past the stream's newest record:
	// what is there is stored, the command fails naming the shortfall.
	file := filepath.Join(t.TempDir(), "failure.json")
	if err := os.WriteFile(file, []byte(failure(seqs[5], seqs[5]+"0")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run("ingest", "replay", "--message-file", file)
	if err == nil || isUsage(err) || !strings.Contains(out, "read 1  stored 1") || !strings.Contains(err.Error(), "last record was not found") ||
		!strings.Contains(out, "replay-org "+old.String()+"  1 events  older than the daily run's window: auditctl backfill --org replay-org --from "+old.String()+" --to "+old.String()+" --only-missing") {
		t.Fatalf("replay of a file: err = %v\n%s", err, out)
	}
	if err := os.WriteFile(file, []byte(`{"KinesisBatchInfo":{"shardId":"shardId-1","streamArn":"arn:aws:kinesis:us-east-1:123456789012:stream/requests","startSequenceNumber":"9","endSequenceNumber":"x"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run("ingest", "replay", "--message-file", file); !isUsage(err) || !strings.Contains(err.Error(), `endSequenceNumber "x"`) {
		t.Fatalf("a malformed record: err = %v, want a usage error naming the field", err)
	}
}
