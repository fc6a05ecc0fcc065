// Package stack defines the audit-log delivery stack: the log store, an
// S3 data lake (docs/lake.md) filled by a Firehose stream and compacted
// daily by a Step Functions state machine running the compaction
// function, with a Glue catalog over it for Athena; the DynamoDB tables
// (destination registry, delivery ledger); the Kinesis stream of API
// request logs and the ingest function that hands its audited requests to
// the lake's stream (with its bucket of rejected records); the KMS keys
// that decrypt customers' SAS URLs and the one that signs the manifests
// of delivered files; the fan-out, export and retry Lambda
// functions; the daily schedules; the failure and dead-letter queues; the
// self-service HTTP API (API Gateway and its function); and the alarms
// (docs/deploy.md).
//
// The stack is environment-agnostic (no account or region is fixed at
// synth time): `cdk deploy` takes them from the caller's credentials.
// Every IAM statement is written out by hand, scoped to the one resource it
// needs, so that the synthesized policies read as the list of what each
// function may do.
//
// The files follow the stack's concerns: stack.go holds the props and New,
// which builds the groups in the order of the template; storage.go the
// tables, the request-log stream and the rejects bucket; lake.go the
// lake's bucket and the Firehose stream that writes its raw objects;
// compaction.go the compaction function, its state machine and schedule;
// catalog.go the Glue catalog and the Athena workgroup over the lake;
// queues.go the SQS queues; keys.go the SAS keys, the signing key and the
// rule reporting changes to them; functions.go the Lambda functions with their roles, log
// groups, environments and triggers; api.go the HTTP API and its
// function; grants.go their IAM statements and
// the operators' policy; alarms.go the alarm topic and the alarms;
// outputs.go the stack's outputs; context.go the CDK context. Every resource is
// created in the stack's own scope, not in a nested construct, so that
// its logical ID is its construct ID's: a changed logical ID would
// replace a deployed table, key or queue.
//
// The stack may import the leaves that hold what it shares with the
// functions: internal/exportjob (the export's timeout and lease),
// internal/retryschedule (the retry queue's settings), internal/metrics
// (the metric names it alarms on), internal/grants (the IAM statements),
// internal/sas, internal/lake (the lake's layout), lakestore (its
// retention) and the tables' attribute names (registry, ledger). It must
// not import a function's package (internal/*fn): internal/localdev/layout
// checks that.
package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/sas"
)

// Defaults of StackProps.
const (
	DefaultStageName = "dev"
	DefaultSchedule  = "cron(0 1 * * ? *)" // daily, 01:00 UTC
	// DefaultCompactionSchedule starts the compaction state machine
	// daily at 00:30 UTC: the day closed at midnight, Firehose has
	// flushed its last buffers (at most 900 s, 1.5 times that end to end),
	// and compactfn.Margin (30 minutes) has passed, so the run compacts
	// the day before (and looks back a week for late events). It runs
	// half an hour before the fan-out (DefaultSchedule), which delivers
	// that day: an export that reaches a bucket not compacted yet fails
	// transiently (lakestore.ErrNotCompacted) and the retry queue runs it
	// again.
	DefaultCompactionSchedule        = "cron(30 0 * * ? *)"
	DefaultExportReservedConcurrency = 50
	DefaultRetryMaxConcurrency       = 10
	DefaultFanOutConcurrency         = config.DefaultFanOutConcurrency
	DefaultLogRetentionDays          = 90
	DefaultCodeDir                   = "../build" // relative to infra/, where cdk runs the app
)

// DefaultLogStoreRetentionDays is how long the log store keeps an event:
// the lake's default retention (lakestore.DefaultRetention), its lifecycle
// rule on the org-day objects.
var DefaultLogStoreRetentionDays = int(lakestore.DefaultRetention / (24 * time.Hour))

// Function names, as the folders under functions/ and build/ name them.
const (
	FanOutFunction  = "fanout"
	ExportFunction  = "export"
	RetryFunction   = "retry"
	IngestFunction  = "ingest"
	CompactFunction = "compact"
	APIFunction     = "api"
)

// Functions are the functions the stack deploys, one per folder of
// functions/ (a test checks that none is missing).
var Functions = []string{FanOutFunction, ExportFunction, RetryFunction, IngestFunction, CompactFunction, APIFunction}

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
	// CompactionSchedule is the EventBridge schedule of the compaction
	// state machine, which should run after compactfn.Margin (30 minutes)
	// past midnight and before the fan-out. Default
	// DefaultCompactionSchedule (daily at 00:30 UTC).
	CompactionSchedule string
	// LogStoreRetentionDays is how long the log store keeps events
	// (AUDITLOG_LOG_STORE_RETENTION_DAYS): the lifecycle rule that expires
	// the lake's org-day objects, the oldest day the export delivers, and
	// how long rejected records are kept. At least 2, so yesterday's
	// events are still there for the export and its retries. Default 35
	// (lakestore.DefaultRetention).
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
	// registered, and read the signing key's public half (`auditctl keys
	// public --purpose signing`; never sign). Default none: those commands
	// then fail for Azure destinations with a clear "may not decrypt"
	// error (the public keys remain readable through the operator policy
	// while the account root administers the keys).
	KeyOperatorArns []string
	// IngestIncludePOST makes the ingest audit creates (POST) as well
	// (AUDITLOG_INGEST_INCLUDE_POST). Default false, as the product doc
	// says.
	IngestIncludePOST bool
	// LogRetentionDays is the functions' CloudWatch Logs retention, one of
	// the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...).
	// Default 90.
	LogRetentionDays int

	// The self-service HTTP API's bearer tokens, the platform identity
	// provider's: APIIssuer (their iss, an https URL whose OpenID
	// discovery document API Gateway's JWT authorizer reads) and
	// APIAudience (their aud) are required, with no default: a stack
	// that trusted some placeholder issuer would be worse than none.
	// APIJWKSURL is the provider's key set, which the api function checks
	// the tokens against again; default DefaultJWKSURL(APIIssuer).
	APIIssuer, APIAudience, APIJWKSURL string
	// APICorsOrigins are the browser origins (https://console.example.com)
	// that may call the API; default none (no CORS).
	APICorsOrigins []string
}

// Defaults returns p with every unset field set to its default.
func (p StackProps) Defaults() StackProps {
	if p.StageName == "" {
		p.StageName = DefaultStageName
	}
	if p.ScheduleExpression == "" {
		p.ScheduleExpression = DefaultSchedule
	}
	if p.CompactionSchedule == "" {
		p.CompactionSchedule = DefaultCompactionSchedule
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
	if p.APIJWKSURL == "" && p.APIIssuer != "" {
		p.APIJWKSURL = DefaultJWKSURL(p.APIIssuer)
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
	if !scheduleRE.MatchString(p.CompactionSchedule) {
		return fmt.Errorf("compaction schedule %q: want an EventBridge cron(...) or rate(...) expression", p.CompactionSchedule)
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
	if err := p.checkAPI(); err != nil {
		return err
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

// Stack is the deployed stack and the constructs tests and callers need,
// grouped by concern. Each group is built in its own file (storage.go,
// lake.go, compaction.go, catalog.go, queues.go, keys.go, functions.go,
// api.go, alarms.go; the grants in grants.go, the outputs in outputs.go), every
// resource directly in the stack's scope, so that a resource's logical ID
// is its construct ID's.
type Stack struct {
	awscdk.Stack
	Props StackProps // with defaults filled in

	Storage
	Lake
	Compaction
	Catalog
	Queues
	Keys
	Lambdas
	Gateway
	Monitoring

	// OperatorPolicy is what auditctl needs (internal/grants), a managed
	// policy for the operators to attach to their own roles (grants.go).
	OperatorPolicy awsiam.ManagedPolicy
}

// New builds the stack under scope. The groups are built in the order
// their resources appear in the template; each step uses only what the
// steps before it built.
func New(scope constructs.Construct, id string, props StackProps) (*Stack, error) {
	p := props.Defaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	st := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	s := &Stack{Stack: st, Props: p}
	awscdk.Tags_Of(st).Add(jsii.String("service"), jsii.String("auditlogs"), nil)
	awscdk.Tags_Of(st).Add(jsii.String("stage"), jsii.String(p.StageName), nil)
	name := func(suffix string) *string { return jsii.String("auditlogs-" + p.StageName + "-" + suffix) }

	s.tables()                // storage.go
	s.queues(name)            // queues.go
	s.roles()                 // functions.go: roles and log groups
	s.sasKeys()               // keys.go: decryptable by the export's and retry's roles
	s.signingKey()            // keys.go: the export's and retry's roles sign with it
	s.lakeStorage(name)       // lake.go: the lake's bucket, the Firehose stream of raw records
	s.deliveryFunctions()     // functions.go: export, retry, fan-out
	s.schedule()              // functions.go: the fan-out's daily trigger
	s.requestLogStorage(name) // storage.go: the request-log stream, the rejects bucket
	s.ingestFunction()        // functions.go
	s.compaction(name)        // compaction.go: the function, its state machine and schedule
	s.catalog(name)           // catalog.go: Glue and Athena over the lake
	s.apiFunction()           // api.go: the HTTP API's function
	s.httpAPI(name)           // api.go: the HTTP API, its authorizer, routes and stage
	s.grantAll(name)          // grants.go
	s.alarms(name)            // alarms.go
	s.keyChangeRule()         // keys.go: notifies the alarm topic
	s.outputs()               // outputs.go
	return s, nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
