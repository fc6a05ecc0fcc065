package stack_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/lake"
)

// stateMachine returns the compaction state machine's resource and its
// parsed definition.
func stateMachine(t *testing.T, s *synthesized) (map[string]interface{}, map[string]interface{}) {
	t.Helper()
	r := s.resource(t, *s.st.GetLogicalId(s.st.StateMachine))
	if r["Type"] != "AWS::StepFunctions::StateMachine" {
		t.Fatalf("state machine is a %v", r["Type"])
	}
	// A string with the partition joined in (Fn::Join, rendered as
	// ${Ref:AWS::Partition}).
	raw := render(prop(r, "Properties", "DefinitionString"))
	var def map[string]interface{}
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		t.Fatalf("definition: %v", err)
	}
	return r, def
}

// TestCompactionStateMachine: STANDARD; the input's day, or the scheduled
// event's time, beside the 64 buckets (States.ArrayRange); then a
// Distributed Map of inline items, 16 at a time, no failure tolerated,
// invoking the compaction function per bucket, whose retriers are, in
// order, BadEventError never retried, then Lambda's transient errors and
// States.TaskFailed 3 times from 30 s doubling; logging to its log group.
func TestCompactionStateMachine(t *testing.T) {
	s := defaults(t)
	r, def := stateMachine(t, s)
	p := r["Properties"].(map[string]interface{})
	if p["StateMachineType"] != "STANDARD" || p["StateMachineName"] != "auditlogs-dev-compaction" {
		t.Errorf("state machine %v of type %v", p["StateMachineName"], p["StateMachineType"])
	}
	if v := render(p["RoleArn"]); v != "${"+s.id(t, s.st.StateMachineRole)+".Arn}" {
		t.Errorf("role %s", v)
	}
	subs := map[string]string{}
	for k, v := range p["DefinitionSubstitutions"].(map[string]interface{}) {
		subs[k] = render(v)
	}
	if want := map[string]string{"CompactFunctionArn": "${" + s.id(t, s.st.Compact) + ".Arn}"}; !reflect.DeepEqual(subs, want) {
		t.Errorf("substitutions %v, want %v", subs, want)
	}
	lc := p["LoggingConfiguration"].(map[string]interface{})
	dests := list2(lc["Destinations"])
	if lc["Level"] != "ERROR" || len(dests) != 1 ||
		render(prop(dests[0].(map[string]interface{}), "CloudWatchLogsLogGroup", "LogGroupArn")) != "${"+s.id(t, s.st.StateMachineLogs)+".Arn}" {
		t.Errorf("logging %s", render(lc))
	}
	if deps := list(r["DependsOn"]); !contains(deps, policyOf(t, s, s.id(t, s.st.StateMachineRole))) {
		t.Errorf("state machine depends on %v, want its role's policy (the log delivery is checked at creation)", deps)
	}

	if def["StartAt"] != "Input" || def["TimeoutSeconds"] != float64(6*3600) {
		t.Errorf("starts at %v, times out after %v s", def["StartAt"], def["TimeoutSeconds"])
	}
	states := def["States"].(map[string]interface{})
	state := func(name string) map[string]interface{} {
		st, ok := states[name].(map[string]interface{})
		if !ok {
			t.Fatalf("no state %s in %v", name, states)
		}
		return st
	}
	// The input: a day, a scheduled event's time, or a failure.
	choice := state("Input")
	if choice["Type"] != "Choice" || choice["Default"] != "NoDayOrTime" || state("NoDayOrTime")["Type"] != "Fail" {
		t.Errorf("Input %v", choice)
	}
	var routes []string
	for _, c := range list2(choice["Choices"]) {
		c := c.(map[string]interface{})
		routes = append(routes, fmt.Sprintf("%v present -> %v", c["Variable"], c["Next"]))
		if c["IsPresent"] != true {
			t.Errorf("choice %v", c)
		}
	}
	if want := []string{"$.day present -> ForDay", "$.time present -> ForTime"}; !reflect.DeepEqual(routes, want) {
		t.Errorf("choices %v, want %v", routes, want)
	}
	buckets := fmt.Sprintf("States.ArrayRange(0, %d, 1)", lake.Buckets-1)
	if buckets != "States.ArrayRange(0, 63, 1)" {
		t.Errorf("buckets %s", buckets)
	}
	for name, params := range map[string]map[string]interface{}{
		"ForDay":  {"buckets.$": buckets, "day.$": "$.day", "time": ""},
		"ForTime": {"buckets.$": buckets, "day": "", "time.$": "$.time"},
	} {
		st := state(name)
		if st["Type"] != "Pass" || st["Next"] != "CompactBuckets" || !reflect.DeepEqual(st["Parameters"], params) {
			t.Errorf("%s: %v, want a Pass of %v to CompactBuckets", name, st, params)
		}
	}

	m := state("CompactBuckets")
	for k, want := range map[string]interface{}{
		"Type": "Map", "ItemsPath": "$.buckets", "MaxConcurrency": float64(16), "ToleratedFailurePercentage": float64(0), "End": true,
	} {
		if m[k] != want {
			t.Errorf("Map %s = %v, want %v", k, m[k], want)
		}
	}
	if v, ok := m["ResultPath"]; !ok || v != nil {
		t.Errorf("Map ResultPath %v (set: %v), want null: 64 buckets' results would grow the execution's state", v, ok)
	}
	if _, ok := m["ItemReader"]; ok {
		t.Error("Map reads its items from S3: they are inline")
	}
	proc := m["ItemProcessor"].(map[string]interface{})
	if want := map[string]interface{}{"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}; !reflect.DeepEqual(proc["ProcessorConfig"], want) {
		t.Errorf("processor config %v, want %v", proc["ProcessorConfig"], want)
	}
	// Each item is a compactfn.Event: the bucket, and the day or the
	// time.
	n := 17
	evJSON, _ := json.Marshal(compactfn.Event{Bucket: &n, Day: "d", Time: "t"})
	var ev map[string]interface{}
	json.Unmarshal(evJSON, &ev)
	var fields, selected []string
	for k := range ev {
		fields = append(fields, k+".$")
	}
	for k := range m["ItemSelector"].(map[string]interface{}) {
		selected = append(selected, k)
	}
	sort.Strings(fields)
	sort.Strings(selected)
	if !reflect.DeepEqual(fields, selected) || prop(m, "ItemSelector", "bucket.$") != "$$.Map.Item.Value" {
		t.Errorf("items %v, want compactfn.Event's fields %v, the bucket the item's value", m["ItemSelector"], fields)
	}

	task := prop(proc, "States", "Compact").(map[string]interface{})
	if proc["StartAt"] != "Compact" || task["Type"] != "Task" || task["Resource"] != "arn:${Ref:AWS::Partition}:states:::lambda:invoke" ||
		prop(task, "Parameters", "FunctionName") != "${CompactFunctionArn}" || prop(task, "Parameters", "Payload.$") != "$" || task["End"] != true {
		t.Errorf("task %v", task)
	}
	// The retriers, in order: the first that matches is used.
	var retriers []string
	for _, r := range list2(task["Retry"]) {
		r := r.(map[string]interface{})
		retriers = append(retriers, fmt.Sprintf("%v attempts=%v interval=%v backoff=%v", r["ErrorEquals"], r["MaxAttempts"], r["IntervalSeconds"], r["BackoffRate"]))
	}
	want := []string{
		"[BadEventError] attempts=0 interval=<nil> backoff=<nil>",
		"[Lambda.ServiceException Lambda.AWSLambdaException Lambda.SdkClientException Lambda.TooManyRequestsException States.TaskFailed] attempts=3 interval=30 backoff=2",
	}
	if !reflect.DeepEqual(retriers, want) {
		t.Errorf("retriers\n got %q\nwant %q", retriers, want)
	}
	// States.ALL would catch BadEventError: it is not used at all.
	for _, r := range list2(task["Retry"]) {
		if slices.Contains(list(r.(map[string]interface{})["ErrorEquals"]), "States.ALL") {
			t.Errorf("retrier %v retries every error", r)
		}
	}
	if task["Catch"] != nil {
		t.Errorf("task catches %v: a failed bucket must fail the execution", task["Catch"])
	}
	// The error type the function's Go runtime reports for a bad event.
	if name := reflect.TypeOf(compactfn.BadEventError{}).Name(); name != stack.BadEventErrorType {
		t.Errorf("compactfn's error type is %s, the state machine excludes %s", name, stack.BadEventErrorType)
	}
	// The definition is the exported one, with the partition joined in.
	if b, _ := json.Marshal(stack.CompactionDefinition()); render(p["DefinitionString"]) != strings.ReplaceAll(string(b), "${Partition}", "${Ref:AWS::Partition}") {
		t.Error("the synthesized definition is not CompactionDefinition's")
	}
}

// TestCompactionLogs: the compaction function's log group has
// the stack's retention, and the state machine's log group too.
func TestCompactionLogs(t *testing.T) {
	s := defaults(t)
	for _, id := range []string{s.id(t, s.st.LogGroups[stack.CompactFunction]), s.id(t, s.st.StateMachineLogs)} {
		if v := prop(s.resource(t, id), "Properties", "RetentionInDays"); v != float64(90) {
			t.Errorf("log group %s: retention %v, want 90", id, v)
		}
	}
	if v := prop(s.resource(t, s.id(t, s.st.StateMachineLogs)), "Properties", "LogGroupName"); v != "/aws/vendedlogs/states/auditlogs-dev-compaction" {
		t.Errorf("state machine log group %v", v)
	}
}

// TestCompactionSchedule: daily at 00:30 UTC, after compactfn.Margin past
// midnight (the day is closed and Firehose has flushed), and before the
// fan-out at 01:00, which delivers that day; EventBridge starts the state
// machine as a role that may do only that, retrying, into the schedules'
// dead-letter queue.
func TestCompactionSchedule(t *testing.T) {
	s := defaults(t)
	checkCompactionSchedule(t, s, stack.DefaultCompactionSchedule)
	if stack.DefaultCompactionSchedule != "cron(30 0 * * ? *)" {
		t.Errorf("default compaction schedule %q", stack.DefaultCompactionSchedule)
	}
	compaction, fanOut := minuteOfDay(t, stack.DefaultCompactionSchedule), minuteOfDay(t, stack.DefaultSchedule)
	if time.Duration(compaction)*time.Minute < compactfn.Margin {
		t.Errorf("compaction at minute %d of the day, before compactfn.Margin (%s) has passed", compaction, compactfn.Margin)
	}
	if compaction >= fanOut {
		t.Errorf("compaction at minute %d, the fan-out at %d: want compaction first", compaction, fanOut)
	}
}

// minuteOfDay reads a daily cron(M H * * ? *).
func minuteOfDay(t *testing.T, expr string) int {
	t.Helper()
	var m, h int
	if _, err := fmt.Sscanf(expr, "cron(%d %d * * ? *)", &m, &h); err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return h*60 + m
}

func checkCompactionSchedule(t *testing.T, s *synthesized, want string) {
	t.Helper()
	r := s.resource(t, s.id(t, s.st.CompactionSchedule))
	p := r["Properties"].(map[string]interface{})
	if p["ScheduleExpression"] != want || p["State"] != "ENABLED" {
		t.Errorf("compaction schedule %v (%v), want %q", p["ScheduleExpression"], p["State"], want)
	}
	targets := list2(p["Targets"])
	if len(targets) != 1 {
		t.Fatalf("compaction schedule: %d targets", len(targets))
	}
	tg := targets[0].(map[string]interface{})
	if a := render(tg["Arn"]); a != "${"+*s.st.GetLogicalId(s.st.StateMachine)+".Arn}" {
		t.Errorf("compaction schedule targets %s", a)
	}
	if a := render(tg["RoleArn"]); a != "${"+s.id(t, s.st.CompactionScheduleRole)+".Arn}" {
		t.Errorf("compaction schedule starts it as %s", a)
	}
	// The execution's input is the scheduled event (its time): no input
	// of the target's own.
	if tg["Input"] != nil || tg["InputPath"] != nil || tg["InputTransformer"] != nil {
		t.Errorf("compaction schedule input %v", tg)
	}
	if n, _ := prop(tg, "RetryPolicy", "MaximumRetryAttempts").(float64); n < 1 {
		t.Errorf("retries %v", n)
	}
	if d := render(prop(tg, "DeadLetterConfig", "Arn")); d != "${"+s.id(t, s.st.ScheduleDLQ)+".Arn}" {
		t.Errorf("dead-letter queue %s", d)
	}
}
