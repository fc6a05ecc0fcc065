package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportfn"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/faultproxy"
	"github.com/contentful/auditlogs/internal/localdev/synth"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/localdev/testenv/esm"
	"github.com/contentful/auditlogs/internal/manifest"
	"github.com/contentful/auditlogs/internal/retryfn"
)

// The scenarios of the ledger, late events, the retry path through SQS
// and leases that lapse with two writers.

// Short leases of the writers that stall (A), at least: long enough for a
// delivery of smallEvents to reach its upload many times over on an idle
// machine, short enough for the suite to see them run out. On a loaded
// machine paceLease lengthens them from a measured delivery.
const (
	commitHeldLease  = 40 * time.Second
	recordHeldLease  = 30 * time.Second
	shortLeaseMargin = 5 * time.Second
)

// paceLease is the lease of a stalling writer A: at least base, and
// paceFactor times as long as a delivery of a fixture like A's takes on
// this machine now (measured on a twin fixture of its own), plus the
// margin the export leaves unused. A deadline derived from the work, not
// a fixed one: on a loaded machine a fixed lease can run out before A
// reaches the step that the scenario holds.
func (s *suite) paceLease(t *testing.T, name string, kind destination.Kind, base time.Duration) time.Duration {
	t.Helper()
	twin := s.newFixture(t, "pace-"+name, kind, false)
	start := time.Now()
	if a := s.invokeWith(s.h, twin, "pace-"+name, 1); a.err != nil || a.out.Skipped != "" {
		t.Fatalf("pace delivery: %s (%v)", a, a.err)
	}
	return max(base, paceFactor*time.Since(start)+shortLeaseMargin)
}

// release opens a held request's gate unless the scenario opened it.
func release(gate chan struct{}) {
	select {
	case <-gate:
	default:
		close(gate)
	}
}

// startWriterA invokes the stalling writer A with the short lease, in the
// background; its attempt arrives on the channel once it ends.
func (s *suite) startWriterA(f *fixture, r *row, lease time.Duration) <-chan attempt {
	a := s.shortLease(lease)
	done := make(chan attempt, 1)
	go func() { done <- s.invokeWith(a, f, r.Scenario+"-A", 1) }()
	return done
}

// paceFactor is how many deliveries' time a stalling writer's lease holds.
const paceFactor = 4

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invokeWith calls h once, as Lambda would with request ID id.
func (s *suite) invokeWith(h *exportfn.Handler, f *fixture, id string, n int) attempt {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: id})
	out, err := h.Handle(ctx, exportjob.Payload{OrgID: f.org, Day: s.day.String(), Attempt: n})
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err.Error())
		s.mu.Unlock()
	}
	return attempt{out, err}
}

// shortLease is the suite's handler with a short lease: its delivery, as
// App.Delivery built it, with the lease and its margin shortened.
func (s *suite) shortLease(lease time.Duration) *exportfn.Handler {
	d := *s.d
	d.Lease, d.LeaseMargin = lease, shortLeaseMargin
	return &exportfn.Handler{Delivery: &d}
}

func (s *suite) entry(t *testing.T, f *fixture) ledger.Entry {
	t.Helper()
	e, _, err := s.ledger.Get(context.Background(), f.org, s.day)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// afterStaleMark waits until a delivery that begins now is past the
// entry's late-event mark (dated ledger.ClockSkew ahead), as a retry or
// the next daily run is.
func (s *suite) afterStaleMark(t *testing.T, f *fixture) {
	t.Helper()
	e := s.entry(t, f)
	waitFor(t, "the stale mark's time", ledger.ClockSkew+time.Minute, func() bool { return time.Now().After(e.LateAt) })
}

// leaseOver reports whether Begin now takes e's lease over: it compares
// milliseconds, and wants the lease's end before now, not at it.
// delivered are the keys of a delivered org-day, in key order: the file,
// its manifest and the manifest's signature.
func (f *fixture) delivered() []string {
	m := manifest.Name(f.key)
	keys := []string{f.key, m, manifest.SignatureName(m)}
	slices.Sort(keys)
	return keys
}

func leaseOver(e ledger.Entry) bool { return time.Now().After(e.LeaseUntil.Add(time.Millisecond)) }

// ledgerFinish matches the ledger's Finish of the fixture's day: the
// only ledger write that holds the object key, a transaction with the
// org's chain head (the delivery has a manifest).
func ledgerFinish(name string, f *fixture, times int, a faultproxy.Action) *faultproxy.Rule {
	return &faultproxy.Rule{Name: name, Method: http.MethodPost, Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"},
		BodyContains: `{"S":"` + f.key + `"}`, Times: times, Action: a}
}

// ledgerFinishFails: the upload is complete, then recording it in the
// ledger fails after every try of the SDK. The invocation fails
// transiently and releases its lease; the retry delivers the day again,
// to the same key, and records it.
func (s *suite) ledgerFinishFails(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	// Before the rule that passes ledger writes one at a time: a request
	// it answers never reaches moto.
	rule := ledgerFinish(r.Scenario, f, dynamoAttempts, faultproxy.DynamoDBError(500, "InternalServerError", "Internal server error"))
	s.dbp.Prepend(rule)
	defer s.dbp.Remove(rule)
	as := s.drive(t, f, 1, func(int) {
		if keys := s.listS3(t, f); !slices.Equal(keys, f.delivered()) {
			t.Errorf("objects after the first attempt: %v, want the delivered file, its manifest and signature", keys)
		}
		if e := s.entry(t, f); e.Status != ledger.Failed || e.LeaseOwner != "" || !strings.Contains(e.LastError, "delivered, but") {
			t.Errorf("ledger after the failed record: %s, lease %q, error %q; want failed, the lease released", e.Status, e.LeaseOwner, e.LastError)
		}
	})
	r.Hits, r.Attempts, r.Outcome = rule.Hits(), len(as), outcome(as)
	wantAttempts(t, as, 2)
	if rule.Hits() != dynamoAttempts {
		t.Errorf("the fault fired %d times, want %d", rule.Hits(), dynamoAttempts)
	}
	s.check(t, f, r, as, 2, 1)
}

// lateEvent: the day is delivered, then one more of its requests reaches
// the ingest (the platform logged it late). The ingest's code stores it
// and notes it in the ledger; the next export, without force, delivers
// the whole day again.
func (s *suite) lateEvent(t *testing.T, r *row) {
	ctx := context.Background()
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	as := []attempt{s.invoke(f, 1)}
	if as[0].String() != "delivered" {
		t.Fatalf("first delivery: %s (%v)", as[0], as[0].err)
	}
	var late audit.Event
	if err := synth.Generate(ctx, synth.Config{Orgs: []string{f.org}, Events: 1, Day: s.day, Seed: 42}, func(e *audit.Event) error { late = *e; return nil }); err != nil {
		t.Fatal(err)
	}
	late.RequestID = "late-" + late.RequestID
	// As the ingest function: its own identity, which may write events.
	ia, err := app.New(ctx, s.cfg, config.WithCredentialsProvider(s.st.Config(grants.Ingest).Credentials))
	if err != nil {
		t.Fatal(err)
	}
	in := ia.Ingester()
	rejects := &ingest.MemorySink{}
	in.Rejects = rejects
	c, err := in.Ingest(ctx, []ingest.Raw{{Source: r.Scenario, Data: ingest.RecordOf(&late)}})
	if err != nil || c.Stored != 1 {
		t.Fatalf("ingest of the late record: %+v, %v, rejects %+v", c, err, rejects.Rejects())
	}
	f.mu.Lock()
	f.events = append(f.events, late)
	f.mu.Unlock()
	f.generated++
	// The next day's compaction of this bucket-day (its lookback) finds
	// the new raw object and marks the org-day stale.
	if res := s.compact(t, f); !slices.Contains(res.Changed, f.org) {
		t.Fatalf("the compaction after the late event changed %v, want %s", res.Changed, f.org)
	}
	if e := s.entry(t, f); !e.Stale() {
		t.Fatalf("ledger after the late event: %+v, want stale", e)
	}
	s.afterStaleMark(t, f)
	as = append(as, s.invoke(f, 2))
	r.Attempts = len(as)
	r.Outcome = fmt.Sprintf("%s → late raw object, compacted again, day stale → %s", as[0], as[1])
	wantAttempts(t, as, 2)
	s.check(t, f, r, as, 2, 2)
}

// recordingExport runs the suite's delivery for the retry function and
// keeps each invocation's result.
type recordingExport struct {
	d  *delivery.Service
	as *[]attempt
	s  *suite
}

func (x recordingExport) RunJob(ctx context.Context, j delivery.Job) (delivery.Outcome, error) {
	out, err := x.d.RunJob(ctx, j)
	if err != nil {
		x.s.mu.Lock()
		x.s.errs = append(x.s.errs, err.Error())
		x.s.mu.Unlock()
	}
	*x.as = append(*x.as, attempt{out, err})
	return out, err
}

// retryThroughSQS: the export fails transiently on its invocation and
// Lambda's two retries; Lambda puts its on-failure record into the retry
// queue (moto's SQS, the stack's dead-letter queue and maxReceiveCount);
// the retry function, invoked as its event source mapping does, exports
// again and the message is deleted: delivered once.
func (s *suite) retryThroughSQS(t *testing.T, r *row) {
	ctx := context.Background()
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	const invocations, tries = 3, 3 // Lambda's; the S3 client's
	rule := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPut, Path: f.path(), Times: invocations * tries,
		Action: faultproxy.S3Error(503, "SlowDown", "Please reduce your request rate.")}
	s.s3p.Add(rule)
	defer s.s3p.Remove(rule)
	var as []attempt
	for n := 1; n <= invocations; n++ {
		a := s.invoke(f, n)
		as = append(as, a)
		if a.err == nil || exportjob.IsPermanent(a.err) {
			t.Fatalf("invocation %d: %s, want transient", n, a)
		}
	}

	// The local stack's retry queue (its dead-letter queue after
	// maxReceiveCount receives, the stack's visibility); each party with
	// its own identity: Lambda sends the on-failure record with the
	// export's role, the event source mapping and the retry function use
	// the retry function's.
	sqsAs := func(id grants.Identity) *sqs.Client {
		cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: s.motoURL})
		cfg.Credentials = s.st.Config(id).Credentials
		return sqs.NewFromConfig(cfg)
	}
	client := sqsAs(grants.Retry)
	admin := sqs.NewFromConfig(s.st.AWS) // the test's own look at the queues
	qs := esm.Queues{URL: s.st.Env["AUDITLOG_RETRY_QUEUE_URL"], ARN: s.st.QueueARN(grants.ExportFailures), DLQURL: s.st.Env["AUDITLOG_RETRY_DLQ_URL"]}
	// What Lambda sends its on-failure destination (events/retry.json).
	record, _ := json.Marshal(map[string]any{
		"version": "1.0", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{"requestId": r.Scenario, "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:auditlogs-dev-export:$LATEST",
			"condition": "RetriesExhausted", "approximateInvokeCount": invocations},
		"requestPayload":  exportjob.Payload{OrgID: f.org, Day: s.day.String(), Attempt: 1},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": map[string]any{"errorMessage": firstLine(as[len(as)-1].err.Error()), "errorType": "wrapError"},
	})
	if _, err := sqsAs(grants.Export).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(qs.URL), MessageBody: aws.String(string(record))}); err != nil {
		t.Fatal(err)
	}
	h := &retryfn.Handler{Delivery: recordingExport{s.d, &as, s}, SQS: client, QueueURL: qs.URL, Log: s.log}
	p := &esm.Poller{SQS: client, QueueURL: qs.URL, QueueARN: qs.ARN, Handler: lambda.NewHandler(h.Handle)}
	var b esm.Batch
	var err error
	waitFor(t, "a receive of the retry queue", time.Minute, func() bool {
		if b, err = p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		return len(b.Messages) > 0
	})
	if b.Err != nil || len(b.Deleted) != 1 || len(b.Response.BatchItemFailures) != 0 {
		t.Errorf("the retry function's invocation: %+v, error %v; want the message deleted", b.Response, b.Err)
	}
	for _, u := range []string{qs.URL, qs.DLQURL} {
		if v, fl, err := esm.Depth(ctx, admin, u); err != nil || v+fl != 0 {
			t.Errorf("queue %s after the retry: %d visible, %d in flight, %v; want empty", u, v, fl, err)
		}
	}
	r.Hits, r.Attempts = rule.Hits(), len(as)
	r.Outcome = outcome(as[:invocations]) + " → on-failure record → retry function: " + outcome(as[invocations:])
	wantAttempts(t, as, invocations+1)
	if rule.Hits() != invocations*tries {
		t.Errorf("the fault fired %d times, want %d", rule.Hits(), invocations*tries)
	}
	s.check(t, f, r, as, invocations+1, 1)
}

// leaseLapseCommitHeld: writer A (a short lease) is held at its commit,
// the S3 PutObject of the file, for as long as the test says. B, invoked
// meanwhile, stands back; A's deadline ends its upload before its lease
// does, its commit never reaches S3, and it releases the lease; B then
// delivers. Had A committed after its lease, its Finish would find the
// lease lost and mark the day stale, to be delivered again.
func (s *suite) leaseLapseCommitHeld(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	// Paced before any rule of the scenario is in place.
	lease := s.paceLease(t, r.Scenario, destination.KindS3, commitHeldLease)
	gate := make(chan struct{})
	hold := &faultproxy.Rule{Name: r.Scenario, Method: http.MethodPut, Path: f.path(), Times: 1, Action: faultproxy.Hold(gate)}
	s.s3p.Add(hold)
	defer s.s3p.Remove(hold)
	defer release(gate)
	aDone := s.startWriterA(f, r, lease)
	var resA attempt
	aEnded := false
	waitFor(t, "A's commit at the proxy", lease, func() bool {
		select {
		case resA = <-aDone:
			aEnded = true
			return true
		default:
			return hold.Matches() > 0
		}
	})
	if aEnded {
		t.Fatalf("A ended before its commit: %s (%v)", resA, resA.err)
	}
	b1 := s.invokeWith(s.h, f, r.Scenario+"-B1", 2)
	if b1.out.Skipped != exportjob.SkippedLeased || b1.err != nil {
		t.Errorf("B while A holds the lease: %s (%v), want skipped: leased", b1, b1.err)
	}
	// B is tried again once the lease is free: A released it, or it ran
	// out.
	waitFor(t, "A's lease to end", lease+time.Minute, func() bool {
		e := s.entry(t, f)
		return e.Status != ledger.Running || leaseOver(e)
	})
	b2 := s.invokeWith(s.h, f, r.Scenario+"-B2", 3)
	close(gate)
	resA = <-aDone
	as := []attempt{resA, b1, b2}
	committed := hold.Dropped() == 0
	if committed {
		t.Errorf("A's commit reached S3 after B had taken over")
	}
	if resA.err == nil || exportjob.IsPermanent(resA.err) {
		t.Errorf("A: %s (%v), want a transient failure", resA, resA.err)
	}
	deliveries, attempts := 1, 2
	if e := s.entry(t, f); e.Stale() {
		// A committed after its lease: the day is delivered again.
		s.afterStaleMark(t, f)
		as = append(as, s.drive(t, f, 4, nil)...)
		deliveries, attempts = 2, 3
	}
	what := "dropped: it never reached S3"
	if committed {
		what = "reached S3"
	}
	r.Attempts, r.Hits = len(as), hold.Hits()
	r.Outcome = fmt.Sprintf("A held at its commit → B %s → A %s (at its deadline; its commit %s) → B %s", b1, resA, what, b2)
	if len(as) > 3 {
		r.Outcome += " → " + outcome(as[3:])
	}
	if last := as[len(as)-1]; last.err != nil || last.out.Skipped != "" {
		t.Errorf("invocations: %s; want the last one delivering", r.Outcome)
	}
	s.check(t, f, r, as, attempts, deliveries)
}

// leaseLapseRecordHeld: writer A (a short lease) delivers, and its record
// in the ledger (Finish) is held past its lease. B stands back while the
// lease runs, then takes it over and delivers. A's Finish then finds the
// lease lost: not a success; the day is marked stale, A fails
// transiently, and the retry delivers the day again, complete.
func (s *suite) leaseLapseRecordHeld(t *testing.T, r *row) {
	f := s.newFixture(t, r.Scenario, destination.KindS3, false)
	// Paced before any rule of the scenario is in place.
	lease := s.paceLease(t, r.Scenario, destination.KindS3, recordHeldLease)
	gate := make(chan struct{})
	hold := ledgerFinish(r.Scenario, f, 1, faultproxy.Hold(gate))
	s.dbp.Prepend(hold)
	defer s.dbp.Remove(hold)
	defer release(gate)
	aDone := s.startWriterA(f, r, lease)
	waitFor(t, "A's Finish at the proxy", lease, func() bool { return hold.Matches() > 0 })
	if keys := s.listS3(t, f); !slices.Equal(keys, f.delivered()) {
		t.Errorf("objects once A delivered: %v, want the file, its manifest and signature", keys)
	}
	b1 := s.invokeWith(s.h, f, r.Scenario+"-B1", 2)
	if b1.out.Skipped != exportjob.SkippedLeased || b1.err != nil {
		t.Errorf("B while A's lease runs: %s (%v), want skipped: leased", b1, b1.err)
	}
	e := s.entry(t, f)
	waitFor(t, "A's lease to run out", lease+time.Minute, func() bool { return leaseOver(e) })
	b2 := s.invokeWith(s.h, f, r.Scenario+"-B2", 3)
	if b2.String() != "delivered" {
		t.Errorf("B after A's lease ran out: %s (%v), want delivered", b2, b2.err)
	}
	close(gate)
	resA := <-aDone
	if !errors.Is(resA.err, ledger.ErrLeaseLost) || exportjob.IsPermanent(resA.err) {
		t.Errorf("A after its lease was taken over: %s (%v), want a transient lost lease", resA, resA.err)
	}
	if e := s.entry(t, f); !e.Stale() || e.Status != ledger.Delivered {
		t.Errorf("ledger after A's late Finish: %s, stale %v; want B's delivery, stale", e.Status, e.Stale())
	}
	// A's transient failure is retried (Lambda, then the retry function).
	s.afterStaleMark(t, f)
	as := append([]attempt{resA, b1, b2}, s.drive(t, f, 4, nil)...)
	r.Attempts, r.Hits = len(as), hold.Hits()
	r.Outcome = fmt.Sprintf("A delivered, its Finish held → B %s → B %s (the lapsed lease taken over) → A %s (lease lost: day marked stale) → %s",
		b1, b2, resA, outcome(as[3:]))
	if last := as[len(as)-1]; last.err != nil || last.out.Skipped != "" {
		t.Errorf("invocations: %s; want the last one delivering", r.Outcome)
	}
	s.check(t, f, r, as, 3, 2)
}
