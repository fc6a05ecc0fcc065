package stack

import (
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/sas"
)

// Lambdas are the stack's Lambda functions (one per name of Functions),
// their execution roles and log groups, and what starts them or takes
// their failures: the daily schedule of the fan-out, the event source
// mappings of the retry queue and the request-log stream, the
// asynchronous invocation configurations of the export and the fan-out
// (the compaction state machine, which runs the compaction function, is
// compaction.go's; the HTTP API, which invokes the api function, api.go's). Each function's environment is written out where the
// function is built. The roles' statements are added by grantAll
// (grants.go).
type Lambdas struct {
	FanOut, Export, Retry, Ingest, Compact, API                         awslambda.Function
	FanOutRole, ExportRole, RetryRole, IngestRole, CompactRole, APIRole awsiam.Role
	LogGroups                                                           map[string]awslogs.LogGroup // by function
	// RetrySource feeds the retry function from ExportFailures;
	// IngestSource the ingest function from RequestLogs.
	RetrySource, IngestSource awslambda.EventSourceMapping
	// Schedule starts the fan-out daily.
	Schedule awsevents.Rule
}

// Function tuning.
const (
	// exportTimeout is Lambda's maximum: the export and the retry, which
	// runs exports in process, get all of it.
	exportTimeout = exportjob.FunctionTimeout
	// ingestMaxRecordAge: the ingest retries a failing batch until its
	// records are this old, a day before the stream drops them.
	ingestMaxRecordAge = 6 * 24 * time.Hour
	ingestTimeout      = 5 * time.Minute
)

// roles builds the functions' execution roles and log groups.
func (s *Stack) roles() {
	st, p := s.Stack, s.Props
	s.LogGroups = map[string]awslogs.LogGroup{}
	s.ExportRole = newFunctionRole(st, "ExportRole", "auditlogs "+p.StageName+": the export function")
	s.RetryRole = newFunctionRole(st, "RetryRole", "auditlogs "+p.StageName+": the retry function")
	s.FanOutRole = newFunctionRole(st, "FanOutRole", "auditlogs "+p.StageName+": the fan-out function")
	s.IngestRole = newFunctionRole(st, "IngestRole", "auditlogs "+p.StageName+": the ingest function")
	s.CompactRole = newFunctionRole(st, "CompactRole", "auditlogs "+p.StageName+": the compaction function")
	s.APIRole = newFunctionRole(st, "ApiRole", "auditlogs "+p.StageName+": the HTTP API's function")
	for _, fn := range Functions { // in order: the template is the same on every synth
		lg := awslogs.NewLogGroup(st, jsii.String(constructID[fn]+"Logs"), &awslogs.LogGroupProps{
			Retention:     logRetention[p.LogRetentionDays],
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		s.LogGroups[fn] = lg
	}
}

// deliveryFunctions builds the export, retry and fan-out functions, with
// their asynchronous invocation configurations and the retry queue's
// event source mapping.
func (s *Stack) deliveryFunctions() {
	st, p := s.Stack, s.Props
	deliveryEnv := map[string]*string{
		// The log store: the lake, read (lakestore).
		config.EnvLogStore:      jsii.String(config.LogStoreLake),
		config.EnvLakeBucket:    s.LakeBucket.BucketName(),
		config.EnvRegistryTable: s.RegistryTable.TableName(),
		config.EnvLedgerTable:   s.LedgerTable.TableName(),
		config.EnvKMSKeyUS:      s.SASKeys[sas.US].KeyArn(),
		config.EnvKMSKeyEU:      s.SASKeys[sas.EU].KeyArn(),
		// What signs the manifest beside each delivered file.
		config.EnvSigningKeyID: s.SigningKey.KeyArn(),
		// The oldest day an export agrees to deliver: the lake's
		// retention (its lifecycle rule on lake/).
		config.EnvLogStoreRetentionDays: jsii.String(strconv.Itoa(p.LogStoreRetentionDays)),
		// The org-day's lease outlasts the function's timeout (checked at
		// cold start, config.FromEnv): set explicitly, from the same
		// constants as the functions' timeout.
		config.EnvLeaseSeconds:           jsii.String(strconv.Itoa(int(exportjob.Lease / time.Second))),
		config.EnvFunctionTimeoutSeconds: jsii.String(strconv.Itoa(int(exportTimeout / time.Second))),
	}

	// --- the export function ---------------------------------------------
	// Two vCPUs (Lambda gives the second from 1,769 MB): parsing, CSV and
	// SHA-256 on one, the uploads of 4 parts of 8 MiB in flight on the
	// other; memory stays near part size × 5. The reserved concurrency
	// caps the exports a fan-out of thousands of orgs runs at once (the
	// rest wait in Lambda's asynchronous queue, up to the maximum age).
	s.Export = s.newFunction(ExportFunction, "delivers one org-day of audit events to the org's S3 bucket or Azure container",
		s.ExportRole, 2048, exportTimeout, p.ExportReservedConcurrency, deliveryEnv, spoolStorage)
	// Failed asynchronous exports (after Lambda's own retries) go to the
	// retry queue instead of vanishing.
	asyncConfig(st, "ExportAsyncConfig", s.Export, s.ExportRole, 2, 6*time.Hour, s.ExportFailures)

	// --- the retry function ----------------------------------------------
	// The event source mapping polls with these; the handler sets each
	// failed message's backoff with ChangeMessageVisibility.
	retryEnv := map[string]*string{config.EnvRetryQueueURL: s.ExportFailures.QueueUrl()}
	for k, v := range deliveryEnv {
		retryEnv[k] = v
	}
	s.Retry = s.newFunction(RetryFunction, "runs failed exports again from the retry queue, with backoff",
		s.RetryRole, 2048, exportTimeout, 0, retryEnv, spoolStorage)
	s.RetrySource = awslambda.NewEventSourceMapping(st, jsii.String("RetrySource"), &awslambda.EventSourceMappingProps{
		Target:         s.Retry,
		EventSourceArn: s.ExportFailures.QueueArn(),
		// One export per invocation: a batch of several could outlast
		// the function's timeout.
		BatchSize:               jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		// Concurrency is capped here, not with reserved concurrency:
		// throttled receives would count towards maxReceiveCount.
		MaxConcurrency: jsii.Number(p.RetryMaxConcurrency),
	})
	// Lambda checks the role's SQS permissions when it creates the mapping.
	s.RetrySource.Node().AddDependency(s.RetryRole)

	// --- the fan-out function --------------------------------------------
	// 100,000 orgs at 16 Invoke calls in flight take about 3 minutes
	// against real Lambda (more with catch-up days); the rest is headroom
	// for throttling backoff.
	s.FanOut = s.newFunction(FanOutFunction, "invokes the export once per enabled org and undelivered day, daily",
		s.FanOutRole, 512, 10*time.Minute, 0, map[string]*string{
			config.EnvRegistryTable:     s.RegistryTable.TableName(),
			config.EnvLedgerTable:       s.LedgerTable.TableName(),
			config.EnvExportFunction:    s.Export.FunctionName(),
			config.EnvFanOutConcurrency: jsii.String(strconv.Itoa(p.FanOutConcurrency)),
		})
	// A failed fan-out (some orgs' invocations failed) is retried by Lambda,
	// then parked in its failure queue; the next day's catch-up covers it.
	asyncConfig(st, "FanOutAsyncConfig", s.FanOut, s.FanOutRole, 2, 2*time.Hour, s.FanOutFailures)
}

// schedule builds the EventBridge rule that starts the fan-out.
func (s *Stack) schedule() {
	st, p := s.Stack, s.Props
	s.Schedule = awsevents.NewRule(st, jsii.String("Schedule"), &awsevents.RuleProps{
		Description: jsii.String("auditlogs " + p.StageName + ": the daily fan-out"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(p.ScheduleExpression)),
	})
	// EventBridge retries a failed delivery to Lambda (throttling, service
	// errors) and then parks the event in its dead-letter queue.
	s.Schedule.AddTarget(awseventstargets.NewLambdaFunction(s.FanOut, &awseventstargets.LambdaFunctionProps{
		RetryAttempts:   jsii.Number(8),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(2)),
		DeadLetterQueue: s.ScheduleDLQ,
	}))
}

// ingestFunction builds the ingest function and its event source mapping
// on the request-log stream.
func (s *Stack) ingestFunction() {
	st, p := s.Stack, s.Props
	role := s.IngestRole
	s.Ingest = s.newFunction(IngestFunction, "stores the audited API requests of the request-log stream in the log store",
		role, 1024, ingestTimeout, 0, map[string]*string{
			// The log store: the lake, written through the Firehose
			// stream (firehosewriter), which writes the raw objects.
			config.EnvLogStore:          jsii.String(config.LogStoreLake),
			config.EnvLakeBucket:        s.LakeBucket.BucketName(),
			config.EnvLakeStream:        s.RawStream.Ref(),
			config.EnvRegistryTable:     s.RegistryTable.TableName(),
			config.EnvLedgerTable:       s.LedgerTable.TableName(),
			config.EnvRejectsBucket:     s.Rejects.BucketName(),
			config.EnvRejectsPrefix:     jsii.String(grants.RejectsPrefix),
			config.EnvIngestIncludePOST: jsii.String(strconv.FormatBool(p.IngestIncludePOST)),
		})
	// The handler reports the first record it did not finish (partial
	// batch response), so a failure sends back only the rest of the batch;
	// storing is idempotent, so what comes back twice is stored once.
	// Failing records are retried until they are ingestMaxRecordAge old,
	// then their batch's shard and sequence numbers go to IngestFailures
	// (docs/deploy.md says how to read them back from the stream).
	s.IngestSource = awslambda.NewEventSourceMapping(st, jsii.String("IngestSource"), &awslambda.EventSourceMappingProps{
		Target:                  s.Ingest,
		EventSourceArn:          s.RequestLogs.StreamArn(),
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(1000),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(1)),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(10000),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(ingestMaxRecordAge.Seconds())),
	})
	// The on-failure destination is set on the resource itself: CDK's
	// SqsDlq would also add its own grant (GetQueueAttributes, GetQueueUrl)
	// beside the hand-written SendToFailureQueue, which is all Lambda uses.
	s.IngestSource.Node().DefaultChild().(awslambda.CfnEventSourceMapping).AddPropertyOverride(
		jsii.String("DestinationConfig.OnFailure.Destination"), s.IngestFailures.QueueArn())
	s.IngestSource.Node().AddDependency(role)
}

// exportSpoolGiB is the delivering functions' /tmp: a file that is not
// the lake's CSV (another format, or a day whose CSV has expired) is
// encoded into /tmp before its upload, because its object metadata (its
// SHA-256) must be sent when the upload starts. The largest, the CSV of a
// 10,000,000-event day, is about 2.8 GB.
const exportSpoolGiB = 4

func spoolStorage(fp *awslambda.FunctionProps) {
	fp.EphemeralStorageSize = awscdk.Size_Gibibytes(jsii.Number(exportSpoolGiB))
}

// constructID is each function's construct ID (and prefix of its log
// group's and role's).
var constructID = map[string]string{FanOutFunction: "FanOut", ExportFunction: "Export", RetryFunction: "Retry", IngestFunction: "Ingest",
	CompactFunction: "Compact", APIFunction: "Api"}

// newFunction is function fn of the stack, named auditlogs-<stage>-<fn>:
// arm64, provided.al2023, code from CodeDir/<fn>, JSON logs into its log
// group, and reserved concurrency if not zero; tweaks set the rest.
func (s *Stack) newFunction(fn, description string, role awsiam.Role, memory int, timeout time.Duration, reserved int, env map[string]*string,
	tweaks ...func(*awslambda.FunctionProps)) awslambda.Function {
	var rc *float64
	if reserved > 0 {
		rc = jsii.Number(reserved)
	}
	props := &awslambda.FunctionProps{
		FunctionName:                 jsii.String("auditlogs-" + s.Props.StageName + "-" + fn),
		ReservedConcurrentExecutions: rc,
		Description:                  jsii.String("auditlogs " + s.Props.StageName + ": " + description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(s.Props.CodeDir, fn)), nil),
		Role:                         role,
		LogGroup:                     s.LogGroups[fn],
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		MemorySize:                   jsii.Number(memory),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(timeout.Seconds())),
		Environment:                  &env,
	}
	for _, t := range tweaks {
		t(props)
	}
	return awslambda.NewFunction(s.Stack, jsii.String(constructID[fn]), props)
}

// newFunctionRole is a Lambda execution role with no managed policy (the
// basic execution policy's logs:CreateLogGroup on * is not needed: the
// stack creates the log groups).
func newFunctionRole(scope constructs.Construct, id, description string) awsiam.Role {
	return awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(description),
	})
}

// asyncConfig sets fn's asynchronous invocation: retries, maximum event
// age and the failure queue. It is the L1 resource, so that the only
// permission it needs is the sqs:SendMessage the role's policy states
// (the L2 destination adds sqs:GetQueueAttributes and sqs:GetQueueUrl).
// Lambda checks that permission when the configuration is created, so
// the configuration waits for the role's policy.
func asyncConfig(scope constructs.Construct, id string, fn awslambda.Function, role awsiam.Role, retries int, maxAge time.Duration, onFailure awssqs.Queue) {
	c := awslambda.NewCfnEventInvokeConfig(scope, jsii.String(id), &awslambda.CfnEventInvokeConfigProps{
		FunctionName:             fn.FunctionName(),
		Qualifier:                jsii.String("$LATEST"),
		MaximumRetryAttempts:     jsii.Number(retries),
		MaximumEventAgeInSeconds: jsii.Number(maxAge.Seconds()),
		DestinationConfig: &awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{Destination: onFailure.QueueArn()},
		},
	})
	c.Node().AddDependency(role)
}
