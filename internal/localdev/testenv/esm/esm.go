// Package esm does for tests what Lambda's event source mapping does for
// an SQS queue: it receives messages (with their ApproximateReceiveCount),
// hands them to a Lambda handler as an events.SQSEvent through the
// handler's JSON interface (lambda.Handler.Invoke, as the runtime does),
// and deletes the messages the handler did not report in the response's
// batchItemFailures. A failed invocation deletes nothing: the messages
// come back when their visibility timeout ends, as on Lambda.
//
// Tests only: production code imports it only from _test.go files
// (retryfn's and the reliability suite's). It imports nothing of this
// module, only the Lambda library and the SQS client, so that it can drive
// any SQS-triggered handler.
package esm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQS is the part of the SQS client the poller uses.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Poller is one event source mapping: a queue and the handler it invokes.
type Poller struct {
	SQS      SQS
	QueueURL string
	QueueARN string // the records' eventSourceARN (optional)
	Handler  lambda.Handler
	// BatchSize is the most messages of one invocation (1 if zero, as the
	// stack's mapping).
	BatchSize int32
	// Wait is the long poll of each ReceiveMessage in whole seconds (1 s
	// if zero).
	Wait time.Duration
	// Timeout is the invocation's deadline, the function's timeout (15
	// minutes if zero).
	Timeout time.Duration
}

// Batch is what one Poll did.
type Batch struct {
	// ReceivedAt is when ReceiveMessage returned the messages.
	ReceivedAt time.Time
	Messages   []types.Message
	// Response is the handler's answer; Err its error, if it failed.
	Response events.SQSEventResponse
	Err      error
	// Deleted are the IDs of the messages deleted after the invocation.
	Deleted []string
}

// Poll receives once and, if messages came, invokes the handler with them
// and deletes those it did not report as failures. The error is the
// poller's own (SQS); the handler's is in the Batch.
func (p *Poller) Poll(ctx context.Context) (Batch, error) {
	var b Batch
	wait := p.Wait
	if wait <= 0 {
		wait = time.Second
	}
	out, err := p.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(p.QueueURL),
		MaxNumberOfMessages: max(p.BatchSize, 1),
		WaitTimeSeconds:     int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
			types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
		},
	})
	if err != nil {
		return b, fmt.Errorf("esm: receive from %s: %w", p.QueueURL, err)
	}
	b.ReceivedAt = time.Now()
	b.Messages = out.Messages
	if len(out.Messages) == 0 {
		return b, nil
	}
	ev := events.SQSEvent{}
	for _, m := range out.Messages {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:      aws.ToString(m.MessageId),
			ReceiptHandle:  aws.ToString(m.ReceiptHandle),
			Body:           aws.ToString(m.Body),
			Md5OfBody:      aws.ToString(m.MD5OfBody),
			Attributes:     m.Attributes,
			EventSource:    "aws:sqs",
			EventSourceARN: p.QueueARN,
		})
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return b, err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{AwsRequestID: requestID()})
	res, err := p.Handler.Invoke(ictx, payload)
	if err != nil {
		b.Err = err
		return b, nil
	}
	if err := json.Unmarshal(res, &b.Response); err != nil {
		b.Err = fmt.Errorf("esm: the handler's response %s: %w", res, err)
		return b, nil
	}
	failed := map[string]bool{}
	for _, f := range b.Response.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range out.Messages {
		id := aws.ToString(m.MessageId)
		if failed[id] {
			continue
		}
		if _, err := p.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(p.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return b, fmt.Errorf("esm: delete message %s: %w", id, err)
		}
		b.Deleted = append(b.Deleted, id)
	}
	return b, nil
}

// requestID is a fresh invocation ID, as Lambda gives each invocation.
func requestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Queues are a queue and its dead-letter queue.
type Queues struct {
	URL, ARN       string
	DLQURL, DLQARN string
}

// Admin is the part of the SQS client CreateQueues uses.
type Admin interface {
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, optFns ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// CreateQueues creates a dead-letter queue and a queue named name whose
// redrive policy moves a message there after maxReceives receives, with
// the given default visibility timeout.
func CreateQueues(ctx context.Context, c Admin, name string, maxReceives int, visibility time.Duration) (Queues, error) {
	var q Queues
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		return q, fmt.Errorf("esm: create queue %s-dlq: %w", name, err)
	}
	q.DLQURL = aws.ToString(dlq.QueueUrl)
	if q.DLQARN, err = arn(ctx, c, q.DLQURL); err != nil {
		return q, err
	}
	policy, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.DLQARN, "maxReceiveCount": fmt.Sprint(maxReceives)})
	main, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		string(types.QueueAttributeNameRedrivePolicy):     string(policy),
		string(types.QueueAttributeNameVisibilityTimeout): fmt.Sprint(int(visibility / time.Second)),
	}})
	if err != nil {
		return q, fmt.Errorf("esm: create queue %s: %w", name, err)
	}
	q.URL = aws.ToString(main.QueueUrl)
	q.ARN, err = arn(ctx, c, q.URL)
	return q, err
}

func arn(ctx context.Context, c Admin, url string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("esm: the ARN of %s: %w", url, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}

// Depth is a queue's visible and in-flight (not visible) messages.
func Depth(ctx context.Context, c Admin, url string) (visible, inFlight int, err error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, 0, fmt.Errorf("esm: depth of %s: %w", url, err)
	}
	_, err = fmt.Sscan(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)]+" "+
		out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], &visible, &inFlight)
	return visible, inFlight, err
}
