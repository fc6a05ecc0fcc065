// Package retryfn is the retry Lambda's handler. Export invocations that
// still fail after Lambda's own asynchronous retries reach an SQS queue
// through the export function's on-failure destination; this handler
// consumes that queue, reads each message's export payload
// (exportjob.Payload, checked by delivery.JobOf) and runs the delivery
// again, in process, through the same use case as the export function
// (internal/delivery: the ledger's lease, the export, the record of the
// outcome), the lease owned by this invocation. A transient failure hands
// the message back with an exponential backoff (its visibility timeout,
// by the schedule of internal/retryschedule), so that retries span more
// than seven days before the queue's maxReceiveCount moves it to the
// terminal dead-letter queue, where an alarm fires. A permanent failure is
// not retried blindly: the ledger records it with its reason, a metric
// counts it, the message is done, and the next daily run's catch-up tries
// the day again.
//
// It may import the delivery (internal/delivery), which it runs through
// its Deliverer, and the leaves exportjob, retryschedule and metrics; not
// the export function's adapter (internal/exportfn), nor internal/app. The
// stack (infra/stack) must not import it: it takes the queue's settings
// from internal/retryschedule and the metric names from internal/metrics.
package retryfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/retryschedule"
)

// Deliverer runs one delivery (*delivery.Service).
type Deliverer interface {
	RunJob(ctx context.Context, j delivery.Job) (delivery.Outcome, error)
}

// Visibility is the part of the SQS client the handler uses.
type Visibility interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Handler handles batches of the retry queue.
type Handler struct {
	// Schedule is the retry policy; the zero value means
	// retryschedule.Default.
	Schedule retryschedule.Schedule
	Delivery Deliverer
	SQS      Visibility
	QueueURL string
	Log      *slog.Logger
	// Metrics receives CloudWatch embedded-metric-format lines (the
	// function's standard output in Lambda).
	Metrics io.Writer
}

// failureRecord is what Lambda sends to an on-failure destination.
type failureRecord struct {
	Version        string          `json:"version"`
	RequestContext json.RawMessage `json:"requestContext"`
	RequestPayload json.RawMessage `json:"requestPayload"`
}

type requestContext struct {
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ParseMessage reads a retry message: Lambda's on-failure record, whose
// requestPayload is the export payload, or a bare export payload (what an
// operator or a redrive sends). It returns the payload and the number of
// invocations Lambda already made.
func ParseMessage(body string) (exportjob.Payload, int, error) {
	var rec failureRecord
	if err := json.Unmarshal([]byte(body), &rec); err == nil && len(rec.RequestPayload) > 0 {
		var p exportjob.Payload
		if err := json.Unmarshal(rec.RequestPayload, &p); err != nil {
			return p, 0, err
		}
		var rc requestContext
		_ = json.Unmarshal(rec.RequestContext, &rc)
		return p, rc.ApproximateInvokeCount, nil
	}
	var p exportjob.Payload
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return p, 0, err
	}
	return p, 0, nil
}

// Handle runs one export per message. Messages whose export failed
// transiently, or found the org-day leased by another export, are hidden
// for their backoff and returned as batch item failures (the event source
// mapping must report them: ReportBatchItemFailures); all others are done.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// A message's receive began before this: the schedule's margin
	// covers the part before the handler started.
	start := time.Now()
	sched := h.Schedule
	if sched == (retryschedule.Schedule{}) {
		sched = retryschedule.Default
	}
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		received, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		received = max(received, 1)
		p, invoked, err := ParseMessage(m.Body)
		if err != nil {
			// No retry can read it; it is kept for a person in the
			// dead-letter queue's alarm instead of being dropped: fail it
			// on every receive without backoff.
			h.Log.ErrorContext(ctx, "unreadable retry message", "message_id", m.MessageId, "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		p.Attempt = invoked + received
		out, err := h.deliver(ctx, p)
		if err == nil && out.Skipped == exportjob.SkippedLeased {
			// Another export holds the org-day: its outcome is unknown
			// here (it may die or fail), so the message is kept and
			// tried again after its backoff, when the day is delivered
			// (then skipped as such) or its lease is free.
			err = errLeased
		}
		switch {
		case err == nil:
		case exportjob.IsPermanent(err):
			// Recorded in the ledger by the export; counted here.
			h.Log.WarnContext(ctx, "permanent failure: not retried", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt, "error", err.Error())
			h.count(ctx, metrics.PermanentFailures, p.OrgID)
		default:
			delay := sched.Delay(received, time.Since(start))
			if received >= sched.Receives {
				h.Log.ErrorContext(ctx, "retries exhausted: the message goes to the dead-letter queue", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt, "error", err.Error())
			} else {
				h.Log.WarnContext(ctx, "transient failure: retried later", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt,
					"retry_in", delay.String(), "error", err.Error())
			}
			if verr := h.hide(ctx, m.ReceiptHandle, delay); verr != nil {
				// The queue's own visibility timeout applies instead.
				h.Log.ErrorContext(ctx, "set the retry delay failed", "message_id", m.MessageId, "error", verr.Error())
			}
			h.count(ctx, metrics.TransientFailures, p.OrgID)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// deliver checks p (a payload no retry can fix is a PermanentError) and
// runs its delivery, the lease owned by this invocation (Lambda's request
// ID; outside Lambda the delivery names one).
func (h *Handler) deliver(ctx context.Context, p exportjob.Payload) (delivery.Outcome, error) {
	j, err := delivery.JobOf(p)
	if err != nil {
		return delivery.Outcome{}, err
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		j.Owner = lc.AwsRequestID
	}
	return h.Delivery.RunJob(ctx, j)
}

func (h *Handler) hide(ctx context.Context, receipt string, d time.Duration) error {
	_, err := h.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(h.QueueURL), ReceiptHandle: aws.String(receipt), VisibilityTimeout: int32(d / time.Second),
	})
	if err != nil {
		return fmt.Errorf("change visibility: %w", err)
	}
	return nil
}

// errLeased is the transient outcome of an export that found its
// org-day's lease held by another.
var errLeased = errors.New("another export holds the org-day's lease")

// count writes one embedded-metric-format line: CloudWatch turns it into
// a metric without an API call from the function.
func (h *Handler) count(ctx context.Context, name, org string) {
	if h.Metrics == nil {
		return
	}
	if err := metrics.Write(h.Metrics, time.Now(), map[string]int64{name: 1}, map[string]any{"org_id": org}); err != nil {
		h.Log.ErrorContext(ctx, "write metric", "error", err.Error())
	}
}
