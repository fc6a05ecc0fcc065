package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/infra/stack"
)

// TestMain silences the jsii runtime's end-of-life warning for Node 20.
// The jsii client captures the environment when it is created, which
// happens while the CDK packages register their types (package init,
// before TestMain), though node itself starts only at the first call: so
// set the variable, then drop that not-yet-started client; the next call
// creates one with this environment (the type registry is kept).
func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	jsii.Close()
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// synthesized is a stack and its template as JSON.
type synthesized struct {
	st   *stack.Stack
	tmpl assertions.Template
	json map[string]interface{}
}

// resources returns the template's resources of type typ, by logical ID.
func (s *synthesized) resources(typ string) map[string]map[string]interface{} {
	out := map[string]map[string]interface{}{}
	for id, r := range s.json["Resources"].(map[string]interface{}) {
		r := r.(map[string]interface{})
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// resource returns the resource with logical ID id.
func (s *synthesized) resource(t *testing.T, id string) map[string]interface{} {
	t.Helper()
	r, ok := s.json["Resources"].(map[string]interface{})[id].(map[string]interface{})
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	return r
}

// id is the logical ID of a construct's CloudFormation resource.
func (s *synthesized) id(t *testing.T, c constructs.IConstruct) string {
	t.Helper()
	el, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		t.Fatalf("%s has no CloudFormation resource", *c.Node().Path())
	}
	return *s.st.GetLogicalId(el)
}

// codeDir is a folder holding a dummy bootstrap per function.
func codeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, fn := range stack.Functions {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cdkContext is infra/cdk.json's context: the feature flags `cdk synth`
// runs with, so the tests check what is deployed.
func cdkContext(t *testing.T) map[string]interface{} {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return c.Context
}

// The HTTP API's token settings of the tests' stacks, which a deploy
// must give (they have no defaults).
const (
	testIssuer   = "https://idp.example.com"
	testAudience = "auditlogs"
)

// withAPI is p with the tests' issuer and audience where it has none.
func withAPI(p stack.StackProps) stack.StackProps {
	if p.APIIssuer == "" {
		p.APIIssuer = testIssuer
	}
	if p.APIAudience == "" {
		p.APIAudience = testAudience
	}
	return p
}

// synth builds the stack with props (CodeDir set to a dummy, the tests'
// issuer and audience if unset) in an app with cdk.json's context, and
// returns its template.
func synth(t *testing.T, props stack.StackProps) *synthesized {
	t.Helper()
	if props.CodeDir == "" {
		props.CodeDir = codeDir(t)
	}
	props = withAPI(props)
	ctx := cdkContext(t)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	st, err := stack.New(app, "test", props)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := assertions.Template_FromStack(st.Stack, nil)
	b, err := json.Marshal(*tmpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &synthesized{st: st, tmpl: tmpl, json: m}
}

var (
	defaultOnce sync.Once
	defaultSyn  *synthesized
)

// defaults is the stack with default props, synthesized once.
func defaults(t *testing.T) *synthesized {
	t.Helper()
	defaultOnce.Do(func() { defaultSyn = synth(t, stack.StackProps{}) })
	if defaultSyn == nil {
		t.Fatal("default stack did not synthesize")
	}
	return defaultSyn
}

// has runs an assertions matcher, turning its panic into a test error.
func has(t *testing.T, tmpl assertions.Template, typ string, props interface{}) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", typ, r)
		}
	}()
	tmpl.HasResourceProperties(jsii.String(typ), props)
}

// render turns a CloudFormation value into a string: references become
// ${Ref:ID} and ${ID.Attr}, Fn::Join is joined, anything else is JSON.
func render(v interface{}) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]interface{}:
		if r, ok := v["Ref"].(string); ok {
			return "${Ref:" + r + "}"
		}
		if g, ok := v["Fn::GetAtt"].([]interface{}); ok && len(g) == 2 {
			return fmt.Sprintf("${%v.%v}", g[0], g[1])
		}
		if j, ok := v["Fn::Join"].([]interface{}); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]interface{}) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// list returns a string or list value as a list of rendered strings.
func list(v interface{}) []string {
	if v == nil {
		return nil
	}
	if l, ok := v.([]interface{}); ok {
		var out []string
		for _, x := range l {
			out = append(out, render(x))
		}
		return out
	}
	return []string{render(v)}
}

func prop(r map[string]interface{}, path ...string) interface{} {
	var v interface{} = r
	for _, p := range path {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// statements returns a policy document's statements.
// deniesPlainHTTP reports a statement that denies requests without TLS.
func deniesPlainHTTP(st map[string]interface{}) bool {
	return st["Effect"] == "Deny" && render(prop(st, "Condition", "Bool", "aws:SecureTransport")) == "false"
}

func statements(doc interface{}) []map[string]interface{} {
	var out []map[string]interface{}
	for _, s := range list2(prop(doc.(map[string]interface{}), "Statement")) {
		out = append(out, s.(map[string]interface{}))
	}
	return out
}

func list2(v interface{}) []interface{} {
	if l, ok := v.([]interface{}); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []interface{}{v}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// policyOf is the logical ID of the AWS::IAM::Policy attached to role.
func policyOf(t *testing.T, s *synthesized, role string) string {
	t.Helper()
	for id, p := range s.resources("AWS::IAM::Policy") {
		if reflect.DeepEqual(list(prop(p, "Properties", "Roles")), []string{"${Ref:" + role + "}"}) {
			return id
		}
	}
	t.Fatalf("no policy for role %s", role)
	return ""
}

func TestOverrides(t *testing.T) {
	admin := "arn:aws:iam::111122223333:role/KeyAdmin"
	cfnExec := "arn:aws:iam::111122223333:role/cdk-hnb659fds-cfn-exec-role-111122223333-eu-west-1"
	operator := "arn:aws:iam::111122223333:role/AuditLogsOperator"
	s := synth(t, stack.StackProps{
		StageName:                 "prod",
		ScheduleExpression:        "cron(30 2 * * ? *)",
		AlarmEmail:                "ops@example.com",
		ExportReservedConcurrency: 7,
		FanOutConcurrency:         4,
		KeyAdminArns:              []string{admin, cfnExec},
		KeyOperatorArns:           []string{operator},
		LogRetentionDays:          365,
		RetryMaxConcurrency:       3,
		IngestIncludePOST:         true,
		LogStoreRetentionDays:     40,
		CompactionSchedule:        "cron(45 0 * * ? *)",
	})
	checkSchedule(t, s, "cron(30 2 * * ? *)")
	checkCompactionSchedule(t, s, "cron(45 0 * * ? *)")
	// The lake keeps org-day objects for the retention.
	if days := lifecycleDays(t, s, s.id(t, s.st.LakeBucket))["expire-lake"]; days != 40 {
		t.Errorf("lake/ expires after %v days, want the retention's 40", days)
	}
	checkKeyPolicies(t, s, []string{admin, cfnExec}, operator)
	checkSigningKey(t, s, []string{admin, cfnExec}, operator)
	if id := s.id(t, s.st.SigningKey); !hasAlias(s, id, "alias/auditlogs-prod-signing") {
		t.Errorf("signing key %s: no alias alias/auditlogs-prod-signing", id)
	}
	has(t, s.tmpl, "AWS::Lambda::Function", map[string]interface{}{
		"FunctionName": "auditlogs-prod-ingest",
		"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
			"AUDITLOG_INGEST_INCLUDE_POST": "true",
		})},
	})
	has(t, s.tmpl, "AWS::Lambda::Function", map[string]interface{}{
		"FunctionName": "auditlogs-prod-export",
		"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
			"AUDITLOG_LOG_STORE_RETENTION_DAYS": "40",
		})},
	})
	has(t, s.tmpl, "AWS::Lambda::Function", map[string]interface{}{
		"FunctionName": "auditlogs-prod-export", "ReservedConcurrentExecutions": 7,
	})
	has(t, s.tmpl, "AWS::Lambda::Function", map[string]interface{}{
		"FunctionName": "auditlogs-prod-fanout",
		"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
			"AUDITLOG_FANOUT_CONCURRENCY": "4",
		})},
	})
	has(t, s.tmpl, "AWS::SNS::Subscription", map[string]interface{}{"Protocol": "email", "Endpoint": "ops@example.com"})
	has(t, s.tmpl, "AWS::Lambda::EventSourceMapping", map[string]interface{}{"ScalingConfig": map[string]interface{}{"MaximumConcurrency": 3}})
	has(t, s.tmpl, "AWS::KMS::Alias", map[string]interface{}{"AliasName": "alias/auditlogs-prod-sas-eu"})
	has(t, s.tmpl, "AWS::Logs::LogGroup", map[string]interface{}{"RetentionInDays": 365})
}

func TestValidate(t *testing.T) {
	dir := codeDir(t)
	for name, p := range map[string]stack.StackProps{
		"stage":         {StageName: "Prod_1", CodeDir: dir},
		"schedule":      {ScheduleExpression: "daily", CodeDir: dir},
		"retention":     {LogStoreRetentionDays: 1, CodeDir: dir},
		"log retention": {LogRetentionDays: 42, CodeDir: dir},
		"concurrency":   {ExportReservedConcurrency: -1, CodeDir: dir},
		"no code":       {CodeDir: t.TempDir()},
		"retry max":     {RetryMaxConcurrency: 1, CodeDir: dir},
		"compaction":    {CompactionSchedule: "at 00:30", CodeDir: dir},
	} {
		if err := withAPI(p).Defaults().Validate(); err == nil {
			t.Errorf("%s: invalid props accepted", name)
		}
	}
	if err := withAPI(stack.StackProps{CodeDir: dir}).Defaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestEnvironmentAgnostic checks that synth fixes no account or region, so
// `make synth` needs no credentials and `cdk deploy` takes the caller's.
func TestEnvironmentAgnostic(t *testing.T) {
	s := defaults(t)
	if !*awscdk.Token_IsUnresolved(s.st.Account()) || !*awscdk.Token_IsUnresolved(s.st.Region()) {
		t.Errorf("stack env fixed: account %s, region %s", *s.st.Account(), *s.st.Region())
	}
}

// hasAlias reports whether the template has alias name for the key of
// logical ID keyID.
func hasAlias(s *synthesized, keyID, name string) bool {
	for _, a := range s.resources("AWS::KMS::Alias") {
		if render(prop(a, "Properties", "TargetKeyId")) == "${"+keyID+".Arn}" && render(prop(a, "Properties", "AliasName")) == name {
			return true
		}
	}
	return false
}
