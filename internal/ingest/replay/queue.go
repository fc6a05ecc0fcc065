package replay

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Queue is the part of the SQS client that drains the ingest-failures
// queue.
type Queue interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Outcome is what became of one message of the queue.
type Outcome struct {
	MessageID string  `json:"message_id"`
	Condition string  `json:"condition,omitempty"` // why the event source mapping gave up
	Result    *Result `json:"result,omitempty"`
	Deleted   bool    `json:"deleted"` // the message left the queue: its range is stored
	Error     string  `json:"error,omitempty"`
}

// Drain receives up to limit messages (all when limit <= 0) from the queue
// at url, one at a time, replays each message's range and deletes the
// message only when the whole range was read and stored. A message that
// is not an on-failure record, or whose range failed or is no longer
// whole in the stream, stays in the queue for the operator (hidden while
// Drain runs, so each message is met once, and made visible again at the
// end, so a run after a fix sees it at once), and Drain goes on with the
// next;
// the error joins every message's error. each, when set, is called with
// every outcome as it is known (for progress).
func (r *Replayer) Drain(ctx context.Context, q Queue, url string, limit int, each func(Outcome)) ([]Outcome, error) {
	var outs []Outcome
	var errs []error
	seen := map[string]bool{}
	var kept []*string // receipt handles of the messages left in the queue
	defer func() {
		for _, h := range kept {
			// Best effort: otherwise the message shows again after the
			// visibility timeout, and nothing is lost either way.
			_, _ = q.ChangeMessageVisibility(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(url), ReceiptHandle: h, VisibilityTimeout: 0,
			})
		}
	}()
	for limit <= 0 || len(outs) < limit {
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
			// Long enough to replay a batch; a message whose replay
			// failed is seen again only after this, so a run meets each
			// message once.
			VisibilityTimeout: 15 * 60,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("receive from %s: %w", url, err))
			break
		}
		if len(got.Messages) == 0 {
			break
		}
		m := got.Messages[0]
		id := aws.ToString(m.MessageId)
		if seen[id] {
			break // back after its visibility timeout: every message was met
		}
		seen[id] = true
		o := Outcome{MessageID: id}
		err = func() error {
			f, err := ParseFailure([]byte(aws.ToString(m.Body)))
			if err != nil {
				return err
			}
			o.Condition = f.RequestContext.Condition
			res, err := r.Replay(ctx, f.Batch)
			o.Result = &res
			if err != nil {
				return err
			}
			if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return fmt.Errorf("range stored, but deleting the message failed (replaying it again is harmless): %w", err)
			}
			o.Deleted = true
			return nil
		}()
		if err != nil {
			o.Error = err.Error()
			errs = append(errs, fmt.Errorf("message %s: %w", id, err))
			if !o.Deleted {
				kept = append(kept, m.ReceiptHandle)
			}
		}
		outs = append(outs, o)
		if each != nil {
			each(o)
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	return outs, errors.Join(errs...)
}
