// Package stack defines the audit-log delivery stack: the DynamoDB tables
// (log store, destination registry, delivery ledger), the Kinesis stream of
// API request logs and the ingest function that fills the log store from
// it (with its bucket of rejected records), the KMS keys that decrypt
// customers' SAS URLs, the fan-out, export and retry Lambda functions, the
// daily schedule, the failure and dead-letter queues, and the alarms
// (docs/deploy.md).
//
// The stack is environment-agnostic (no account or region is fixed at
// synth time): `cdk deploy` takes them from the caller's credentials.
// Every IAM statement is written out by hand, scoped to the one resource it
// needs, so that the synthesized policies read as the list of what each
// function may do.
package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/retryschedule"
	"github.com/contentful/auditlogs/internal/sas"
)

// Defaults of StackProps.
const (
	DefaultStageName                 = "dev"
	DefaultSchedule                  = "cron(0 1 * * ? *)" // daily, 01:00 UTC
	DefaultExportReservedConcurrency = 50
	DefaultRetryMaxConcurrency       = 10
	DefaultFanOutConcurrency         = 16 // the same default as internal/app
	DefaultLogRetentionDays          = 90
	DefaultCodeDir                   = "../build" // relative to infra/, where cdk runs the app
)

// DefaultLogStoreRetentionDays is how long the log store keeps an event:
// the writer's default TTL (dynamostore.DefaultRetention).
var DefaultLogStoreRetentionDays = int(dynamostore.DefaultRetention / (24 * time.Hour))

// Function names, as the folders under functions/ and build/ name them.
const (
	FanOutFunction = "fanout"
	ExportFunction = "export"
	RetryFunction  = "retry"
	IngestFunction = "ingest"
)

// Functions are the functions the stack deploys, one per folder of
// functions/ (a test checks that none is missing).
var Functions = []string{FanOutFunction, ExportFunction, RetryFunction, IngestFunction}

// Residencies with a SAS decryption key, in the order of the key IDs.
var Residencies = []sas.Residency{sas.US, sas.EU}

// StackProps configures the stack. The zero value of every field but
// CodeDir means its default (Defaults fills them in).
type StackProps struct {
	awscdk.StackProps

	// StageName names the deployment (lowercase letters, digits and
	// hyphens, at most 20): it is part of the function, queue, alarm and
	// key alias names. Default "dev".
	StageName string
	// ScheduleExpression is the EventBridge schedule of the fan-out.
	// Default DefaultSchedule (daily at 01:00 UTC).
	ScheduleExpression string
	// LogStoreRetentionDays is how long the log store keeps events
	// (AUDITLOG_LOG_STORE_RETENTION_DAYS): the TTL the ingest sets on each
	// event, the oldest day the export delivers, and how long rejected
	// records are kept. At least 2, so yesterday's events are still there
	// for the export and its retries. Default 35 (dynamostore.DefaultRetention).
	LogStoreRetentionDays int
	// AlarmEmail, when set, is subscribed to the alarm topic.
	AlarmEmail string
	// ExportReservedConcurrency caps concurrent exports, so a fan-out of
	// thousands of orgs neither starves the account's other functions nor
	// floods DynamoDB. Default 50.
	ExportReservedConcurrency int
	// RetryMaxConcurrency caps the retry function's concurrent batches
	// (the event source mapping's maximum concurrency, 2 to 1000): the
	// retries' exports come on top of the export function's. Default 10.
	RetryMaxConcurrency int
	// FanOutConcurrency is AUDITLOG_FANOUT_CONCURRENCY: export invocations
	// in flight in the fan-out. Default 16.
	FanOutConcurrency int
	// CodeDir holds the built functions, one folder per function with a
	// `bootstrap` in it (`make build` fills build/). Required.
	CodeDir string
	// KeyAdminArns are the principals (account root, role or user ARNs)
	// that administer the SAS keys. The key policy does not let them
	// decrypt, but kms:PutKeyPolicy lets them rewrite it to do so: they
	// are as trusted as the decrypters (the KeyChanges rule reports such a
	// change). Default:
	// the account root, which lets IAM policies in the account grant those
	// administrative actions. A list that omits the root must include the
	// role CloudFormation deploys with (cdk bootstrap's cfn-exec-role), or
	// KMS refuses the key policy.
	KeyAdminArns []string
	// KeyOperatorArns are principals (the operators' roles) that may also
	// decrypt SAS ciphers, as `auditctl destination put` and `auditctl
	// verify` do to check a customer's SAS URL before and after it is
	// registered. Default none: those commands then fail for Azure
	// destinations with a clear "may not decrypt" error.
	KeyOperatorArns []string
	// IngestIncludePOST makes the ingest audit creates (POST) as well
	// (AUDITLOG_INGEST_INCLUDE_POST). Default false, as the product doc
	// says.
	IngestIncludePOST bool
	// LogRetentionDays is the functions' CloudWatch Logs retention, one of
	// the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...).
	// Default 90.
	LogRetentionDays int
}

// Defaults returns p with every unset field set to its default.
func (p StackProps) Defaults() StackProps {
	if p.StageName == "" {
		p.StageName = DefaultStageName
	}
	if p.ScheduleExpression == "" {
		p.ScheduleExpression = DefaultSchedule
	}
	if p.LogStoreRetentionDays == 0 {
		p.LogStoreRetentionDays = DefaultLogStoreRetentionDays
	}
	if p.ExportReservedConcurrency == 0 {
		p.ExportReservedConcurrency = DefaultExportReservedConcurrency
	}
	if p.RetryMaxConcurrency == 0 {
		p.RetryMaxConcurrency = DefaultRetryMaxConcurrency
	}
	if p.FanOutConcurrency == 0 {
		p.FanOutConcurrency = DefaultFanOutConcurrency
	}
	if p.LogRetentionDays == 0 {
		p.LogRetentionDays = DefaultLogRetentionDays
	}
	return p
}

var (
	stageRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
	scheduleRE = regexp.MustCompile(`^(cron|rate)\(.+\)$`)
)

// Validate checks p (after Defaults).
func (p StackProps) Validate() error {
	if !stageRE.MatchString(p.StageName) {
		return fmt.Errorf("stage name %q: want a lowercase letter, then lowercase letters, digits or hyphens, at most 20 in all", p.StageName)
	}
	if !scheduleRE.MatchString(p.ScheduleExpression) {
		return fmt.Errorf("schedule %q: want an EventBridge cron(...) or rate(...) expression", p.ScheduleExpression)
	}
	if p.LogStoreRetentionDays < 2 {
		return fmt.Errorf("log-store retention %d days: want at least 2 (the export reads yesterday)", p.LogStoreRetentionDays)
	}
	if p.ExportReservedConcurrency < 1 {
		return fmt.Errorf("export reserved concurrency %d: want at least 1", p.ExportReservedConcurrency)
	}
	if p.RetryMaxConcurrency < 2 || p.RetryMaxConcurrency > 1000 {
		return fmt.Errorf("retry maximum concurrency %d: want 2 to 1000", p.RetryMaxConcurrency)
	}
	if p.FanOutConcurrency < 1 {
		return fmt.Errorf("fan-out concurrency %d: want at least 1", p.FanOutConcurrency)
	}
	if _, ok := logRetention[p.LogRetentionDays]; !ok {
		return fmt.Errorf("log retention %d days: not a value CloudWatch Logs accepts", p.LogRetentionDays)
	}
	if p.CodeDir == "" {
		return fmt.Errorf("code directory not set")
	}
	for _, fn := range Functions {
		b := filepath.Join(p.CodeDir, fn, "bootstrap")
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("function %s: %w (run `make build` first)", fn, err)
		}
	}
	return nil
}

// logRetention maps the day counts CloudWatch Logs accepts to the CDK enum.
var logRetention = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// KeyAdminActions are what a SAS key's administrators may do: manage the
// key, its policy, aliases, tags and deletion, and read its public key.
// Deliberately absent: kms:Decrypt, kms:ReEncrypt* (a decrypt by another
// name) and kms:CreateGrant (a grant could hand out Decrypt). That stops
// mistakes, not an administrator: kms:PutKeyPolicy can give back anything
// (see KeyChangeEvents).
var KeyAdminActions = []string{
	"kms:DescribeKey",
	"kms:GetPublicKey",
	"kms:GetKeyPolicy",
	"kms:PutKeyPolicy",
	"kms:ListKeyPolicies",
	"kms:ListResourceTags",
	"kms:TagResource",
	"kms:UntagResource",
	"kms:UpdateKeyDescription",
	"kms:EnableKey",
	"kms:DisableKey",
	"kms:ScheduleKeyDeletion",
	"kms:CancelKeyDeletion",
	"kms:CreateAlias",
	"kms:UpdateAlias",
	"kms:DeleteAlias",
	"kms:ListGrants",
	"kms:RevokeGrant",
}

// Stack is the deployed stack and the constructs tests and callers need.
type Stack struct {
	awscdk.Stack
	Props StackProps // with defaults filled in

	EventsTable, RegistryTable, LedgerTable awsdynamodb.Table
	// SASKeys holds the key of each residency of Residencies.
	SASKeys map[sas.Residency]awskms.Key

	FanOut, Export, Retry, Ingest                 awslambda.Function
	FanOutRole, ExportRole, RetryRole, IngestRole awsiam.Role
	// OperatorPolicy is what auditctl needs (internal/grants), a managed
	// policy for the operators to attach to their own roles.
	OperatorPolicy awsiam.ManagedPolicy
	LogGroups      map[string]awslogs.LogGroup // by function
	RetrySource    awslambda.EventSourceMapping

	// RequestLogs is the Kinesis stream of API request logs that the
	// platform writes and the ingest function reads (IngestSource);
	// Rejects the bucket of the records it rejects; IngestFailures the
	// on-failure destination of batches it gave up on.
	RequestLogs    awskinesis.Stream
	IngestSource   awslambda.EventSourceMapping
	Rejects        awss3.Bucket
	IngestFailures awssqs.Queue

	// ExportFailures is the export's on-failure destination and the retry
	// function's queue (AUDITLOG_RETRY_QUEUE_URL); ExportFailuresDLQ its
	// terminal dead-letter queue (AUDITLOG_RETRY_DLQ_URL). FanOutFailures
	// is the fan-out's on-failure destination, with its dead-letter queue;
	// ScheduleDLQ the schedule target's dead-letter queue.
	ExportFailures, ExportFailuresDLQ awssqs.Queue
	FanOutFailures, FanOutFailuresDLQ awssqs.Queue
	ScheduleDLQ                       awssqs.Queue
	Schedule                          awsevents.Rule
	AlarmTopic                        awssns.Topic
	// KeyChanges notifies the alarm topic of the CloudTrail events that
	// change who may decrypt with a SAS key, or whether it works
	// (KeyChangeEvents).
	KeyChanges awsevents.CfnRule
	// Alarms by construct ID.
	Alarms map[string]awscloudwatch.Alarm
}

// Queue and function tuning.
const (
	queueRetention = 14 * 24 * time.Hour // SQS's maximum: longer than the retry schedule's span
	// maxReceiveCount of a failure queue no function consumes (an operator
	// may read it by hand); the retry queue's is retryschedule.Default's.
	maxReceiveCount = 5
	// exportTimeout is Lambda's maximum: the export and the retry, which
	// runs exports in process, get all of it.
	exportTimeout = exportjob.FunctionTimeout
	// retryVisibility is the retry queue's visibility timeout
	// (retryschedule.QueueVisibility).
	retryVisibility = retryschedule.QueueVisibility

	// requestLogRetention is how long the stream keeps a record: a week,
	// so that an ingest outage of days loses nothing and an operator can
	// read a batch the ingest gave up on back from the stream.
	requestLogRetention = 7 * 24 * time.Hour
	// ingestMaxRecordAge: the ingest retries a failing batch until its
	// records are this old, a day before the stream drops them.
	ingestMaxRecordAge = 6 * 24 * time.Hour
	ingestTimeout      = 5 * time.Minute
	// ingestLagAlarm: the ingest is this far behind the stream. Events
	// arriving after their day was delivered make the day be delivered
	// again (ledger.NoteLate), but customers get them a day late.
	ingestLagAlarm = 30 * time.Minute
)

// New builds the stack under scope.
func New(scope constructs.Construct, id string, props StackProps) (*Stack, error) {
	p := props.Defaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	st := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	s := &Stack{Stack: st, Props: p, SASKeys: map[sas.Residency]awskms.Key{},
		LogGroups: map[string]awslogs.LogGroup{}, Alarms: map[string]awscloudwatch.Alarm{}}
	awscdk.Tags_Of(st).Add(jsii.String("service"), jsii.String("auditlogs"), nil)
	awscdk.Tags_Of(st).Add(jsii.String("stage"), jsii.String(p.StageName), nil)
	name := func(suffix string) *string { return jsii.String("auditlogs-" + p.StageName + "-" + suffix) }

	// --- tables -----------------------------------------------------------
	s.EventsTable = newTable(st, "EventsTable", dynamostore.AttrPK, dynamostore.AttrSK, dynamostore.AttrTTL)
	s.EventsTable.AddLocalSecondaryIndex(&awsdynamodb.LocalSecondaryIndexProps{
		IndexName:      jsii.String(dynamostore.IndexByTime),
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(dynamostore.AttrTS), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	s.RegistryTable = newTable(st, "RegistryTable", registry.AttrOrgID, "", "")
	s.LedgerTable = newTable(st, "LedgerTable", ledger.AttrOrgID, ledger.AttrDay, "")

	// --- queues -----------------------------------------------------------
	s.ExportFailuresDLQ = newQueue(st, "ExportFailuresDlq", name("export-failures-dlq"), nil, 0, 0)
	s.ExportFailures = newQueue(st, "ExportFailures", name("export-failures"), s.ExportFailuresDLQ, retryschedule.Default.Receives, retryVisibility)
	s.FanOutFailuresDLQ = newQueue(st, "FanOutFailuresDlq", name("fanout-failures-dlq"), nil, 0, 0)
	s.FanOutFailures = newQueue(st, "FanOutFailures", name("fanout-failures"), s.FanOutFailuresDLQ, maxReceiveCount, 0)
	s.ScheduleDLQ = newQueue(st, "ScheduleDlq", name("schedule-dlq"), nil, 0, 0)
	s.IngestFailures = newQueue(st, "IngestFailures", name("ingest-failures"), nil, 0, 0)

	// --- roles and log groups --------------------------------------------
	s.ExportRole = newFunctionRole(st, "ExportRole", "auditlogs "+p.StageName+": the export function")
	s.RetryRole = newFunctionRole(st, "RetryRole", "auditlogs "+p.StageName+": the retry function")
	s.FanOutRole = newFunctionRole(st, "FanOutRole", "auditlogs "+p.StageName+": the fan-out function")
	s.IngestRole = newFunctionRole(st, "IngestRole", "auditlogs "+p.StageName+": the ingest function")
	for _, fn := range Functions { // in order: the template is the same on every synth
		lg := awslogs.NewLogGroup(st, jsii.String(constructID[fn]+"Logs"), &awslogs.LogGroupProps{
			Retention:     logRetention[p.LogRetentionDays],
			RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		})
		s.LogGroups[fn] = lg
	}

	// --- KMS keys: one RSA-4096 key per residency -------------------------
	admins := []awsiam.IPrincipal{}
	if len(p.KeyAdminArns) == 0 {
		admins = append(admins, awsiam.NewAccountRootPrincipal())
	}
	for _, a := range p.KeyAdminArns {
		admins = append(admins, awsiam.NewArnPrincipal(jsii.String(a)))
	}
	// Only the functions that deliver (the export, and the retry, which
	// runs exports in process) may decrypt.
	decrypters := []awsiam.IPrincipal{
		awsiam.NewArnPrincipal(s.ExportRole.RoleArn()),
		awsiam.NewArnPrincipal(s.RetryRole.RoleArn()),
	}
	operators := []awsiam.IPrincipal{}
	for _, a := range p.KeyOperatorArns {
		operators = append(operators, awsiam.NewArnPrincipal(jsii.String(a)))
	}
	for _, r := range Residencies {
		s.SASKeys[r] = newSASKey(st, "SasKey"+upperFirst(string(r)), p.StageName, r, admins, decrypters, operators)
	}

	deliveryEnv := map[string]*string{
		"AUDITLOG_EVENTS_TABLE":   s.EventsTable.TableName(),
		"AUDITLOG_REGISTRY_TABLE": s.RegistryTable.TableName(),
		"AUDITLOG_LEDGER_TABLE":   s.LedgerTable.TableName(),
		"AUDITLOG_KMS_KEY_US":     s.SASKeys[sas.US].KeyArn(),
		"AUDITLOG_KMS_KEY_EU":     s.SASKeys[sas.EU].KeyArn(),
		// The oldest day an export agrees to deliver.
		"AUDITLOG_LOG_STORE_RETENTION_DAYS": jsii.String(strconv.Itoa(p.LogStoreRetentionDays)),
		// The org-day's lease outlasts the function's timeout (checked at
		// cold start, app.FromEnv): set explicitly, from the same
		// constants as the functions' timeout.
		"AUDITLOG_LEASE_SECONDS":            jsii.String(strconv.Itoa(int(exportjob.Lease / time.Second))),
		"AUDITLOG_FUNCTION_TIMEOUT_SECONDS": jsii.String(strconv.Itoa(int(exportTimeout / time.Second))),
	}

	// --- the export function ---------------------------------------------
	// Two vCPUs (Lambda gives the second from 1,769 MB): parsing, CSV and
	// SHA-256 on one, the uploads of 4 parts of 8 MiB in flight on the
	// other; memory stays near part size × 5. The reserved concurrency
	// caps the exports a fan-out of thousands of orgs runs at once (the
	// rest wait in Lambda's asynchronous queue, up to the maximum age).
	s.Export = s.newFunction(ExportFunction, "delivers one org-day of audit events to the org's S3 bucket or Azure container",
		s.ExportRole, 2048, exportTimeout, p.ExportReservedConcurrency, deliveryEnv)
	// Failed asynchronous exports (after Lambda's own retries) go to the
	// retry queue instead of vanishing.
	asyncConfig(st, "ExportAsyncConfig", s.Export, s.ExportRole, 2, 6*time.Hour, s.ExportFailures)

	// --- the retry function ----------------------------------------------
	// The event source mapping polls with these; the handler sets each
	// failed message's backoff with ChangeMessageVisibility.
	retryEnv := map[string]*string{"AUDITLOG_RETRY_QUEUE_URL": s.ExportFailures.QueueUrl()}
	for k, v := range deliveryEnv {
		retryEnv[k] = v
	}
	s.Retry = s.newFunction(RetryFunction, "runs failed exports again from the retry queue, with backoff",
		s.RetryRole, 2048, exportTimeout, 0, retryEnv)
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
			"AUDITLOG_EVENTS_TABLE":       s.EventsTable.TableName(),
			"AUDITLOG_REGISTRY_TABLE":     s.RegistryTable.TableName(),
			"AUDITLOG_LEDGER_TABLE":       s.LedgerTable.TableName(),
			"AUDITLOG_EXPORT_FUNCTION":    s.Export.FunctionName(),
			"AUDITLOG_FANOUT_CONCURRENCY": jsii.String(strconv.Itoa(p.FanOutConcurrency)),
		})
	// A failed fan-out (some orgs' invocations failed) is retried by Lambda,
	// then parked in its failure queue; the next day's catch-up covers it.
	asyncConfig(st, "FanOutAsyncConfig", s.FanOut, s.FanOutRole, 2, 2*time.Hour, s.FanOutFailures)

	// --- the schedule -----------------------------------------------------
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

	s.ingest(name)
	s.grantAll(name)
	s.alarms(name)
	s.keyChangeRule()
	s.outputs()
	return s, nil
}

// ingest builds the request-log stream, the reject bucket and the ingest
// function with its event source mapping.
func (s *Stack) ingest(name func(string) *string) {
	st, p := s.Stack, s.Props
	// On-demand capacity follows the platform's traffic; the AWS-managed
	// key (aws/kinesis) encrypts at rest without a key policy to keep.
	s.RequestLogs = awskinesis.NewStream(st, jsii.String("RequestLogs"), &awskinesis.StreamProps{
		StreamName:      name("request-logs"),
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(requestLogRetention.Hours())),
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	})
	// Rejected records hold request data: private, encrypted, TLS only,
	// kept as long as the log store keeps events.
	s.Rejects = awss3.NewBucket(st, jsii.String("Rejects"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-rejects"),
			Expiration: awscdk.Duration_Days(jsii.Number(float64(p.LogStoreRetentionDays))),
		}},
	})
	role := s.IngestRole
	s.Ingest = s.newFunction(IngestFunction, "stores the audited API requests of the request-log stream in the log store",
		role, 1024, ingestTimeout, 0, map[string]*string{
			"AUDITLOG_EVENTS_TABLE":        s.EventsTable.TableName(),
			"AUDITLOG_REGISTRY_TABLE":      s.RegistryTable.TableName(),
			"AUDITLOG_LEDGER_TABLE":        s.LedgerTable.TableName(),
			"AUDITLOG_REJECTS_BUCKET":      s.Rejects.BucketName(),
			"AUDITLOG_REJECTS_PREFIX":      jsii.String(grants.RejectsPrefix),
			"AUDITLOG_INGEST_INCLUDE_POST": jsii.String(strconv.FormatBool(p.IngestIncludePOST)),
			// The TTL the ingest sets on each event.
			"AUDITLOG_LOG_STORE_RETENTION_DAYS": jsii.String(strconv.Itoa(p.LogStoreRetentionDays)),
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

// constructID is each function's construct ID (and prefix of its log
// group's and role's).
var constructID = map[string]string{FanOutFunction: "FanOut", ExportFunction: "Export", RetryFunction: "Retry", IngestFunction: "Ingest"}

// newFunction is function fn of the stack, named auditlogs-<stage>-<fn>:
// arm64, provided.al2023, code from CodeDir/<fn>, JSON logs into its log
// group, and reserved concurrency if not zero.
func (s *Stack) newFunction(fn, description string, role awsiam.Role, memory int, timeout time.Duration, reserved int, env map[string]*string) awslambda.Function {
	var rc *float64
	if reserved > 0 {
		rc = jsii.Number(reserved)
	}
	return awslambda.NewFunction(s.Stack, jsii.String(constructID[fn]), &awslambda.FunctionProps{
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
	})
}

// alarms creates the alarm topic and the alarms, each notifying it.
func (s *Stack) alarms(name func(string) *string) {
	st, p := s.Stack, s.Props
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
		"EventBridge could not invoke the fan-out function: the day's fan-out did not run.",
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

// KeyChangeEvents are the KMS API calls on a SAS key that notify the
// alarm topic: a key administrator may rewrite the key policy
// (kms:PutKeyPolicy is theirs) and grant themselves or anyone Decrypt, a
// grant hands out Decrypt beside the policy, and a disabled or deleted key
// ends every Azure delivery of its residency.
var KeyChangeEvents = []string{"PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion", "DisableKey"}

// keyChangeRule is the EventBridge rule on the default bus that sends
// CloudTrail's record of a KeyChangeEvents call on one of the stack's SAS
// keys (matched by the key ARN CloudTrail puts in the record's resources,
// whatever key ID or alias the caller named) to the alarm topic, and the
// topic policy statement that lets EventBridge publish for this rule only.
// It is the L1 rule so that the target adds no statement of its own.
// EventBridge receives these events only while a CloudTrail trail logs
// the region's management events (docs/deploy.md, The SAS keys).
func (s *Stack) keyChangeRule() {
	st, p := s.Stack, s.Props
	keyArns := []*string{}
	for _, r := range Residencies {
		keyArns = append(keyArns, s.SASKeys[r].KeyArn())
	}
	s.KeyChanges = awsevents.NewCfnRule(st, jsii.String("KeyChanges"), &awsevents.CfnRuleProps{
		Description: jsii.String("auditlogs " + p.StageName + ": a SAS key's policy, grants, state or deletion changed (CloudTrail)"),
		State:       jsii.String("ENABLED"),
		EventPattern: map[string]interface{}{
			"source":      []string{"aws.kms"},
			"detail-type": []string{"AWS API Call via CloudTrail"},
			"detail": map[string]interface{}{
				"eventSource": []string{"kms.amazonaws.com"},
				"eventName":   KeyChangeEvents,
				"resources":   map[string]interface{}{"ARN": keyArns},
			},
		},
		Targets: []interface{}{&awsevents.CfnRule_TargetProperty{Id: jsii.String("AlarmTopic"), Arn: s.AlarmTopic.TopicArn()}},
	})
	s.AlarmTopic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("KeyChangeEvents"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{s.AlarmTopic.TopicArn()},
		Conditions: &map[string]interface{}{
			"ArnEquals": map[string]interface{}{"aws:SourceArn": s.KeyChanges.AttrArn()},
		},
	}))
}

// outputs are what an operator and customers need after a deploy.
func (s *Stack) outputs() {
	out := func(id, description string, value *string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out("CustomerTrustAccountId", "The AWS account customers' IAM roles must trust (with sts:ExternalId = their org ID)", awscdk.Aws_ACCOUNT_ID())
	out("EventsTableName", "The log store (AUDITLOG_EVENTS_TABLE)", s.EventsTable.TableName())
	out("RegistryTableName", "The destination registry (AUDITLOG_REGISTRY_TABLE)", s.RegistryTable.TableName())
	out("LedgerTableName", "The delivery ledger (AUDITLOG_LEDGER_TABLE)", s.LedgerTable.TableName())
	out("LogStoreRetentionDays", "How long the log store keeps events (the writer sets each item's TTL)", jsii.String(strconv.Itoa(s.Props.LogStoreRetentionDays)))
	for _, r := range Residencies {
		out("SasKey"+upperFirst(string(r))+"Arn", "The RSA-4096 key whose public key customers of residency "+string(r)+" encrypt their SAS URL to (AUDITLOG_KMS_KEY_"+strings.ToUpper(string(r))+")", s.SASKeys[r].KeyArn())
	}
	out("FanOutFunctionName", "The fan-out function", s.FanOut.FunctionName())
	out("ExportFunctionName", "The export function (AUDITLOG_EXPORT_FUNCTION)", s.Export.FunctionName())
	out("RetryFunctionName", "The retry function", s.Retry.FunctionName())
	out("IngestFunctionName", "The ingest function", s.Ingest.FunctionName())
	out("RequestLogStreamArn", "The Kinesis stream the platform writes its API request logs to (docs/ingest-format.md)", s.RequestLogs.StreamArn())
	out("RejectsBucketName", "Rejected request-log records, under rejects/<day>/ (AUDITLOG_REJECTS_BUCKET)", s.Rejects.BucketName())
	out("IngestFailuresQueueUrl", "Batches of request-log records the ingest gave up on (AUDITLOG_INGEST_FAILURES_QUEUE_URL, for auditctl ingest replay)", s.IngestFailures.QueueUrl())
	out("ExportFailuresQueueUrl", "The retry queue: failed exports (AUDITLOG_RETRY_QUEUE_URL)", s.ExportFailures.QueueUrl())
	out("ExportFailuresDlqUrl", "The retry queue's terminal dead-letter queue (AUDITLOG_RETRY_DLQ_URL, for auditctl redrive)", s.ExportFailuresDLQ.QueueUrl())
	out("FanOutFailuresQueueUrl", "Failed fan-outs", s.FanOutFailures.QueueUrl())
	out("FanOutFailuresDlqUrl", "The fanout-failures queue's dead-letter queue", s.FanOutFailuresDLQ.QueueUrl())
	out("ScheduleDlqUrl", "Schedule events EventBridge could not deliver to the fan-out", s.ScheduleDLQ.QueueUrl())
	out("AlarmTopicArn", "The SNS topic every alarm notifies", s.AlarmTopic.TopicArn())
	out("OperatorPolicyArn", "What auditctl needs: attach it to the operators' roles (docs/deploy.md)", s.OperatorPolicy.ManagedPolicyArn())
}

// newTable is a table of on-demand billing, point-in-time recovery,
// deletion protection, encryption with the AWS-managed key (aws/dynamodb:
// key use shows in CloudTrail, no key policy to keep), kept when removed
// from the stack. sk and ttl may be empty.
func newTable(scope constructs.Construct, id, pk, sk, ttl string) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(pk), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(true),
		Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	}
	if sk != "" {
		props.SortKey = &awsdynamodb.Attribute{Name: jsii.String(sk), Type: awsdynamodb.AttributeType_STRING}
	}
	if ttl != "" {
		props.TimeToLiveAttribute = jsii.String(ttl)
	}
	return awsdynamodb.NewTable(scope, jsii.String(id), props)
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

// newFunctionRole is a Lambda execution role with no managed policy (the
// basic execution policy's logs:CreateLogGroup on * is not needed: the
// stack creates the log groups).
func newFunctionRole(scope constructs.Construct, id, description string) awsiam.Role {
	return awsiam.NewRole(scope, jsii.String(id), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(description),
	})
}

// newSASKey is the RSA-4096 key of a residency. Its policy is the whole
// policy (no default `kms:*` for the account root): the admins manage it
// and read its public key, and only the decrypters (the roles of the
// functions that deliver) and the operators (KeyOperatorArns, who check
// SAS URLs with auditctl) decrypt, with the algorithm internal/sas uses.
func newSASKey(scope constructs.Construct, id, stage string, r sas.Residency, admins, decrypters, operators []awsiam.IPrincipal) awskms.Key {
	decrypt := func(sid string, who []awsiam.IPrincipal) awsiam.PolicyStatement {
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(sid),
			Principals: &who,
			Actions:    jsii.Strings("kms:Decrypt"),
			Resources:  jsii.Strings("*"),
			Conditions: &map[string]interface{}{
				"StringEquals": map[string]interface{}{"kms:EncryptionAlgorithm": string(sas.Algorithm)},
			},
		})
	}
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeyAdministration"),
			Principals: &admins,
			Actions:    jsii.Strings(KeyAdminActions...),
			Resources:  jsii.Strings("*"), // in a key policy: this key
		}),
		decrypt("DeliveriesDecryptSasCiphers", decrypters),
	}
	if len(operators) > 0 {
		statements = append(statements, decrypt("OperatorsCheckSasCiphers", operators))
	}
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})
	return awskms.NewKey(scope, jsii.String(id), &awskms.KeyProps{
		Alias:         jsii.String("alias/auditlogs-" + stage + "-sas-" + string(r)),
		Description:   jsii.String("auditlogs " + stage + ": decrypts customers' Azure SAS URLs of residency " + string(r)),
		KeySpec:       awskms.KeySpec_RSA_4096,
		KeyUsage:      awskms.KeyUsage_ENCRYPT_DECRYPT,
		Policy:        doc,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
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

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
