package retryfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/contentful/auditlogs/internal/exportfn"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// scriptedExport answers each org with its error and records payloads.
type scriptedExport struct {
	errs     map[string]error
	payloads []exportfn.Payload
}

func (s *scriptedExport) Handle(_ context.Context, p exportfn.Payload) (exportfn.Outcome, error) {
	s.payloads = append(s.payloads, p)
	return exportfn.Outcome{}, s.errs[p.OrgID]
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
	h := &Handler{Export: x, SQS: &vis, QueueURL: "q", Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
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
	if len(x.payloads) != 1 || x.payloads[0] != (exportfn.Payload{OrgID: "acme", Day: "2026-11-24", Attempt: 4}) {
		t.Fatalf("payloads %+v", x.payloads)
	}
	if len(vis) != 1 || vis[0].VisibilityTimeout != int32(FirstDelay/time.Second) || aws.ToString(vis[0].ReceiptHandle) != "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a" {
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
		"refused": &exportfn.PermanentError{Err: errors.Join(sink.ErrAccessDenied, errors.New("AccessDenied"))},
	}}
	var vis visibilityCalls
	var metrics bytes.Buffer
	h := &Handler{Export: x, SQS: &vis, QueueURL: "q", Log: slog.New(slog.DiscardHandler), Metrics: &metrics}
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

// TestScheduleSpansSevenDays: the documented retry schedule.
func TestScheduleSpansSevenDays(t *testing.T) {
	delays, span := Schedule()
	if len(delays) != MaxReceiveCount-1 || delays[0] != 15*time.Minute || delays[5] != 8*time.Hour || delays[6] != 12*time.Hour {
		t.Fatalf("delays %v", delays)
	}
	if span < 7*24*time.Hour || span > 14*24*time.Hour {
		t.Fatalf("span %s: want at least 7 days and less than SQS's 14-day retention", span)
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
	h := &Handler{Export: &scriptedExport{errs: map[string]error{"acme": errors.New("throttled")}}, SQS: client, QueueURL: url, Log: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body), Attributes: m.Attributes}}})
	if err != nil || len(resp.BatchItemFailures) != 1 {
		t.Fatalf("handle: %+v, %v", resp, err)
	}
	time.Sleep(1500 * time.Millisecond) // past the queue's own 1 s timeout
	again, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if err != nil || len(again.Messages) != 0 {
		t.Fatalf("the failed message is visible again after 1.5 s (%v): its %s backoff was not applied", err, FirstDelay)
	}
}
