package stack

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/metrics"
)

// Monitoring is the alarm topic and the alarms that notify it (the
// key-change rule of keys.go notifies it too).
type Monitoring struct {
	AlarmTopic awssns.Topic
	// Alarms by construct ID.
	Alarms map[string]awscloudwatch.Alarm
}

// ingestLagAlarm: the ingest is this far behind the stream. Events
// arriving after their day was delivered make the day be delivered
// again (ledger.NoteLate), but customers get them a day late.
const ingestLagAlarm = 30 * time.Minute

// rawFreshnessAlarm: the oldest record in the Firehose stream is this old.
// A healthy stream delivers within 1.5 times its buffering interval (900 s,
// about 22 minutes); older records have not reached the lake, and the
// compaction at 00:30 (compactfn.Margin past midnight) misses those of
// the day before.
const rawFreshnessAlarm = 30 * time.Minute

// alarms creates the alarm topic and the alarms, each notifying it.
func (s *Stack) alarms(name func(string) *string) {
	st, p := s.Stack, s.Props
	s.Alarms = map[string]awscloudwatch.Alarm{}
	s.AlarmTopic = awssns.NewTopic(st, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("auditlogs " + p.StageName + " alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	// CloudWatch publishes as its service principal; the topic policy that
	// enforceSSL creates replaces the default one, so allow it by name,
	// for this account's alarms only.
	s.AlarmTopic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{s.AlarmTopic.TopicArn()},
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike": map[string]interface{}{"aws:SourceArn": jsii.String(fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:*",
				*awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID()))},
		},
	}))
	if p.AlarmEmail != "" {
		s.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(p.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(s.AlarmTopic)
	// alarmWith fires when the metric is >= threshold in periods of the
	// last periods; missing says what a period without data counts as.
	alarmWith := func(id, alarmName, description string, metric awscloudwatch.IMetric, periods int, threshold float64, missing awscloudwatch.TreatMissingData) {
		a := awscloudwatch.NewAlarm(st, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          name(alarmName),
			AlarmDescription:   jsii.String(description + " See docs/deploy.md, Alarms."),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   missing,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		s.Alarms[id] = a
	}
	// alarm fires when the metric is >= 1 in periods of the last periods;
	// a period without data is fine (nothing was counted).
	alarm := func(id, alarmName, description string, metric awscloudwatch.IMetric, periods int) {
		alarmWith(id, alarmName, description, metric, periods, 1, awscloudwatch.TreatMissingData_NOT_BREACHING)
	}
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	// service is a metric the functions emit themselves (internal/metrics).
	service := func(metric string, period awscdk.Duration, statistic string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(metric), Period: period, Statistic: jsii.String(statistic),
		})
	}
	depth := func(q awssqs.Queue, statistic string) awscloudwatch.IMetric {
		return q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String(statistic)})
	}
	sum := &awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}

	alarm("ExportFailuresDlqAlarm", "export-failures-dlq",
		"Retries exhausted: an org-day failed for more than 7 days and reached the retry queue's dead-letter queue; fix the cause, then auditctl redrive.",
		depth(s.ExportFailuresDLQ, "Maximum"), 1)
	// Failed exports pass through the retry queue all the time; what is
	// wrong is a visible message nobody takes for 15 minutes.
	alarm("ExportFailuresAlarm", "export-failures-stalled",
		"The retry queue has had visible messages for 15 minutes: the retry function is not consuming it.",
		depth(s.ExportFailures, "Minimum"), 3)
	alarm("FanOutFailuresAlarm", "fanout-failures",
		"The daily fan-out failed after Lambda's retries: some orgs were not invoked (the next day's catch-up covers them).",
		depth(s.FanOutFailures, "Maximum"), 1)
	alarm("FanOutFailuresDlqAlarm", "fanout-failures-dlq",
		"Messages of the fanout-failures queue were received too often and reached its dead-letter queue.",
		depth(s.FanOutFailuresDLQ, "Maximum"), 1)
	alarm("ScheduleDlqAlarm", "schedule-dlq",
		"EventBridge could not invoke the fan-out function or start the compaction state machine: the day's fan-out or compaction did not run (the message names the rule).",
		depth(s.ScheduleDLQ, "Maximum"), 1)
	alarm("ExportErrorsAlarm", "export-errors",
		"The export function returned errors (Lambda retries them, then the retry function).", s.Export.MetricErrors(sum), 1)
	alarm("RetryErrorsAlarm", "retry-errors",
		"The retry function itself failed (a cold start or a crash, not a failed export).", s.Retry.MetricErrors(sum), 1)
	alarm("FanOutErrorsAlarm", "fanout-errors",
		"The fan-out function returned errors (some orgs' invocations failed; Lambda retries it).", s.FanOut.MetricErrors(sum), 1)
	alarm("ExportDestinationFailuresAlarm", "export-destination-failures",
		"Lambda could not deliver a failed export to the retry queue: that failure is lost to the retry path.",
		s.Export.Metric(jsii.String("DestinationDeliveryFailures"), sum), 1)
	alarm("FanOutDestinationFailuresAlarm", "fanout-destination-failures",
		"Lambda could not deliver a failed fan-out to the fanout-failures queue.",
		s.FanOut.Metric(jsii.String("DestinationDeliveryFailures"), sum), 1)
	alarm("PermanentFailuresAlarm", "permanent-failures",
		"A delivery failed for a reason no retry fixes (the customer's role, bucket, container or SAS URL): auditctl status shows which org and why.",
		service(metrics.PermanentFailures, fiveMinutes, "Sum"), 1)

	// The ingest.
	alarm("IngestFailuresAlarm", "ingest-failures",
		"The ingest gave up on a batch of request-log records after retrying it for 6 days: their audit events are missing until an operator replays them from the stream, which keeps them 7 days (auditctl ingest replay, docs/operations.md).",
		depth(s.IngestFailures, "Maximum"), 1)
	alarm("IngestErrorsAlarm", "ingest-errors",
		"The ingest function failed (a cold start or a crash; failed writes are reported per batch and retried, see ingest-lag).", s.Ingest.MetricErrors(sum), 1)
	alarmWith("IngestLagAlarm", "ingest-lag",
		"The ingest is more than 30 minutes behind the request-log stream (failing or too slow): days delivered meanwhile lack their last events until the next daily run delivers them again.",
		s.Ingest.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Maximum")}), 3,
		float64(ingestLagAlarm.Milliseconds()), awscloudwatch.TreatMissingData_NOT_BREACHING)
	alarm("IngestRejectedAlarm", "ingest-rejected",
		"The ingest rejected malformed request-log records: they are in the rejects bucket under rejects/<day>/ with their reasons (docs/ingest-format.md).",
		service(metrics.IngestRejected, fiveMinutes, "Sum"), 1)
	// The lake: the Firehose stream that writes its raw objects, and the
	// daily compaction.
	firehose := func(metric, statistic string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/Firehose"), MetricName: jsii.String(metric), Period: fiveMinutes, Statistic: jsii.String(statistic),
			DimensionsMap: &map[string]*string{"DeliveryStreamName": s.RawStream.Ref()},
		})
	}
	alarmWith("RawStreamFreshnessAlarm", "raw-stream-freshness",
		"The Firehose stream's oldest record is more than 30 minutes old (DeliveryToS3.DataFreshness): it is not delivering to the lake (its log group says why). Nothing is lost while it retries, but a compaction that runs meanwhile misses those events, which arrive as late events (delivered again a day late).",
		firehose("DeliveryToS3.DataFreshness", "Maximum"), 1, rawFreshnessAlarm.Seconds(), awscloudwatch.TreatMissingData_NOT_BREACHING)
	alarm("RawStreamThrottledAlarm", "raw-stream-throttled",
		"Firehose throttled the ingest's records (ThrottledRecords): the ingest sends them again and fails its batch if they stay refused (ingest-lag); raise the stream's quota if it persists.",
		firehose("ThrottledRecords", "Sum"), 1)
	alarm("RawStreamPartitionsExceededAlarm", "raw-stream-partitions-exceeded",
		"The Firehose stream has more active partitions (day x org bucket) than its quota (PartitionCountExceeded): the records of the others go to raw-errors/activePartitionExceeded/ instead of raw/ and are missing from the lake until replayed; ask for a higher quota.",
		firehose("PartitionCountExceeded", "Maximum"), 1)
	compaction := func(metric string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/States"), MetricName: jsii.String(metric), Period: fiveMinutes, Statistic: jsii.String("Sum"),
			DimensionsMap: &map[string]*string{"StateMachineArn": s.StateMachine.AttrArn()},
		})
	}
	alarm("CompactionFailedAlarm", "compaction-failed",
		"The daily compaction failed: a bucket's compaction failed after its retries, or the input was bad. Exports of its days fail until it runs (the retry queue retries them): read the execution's failed Map run, fix the cause, then start the state machine with {\"day\": \"YYYY-MM-DD\"}.",
		compaction("ExecutionsFailed"), 1)
	alarm("CompactionTimedOutAlarm", "compaction-timed-out",
		"The daily compaction ran out of its 6 hours: see its Map run for the buckets that did not finish, then start it again for the day.",
		compaction("ExecutionsTimedOut"), 1)
	alarm("CompactionAbortedAlarm", "compaction-aborted",
		"The daily compaction was stopped before it ended: start it again for the day.",
		compaction("ExecutionsAborted"), 1)
	alarm("CompactErrorsAlarm", "compact-errors",
		"The compaction function returned errors (the state machine retries them; compaction-failed says when it gave up).", s.Compact.MetricErrors(sum), 1)

	// The HTTP API: any 5xx (the function's own 500s and 503s, a failed
	// cold start, the gateway's 502 and 504 when the function fails or
	// runs out of time) in five minutes.
	alarm("ApiServerErrorsAlarm", "api-5xx",
		"The self-service HTTP API answered with 5xx: the function failed (its cold start, a dependency, or a crash; its log names the request ID of the access log), or a check could not reach its dependency (503). Customers see the error with its request ID.",
		s.APIStage.MetricServerError(sum), 1)

	alarm("IngestNearMissAlarm", "ingest-near-miss",
		"The ingest skipped audited requests whose path matches an audited route only when case is ignored (/Spaces/.../Entries/...): perhaps changes that are not audited. The ingest's \"near miss\" log line names the first path and its source.",
		service(metrics.IngestSkippedNearMiss, fiveMinutes, "Sum"), 1)

	// The fan-out emits the count once a run (daily), so the period is a
	// day and a period without data keeps the state: the alarm stays
	// raised until a run counts none (a new SAS registered, or the org
	// disabled) instead of clearing and firing again every day. A missing
	// run has alarms of its own (schedule-dlq, fanout-errors).
	alarmWith("SasExpiringSoonAlarm", "sas-expiring-soon",
		"Enabled Azure destinations whose SAS URL expires within 30 days or has expired: the fan-out's log names each org and date; ask the customer for a new SAS URL, then auditctl destination put.",
		service(metrics.SASExpiringSoon, awscdk.Duration_Days(jsii.Number(1)), "Maximum"), 1, 1, awscloudwatch.TreatMissingData_IGNORE)
	// The same daily rhythm for registry items the fan-out skipped because
	// they are not valid destinations: those orgs get nothing until an
	// operator fixes or deletes the item, so the alarm stays raised until
	// a run counts none.
	alarmWith("InvalidRegistryItemsAlarm", "invalid-registry-items",
		"The daily fan-out skipped registry items that are not valid destinations (edited by hand?): their orgs are not delivered. The fan-out's 'registry item skipped' log lines and auditctl destination list name each org, field and reason; fix with auditctl destination put, or remove with auditctl destination delete.",
		service(metrics.InvalidRegistryItems, awscdk.Duration_Days(jsii.Number(1)), "Maximum"), 1, 1, awscloudwatch.TreatMissingData_IGNORE)
}
