package retryfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/localdev/testenv/esm"
	"github.com/contentful/auditlogs/internal/retryschedule"
	"github.com/contentful/auditlogs/internal/sink"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// scriptedExport answers each org with its error and records the jobs.
type scriptedExport struct {
	errs map[string]error
	jobs []delivery.Job
}

func (s *scriptedExport) RunJob(_ context.Context, j delivery.Job) (delivery.Outcome, error) {
	s.jobs = append(s.jobs, j)
	return delivery.Outcome{}, s.errs[j.OrgID]
}

type visibilityCalls []sqs.ChangeMessageVisibilityInput

func (v *visibilityCalls) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	*v = append(*v, *in)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// TestSampleEvent drives the JSON contract with events/retry.json: the
// on-failure record's payload is exported again as attempt 4 (three
// invocations by Lambda, then this receive); a transient failure comes
// back as a batch item failure, hidden for the first delay.
func TestSampleEvent(t *testing.T) {
	raw := testenv.SampleEvent(t, "retry.json")
	x := &scriptedExport{errs: map[string]error{"acme": errors.New("upload: SlowDown")}}
	var vis visibilityCalls
	var metrics bytes.Buffer
	h := &Handler{Delivery: x, SQS: &vis, QueueURL: "q", Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "059f36b4-87a3-44ab-83d2-661975830a7d" {
		t.Fatalf("response %s", out)
	}
	if len(x.jobs) != 1 || x.jobs[0].OrgID != "acme" || x.jobs[0].Day.String() != "2026-11-24" || x.jobs[0].Attempt != 4 || x.jobs[0].Force || x.jobs[0].Owner != "" {
		t.Fatalf("jobs %+v", x.jobs)
	}
	if len(vis) != 1 || vis[0].VisibilityTimeout != int32(retryschedule.FirstDelay/time.Second) || aws.ToString(vis[0].ReceiptHandle) != "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a" {
		t.Fatalf("visibility calls %+v", vis)
	}
	if !strings.Contains(metrics.String(), `"TransientFailures":1`) || !strings.Contains(metrics.String(), `"Namespace":"AuditLogs"`) {
		t.Fatalf("metric line %s", metrics.String())
	}
}

// TestPermanentIsDoneAndCounted: a permanent failure is not handed back;
// an unreadable message is (it must reach the dead-letter queue, not
// vanish); a success is done.
func TestPermanentIsDoneAndCounted(t *testing.T) {
	x := &scriptedExport{errs: map[string]error{
		"refused": &exportjob.PermanentError{Err: errors.Join(sink.ErrAccessDenied, errors.New("AccessDenied"))},
	}}
	var vis visibilityCalls
	var metrics bytes.Buffer
	h := &Handler{Delivery: x, SQS: &vis, QueueURL: "q", Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"org_id":"refused","day":"2026-11-24","attempt":1}`, Attributes: map[string]string{"ApproximateReceiveCount": "2"}},
		{MessageId: "m2", Body: `{"org_id":"fine","day":"2026-11-24","attempt":1}`},
		{MessageId: "m3", Body: `not json`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m3" {
		t.Fatalf("failures %+v, want only the unreadable message", resp.BatchItemFailures)
	}
	if len(vis) != 0 || !strings.Contains(metrics.String(), `"PermanentFailures":1`) {
		t.Fatalf("visibility %+v, metrics %s", vis, metrics.String())
	}
}

// visibilityRecorder passes ChangeMessageVisibility calls on and records
// each with its start time and its error.
type visibilityRecorder struct {
	next  Visibility
	mu    sync.Mutex
	calls []visibilityCall
}

type visibilityCall struct {
	at      time.Time
	timeout time.Duration
	err     error
}

func (v *visibilityRecorder) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	at := time.Now()
	out, err := v.next.ChangeMessageVisibility(ctx, in, opts...)
	v.mu.Lock()
	v.calls = append(v.calls, visibilityCall{at: at, timeout: time.Duration(in.VisibilityTimeout) * time.Second, err: err})
	v.mu.Unlock()
	return out, err
}

func (v *visibilityRecorder) all() []visibilityCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]visibilityCall(nil), v.calls...)
}

// TestSQSRefusesOldDelay: at full scale on moto's SQS, a message received
// for the 7th time: the old schedule's 12 hours are refused (the limit
// counts from the receive, and the message was received a moment ago),
// the handler's delay is accepted and hides the message.
func TestSQSRefusesOldDelay(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	client := sqs.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName("retry-limit"))})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(q.QueueUrl)
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"org_id":"acme","day":"2026-11-24","attempt":1}`)}); err != nil {
		t.Fatal(err)
	}
	// Six receives handed straight back, then the seventh.
	var m sqstypes.Message
	for n := 1; n <= 7; n++ {
		got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil || len(got.Messages) != 1 {
			t.Fatalf("receive %d: %v, %d messages", n, err, len(got.Messages))
		}
		m = got.Messages[0]
		if c := m.Attributes["ApproximateReceiveCount"]; c != strconv.Itoa(n) {
			t.Fatalf("receive %d: ApproximateReceiveCount %s", n, c)
		}
		if n < 7 {
			if _, err := client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The old schedule hid a 7th failure for 12 hours: refused.
	_, err = client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(12 * time.Hour / time.Second)})
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Fatalf("a 12-hour visibility timeout right after a receive: %v, want SQS's InvalidParameterValue", err)
	}

	rec := &visibilityRecorder{next: client}
	h := &Handler{Delivery: &scriptedExport{errs: map[string]error{"acme": errors.New("throttled")}}, SQS: rec, QueueURL: url, Log: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: m.Attributes}}})
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("handle: %+v, %v", resp, err)
	}
	calls := rec.all()
	if len(calls) != 1 || calls[0].err != nil {
		t.Fatalf("visibility calls %+v: want one, accepted", calls)
	}
	if got, want := calls[0].timeout, retryschedule.Default.Delay(7, 0); got > want || got < want-time.Minute {
		t.Errorf("the 7th failure is hidden for %s, want the schedule's %s less the handler's time", got, want)
	}
	again, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if err != nil || len(again.Messages) != 0 {
		t.Fatalf("receive after the backoff was set: %v, %d messages; want none", err, len(again.Messages))
	}
}

// TestBackoffOnMoto: against moto's SQS, a message whose export failed
// transiently is hidden for its delay: it cannot be received again now.
func TestBackoffOnMoto(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	client := sqs.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName("retry")),
		Attributes: map[string]string{"VisibilityTimeout": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(q.QueueUrl)
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(`{"org_id":"acme","day":"2026-11-24","attempt":1}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(got.Messages))
	}
	m := got.Messages[0]
	h := &Handler{Delivery: &scriptedExport{errs: map[string]error{"acme": errors.New("throttled")}}, SQS: client, QueueURL: url, Log: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: m.Attributes}}})
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("handle: %+v, %v", resp, err)
	}
	time.Sleep(1500 * time.Millisecond) // past the queue's own 1 s timeout
	again, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if err != nil || len(again.Messages) != 0 {
		t.Fatalf("the failed message is visible again after 1.5 s (%v): its %s backoff was not applied", err, retryschedule.FirstDelay)
	}
}

// flakyExport fails transiently until its succeedAt-th call (never if 0)
// and records the attempts it was given.
type flakyExport struct {
	mu        sync.Mutex
	succeedAt int
	attempts  []int
}

func (f *flakyExport) RunJob(_ context.Context, j delivery.Job) (delivery.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, j.Attempt)
	if f.succeedAt > 0 && len(f.attempts) == f.succeedAt {
		return delivery.Outcome{}, nil
	}
	return delivery.Outcome{}, errors.New("upload: 503 SlowDown")
}

func (f *flakyExport) calls() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.attempts...)
}

func motoSQS(t *testing.T) *sqs.Client {
	return sqs.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: testenv.Moto(t).URL}))
}

// scaled is the retry schedule in seconds: the same rule (doubling, at
// most Limit - Margin after the receive), five receives.
var scaled = retryschedule.Schedule{First: time.Second, Limit: 4 * time.Second, Margin: time.Second, Receives: 5}

// throughQueue drives the retry handler through a real queue on moto with
// a dead-letter queue whose maxReceiveCount is the schedule's, as Lambda's
// event source mapping would (internal/testenv/esm), until stop says so.
// It returns the batches that held the message, the visibility calls and
// the queues.
func throughQueue(t *testing.T, client *sqs.Client, x Deliverer, stop func(esm.Batch, esm.Queues) bool) ([]esm.Batch, []visibilityCall, esm.Queues) {
	t.Helper()
	ctx := context.Background()
	// The queue's own timeout is far beyond the schedule's delays: a
	// delay that was not set would show.
	qs, err := esm.CreateQueues(ctx, client, testenv.UniqueName("retry-esm"), scaled.Receives, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"org_id":"acme","day":"2026-11-24","attempt":1}`
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(qs.URL), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	rec := &visibilityRecorder{next: client}
	h := &Handler{Schedule: scaled, Delivery: x, SQS: rec, QueueURL: qs.URL, Log: slog.New(slog.DiscardHandler)}
	p := &esm.Poller{SQS: client, QueueURL: qs.URL, QueueARN: qs.ARN, Handler: lambda.NewHandler(h.Handle), Timeout: time.Minute}
	// The whole schedule thrice over, and the polls: a bound, not a wait.
	deadline := time.Now().Add(3*scaled.Lifetime(0) + 30*time.Second)
	var batches []esm.Batch
	for {
		b, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Err != nil {
			t.Fatalf("invocation failed: %v", b.Err)
		}
		if len(b.Messages) > 0 {
			if aws.ToString(b.Messages[0].Body) != body {
				t.Fatalf("received %q", aws.ToString(b.Messages[0].Body))
			}
			batches = append(batches, b)
		}
		if stop(b, qs) {
			return batches, rec.all(), qs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d receives, not done by %s", len(batches), deadline.Format(time.RFC3339))
		}
	}
}

// checkBackoff: the n-th receive's count is n, each failure's delay was
// set (accepted by SQS) as the schedule says, and the message did not come
// back before it.
func checkBackoff(t *testing.T, batches []esm.Batch, calls []visibilityCall, failures int) {
	t.Helper()
	for i, b := range batches {
		if c := b.Messages[0].Attributes["ApproximateReceiveCount"]; c != strconv.Itoa(i+1) {
			t.Errorf("receive %d: ApproximateReceiveCount %s", i+1, c)
		}
	}
	if len(calls) != failures {
		t.Fatalf("%d visibility calls, want one per failure, %d", len(calls), failures)
	}
	for i, c := range calls {
		n := i + 1
		// The delay is the schedule's for this receive, less at most the
		// time between the receive and the call.
		if c.err != nil || c.timeout > scaled.Delay(n, 0) || c.timeout < scaled.Delay(n, c.at.Sub(batches[i].ReceivedAt)) || c.timeout <= 0 {
			t.Errorf("failure %d: visibility %s (%v); want the schedule's %s less the handler's time", n, c.timeout, c.err, scaled.Delay(n, 0))
		}
		if i+1 < len(batches) {
			if back := batches[i+1].ReceivedAt.Sub(c.at); back < c.timeout {
				t.Errorf("receive %d came %s after failure %d hid the message for %s", n+1, back, n, c.timeout)
			}
		}
	}
}

// TestRetriesThroughSQS: an export that always fails transiently. Through
// a real queue the message is received 5 times (the schedule's receives),
// each time hidden for its delay by a real ChangeMessageVisibility, and
// then SQS moves it to the dead-letter queue.
func TestRetriesThroughSQS(t *testing.T) {
	ctx := context.Background()
	x := &flakyExport{}
	var dlqBody string
	client := motoSQS(t)
	batches, calls, qs := throughQueue(t, client, x, func(b esm.Batch, qs esm.Queues) bool {
		// SQS moves the message on the receive after its last.
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(qs.DLQURL)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			dlqBody = aws.ToString(out.Messages[0].Body)
			return true
		}
		return false
	})
	if len(batches) != scaled.Receives {
		t.Errorf("%d receives before the dead-letter queue, want maxReceiveCount %d", len(batches), scaled.Receives)
	}
	checkBackoff(t, batches, calls, scaled.Receives)
	if !slices.Equal(x.calls(), []int{1, 2, 3, 4, 5}) {
		t.Errorf("export attempts %v, want 1 to 5", x.calls())
	}
	if dlqBody == "" {
		t.Error("nothing in the dead-letter queue")
	}
	if v, f, err := esm.Depth(ctx, client, qs.URL); err != nil || v+f != 0 {
		t.Errorf("retry queue after the move: %d visible, %d in flight, %v; want empty", v, f, err)
	}
}

// TestRetrySucceedsThroughSQS: the export succeeds at its 3rd try: the
// message is received 3 times, hidden twice, then deleted; nothing
// reaches the dead-letter queue.
func TestRetrySucceedsThroughSQS(t *testing.T) {
	ctx := context.Background()
	x := &flakyExport{succeedAt: 3}
	client := motoSQS(t)
	batches, calls, qs := throughQueue(t, client, x, func(b esm.Batch, _ esm.Queues) bool { return len(b.Deleted) > 0 })
	if len(batches) != 3 || len(batches[2].Deleted) != 1 || len(batches[2].Response.BatchItemFailures) != 0 {
		t.Fatalf("%d receives, the last %+v; want the 3rd deleting the message", len(batches), batches[len(batches)-1])
	}
	checkBackoff(t, batches, calls, 2)
	if !slices.Equal(x.calls(), []int{1, 2, 3}) {
		t.Errorf("export attempts %v, want 1 to 3", x.calls())
	}
	// Deleted: it can never be received again.
	for _, u := range []string{qs.URL, qs.DLQURL} {
		if v, f, err := esm.Depth(ctx, client, u); err != nil || v+f != 0 {
			t.Errorf("queue %s: %d visible, %d in flight, %v; want empty", u, v, f, err)
		}
	}
}

// leasedExport answers that another export holds the org-day.
type leasedExport struct{}

func (leasedExport) RunJob(context.Context, delivery.Job) (delivery.Outcome, error) {
	return delivery.Outcome{Skipped: exportjob.SkippedLeased}, nil
}

// TestLeasedIsTransient: an export that stood back because another holds
// the org-day's lease has not delivered it: the message is kept (a batch
// item failure) and hidden for its backoff, not deleted.
func TestLeasedIsTransient(t *testing.T) {
	var vis visibilityCalls
	var metrics bytes.Buffer
	h := &Handler{Delivery: leasedExport{}, SQS: &vis, QueueURL: "q", Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
	resp, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", ReceiptHandle: "r1", Body: `{"org_id":"acme","day":"2026-11-24","attempt":1}`, Attributes: map[string]string{"ApproximateReceiveCount": "2"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("failures %+v, want the leased message kept", resp.BatchItemFailures)
	}
	if len(vis) != 1 || vis[0].VisibilityTimeout != int32(retryschedule.Default.Delay(2, 0)/time.Second) || aws.ToString(vis[0].ReceiptHandle) != "r1" {
		t.Fatalf("visibility calls %+v, want the 2nd receive's backoff", vis)
	}
}

// TestBadPayloadIsPermanent: a readable message whose payload no retry
// can fix (a day that is none) is a permanent failure, counted and done,
// and never delivered; a good one is delivered with this invocation as
// the lease's owner.
func TestBadPayloadIsPermanent(t *testing.T) {
	x := &scriptedExport{}
	var vis visibilityCalls
	var metrics bytes.Buffer
	h := &Handler{Delivery: x, SQS: &vis, QueueURL: "q", Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "retry-req"})
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: `{"org_id":"acme","day":"24.11.2026","attempt":1}`},
		{MessageId: "m2", Body: `{"org_id":"acme","day":"2026-11-24","attempt":1}`},
	}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %+v, %v; want both messages done", resp, err)
	}
	if len(vis) != 0 || !strings.Contains(metrics.String(), `"PermanentFailures":1`) {
		t.Fatalf("visibility %+v, metrics %s", vis, metrics.String())
	}
	if len(x.jobs) != 1 || x.jobs[0].Day.String() != "2026-11-24" || x.jobs[0].Owner != "retry-req" {
		t.Fatalf("jobs %+v; want only the good message's, owned by the invocation", x.jobs)
	}
}
