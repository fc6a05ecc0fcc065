package ingestfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/lakestore/laketest"
	"github.com/contentful/auditlogs/internal/logstore/memstore"
	"github.com/contentful/auditlogs/internal/metrics"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// TestSampleEvent: events/ingest.json through the handler's JSON contract
// (lambda.NewHandler) into the lake store on moto (read back compacted).
// The audited records are stored once with the route and space taken from
// the path's canonical form (one is sent with a doubled and a trailing
// slash and an encoded letter) and their credentials redacted, GET, POST
// and an unknown route are skipped, a near miss (/Spaces/.../Entries/...)
// is skipped, counted, logged and in its own metric, the three malformed
// records are rejected with their field and reason, and the batch has no
// failure.
func TestSampleEvent(t *testing.T) {
	ctx := context.Background()
	store := laketest.New(t, "ingestfn")
	rejects := &ingest.MemorySink{}
	var logs, emf bytes.Buffer
	h := &Handler{
		Ingester: &ingest.Ingester{Store: store, Rejects: rejects, Now: func() time.Time { return testNow }, Log: slog.New(slog.NewJSONHandler(&logs, nil))},
		Chunk:    4, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &emf,
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, testenv.SampleEvent(t, "ingest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":[]}` {
		t.Fatalf("response %s, want no failures", out)
	}
	day, _ := audit.ParseDay("2026-11-24")
	got := map[string]audit.Event{}
	if err := store.ReadDay(ctx, "0abc123", day, func(e *audit.Event) error { got[e.RequestID] = *e; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // request ID: route, space
		"ok-put":       {"/spaces/:space_id/environments/:environment_id/entries/:entry_id", "s7k2abcd1234"},
		"ok-patch":     {"/spaces/:space_id/environments/:environment_id/releases/:release_id/entries/:entry_id", "s7k2abcd1234"},
		"ok-unpublish": {"/spaces/:space_id/environments/:environment_id/assets/:asset_id/published", "s7k2abcd1234"},
		"ok-org":       {"/organizations/:organization_id/environment_templates/:template_id", ""},
		"ok-slash":     {"/spaces/:space_id/environments/:environment_id/entries/:entry_id", "s7k2abcd1234"},
	}
	if len(got) != len(want) {
		t.Fatalf("stored %d events, want %d: %v", len(got), len(want), got)
	}
	for id, w := range want {
		if e, ok := got[id]; !ok || e.Route != w[0] || e.Space != w[1] {
			t.Errorf("%s: %+v, want route %s space %q", id, e, w[0], w[1])
		}
	}
	if e := got["ok-put"]; e.RequestPath != "/spaces/s7k2abcd1234/environments/master/entries/5KsDBWse" || e.RequestQuery != "locale=de-DE" {
		t.Errorf("path or query changed: %+v", e)
	}
	// The path as sent; the credentials redacted (the message does not
	// print them).
	if e := got["ok-slash"]; e.RequestPath != "/spaces/s7k2abcd1234/environments/master//entries/5Ks%44BWse/" ||
		e.RequestQuery != "access_token=REDACTED&locale=de-DE" || e.Referrer != "https://app.example.com/cb#access_token=REDACTED&token_type=bearer" {
		t.Errorf("ok-slash: path %q, query or referrer not as expected", e.RequestPath)
	}
	rs := rejects.Rejects()
	fields := []string{}
	for _, r := range rs {
		if r.Reason == "" || !strings.HasPrefix(r.Source, "shardId-000000000000:") {
			t.Errorf("reject without reason or source: %+v", r)
		}
		fields = append(fields, r.Field)
	}
	if strings.Join(fields, ",") != "record,request_time,response_status" {
		t.Fatalf("rejected fields %v", fields)
	}
	for _, s := range []string{`"stored":5`, `"skipped_method":2`, `"skipped_route":1`, `"skipped_near_miss":1`, `"rejected":3`, `"records":12`,
		`"msg":"near miss: `, `"first_path":"/Spaces/s7k2abcd1234/Environments/master/Entries/5KsDBWse"`,
		`"first_route":"/spaces/:space_id/environments/:environment_id/entries/:entry_id"`} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("summary log lacks %s: %s", s, logs.String())
		}
	}
	if strings.Contains(logs.String()+emf.String(), "CFPAT-") || strings.Contains(logs.String(), "implicit-grant-value") {
		t.Error("a log line or metric holds a credential")
	}
	for _, s := range []string{`"IngestStored":5`, `"IngestRejected":3`, `"IngestRecords":12`, `"` + metrics.IngestSkippedNearMiss + `":1`, `"Namespace":"AuditLogs"`} {
		if !strings.Contains(emf.String(), s) {
			t.Errorf("metrics lack %s: %s", s, emf.String())
		}
	}
}

// flakyStore fails its failAt-th Write (1-based) and stores the others.
type flakyStore struct {
	*memstore.Store
	writes, failAt int
}

func (f *flakyStore) Write(ctx context.Context, es []audit.Event) error {
	f.writes++
	if f.writes == f.failAt {
		return errors.New("throttled after the SDK's retries")
	}
	return f.Store.Write(ctx, es)
}

func kinesisEvent(t *testing.T, n int) events.KinesisEvent {
	t.Helper()
	var ev events.KinesisEvent
	for i := range n {
		data, _ := json.Marshal(map[string]any{
			"request_id": fmt.Sprintf("req-%02d", i), "org_id": "org-1", "request_time": "2026-11-24T10:00:00Z",
			"request_method": "DELETE", "request_path": fmt.Sprintf("/spaces/s1/environments/master/entries/e%d", i), "response_status": 204,
		})
		seq := fmt.Sprintf("%056d", i+1)
		ev.Records = append(ev.Records, events.KinesisEventRecord{EventID: "shardId-000000000003:" + seq,
			Kinesis: events.KinesisRecord{SequenceNumber: seq, Data: data}})
	}
	return ev
}

// TestFailedChunkIsReportedAndRetried: when the third chunk's write fails,
// the response names that chunk's first record (Lambda sends it and
// everything after it again), the chunks before are stored, and the
// redelivered rest completes with every event stored exactly once.
func TestFailedChunkIsReportedAndRetried(t *testing.T) {
	ctx := context.Background()
	ev := kinesisEvent(t, 10)
	mem := memstore.New()
	store := &flakyStore{Store: mem, failAt: 3}
	h := &Handler{Ingester: &ingest.Ingester{Store: store, Now: func() time.Time { return testNow }}, Chunk: 3, Log: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[6].Kinesis.SequenceNumber {
		t.Fatalf("failures %+v, want the sequence number of record 6 (%s)", resp.BatchItemFailures, ev.Records[6].Kinesis.SequenceNumber)
	}
	day, _ := audit.ParseDay("2026-11-24")
	count := func() int {
		n := 0
		_ = mem.ReadDay(ctx, "org-1", day, func(*audit.Event) error { n++; return nil })
		return n
	}
	if n := count(); n != 6 {
		t.Fatalf("%d events stored before the failed chunk, want 6", n)
	}
	// Lambda delivers the batch again from the reported record.
	ev.Records = ev.Records[6:]
	if resp, err := h.Handle(ctx, ev); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v, %v", resp, err)
	}
	if n := count(); n != 10 {
		t.Fatalf("%d events stored, want 10", n)
	}
}

// TestShortDeadlineReportsTheRest: with less than Reserve before the
// deadline, nothing is started and the whole batch comes again.
func TestShortDeadlineReportsTheRest(t *testing.T) {
	ev := kinesisEvent(t, 4)
	mem := memstore.New()
	ctx, cancel := context.WithTimeout(context.Background(), Reserve/2)
	defer cancel()
	h := &Handler{Ingester: &ingest.Ingester{Store: mem, Now: func() time.Time { return testNow }}, Log: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[0].Kinesis.SequenceNumber {
		t.Fatalf("%+v, %v: want the first record reported", resp, err)
	}
}
