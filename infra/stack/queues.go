package stack

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/retryschedule"
)

// Queues are the stack's SQS queues: the export's failure queue, which is
// the retry function's queue (AUDITLOG_RETRY_QUEUE_URL), and its terminal
// dead-letter queue (AUDITLOG_RETRY_DLQ_URL); the fan-out's failure queue
// with its dead-letter queue; the schedule target's dead-letter queue;
// and the on-failure destination of the request-log batches the ingest
// gave up on.
type Queues struct {
	ExportFailures, ExportFailuresDLQ awssqs.Queue
	FanOutFailures, FanOutFailuresDLQ awssqs.Queue
	ScheduleDLQ                       awssqs.Queue
	IngestFailures                    awssqs.Queue
}

// Queue tuning.
const (
	queueRetention = 14 * 24 * time.Hour // SQS's maximum: longer than the retry schedule's span
	// maxReceiveCount of a failure queue no function consumes (an operator
	// may read it by hand); the retry queue's is retryschedule.Default's.
	maxReceiveCount = 5
	// retryVisibility is the retry queue's visibility timeout
	// (retryschedule.QueueVisibility).
	retryVisibility = retryschedule.QueueVisibility
)

// queues builds the queues, each named auditlogs-<stage>-<name>.
func (s *Stack) queues(name func(string) *string) {
	st := s.Stack
	s.ExportFailuresDLQ = newQueue(st, "ExportFailuresDlq", name("export-failures-dlq"), nil, 0, 0)
	s.ExportFailures = newQueue(st, "ExportFailures", name("export-failures"), s.ExportFailuresDLQ, retryschedule.Default.Receives, retryVisibility)
	s.FanOutFailuresDLQ = newQueue(st, "FanOutFailuresDlq", name("fanout-failures-dlq"), nil, 0, 0)
	s.FanOutFailures = newQueue(st, "FanOutFailures", name("fanout-failures"), s.FanOutFailuresDLQ, maxReceiveCount, 0)
	s.ScheduleDLQ = newQueue(st, "ScheduleDlq", name("schedule-dlq"), nil, 0, 0)
	s.IngestFailures = newQueue(st, "IngestFailures", name("ingest-failures"), nil, 0, 0)
}

// newQueue is a queue with SQS-managed encryption (AWS services such as
// EventBridge and Lambda destinations can send to it without a key
// policy), TLS enforced, 14 days' retention; with a dead-letter queue
// after maxReceives receives, and a visibility timeout if not zero.
func newQueue(scope constructs.Construct, id string, name *string, dlq awssqs.IQueue, maxReceives int, visibility time.Duration) awssqs.Queue {
	props := &awssqs.QueueProps{
		QueueName:       name,
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(queueRetention.Seconds())),
	}
	if dlq != nil {
		props.DeadLetterQueue = &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(maxReceives)}
	}
	if visibility > 0 {
		props.VisibilityTimeout = awscdk.Duration_Seconds(jsii.Number(visibility.Seconds()))
	}
	return awssqs.NewQueue(scope, jsii.String(id), props)
}
