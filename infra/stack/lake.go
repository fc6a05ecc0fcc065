package stack

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/lake"
)

// Lake is the log store: the S3 data lake's bucket (internal/lake's
// layout, docs/lake.md) and the Firehose stream that the ingest writes
// raw records to and that writes them, partitioned by day and org bucket,
// under raw/, with its role and its log group.
type Lake struct {
	LakeBucket awss3.Bucket
	// RawStream is the L1 stream: the L2 DeliveryStream would add its
	// own grants on the whole bucket (grantReadWrite).
	RawStream     awskinesisfirehose.CfnDeliveryStream
	RawStreamRole awsiam.Role
	RawStreamLogs awslogs.LogGroup
	// RawStreamLogStream is the log stream Firehose writes its delivery
	// errors to.
	RawStreamLogStream awslogs.LogStream
}

// The lake's lifecycle and the stream's settings.
const (
	// RawErrorsPrefix is where Firehose writes the records it could not
	// partition or deliver, by error type (!{firehose:error-output-type}:
	// processing-failed, activePartitionExceeded, ...).
	RawErrorsPrefix = "raw-errors/"
	// RawPartitionPrefix is the stream's prefix: lake.RawBucketPrefix's
	// layout (raw/day=YYYY-MM-DD/bucket=NNN/) from the partition keys
	// that RawPartitionQuery extracts.
	RawPartitionPrefix = lake.RawPrefix + "day=!{partitionKeyFromQuery:day}/bucket=!{partitionKeyFromQuery:bucket}/"
	// RawErrorPrefix is the stream's error prefix.
	RawErrorPrefix = RawErrorsPrefix + "!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/"
	// RawPartitionQuery reads the partition keys of a raw record
	// (lake.AppendRaw): the UTC day of its request time (lake.KeyTime, the event
	// format's time is UTC with a Z, so its first 10 characters are the
	// day) and its org bucket, as three digits (lake.KeyBucket).
	RawPartitionQuery = `{day: .` + lake.KeyTime + `[0:10], bucket: .` + lake.KeyBucket + `}`
	// rawBufferMiB and rawBufferInterval are the stream's buffering per
	// partition: dynamic partitioning needs at least 64 MiB, and the
	// longest interval (900 s) makes the fewest, largest raw objects;
	// compactfn.Margin waits for the last of them.
	rawBufferMiB      = 128
	rawBufferInterval = 900 * time.Second
	// rawRetryDuration is how long Firehose retries delivering a
	// partition to S3 before it writes the records under the error
	// prefix: its maximum.
	rawRetryDuration = 7200 * time.Second
	// rawExpiryDays expires raw objects and the stream's error records.
	// Compaction runs daily and looks back a week (compactfn.LookbackDays)
	// for late raw objects, after which a raw object's records are in the
	// org-day objects that the next compaction reads instead of it
	// (docs/lake.md): 10 days covers that week and leaves three days to
	// repair a failing compaction by hand before its inputs expire. Raw
	// objects are the lake's raw copy of every event, so keeping them
	// longer would only cost.
	rawExpiryDays = 10
	// rawStreamLogStream names the stream's log stream of delivery errors.
	rawStreamLogStream = "DestinationDelivery"
)

// lakeStorage builds the lake's bucket and the Firehose stream.
func (s *Stack) lakeStorage(name func(string) *string) {
	st, p := s.Stack, s.Props
	days := func(n int) awscdk.Duration { return awscdk.Duration_Days(jsii.Number(float64(n))) }
	// The audit events of every org (privateBucket). Each prefix expires
	// on its own schedule.
	s.LakeBucket = privateBucket(st, "LakeBucket",
		&awss3.LifecycleRule{Id: jsii.String("expire-raw"), Prefix: jsii.String(lake.RawPrefix), Expiration: days(rawExpiryDays)},
		&awss3.LifecycleRule{Id: jsii.String("expire-raw-errors"), Prefix: jsii.String(RawErrorsPrefix), Expiration: days(rawExpiryDays)},
		// The org-day objects and the manifests: the log store's
		// retention (AUDITLOG_LOG_STORE_RETENTION_DAYS, which the
		// export is told, so it refuses older days).
		&awss3.LifecycleRule{Id: jsii.String("expire-lake"), Prefix: jsii.String(lake.LakePrefix), Expiration: days(p.LogStoreRetentionDays)},
		// The delivered files: the daily delivery and a week of its
		// retries copy them; a later one encodes the org-day object.
		&awss3.LifecycleRule{Id: jsii.String("expire-export"), Prefix: jsii.String(lake.ExportPrefix), Expiration: days(lake.ExportFileDays)},
		// Compaction's and Firehose's failed multipart uploads.
		&awss3.LifecycleRule{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: days(1)},
	)

	// Firehose's delivery errors, kept as long as the functions' logs.
	s.RawStreamLogs = awslogs.NewLogGroup(st, jsii.String("RawStreamLogs"), &awslogs.LogGroupProps{
		Retention:     logRetention[p.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.RawStreamLogStream = awslogs.NewLogStream(st, jsii.String("RawStreamLogStream"), &awslogs.LogStreamProps{
		LogGroup:      s.RawStreamLogs,
		LogStreamName: jsii.String(rawStreamLogStream),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	// The stream's role writes raw/ and raw-errors/ of the lake and
	// nothing else: no read of an object, no delete, no other prefix.
	// Firehose assumes it for this account only.
	s.RawStreamRole = awsiam.NewRole(st, jsii.String("RawStreamRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("firehose.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"sts:ExternalId": awscdk.Aws_ACCOUNT_ID()}},
		}),
		Description: jsii.String("auditlogs " + p.StageName + ": the Firehose stream of raw records, writing raw/ of the lake"),
	})
	bucket := s.LakeBucket.BucketArn()
	policy := awsiam.NewPolicy(st, jsii.String("RawStreamPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{s.RawStreamRole},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("WriteRawObjects"),
				Actions:   jsii.Strings("s3:PutObject", "s3:AbortMultipartUpload"),
				Resources: jsii.Strings(*bucket+"/"+lake.RawPrefix+"*", *bucket+"/"+RawErrorsPrefix+"*"),
			}),
			// What Firehose's S3 destination calls on the bucket itself.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("LocateLakeBucket"),
				Actions:   jsii.Strings("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"),
				Resources: &[]*string{bucket},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("WriteDeliveryErrors"),
				Actions:   jsii.Strings("logs:PutLogEvents"),
				Resources: &[]*string{s.rawStreamLogStreamArn()},
			}),
		},
	})

	param := func(name, value string) *awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty {
		return &awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{ParameterName: jsii.String(name), ParameterValue: jsii.String(value)}
	}
	s.RawStream = awskinesisfirehose.NewCfnDeliveryStream(st, jsii.String("RawStream"), &awskinesisfirehose.CfnDeliveryStreamProps{
		DeliveryStreamName: name("raw"),
		DeliveryStreamType: jsii.String("DirectPut"),
		// Records at rest in the stream, with a key AWS owns (no key
		// policy to keep); the objects are the bucket's SSE-S3.
		DeliveryStreamEncryptionConfigurationInput: &awskinesisfirehose.CfnDeliveryStream_DeliveryStreamEncryptionConfigurationInputProperty{
			KeyType: jsii.String("AWS_OWNED_CMK"),
		},
		ExtendedS3DestinationConfiguration: &awskinesisfirehose.CfnDeliveryStream_ExtendedS3DestinationConfigurationProperty{
			BucketArn:         bucket,
			RoleArn:           s.RawStreamRole.RoleArn(),
			Prefix:            jsii.String(RawPartitionPrefix),
			ErrorOutputPrefix: jsii.String(RawErrorPrefix),
			CompressionFormat: jsii.String("GZIP"),
			BufferingHints: &awskinesisfirehose.CfnDeliveryStream_BufferingHintsProperty{
				SizeInMBs:         jsii.Number(rawBufferMiB),
				IntervalInSeconds: jsii.Number(rawBufferInterval.Seconds()),
			},
			DynamicPartitioningConfiguration: &awskinesisfirehose.CfnDeliveryStream_DynamicPartitioningConfigurationProperty{
				Enabled:      jsii.Bool(true),
				RetryOptions: &awskinesisfirehose.CfnDeliveryStream_RetryOptionsProperty{DurationInSeconds: jsii.Number(rawRetryDuration.Seconds())},
			},
			// The ingest packs many events into one record
			// (firehosewriter), so the stream splits each record into its
			// JSON events first, reads each event's partition keys, and
			// ends each event with a newline again: the raw objects are
			// NDJSON, as compaction reads them.
			ProcessingConfiguration: &awskinesisfirehose.CfnDeliveryStream_ProcessingConfigurationProperty{
				Enabled: jsii.Bool(true),
				Processors: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorProperty{
					{Type: jsii.String("RecordDeAggregation"), Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{
						param("SubRecordType", "JSON"),
					}},
					{Type: jsii.String("MetadataExtraction"), Parameters: &[]*awskinesisfirehose.CfnDeliveryStream_ProcessorParameterProperty{
						param("MetadataExtractionQuery", RawPartitionQuery),
						param("JsonParsingEngine", "JQ-1.6"),
					}},
					{Type: jsii.String("AppendDelimiterToRecord")},
				},
			},
			CloudWatchLoggingOptions: &awskinesisfirehose.CfnDeliveryStream_CloudWatchLoggingOptionsProperty{
				Enabled:       jsii.Bool(true),
				LogGroupName:  s.RawStreamLogs.LogGroupName(),
				LogStreamName: s.RawStreamLogStream.LogStreamName(),
			},
		},
	})
	// Firehose checks the role when the stream is created.
	s.RawStream.Node().AddDependency(policy)
}

// rawStreamLogStreamArn is the ARN of the stream's log stream.
func (s *Stack) rawStreamLogStreamArn() *string {
	return jsii.String(fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:log-stream:%s", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(),
		*awscdk.Aws_ACCOUNT_ID(), *s.RawStreamLogs.LogGroupName(), *s.RawStreamLogStream.LogStreamName()))
}
