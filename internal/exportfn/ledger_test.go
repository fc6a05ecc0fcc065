package exportfn

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// countingExporter counts exports; gate, when set, holds each export
// until it is closed; fail, when set, is the next export's error.
type countingExporter struct {
	calls atomic.Int32
	gate  chan struct{}
	mu    sync.Mutex
	fail  error
}

func (c *countingExporter) Export(ctx context.Context, org string, day audit.Day) (export.Result, error) {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	err := c.fail
	c.fail = nil
	c.mu.Unlock()
	if err != nil {
		return export.Result{}, err
	}
	return export.Result{OrgID: org, Day: day, Key: "p/" + org + ".csv", Rows: 7, Bytes: 700, SHA256: "abc"}, nil
}

func newLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("exportfn-ledger")
	if err := ledger.CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return ledger.New(db, table)
}

func inLambda(id string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: id})
}

// TestConcurrentInvocationsDeliverOnce: two invocations of one org-day at
// the same time (Lambda's async delivery is at least once): one delivers,
// the other ends cleanly without exporting; a later duplicate is skipped;
// a forced one delivers again.
func TestConcurrentInvocationsDeliverOnce(t *testing.T) {
	l := newLedger(t)
	x := &countingExporter{gate: make(chan struct{})}
	h := &Handler{Exporter: x, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	p := Payload{OrgID: "acme", Day: "2026-11-24", Attempt: 1}

	first := make(chan error, 1)
	go func() { _, err := h.Handle(inLambda("inv-1"), p); first <- err }()
	for x.calls.Load() == 0 { // the first export holds the lease now
		time.Sleep(5 * time.Millisecond)
	}
	res, err := h.Handle(inLambda("inv-2"), p)
	if err != nil || res.Key != "" || res.Skipped != SkippedLeased {
		t.Fatalf("second invocation: %+v, %v; want a clean skip", res, err)
	}
	close(x.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := x.calls.Load(); n != 1 {
		t.Fatalf("%d exports, want 1", n)
	}
	res, err = h.Handle(inLambda("inv-3"), p)
	if err != nil || res.Key != "p/acme.csv" || res.Rows != 7 || res.Skipped != SkippedDelivered || x.calls.Load() != 1 {
		t.Fatalf("duplicate after delivery: %+v, %v, %d exports", res, err, x.calls.Load())
	}
	p.Force = true
	if _, err := h.Handle(inLambda("inv-4"), p); err != nil || x.calls.Load() != 2 {
		t.Fatalf("forced: %v, %d exports", err, x.calls.Load())
	}
}

// TestPermanentFailureRecordedThenFixed: a permanent failure is recorded
// with its reason and fails the invocation as PermanentError; once the
// destination is fixed, the next run delivers the day, once.
func TestPermanentFailureRecordedThenFixed(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	x := &countingExporter{fail: errors.Join(sink.ErrAccessDenied, errors.New("assume role for org acme: AccessDenied: sts:ExternalId"))}
	h := &Handler{Exporter: x, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	p := Payload{OrgID: "acme", Day: "2026-11-24", Attempt: 1}
	day, _ := audit.ParseDay(p.Day)

	if _, err := h.Handle(inLambda("inv-1"), p); !IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	e, _, err := l.Get(ctx, "acme", day)
	if err != nil || e.Status != ledger.Failed || !e.Permanent || e.LastError == "" || e.Attempts != 1 {
		t.Fatalf("ledger after the failure: %+v, %v", e, err)
	}
	// The customer fixes the trust policy; the next daily run tries again.
	if _, err := h.Handle(inLambda("inv-2"), p); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(inLambda("inv-3"), p); err != nil {
		t.Fatal(err)
	}
	e, _, _ = l.Get(ctx, "acme", day)
	if e.Status != ledger.Delivered || e.Attempts != 2 || e.LastError != "" || x.calls.Load() != 2 {
		t.Fatalf("ledger after the fix: %+v, %d exports; want delivered on the 2nd attempt, once", e, x.calls.Load())
	}
}
