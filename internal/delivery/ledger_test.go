package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/memsink"
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

func (c *countingExporter) Export(ctx context.Context, org string, day audit.Day) (export.Delivery, error) {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	err := c.fail
	c.fail = nil
	c.mu.Unlock()
	if err != nil {
		return export.Delivery{}, err
	}
	return export.Delivery{Result: export.Result{OrgID: org, Day: day, Key: "p/" + org + ".csv", Rows: 7, Bytes: 700, SHA256: "abc"}}, nil
}

func newLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("delivery-ledger")
	if err := ledger.CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return ledger.New(db, table)
}

// as is j run by owner (as a Lambda invocation of that request ID).
func as(owner string, j Job) Job {
	j.Owner = owner
	return j
}

func mustDay(s string) audit.Day {
	d, err := audit.ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

// TestConcurrentInvocationsDeliverOnce: two invocations of one org-day at
// the same time (Lambda's async delivery is at least once): one delivers,
// the other ends cleanly without exporting; a later duplicate is skipped;
// a forced one delivers again.
func TestConcurrentInvocationsDeliverOnce(t *testing.T) {
	l := newLedger(t)
	x := &countingExporter{gate: make(chan struct{})}
	svc := &Service{Exporter: x, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	p := Job{OrgID: "acme", Day: mustDay("2026-11-24"), Attempt: 1}

	first := make(chan error, 1)
	go func() { _, err := svc.RunJob(context.Background(), as("inv-1", p)); first <- err }()
	for x.calls.Load() == 0 { // the first export holds the lease now
		time.Sleep(5 * time.Millisecond)
	}
	res, err := svc.RunJob(context.Background(), as("inv-2", p))
	if err != nil || res.Key != "" || res.Skipped != exportjob.SkippedLeased {
		t.Fatalf("second invocation: %+v, %v; want a clean skip", res, err)
	}
	close(x.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := x.calls.Load(); n != 1 {
		t.Fatalf("%d exports, want 1", n)
	}
	res, err = svc.RunJob(context.Background(), as("inv-3", p))
	if err != nil || res.Key != "p/acme.csv" || res.Rows != 7 || res.Skipped != exportjob.SkippedDelivered || x.calls.Load() != 1 {
		t.Fatalf("duplicate after delivery: %+v, %v, %d exports", res, err, x.calls.Load())
	}
	p.Force = true
	if _, err := svc.RunJob(context.Background(), as("inv-4", p)); err != nil || x.calls.Load() != 2 {
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
	svc := &Service{Exporter: x, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	p := Job{OrgID: "acme", Day: mustDay("2026-11-24"), Attempt: 1}
	day := p.Day

	if _, err := svc.RunJob(context.Background(), as("inv-1", p)); !exportjob.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	e, _, err := l.Get(ctx, "acme", day)
	if err != nil || e.Status != ledger.Failed || !e.Permanent || e.LastError == "" || e.Attempts != 1 {
		t.Fatalf("ledger after the failure: %+v, %v", e, err)
	}
	// The customer fixes the trust policy; the next daily run tries again.
	if _, err := svc.RunJob(context.Background(), as("inv-2", p)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RunJob(context.Background(), as("inv-3", p)); err != nil {
		t.Fatal(err)
	}
	e, _, _ = l.Get(ctx, "acme", day)
	if e.Status != ledger.Delivered || e.Attempts != 2 || e.LastError != "" || x.calls.Load() != 2 {
		t.Fatalf("ledger after the fix: %+v, %d exports; want delivered on the 2nd attempt, once", e, x.calls.Load())
	}
}

// stallingSink reads the whole file, then hangs before its commit until
// the export's context ends, as an upload whose CompleteMultipartUpload
// does not come back; what it would commit then is refused (memsink
// stores nothing on a done context). It records the context's deadline.
type stallingSink struct {
	s        *memsink.Sink
	deadline chan time.Time
}

func (st stallingSink) Open(context.Context, destination.Destination) (sink.Sink, error) {
	return st, nil
}

func (st stallingSink) Upload(ctx context.Context, name string, r io.Reader, o sink.Object) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	d, _ := ctx.Deadline()
	st.deadline <- d
	<-ctx.Done()
	return st.s.Upload(ctx, name, &buf, o)
}

type oneDestination struct{ d destination.Destination }

func (o oneDestination) Get(context.Context, string) (destination.Destination, error) {
	return o.d, nil
}

// TestExportEndsBeforeItsLease: with a short lease and a sink that hangs,
// the export is stopped before its lease runs out: the upload is aborted
// (no object), the ledger records a transient failure and no lease, never
// a delivery.
func TestExportEndsBeforeItsLease(t *testing.T) {
	l := newLedger(t)
	const lease, margin = 2 * time.Second, 500 * time.Millisecond
	day := mustDay("2026-11-24")
	objects := memsink.New()
	st := stallingSink{s: objects, deadline: make(chan time.Time, 1)}
	x := &export.Exporter{Destinations: oneDestination{destination.Destination{OrgID: "acme", Kind: destination.KindS3, Enabled: true}},
		Store: &genstore.Store{Events: 10}, Sinks: st, Now: func() time.Time { return day.End().Add(time.Hour) }}
	svc := &Service{Exporter: x, Ledger: l, Lease: lease, LeaseMargin: margin, Log: slog.New(slog.DiscardHandler)}
	// The caller's own deadline is far later: without the lease's bound
	// the export would run into it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*lease)
	defer cancel()
	before := time.Now()
	_, err := svc.RunJob(ctx, Job{OrgID: "acme", Day: day, Attempt: 1, Owner: "inv-1"})
	if err == nil || exportjob.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "before the org-day's lease runs out") {
		t.Fatalf("err = %v, want a transient deadline error naming the lease", err)
	}
	deadline := <-st.deadline
	e, _, gerr := l.Get(context.Background(), "acme", day)
	if gerr != nil {
		t.Fatal(gerr)
	}
	// The lease began at BegunAt (milliseconds) at the earliest after
	// before: the export's deadline is its end less the margin.
	if latest := e.BegunAt.Add(lease - margin + time.Millisecond); deadline.After(latest) || deadline.Before(before.Add(lease-margin)) {
		t.Errorf("the export's deadline %s; want the lease's start %s + %s - %s", deadline.Format(time.RFC3339Nano), e.BegunAt.Format(time.RFC3339Nano), lease, margin)
	}
	if names, _ := objects.List(context.Background(), ""); len(names) != 0 {
		t.Errorf("objects after the aborted upload: %v", names)
	}
	if e.Status != ledger.Failed || e.Permanent || e.LeaseOwner != "" || e.Key != "" {
		t.Errorf("ledger: %+v; want failed, transient, no lease, no delivery", e)
	}
}

// gatedExporter delivers once its gate is closed, whatever its context
// says: an upload whose commit landed after all.
type gatedExporter struct {
	started chan struct{}
	gate    chan struct{}
}

func (g *gatedExporter) Export(_ context.Context, org string, day audit.Day) (export.Delivery, error) {
	close(g.started)
	<-g.gate
	return export.Delivery{Result: export.Result{OrgID: org, Day: day, Key: "p/" + org + ".csv", Rows: 7, Bytes: 700, SHA256: "old"}}, nil
}

// TestLostLeaseIsNotSuccess: export A outlives its lease, B takes the
// org-day over and delivers, then A's delivery completes: A must not
// report success. The day is marked stale, A's error is transient, and
// the next export without force delivers the day again.
func TestLostLeaseIsNotSuccess(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	day := mustDay("2026-11-24")
	p := Job{OrgID: "acme", Day: day, Attempt: 1}
	const lease = 2 * time.Second
	a := &gatedExporter{started: make(chan struct{}), gate: make(chan struct{})}
	sa := &Service{Exporter: a, Ledger: l, Lease: lease, LeaseMargin: lease / 4, Log: slog.New(slog.DiscardHandler)}
	errA := make(chan error, 1)
	go func() { _, err := sa.RunJob(context.Background(), as("inv-a", p)); errA <- err }()
	<-a.started

	b := &countingExporter{}
	sb := &Service{Exporter: b, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	// B is retried, as Lambda would, until A's lease has run out.
	deadline := time.Now().Add(10 * lease)
	for n := 1; ; n++ {
		out, err := sb.RunJob(context.Background(), as(fmt.Sprintf("inv-b%d", n), p))
		if err != nil {
			t.Fatal(err)
		}
		if out.Skipped == "" {
			break
		}
		if out.Skipped != exportjob.SkippedLeased || time.Now().After(deadline) {
			t.Fatalf("B: %+v; want leased until A's lease ran out, then a delivery", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(a.gate)
	err := <-errA
	if err == nil || exportjob.IsPermanent(err) || !errors.Is(err, ledger.ErrLeaseLost) {
		t.Fatalf("A after losing its lease: %v; want a transient error", err)
	}
	e, _, _ := l.Get(ctx, "acme", day)
	if e.Status != ledger.Delivered || !e.Stale() {
		t.Fatalf("ledger after A: %+v (stale %v); want B's delivery, stale", e, e.Stale())
	}
	// The mark is dated ClockSkew ahead, for other hosts' clocks: a
	// delivery is current once it begins after that (a retry comes
	// minutes later).
	for !time.Now().After(e.LateAt) {
		time.Sleep(10 * time.Millisecond)
	}
	out, err := sb.RunJob(context.Background(), as("inv-c", p))
	if err != nil || out.Skipped != "" || b.calls.Load() != 2 {
		t.Fatalf("the next export: %+v, %v, %d exports by B's service; want a delivery", out, err, b.calls.Load())
	}
	if e, _, _ := l.Get(ctx, "acme", day); !e.Current() {
		t.Fatalf("ledger after the new delivery: %+v, want current", e)
	}
}

// finishFails is the ledger with its next Finish failing.
type finishFails struct {
	*ledger.Ledger
	failed bool
}

func (f *finishFails) Finish(ctx context.Context, org string, day audit.Day, owner string, r ledger.Result) error {
	if !f.failed {
		f.failed = true
		return errors.New("ledger: record: InternalServerError")
	}
	return f.Ledger.Finish(ctx, org, day, owner, r)
}

// TestFinishFailureReleasesLease: the file is delivered but the ledger
// write fails: the invocation fails transiently and releases its lease,
// so that the retry delivers the day again at once instead of standing
// back until the lease runs out.
func TestFinishFailureReleasesLease(t *testing.T) {
	ctx := context.Background()
	l := &finishFails{Ledger: newLedger(t)}
	x := &countingExporter{}
	svc := &Service{Exporter: x, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	p := Job{OrgID: "acme", Day: mustDay("2026-11-24"), Attempt: 1}
	if _, err := svc.RunJob(context.Background(), as("inv-1", p)); err == nil || exportjob.IsPermanent(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	day := p.Day
	if e, _, _ := l.Get(ctx, "acme", day); e.Status != ledger.Failed || e.LeaseOwner != "" || !strings.Contains(e.LastError, "delivered, but") {
		t.Fatalf("ledger: %+v; want failed, no lease, the cause", e)
	}
	p.Attempt = 2
	out, err := svc.RunJob(context.Background(), as("inv-2", p))
	if err != nil || out.Skipped != "" || x.calls.Load() != 2 {
		t.Fatalf("retry: %+v, %v, %d exports; want a delivery", out, err, x.calls.Load())
	}
	if e, _, _ := l.Get(ctx, "acme", day); e.Status != ledger.Delivered || e.Attempts != 2 {
		t.Fatalf("ledger after the retry: %+v", e)
	}
}
