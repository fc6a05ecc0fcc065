package stack

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/internal/config"
	"github.com/contentful/auditlogs/internal/lake"
)

// Compaction is the daily compaction of the lake: the Step Functions
// state machine (STANDARD) whose Distributed Map runs the compaction
// function once per org bucket, its role and log group, and the
// EventBridge rule that starts it, with its role. The function itself is
// one of Lambdas (Compact, CompactRole).
type Compaction struct {
	StateMachine     awsstepfunctions.CfnStateMachine
	StateMachineRole awsiam.Role
	StateMachineLogs awslogs.LogGroup
	// CompactionSchedule starts the state machine daily
	// (CompactionSchedule of the props); CompactionScheduleRole is what
	// EventBridge starts it as.
	CompactionSchedule     awsevents.Rule
	CompactionScheduleRole awsiam.Role
}

// The compaction's tuning.
const (
	// compactMemory is one full vCPU (Lambda gives one at 1,769 MB): the
	// sorts and gzip are one goroutine each at a time.
	compactMemory = 1769
	// compactTimeout is Lambda's maximum: a bucket-day of a busy day,
	// and the week of look-back.
	compactTimeout = 15 * time.Minute
	// compactEphemeralGiB is /tmp, where the external sorts write their
	// runs: a bucket-day's records twice over, with room.
	compactEphemeralGiB = 10
	// CompactionMaxConcurrency is the Distributed Map's: 16 buckets at a
	// time, 4 rounds for the 64 buckets.
	CompactionMaxConcurrency = 16
	// compactionTimeout bounds an execution: 4 rounds of at most four
	// 15-minute attempts with their backoff is about 4 hours 15 minutes.
	compactionTimeout = 6 * time.Hour
	// The retry of a bucket's compaction that failed for a transient
	// reason (a Lambda error, a timeout, an S3 error): 30 s, 60 s, 120 s.
	compactRetryInterval = 30 * time.Second
	compactRetryAttempts = 3
	compactRetryBackoff  = 2
	// BadEventErrorType is compactfn.BadEventError's Lambda error type
	// (the Go runtime names an error by its type): an event the function
	// cannot act on, which no retry fixes. A test checks the name.
	BadEventErrorType = "BadEventError"
	// compactMapLabel labels the Map's runs (and its child executions'
	// names).
	compactMapLabel = "CompactBuckets"
)

// TransientLambdaErrors are the errors of a compaction that the state
// machine retries with backoff, after BadEventError (never retried):
// Lambda's own transient errors and States.TaskFailed, which matches
// every other error of the task (the function's, a timeout) but
// States.Timeout.
var TransientLambdaErrors = []string{
	"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
	"States.TaskFailed",
}

// compaction builds the compaction function, the state machine and the
// daily schedule.
func (s *Stack) compaction(name func(string) *string) {
	st, p := s.Stack, s.Props

	// --- the compaction function -----------------------------------------
	s.Compact = s.newFunction(CompactFunction, "compacts one org bucket of the lake's raw objects into one object per org-day, for the state machine",
		s.CompactRole, compactMemory, compactTimeout, 0, map[string]*string{
			config.EnvLakeBucket:  s.LakeBucket.BucketName(),
			config.EnvLedgerTable: s.LedgerTable.TableName(), // late events mark org-days stale
		}, func(fp *awslambda.FunctionProps) {
			fp.EphemeralStorageSize = awscdk.Size_Gibibytes(jsii.Number(compactEphemeralGiB))
		})

	// --- the state machine -----------------------------------------------
	smName := name("compaction")
	s.StateMachineLogs = awslogs.NewLogGroup(st, jsii.String("CompactionLogs"), &awslogs.LogGroupProps{
		// Step Functions' recommended prefix for vended logs keeps the
		// account's CloudWatch Logs resource policy small.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + *smName),
		Retention:     logRetention[p.LogRetentionDays],
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.StateMachineRole = awsiam.NewRole(st, jsii.String("CompactionRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}},
		}),
		Description: jsii.String("auditlogs " + p.StageName + ": the compaction state machine"),
	})
	// The state machine's own ARN and its executions', from its name: a
	// reference to the resource would make the role's policy depend on
	// the state machine, which depends on the policy.
	arn := func(resource string) *string {
		return jsii.String(fmt.Sprintf("arn:%s:states:%s:%s:%s", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID(), resource))
	}
	policy := awsiam.NewPolicy(st, jsii.String("CompactionPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{s.StateMachineRole},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("InvokeCompact"),
				Actions:   jsii.Strings("lambda:InvokeFunction"),
				Resources: &[]*string{s.Compact.FunctionArn()},
			}),
			// A Distributed Map runs its items as child executions of the
			// state machine itself, and describes and stops them.
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("StartMapRuns"),
				Actions:   jsii.Strings("states:StartExecution"),
				Resources: &[]*string{arn("stateMachine:" + *smName)},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:     jsii.String("ManageMapRuns"),
				Actions: jsii.Strings("states:DescribeExecution", "states:StopExecution"),
				// Its executions (name:id) and the Map's child executions
				// (name/label:id).
				Resources: &[]*string{arn("execution:" + *smName + ":*"), arn("execution:" + *smName + "/*")},
			}),
			// Logging to CloudWatch Logs goes through a log delivery,
			// which these actions manage; they take no resource but "*".
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid: jsii.String("DeliverLogs"),
				Actions: jsii.Strings("logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
					"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"),
				Resources: jsii.Strings("*"),
			}),
		},
	})
	def, err := json.Marshal(CompactionDefinition())
	if err != nil {
		panic(err) // a map of strings, numbers and lists
	}
	// The partition is joined in (Fn::Join) rather than substituted, so
	// that cfn-lint, which validates the definition, reads the resolved
	// ARN of the Lambda integration.
	definition := strings.ReplaceAll(string(def), "${Partition}", *awscdk.Aws_PARTITION())
	s.StateMachine = awsstepfunctions.NewCfnStateMachine(st, jsii.String("CompactionStateMachine"), &awsstepfunctions.CfnStateMachineProps{
		StateMachineName: smName,
		StateMachineType: jsii.String("STANDARD"),
		RoleArn:          s.StateMachineRole.RoleArn(),
		DefinitionString: jsii.String(definition),
		DefinitionSubstitutions: &map[string]*string{
			"CompactFunctionArn": s.Compact.FunctionArn(),
		},
		LoggingConfiguration: &awsstepfunctions.CfnStateMachine_LoggingConfigurationProperty{
			Level:                jsii.String("ERROR"),
			IncludeExecutionData: jsii.Bool(true),
			Destinations: &[]*awsstepfunctions.CfnStateMachine_LogDestinationProperty{{
				CloudWatchLogsLogGroup: &awsstepfunctions.CfnStateMachine_CloudWatchLogsLogGroupProperty{LogGroupArn: s.StateMachineLogs.LogGroupArn()},
			}},
		},
	})
	// Step Functions checks the log delivery's permissions when it
	// creates the state machine.
	s.StateMachine.Node().AddDependency(policy)

	// --- the schedule ----------------------------------------------------
	// Daily at 00:30 UTC (DefaultCompactionSchedule: why then, and why
	// before the fan-out). The execution's input is the scheduled event,
	// whose time the state machine hands the function: it compacts the
	// day before and looks back a week for late events.
	s.CompactionScheduleRole = awsiam.NewRole(st, jsii.String("CompactionScheduleRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil),
		Description: jsii.String("auditlogs " + p.StageName + ": EventBridge starting the daily compaction"),
	})
	s.CompactionSchedule = awsevents.NewRule(st, jsii.String("CompactionSchedule"), &awsevents.RuleProps{
		Description: jsii.String("auditlogs " + p.StageName + ": the daily compaction of the lake, before the fan-out"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(p.CompactionSchedule)),
	})
	// The target grants the role states:StartExecution on this state
	// machine only; a start EventBridge could not make lands in the
	// schedules' dead-letter queue, as the fan-out's does.
	s.CompactionSchedule.AddTarget(awseventstargets.NewSfnStateMachine(
		awsstepfunctions.StateMachine_FromStateMachineArn(st, jsii.String("CompactionStateMachineRef"), s.StateMachine.AttrArn()),
		&awseventstargets.SfnStateMachineProps{
			Role:            s.CompactionScheduleRole,
			RetryAttempts:   jsii.Number(8),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(2)),
			DeadLetterQueue: s.ScheduleDLQ,
		}))
}

// CompactionDefinition is the compaction state machine's definition (the
// Amazon States Language, JSONPath), with the placeholders ${Partition}
// (joined in at synth) and ${CompactFunctionArn} (a definition
// substitution):
//
//   - Input chooses by the execution's input: {"day": "YYYY-MM-DD"} (a
//     manual run) compacts that day; a scheduled event, which has a
//     "time", compacts the closed days before it (compactfn: the day
//     before, and a week of look-back for late events); anything else
//     fails at once.
//   - ForDay or ForTime builds the org buckets 0 to lake.Buckets-1
//     (States.ArrayRange) beside the day or the time.
//   - CompactBuckets, a Distributed Map of inline items, invokes the
//     compaction function once per bucket ({"bucket", "day", "time"},
//     compactfn.Event), CompactionMaxConcurrency at a time, each a
//     STANDARD child execution. A BadEventError fails the bucket at once;
//     a transient error is retried 3 times with backoff. No failure is
//     tolerated: one failed bucket fails the execution (its alarm). The
//     buckets' results are dropped (ResultPath null): they are in the
//     child executions and the function's log.
func CompactionDefinition() map[string]interface{} {
	buckets := fmt.Sprintf("States.ArrayRange(0, %d, 1)", lake.Buckets-1)
	compact := map[string]interface{}{
		"Type":     "Task",
		"Resource": "arn:${Partition}:states:::lambda:invoke",
		"Parameters": map[string]interface{}{
			"FunctionName": "${CompactFunctionArn}",
			"Payload.$":    "$",
		},
		// What the execution's history keeps of a bucket: its number and
		// how many org-days late events changed.
		"ResultSelector": map[string]interface{}{"bucket.$": "$.Payload.bucket", "changed.$": "$.Payload.changed"},
		// In order: the first retrier whose errors match is the one used,
		// so BadEventError (which States.TaskFailed would also match) is
		// first, and never retried.
		"Retry": []interface{}{
			map[string]interface{}{"ErrorEquals": []string{BadEventErrorType}, "MaxAttempts": 0},
			map[string]interface{}{
				"ErrorEquals":     TransientLambdaErrors,
				"IntervalSeconds": int(compactRetryInterval.Seconds()),
				"MaxAttempts":     compactRetryAttempts,
				"BackoffRate":     compactRetryBackoff,
			},
		},
		"End": true,
	}
	return map[string]interface{}{
		"Comment":        "auditlogs: compacts the lake's raw objects, one org bucket per item (docs/lake.md)",
		"StartAt":        "Input",
		"TimeoutSeconds": int(compactionTimeout.Seconds()),
		"States": map[string]interface{}{
			"Input": map[string]interface{}{
				"Type": "Choice",
				"Choices": []interface{}{
					map[string]interface{}{"Variable": "$.day", "IsPresent": true, "Next": "ForDay"},
					map[string]interface{}{"Variable": "$.time", "IsPresent": true, "Next": "ForTime"},
				},
				"Default": "NoDayOrTime",
			},
			"ForDay": map[string]interface{}{
				"Type":       "Pass",
				"Parameters": map[string]interface{}{"buckets.$": buckets, "day.$": "$.day", "time": ""},
				"Next":       "CompactBuckets",
			},
			"ForTime": map[string]interface{}{
				"Type":       "Pass",
				"Parameters": map[string]interface{}{"buckets.$": buckets, "day": "", "time.$": "$.time"},
				"Next":       "CompactBuckets",
			},
			"NoDayOrTime": map[string]interface{}{
				"Type":  "Fail",
				"Error": "BadInput",
				"Cause": `The input names neither a "day" (YYYY-MM-DD) nor a "time" (a scheduled event's).`,
			},
			"CompactBuckets": map[string]interface{}{
				"Type":      "Map",
				"Label":     compactMapLabel,
				"ItemsPath": "$.buckets",
				"ItemSelector": map[string]interface{}{
					"bucket.$": "$$.Map.Item.Value",
					"day.$":    "$.day",
					"time.$":   "$.time",
				},
				"MaxConcurrency":             CompactionMaxConcurrency,
				"ToleratedFailurePercentage": 0,
				"ItemProcessor": map[string]interface{}{
					"ProcessorConfig": map[string]interface{}{"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
					"StartAt":         "Compact",
					"States":          map[string]interface{}{"Compact": compact},
				},
				"ResultPath": nil,
				"End":        true,
			},
		},
	}
}
