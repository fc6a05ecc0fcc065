package fanoutfn

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// invokeEndpoint is a local Lambda Invoke endpoint: it accepts Event
// invocations of one function, as Lambda does, and records the payloads.
type invokeEndpoint struct {
	mu       sync.Mutex
	payloads []exportjob.Payload
	bad      []string
	// answer, when set, answers like the Runtime Interface Emulator,
	// which runs an Event invocation synchronously: status and body.
	answer func(exportjob.Payload) (int, string)
}

func (e *invokeEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	defer e.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/export-fn/invocations" || r.Header.Get("X-Amz-Invocation-Type") != "Event" {
		e.bad = append(e.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Amz-Invocation-Type"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var p exportjob.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		e.bad = append(e.bad, string(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	e.payloads = append(e.payloads, p)
	if e.answer != nil {
		status, body := e.answer(p)
		w.WriteHeader(status)
		io.WriteString(w, body)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func newEndpoint(tb testing.TB) (*invokeEndpoint, *awslambda.Client) {
	ep := &invokeEndpoint{}
	srv := httptest.NewServer(ep)
	tb.Cleanup(srv.Close)
	return ep, awslambda.NewFromConfig(testenv.AWSConfig(tb, testenv.Endpoints{Default: srv.URL}))
}

// TestFanOutThroughSDKAgainstLocalEndpoint: the registry on moto, the real
// Lambda client against a local invoke endpoint: exactly one invocation
// per enabled org, none for the disabled one.
func TestFanOutThroughSDKAgainstLocalEndpoint(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("fanout-registry")
	if err := registry.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, table)
	for i := range 30 {
		d := destination.Destination{OrgID: fmt.Sprintf("org%02d", i), Kind: destination.KindS3, Enabled: i != 7,
			S3: &destination.S3{Bucket: "bucket-x", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/r"}}
		if _, err := reg.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ep, lc := newEndpoint(t)
	h := &Handler{Registry: reg, Lambda: lc, ExportFunction: "export-fn", Concurrency: 4, Segments: 3, Log: slog.New(slog.DiscardHandler)}
	sum, err := h.Handle(ctx, events.EventBridgeEvent{Time: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.bad) > 0 {
		t.Fatalf("malformed invocations: %v", ep.bad)
	}
	count := map[string]int{}
	for _, p := range ep.payloads {
		if p.Day != "2026-11-24" {
			t.Fatalf("payload %+v", p)
		}
		count[p.OrgID]++
	}
	if count["org07"] != 0 || len(count) != 29 || sum.Invoked != 29 || sum.Seen != 30 {
		t.Fatalf("invocations per org %v, summary %+v", count, sum)
	}
	for org, n := range count {
		if n != 1 {
			t.Errorf("org %s invoked %d times", org, n)
		}
	}
}

// TestSynchronousEmulatorAnswers: the Runtime Interface Emulator runs an
// Event invocation synchronously and answers 200 with the function's
// result; an export that failed there is a failed invocation, named.
func TestSynchronousEmulatorAnswers(t *testing.T) {
	reg := fakeRegistry{{OrgID: "good", Enabled: true}, {OrgID: "broken", Enabled: true}, {OrgID: "queued", Enabled: true}}
	ep, lc := newEndpoint(t)
	ep.answer = func(p exportjob.Payload) (int, string) {
		switch p.OrgID {
		case "broken":
			return 200, `{"errorMessage":"export org broken day 2026-11-24: assume role: AccessDenied","errorType":"PermanentError"}`
		case "queued":
			return 202, ""
		}
		return 200, `{"key":"good/2026-11-24.csv","rows":3}`
	}
	h := &Handler{Registry: reg, Lambda: lc, ExportFunction: "export-fn", Concurrency: 1, Log: slog.New(slog.DiscardHandler)}
	sum, err := h.Handle(context.Background(), events.EventBridgeEvent{Detail: []byte(`{"day":"2026-11-24"}`)})
	if err == nil || !strings.Contains(err.Error(), "broken") || strings.Contains(err.Error(), "good") {
		t.Fatalf("error %v, want one naming only the org whose export failed", err)
	}
	if sum.Invoked != 2 || sum.Failed != 1 || len(sum.FailedOrgs) != 1 || sum.FailedOrgs[0] != "broken" {
		t.Fatalf("summary %+v", sum)
	}
}

// deliveredLedgerEndpoint is a local DynamoDB endpoint for the ledger's
// Days query: it answers every day asked for as delivered, the steady
// state in which the catch-up reads the ledger and dispatches nothing more.
type deliveredLedgerEndpoint struct{ queries atomic.Int64 }

func (e *deliveredLedgerEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Values map[string]struct{ S string } `json:"ExpressionAttributeValues"`
	}
	if r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.Query" || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, `{"__type":"ValidationException","message":"not a ledger query"}`, http.StatusBadRequest)
		return
	}
	e.queries.Add(1)
	from, err1 := audit.ParseDay(in.Values[":from"].S)
	to, err2 := audit.ParseDay(in.Values[":to"].S)
	if err1 != nil || err2 != nil {
		http.Error(w, `{"__type":"ValidationException","message":"bad day bounds"}`, http.StatusBadRequest)
		return
	}
	type attr map[string]string
	var items []map[string]attr
	begun := strconv.FormatInt(to.Start().UnixMilli(), 10)
	for d := from; !to.Before(d); d = d.AddDays(1) {
		items = append(items, map[string]attr{
			ledger.AttrOrgID: {"S": in.Values[":org"].S}, ledger.AttrDay: {"S": d.String()},
			ledger.AttrStatus: {"S": string(ledger.Delivered)}, ledger.AttrBegunAt: {"N": begun},
			ledger.AttrKey: {"S": "k"}, ledger.AttrRows: {"N": "1"},
		})
	}
	body, _ := json.Marshal(map[string]any{"Items": items, "Count": len(items), "ScannedCount": len(items)})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	// The DynamoDB client checks the body against this, as DynamoDB sends it.
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.Write(body)
}

// BenchmarkFanOut100k dispatches 100,000 enabled destinations through the
// real Lambda client to a local invoke endpoint; WithLedger adds what the
// daily run does with the ledger (the stack always sets it): each org's
// catch-up window read with the real ledger client from a local DynamoDB
// endpoint that answers every earlier day as delivered.
func BenchmarkFanOut100k(b *testing.B) {
	const n = 100_000
	reg := make(fakeRegistry, n)
	for i := range reg {
		reg[i] = destination.Destination{OrgID: fmt.Sprintf("org%06d", i), Enabled: true}
	}
	run := func(b *testing.B, led func(b *testing.B) (Ledger, *atomic.Int64)) {
		for b.Loop() {
			ep, lc := newEndpoint(b)
			h := &Handler{Registry: reg, Lambda: lc, ExportFunction: "export-fn", Concurrency: 16, Log: slog.New(slog.DiscardHandler)}
			var queries *atomic.Int64
			if led != nil {
				h.Ledger, queries = led(b)
			}
			sum, err := h.Handle(context.Background(), events.EventBridgeEvent{Time: time.Now()})
			if err != nil || sum.Invoked != n || sum.CatchUp != 0 || len(ep.payloads) != n {
				b.Fatalf("invoked %d (catch-up %d), endpoint saw %d, err %v", sum.Invoked, sum.CatchUp, len(ep.payloads), err)
			}
			if queries != nil && queries.Load() != n {
				b.Fatalf("%d ledger queries, want one per org (%d)", queries.Load(), n)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/100k-orgs")
	}
	b.Run("NoLedger", func(b *testing.B) { run(b, nil) })
	b.Run("WithLedger", func(b *testing.B) {
		run(b, func(b *testing.B) (Ledger, *atomic.Int64) {
			ep := &deliveredLedgerEndpoint{}
			srv := httptest.NewServer(ep)
			b.Cleanup(srv.Close)
			db := dynamodb.NewFromConfig(testenv.AWSConfig(b, testenv.Endpoints{Default: srv.URL}))
			return ledger.New(db, "ledger"), &ep.queries
		})
	})
}

// TestCatchUpDispatchesUndeliveredDays: with the ledger (on moto), the
// fan-out also dispatches each day of the window before the target day
// that is not delivered, from the day the destination was registered;
// delivered days are not dispatched again, unless events arrived after
// their delivery began (stale).
func TestCatchUpDispatchesUndeliveredDays(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("fanout-ledger")
	if err := ledger.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	led := ledger.New(db, table)
	target, _ := audit.ParseDay("2026-11-24")
	record := func(org string, day audit.Day, delivered bool) {
		if _, err := led.Begin(ctx, org, day, "test", time.Minute, true); err != nil {
			t.Fatal(err)
		}
		var err error
		if delivered {
			err = led.Finish(ctx, org, day, "test", ledger.Result{Key: "k", Rows: 1})
		} else {
			err = led.Fail(ctx, org, day, "test", true, "bucket policy denies PutObject")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	record("fixed", target.AddDays(-6), true)
	record("fixed", target.AddDays(-3), true)
	record("fixed", target.AddDays(-2), false)
	record("fixed", target.AddDays(-9), false) // outside the window
	record("fixed", target.AddDays(-1), true)  // then stale
	if err := led.NoteLate(ctx, "fixed", target.AddDays(-1), 1); err != nil {
		t.Fatal(err)
	}

	reg := fakeRegistry{
		{OrgID: "fixed", Enabled: true, CreatedAt: target.AddDays(-30).Start()},
		{OrgID: "newcomer", Enabled: true, CreatedAt: target.AddDays(-1).Start().Add(15 * time.Hour)},
		{OrgID: "stopped", Enabled: false, CreatedAt: target.AddDays(-30).Start()},
		{OrgID: "latecomer", Enabled: true, CreatedAt: target.AddDays(1).Start().Add(30 * time.Minute)},
	}
	ep, lc := newEndpoint(t)
	var logs testenv.SyncBuffer
	h := &Handler{Registry: reg, Lambda: lc, ExportFunction: "export-fn", Concurrency: 2, Ledger: boundsCheckingLedger{led}, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	sum, err := h.Handle(ctx, ManualRun(target))
	if err != nil {
		t.Fatal(err)
	}
	// An org registered after the target day needs no ledger read.
	if strings.Contains(logs.String(), "catch-up failed") {
		t.Fatalf("the catch-up's ledger read failed: %s", logs.String())
	}
	got := map[string][]string{}
	for _, p := range ep.payloads {
		got[p.OrgID] = append(got[p.OrgID], p.Day)
	}
	want := map[string][]string{
		"fixed":     {"2026-11-19", "2026-11-20", "2026-11-22", "2026-11-23", "2026-11-24"}, // 11-23 is stale
		"newcomer":  {"2026-11-23", "2026-11-24"},
		"latecomer": {"2026-11-24"},
	}
	for org, days := range want {
		if strings.Join(got[org], " ") != strings.Join(days, " ") {
			t.Errorf("org %s: dispatched %v, want %v", org, got[org], days)
		}
	}
	if len(got) != 3 || sum.Invoked != 8 || sum.CatchUp != 5 {
		t.Fatalf("dispatched %v, summary %+v", got, sum)
	}
}

// boundsCheckingLedger refuses a day range whose bounds cross, as
// DynamoDB refuses such a BETWEEN (moto does not).
type boundsCheckingLedger struct{ *ledger.Ledger }

func (l boundsCheckingLedger) Days(ctx context.Context, org string, from, to audit.Day) ([]ledger.Entry, error) {
	if to.Before(from) {
		return nil, fmt.Errorf("BETWEEN %s AND %s: the upper bound is below the lower", from, to)
	}
	return l.Ledger.Days(ctx, org, from, to)
}
