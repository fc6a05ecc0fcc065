package stack

import (
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// outputs are what an operator and customers need after a deploy.
func (s *Stack) outputs() {
	out := func(id, description string, value *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out("CustomerTrustAccountId", "The AWS account customers' IAM roles must trust (with sts:ExternalId = their org ID)", awscdk.Aws_ACCOUNT_ID())
	out("LakeBucketName", "The log store: the S3 data lake (AUDITLOG_LAKE_BUCKET, with AUDITLOG_LOG_STORE=lake)", s.LakeBucket.BucketName())
	out("LakeStreamName", "The Firehose stream that writes the lake's raw records (AUDITLOG_LAKE_STREAM)", s.RawStream.Ref())
	out("CompactionStateMachineArn", "The daily compaction of the lake; start it with {\"day\": \"YYYY-MM-DD\"} to compact a day by hand", s.StateMachine.AttrArn())
	out("RegistryTableName", "The destination registry (AUDITLOG_REGISTRY_TABLE)", s.RegistryTable.TableName())
	out("LedgerTableName", "The delivery ledger (AUDITLOG_LEDGER_TABLE)", s.LedgerTable.TableName())
	out("LogStoreRetentionDays", "How long the log store keeps events (the lake's lifecycle rule on lake/)", jsii.String(strconv.Itoa(s.Props.LogStoreRetentionDays)))
	for _, r := range Residencies {
		out("SasKey"+upperFirst(string(r))+"Arn", "The RSA-4096 key whose public key customers of residency "+string(r)+" encrypt their SAS URL to (AUDITLOG_KMS_KEY_"+strings.ToUpper(string(r))+")", s.SASKeys[r].KeyArn())
	}
	out("SigningKeyArn", "The RSA-4096 key that signs the manifest beside each delivered file; customers verify with its public key, auditctl keys public --purpose signing (AUDITLOG_SIGNING_KEY_ID)", s.SigningKey.KeyArn())
	out("FanOutFunctionName", "The fan-out function", s.FanOut.FunctionName())
	out("ExportFunctionName", "The export function (AUDITLOG_EXPORT_FUNCTION)", s.Export.FunctionName())
	out("RetryFunctionName", "The retry function", s.Retry.FunctionName())
	out("IngestFunctionName", "The ingest function", s.Ingest.FunctionName())
	out("CompactFunctionName", "The compaction function", s.Compact.FunctionName())
	out("RequestLogStreamArn", "The Kinesis stream the platform writes its API request logs to (docs/ingest-format.md)", s.RequestLogs.StreamArn())
	out("RejectsBucketName", "Rejected request-log records, under rejects/<day>/ (AUDITLOG_REJECTS_BUCKET)", s.Rejects.BucketName())
	out("IngestFailuresQueueUrl", "Batches of request-log records the ingest gave up on (AUDITLOG_INGEST_FAILURES_QUEUE_URL, for auditctl ingest replay)", s.IngestFailures.QueueUrl())
	out("ExportFailuresQueueUrl", "The retry queue: failed exports (AUDITLOG_RETRY_QUEUE_URL)", s.ExportFailures.QueueUrl())
	out("ExportFailuresDlqUrl", "The retry queue's terminal dead-letter queue (AUDITLOG_RETRY_DLQ_URL, for auditctl redrive)", s.ExportFailuresDLQ.QueueUrl())
	out("FanOutFailuresQueueUrl", "Failed fan-outs", s.FanOutFailures.QueueUrl())
	out("FanOutFailuresDlqUrl", "The fanout-failures queue's dead-letter queue", s.FanOutFailuresDLQ.QueueUrl())
	out("ScheduleDlqUrl", "Schedule events EventBridge could not deliver to the fan-out", s.ScheduleDLQ.QueueUrl())
	out("AlarmTopicArn", "The SNS topic every alarm notifies", s.AlarmTopic.TopicArn())
	out("GlueDatabaseName", "The Glue database of the lake's tables, for Athena (docs/operations.md)", s.GlueDatabase.Ref())
	out("AthenaWorkGroupName", "The Athena workgroup for queries over the lake (results encrypted, in a bucket of their own)", s.AthenaWorkGroup.Ref())
	out("ApiUrl", "The self-service HTTP API's URL (its default stage); customers call /v1/... under it with their platform token", s.APIStage.Url())
	out("ApiId", "The HTTP API's ID (its access logs and metrics name it)", s.HTTPAPI.ApiId())
	out("ApiFunctionName", "The HTTP API's function", s.API.FunctionName())
	out("OperatorPolicyArn", "What auditctl needs: attach it to the operators' roles (docs/deploy.md)", s.OperatorPolicy.ManagedPolicyArn())
}
