package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/retryschedule"
	"github.com/contentful/auditlogs/internal/sas"
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

// synth builds the stack with props (CodeDir set to a dummy) in an app
// with cdk.json's context, and returns its template.
func synth(t *testing.T, props stack.StackProps) *synthesized {
	t.Helper()
	if props.CodeDir == "" {
		props.CodeDir = codeDir(t)
	}
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

// --- tables ---------------------------------------------------------------

func TestTables(t *testing.T) {
	s := defaults(t)
	tables := s.resources("AWS::DynamoDB::Table")
	if len(tables) != 3 {
		t.Fatalf("%d tables, want 3 (log store, registry, ledger)", len(tables))
	}
	for id, r := range tables {
		if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v, want Retain", id, r["DeletionPolicy"], r["UpdateReplacePolicy"])
		}
		if v := prop(r, "Properties", "BillingMode"); v != "PAY_PER_REQUEST" {
			t.Errorf("%s: BillingMode %v", id, v)
		}
		if v := prop(r, "Properties", "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"); v != true {
			t.Errorf("%s: point-in-time recovery %v, want true", id, v)
		}
		if v := prop(r, "Properties", "DeletionProtectionEnabled"); v != true {
			t.Errorf("%s: deletion protection %v, want true", id, v)
		}
		// SSEEnabled true without a key ID: the AWS-managed key aws/dynamodb.
		if v := prop(r, "Properties", "SSESpecification", "SSEEnabled"); v != true {
			t.Errorf("%s: SSEEnabled %v, want true (AWS-managed key)", id, v)
		}
	}

	events := s.resource(t, s.id(t, s.st.EventsTable))
	wantKeys(t, "log store", events, [][2]string{{dynamostore.AttrPK, "HASH"}, {dynamostore.AttrSK, "RANGE"}})
	wantAttrs(t, "log store", events, dynamostore.AttrPK, dynamostore.AttrSK, dynamostore.AttrTS)
	if v := prop(events, "Properties", "TimeToLiveSpecification"); !reflect.DeepEqual(v, map[string]interface{}{"AttributeName": dynamostore.AttrTTL, "Enabled": true}) {
		t.Errorf("log store TTL: %v, want %s enabled", v, dynamostore.AttrTTL)
	}
	lsis := list2(prop(events, "Properties", "LocalSecondaryIndexes"))
	wantLSI := map[string]interface{}{
		"IndexName": dynamostore.IndexByTime,
		"KeySchema": []interface{}{
			map[string]interface{}{"AttributeName": dynamostore.AttrPK, "KeyType": "HASH"},
			map[string]interface{}{"AttributeName": dynamostore.AttrTS, "KeyType": "RANGE"},
		},
		"Projection": map[string]interface{}{"ProjectionType": "ALL"},
	}
	if len(lsis) != 1 || !reflect.DeepEqual(lsis[0], wantLSI) {
		t.Errorf("log store LSIs: %v, want %v", lsis, wantLSI)
	}

	reg := s.resource(t, s.id(t, s.st.RegistryTable))
	wantKeys(t, "registry", reg, [][2]string{{registry.AttrOrgID, "HASH"}})
	wantAttrs(t, "registry", reg, registry.AttrOrgID)

	led := s.resource(t, s.id(t, s.st.LedgerTable))
	wantKeys(t, "ledger", led, [][2]string{{ledger.AttrOrgID, "HASH"}, {ledger.AttrDay, "RANGE"}})
	wantAttrs(t, "ledger", led, ledger.AttrOrgID, ledger.AttrDay)
}

func wantKeys(t *testing.T, name string, r map[string]interface{}, want [][2]string) {
	t.Helper()
	var got [][2]string
	for _, k := range list2(prop(r, "Properties", "KeySchema")) {
		k := k.(map[string]interface{})
		got = append(got, [2]string{k["AttributeName"].(string), k["KeyType"].(string)})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s key schema %v, want %v", name, got, want)
	}
}

func wantAttrs(t *testing.T, name string, r map[string]interface{}, names ...string) {
	t.Helper()
	got := map[string]string{}
	for _, a := range list2(prop(r, "Properties", "AttributeDefinitions")) {
		a := a.(map[string]interface{})
		got[a["AttributeName"].(string)] = a["AttributeType"].(string)
	}
	want := map[string]string{}
	for _, n := range names {
		want[n] = "S"
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s attributes %v, want %v", name, got, want)
	}
}

// --- functions ------------------------------------------------------------

func TestFunctions(t *testing.T) {
	s := defaults(t)
	fns := s.resources("AWS::Lambda::Function")
	if len(fns) != 4 {
		t.Fatalf("%d functions, want 4 (no helper functions such as log retention)", len(fns))
	}
	exportID, fanOutID, retryID, ingestID := s.id(t, s.st.Export), s.id(t, s.st.FanOut), s.id(t, s.st.Retry), s.id(t, s.st.Ingest)
	events, reg, led := s.id(t, s.st.EventsTable), s.id(t, s.st.RegistryTable), s.id(t, s.st.LedgerTable)
	keyUS, keyEU := s.id(t, s.st.SASKeys[sas.US]), s.id(t, s.st.SASKeys[sas.EU])
	delivery := map[string]string{
		"AUDITLOG_EVENTS_TABLE":   "${Ref:" + events + "}",
		"AUDITLOG_REGISTRY_TABLE": "${Ref:" + reg + "}",
		"AUDITLOG_LEDGER_TABLE":   "${Ref:" + led + "}",
		"AUDITLOG_KMS_KEY_US":     "${" + keyUS + ".Arn}",
		"AUDITLOG_KMS_KEY_EU":     "${" + keyEU + ".Arn}",

		"AUDITLOG_LOG_STORE_RETENTION_DAYS": "35",
		"AUDITLOG_LEASE_SECONDS":            "1020",
		"AUDITLOG_FUNCTION_TIMEOUT_SECONDS": "900",
	}
	retryEnv := map[string]string{"AUDITLOG_RETRY_QUEUE_URL": "${Ref:" + s.id(t, s.st.ExportFailures) + "}"}
	for k, v := range delivery {
		retryEnv[k] = v
	}
	for _, c := range []struct {
		id, role, name  string
		memory, timeout float64
		env             map[string]string
	}{
		{exportID, s.id(t, s.st.ExportRole), "auditlogs-dev-export", 2048, 900, delivery},
		{retryID, s.id(t, s.st.RetryRole), "auditlogs-dev-retry", 2048, 900, retryEnv},
		{fanOutID, s.id(t, s.st.FanOutRole), "auditlogs-dev-fanout", 512, 600, map[string]string{
			"AUDITLOG_EVENTS_TABLE":       "${Ref:" + events + "}",
			"AUDITLOG_REGISTRY_TABLE":     "${Ref:" + reg + "}",
			"AUDITLOG_LEDGER_TABLE":       "${Ref:" + led + "}",
			"AUDITLOG_EXPORT_FUNCTION":    "${Ref:" + exportID + "}",
			"AUDITLOG_FANOUT_CONCURRENCY": "16",
		}},
		{ingestID, s.id(t, s.st.IngestRole), "auditlogs-dev-ingest", 1024, 300, map[string]string{
			"AUDITLOG_EVENTS_TABLE":        "${Ref:" + events + "}",
			"AUDITLOG_REGISTRY_TABLE":      "${Ref:" + reg + "}",
			"AUDITLOG_LEDGER_TABLE":        "${Ref:" + led + "}",
			"AUDITLOG_REJECTS_BUCKET":      "${Ref:" + s.id(t, s.st.Rejects) + "}",
			"AUDITLOG_REJECTS_PREFIX":      "rejects/",
			"AUDITLOG_INGEST_INCLUDE_POST": "false",

			"AUDITLOG_LOG_STORE_RETENTION_DAYS": "35",
		}},
	} {
		f := fns[c.id]
		if f == nil {
			t.Errorf("no function %s", c.id)
			continue
		}
		p := f["Properties"].(map[string]interface{})
		if !reflect.DeepEqual(p["Architectures"], []interface{}{"arm64"}) {
			t.Errorf("%s: Architectures %v, want [arm64]", c.name, p["Architectures"])
		}
		for k, want := range map[string]interface{}{
			"Runtime": "provided.al2023", "Handler": "bootstrap", "FunctionName": c.name,
			"MemorySize": c.memory, "Timeout": c.timeout,
		} {
			if p[k] != want {
				t.Errorf("%s: %s %v, want %v", c.name, k, p[k], want)
			}
		}
		if v := prop(p, "LoggingConfig", "LogFormat"); v != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat %v, want JSON", c.name, v)
		}
		if v := render(prop(p, "Role")); v != "${"+c.role+".Arn}" {
			t.Errorf("%s: role %s, want %s", c.name, v, c.role)
		}
		// The log group is the stack's, with a retention.
		lg := strings.TrimSuffix(strings.TrimPrefix(render(prop(p, "LoggingConfig", "LogGroup")), "${Ref:"), "}")
		if g := s.resources("AWS::Logs::LogGroup")[lg]; g == nil || prop(g, "Properties", "RetentionInDays") != float64(90) {
			t.Errorf("%s: log group %s: %v, want one with RetentionInDays 90", c.name, lg, g)
		}
		env := map[string]string{}
		for k, v := range prop(p, "Environment", "Variables").(map[string]interface{}) {
			env[k] = render(v)
		}
		if !reflect.DeepEqual(env, c.env) {
			t.Errorf("%s: environment\n got %v\nwant %v", c.name, env, c.env)
		}
	}
	if v := prop(fns[exportID], "Properties", "ReservedConcurrentExecutions"); v != float64(stack.DefaultExportReservedConcurrency) {
		t.Errorf("export reserved concurrency %v, want %d", v, stack.DefaultExportReservedConcurrency)
	}
	// The functions that deliver must end before their org-day's lease in
	// the ledger runs out (docs/reliability.md), or a live export's lease
	// could be taken over: the lease they are given exceeds their timeout
	// plus the margin the export leaves, and the timeout they are told is
	// theirs.
	for _, id := range []string{exportID, retryID} {
		timeout, _ := prop(fns[id], "Properties", "Timeout").(float64)
		vars, _ := prop(fns[id], "Properties", "Environment", "Variables").(map[string]interface{})
		lease, lerr := strconv.Atoi(render(vars["AUDITLOG_LEASE_SECONDS"]))
		told, terr := strconv.Atoi(render(vars["AUDITLOG_FUNCTION_TIMEOUT_SECONDS"]))
		if timeout <= 0 || lerr != nil || time.Duration(lease)*time.Second <= time.Duration(timeout)*time.Second+exportjob.LeaseMargin {
			t.Errorf("%s: timeout %v s, AUDITLOG_LEASE_SECONDS %v; want a lease longer than the timeout plus %s", id, timeout, vars["AUDITLOG_LEASE_SECONDS"], exportjob.LeaseMargin)
		}
		if terr != nil || float64(told) != timeout {
			t.Errorf("%s: AUDITLOG_FUNCTION_TIMEOUT_SECONDS %v, want the function's timeout %v", id, vars["AUDITLOG_FUNCTION_TIMEOUT_SECONDS"], timeout)
		}
	}
	// The retry's concurrency is capped by its event source mapping
	// instead (TestRetrySource): throttled SQS receives would count.
	if v := prop(fns[retryID], "Properties", "ReservedConcurrentExecutions"); v != nil {
		t.Errorf("retry reserved concurrency %v, want none", v)
	}
	// The same through the assertions library, as a cross-check.
	has(t, s.tmpl, "AWS::Lambda::Function", map[string]interface{}{
		"FunctionName": "auditlogs-dev-export", "Architectures": []string{"arm64"}, "Runtime": "provided.al2023",
		"LoggingConfig": assertions.Match_ObjectLike(&map[string]interface{}{"LogFormat": "JSON"}),
	})
}

// --- IAM ------------------------------------------------------------------

// grant is one statement of a role's policy, rendered.
type grant struct {
	Effect    string
	Actions   string // sorted, comma-separated
	Resources string // sorted, comma-separated
}

func TestIAMPolicies(t *testing.T) {
	s := defaults(t)
	exportRole, retryRole, fanOutRole, ingestRole := s.id(t, s.st.ExportRole), s.id(t, s.st.RetryRole), s.id(t, s.st.FanOutRole), s.id(t, s.st.IngestRole)
	isRole := map[string]bool{"${Ref:" + exportRole + "}": true, "${Ref:" + retryRole + "}": true, "${Ref:" + fanOutRole + "}": true, "${Ref:" + ingestRole + "}": true}
	got := map[string][]grant{}
	shardCount := map[string]int{} // statements on the shard-count record, by role
	for id, p := range s.resources("AWS::IAM::Policy") {
		roles := list(prop(p, "Properties", "Roles"))
		if len(roles) != 1 || !isRole[roles[0]] {
			t.Errorf("policy %s attached to %v, want exactly one of the function roles", id, roles)
			continue
		}
		role := strings.TrimSuffix(strings.TrimPrefix(roles[0], "${Ref:"), "}")
		for _, st := range statements(prop(p, "Properties", "PolicyDocument")) {
			if st["NotAction"] != nil || st["NotResource"] != nil || st["Principal"] != nil {
				t.Errorf("policy %s: statement %v uses NotAction, NotResource or Principal", id, st)
			}
			actions, resources := list(st["Action"]), list(st["Resource"])
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("policy %s: wildcard action %q", id, a)
				}
			}
			onlyAssumeRole := len(actions) == 1 && actions[0] == "sts:AssumeRole"
			// Objects under the rejects prefix are the other wildcard.
			onlyPutRejects := len(actions) == 1 && actions[0] == "s3:PutObject" && len(resources) == 1 &&
				resources[0] == "${"+s.id(t, s.st.Rejects)+".Arn}/rejects/*"
			for _, r := range resources {
				if r == "*" || (strings.Contains(r, "*") && !onlyAssumeRole && !onlyPutRejects) {
					t.Errorf("policy %s: wildcard resource %q for %v (only sts:AssumeRole and the rejects prefix may have one, and never \"*\")", id, r, actions)
				}
			}
			// GetItem and PutItem reach the log store's shard-count
			// record only, never an org's events.
			if contains(resources, "${"+s.id(t, s.st.EventsTable)+".Arn}") && (contains(actions, "dynamodb:GetItem") || contains(actions, "dynamodb:PutItem")) {
				if leading := list(prop(st, "Condition", "ForAllValues:StringEquals", "dynamodb:LeadingKeys")); len(leading) != 1 || leading[0] != dynamostore.MetaPK || len(st["Condition"].(map[string]interface{})) != 1 {
					t.Errorf("policy %s: %v on the log store with condition %v, want dynamodb:LeadingKeys = [%q] only", id, actions, st["Condition"], dynamostore.MetaPK)
				}
				shardCount[role]++
			}
			sort.Strings(actions)
			sort.Strings(resources)
			got[role] = append(got[role], grant{st["Effect"].(string), strings.Join(actions, ","), strings.Join(resources, ",")})
		}
	}

	arn := func(c constructs.IConstruct) string { return "${" + s.id(t, c) + ".Arn}" }
	keys := []string{arn(s.st.SASKeys[sas.US]), arn(s.st.SASKeys[sas.EU])}
	sort.Strings(keys)
	events := arn(s.st.EventsTable)
	delivery := func(fn string) []grant {
		return []grant{
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[fn])},
			{"Allow", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::*:role/*"},
			{"Deny", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:role/*"},
			{"Allow", "kms:Decrypt", strings.Join(keys, ",")},
			{"Allow", "dynamodb:GetItem", arn(s.st.RegistryTable)},
			// registry.RecordSASExpiry and RecordSASContainer (a
			// transaction of UpdateItems), after the SAS is decrypted.
			{"Allow", "dynamodb:UpdateItem", arn(s.st.RegistryTable)},
			{"Allow", "dynamodb:Query", events + "," + events + "/index/" + dynamostore.IndexByTime},
			// The shard-count record only (checked below).
			{"Allow", "dynamodb:GetItem", events},
			{"Allow", "dynamodb:UpdateItem", arn(s.st.LedgerTable)},
		}
	}
	want := map[string][]grant{
		exportRole: append(delivery(stack.ExportFunction),
			grant{"Allow", "sqs:SendMessage", arn(s.st.ExportFailures)}),
		retryRole: append(delivery(stack.RetryFunction),
			grant{"Allow", "sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:ReceiveMessage", arn(s.st.ExportFailures)}),
		fanOutRole: {
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[stack.FanOutFunction])},
			{"Allow", "dynamodb:Scan", arn(s.st.RegistryTable)},
			{"Allow", "dynamodb:Query", arn(s.st.LedgerTable)},
			{"Allow", "lambda:InvokeFunction", arn(s.st.Export)},
			{"Allow", "sqs:SendMessage", arn(s.st.FanOutFailures)},
		},
		// The ingest writes events (BatchWriteItem only: no read, no
		// delete), notes late days in the ledger, writes rejects under
		// the prefix, and its event source mapping reads the stream.
		ingestRole: {
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[stack.IngestFunction])},
			{"Allow", "kinesis:DescribeStream,kinesis:DescribeStreamSummary,kinesis:GetRecords,kinesis:GetShardIterator,kinesis:ListShards", arn(s.st.RequestLogs)},
			{"Allow", "sqs:SendMessage", arn(s.st.IngestFailures)},
			{"Allow", "dynamodb:BatchWriteItem", events},
			// The shard-count record only (checked below).
			{"Allow", "dynamodb:GetItem,dynamodb:PutItem", events},
			{"Allow", "dynamodb:UpdateItem", arn(s.st.LedgerTable)},
			{"Allow", "s3:PutObject", arn(s.st.Rejects) + "/rejects/*"},
		},
	}
	for role, w := range want {
		g := got[role]
		sortGrants(g)
		sortGrants(w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("role %s grants:\n got %v\nwant %v", role, g, w)
		}
	}
	for _, role := range []string{exportRole, retryRole, ingestRole} {
		if shardCount[role] != 1 {
			t.Errorf("role %s: %d statements on the shard-count record, want 1", role, shardCount[role])
		}
	}

	// The roles carry nothing else: no managed policies (the basic
	// execution policy has logs:CreateLogGroup on *), no inline policies,
	// and only Lambda may assume them.
	for id, r := range s.resources("AWS::IAM::Role") {
		if !isRole["${Ref:"+id+"}"] {
			t.Errorf("unexpected role %s", id)
		}
		if v := prop(r, "Properties", "ManagedPolicyArns"); v != nil {
			t.Errorf("role %s: managed policies %v", id, v)
		}
		if v := prop(r, "Properties", "Policies"); v != nil {
			t.Errorf("role %s: inline policies %v", id, v)
		}
		trust := statements(prop(r, "Properties", "AssumeRolePolicyDocument"))
		if len(trust) != 1 || render(prop(trust[0], "Principal", "Service")) != "lambda.amazonaws.com" {
			t.Errorf("role %s: trust %v, want lambda.amazonaws.com only", id, trust)
		}
	}
}

// TestOperatorPolicy: what auditctl may do, command by command, and no
// more: no delete but a destination's, no read of customers' storage but
// through their roles (with the Deny on our own), decrypting with the SAS
// algorithm only.
func TestOperatorPolicy(t *testing.T) {
	s := defaults(t)
	p := s.resource(t, s.id(t, s.st.OperatorPolicy))
	if p["Type"] != "AWS::IAM::ManagedPolicy" {
		t.Fatalf("operator policy is a %v", p["Type"])
	}
	if v := prop(p, "Properties", "Roles"); v != nil {
		t.Errorf("the operator policy is attached to %v: operators attach it to their own roles", v)
	}
	var got []grant
	var decryptCondition string
	for _, st := range statements(prop(p, "Properties", "PolicyDocument")) {
		actions, resources := list(st["Action"]), list(st["Resource"])
		sort.Strings(actions)
		sort.Strings(resources)
		got = append(got, grant{st["Effect"].(string), strings.Join(actions, ","), strings.Join(resources, ",")})
		if strings.Join(actions, ",") == "kms:Decrypt" {
			decryptCondition = render(st["Condition"])
		}
		if slices.Contains(actions, "dynamodb:PutItem") {
			if leading := list(prop(st, "Condition", "ForAllValues:StringEquals", "dynamodb:LeadingKeys")); len(leading) != 1 || leading[0] != dynamostore.MetaPK {
				t.Errorf("operators %v on the log store with condition %v, want dynamodb:LeadingKeys = [%q] only", actions, st["Condition"], dynamostore.MetaPK)
			}
		}
	}
	arn := func(c constructs.IConstruct) string { return "${" + s.id(t, c) + ".Arn}" }
	keys := []string{arn(s.st.SASKeys[sas.US]), arn(s.st.SASKeys[sas.EU])}
	sort.Strings(keys)
	events := arn(s.st.EventsTable)
	want := []grant{
		{"Allow", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::*:role/*"},
		{"Deny", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:role/*"},
		{"Allow", "dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:Scan,dynamodb:UpdateItem", arn(s.st.RegistryTable)},
		{"Allow", "dynamodb:GetItem,dynamodb:Query,dynamodb:UpdateItem", arn(s.st.LedgerTable)},
		{"Allow", "dynamodb:Query", events + "," + events + "/index/" + dynamostore.IndexByTime},
		{"Allow", "dynamodb:BatchWriteItem", events},
		// Only the shard-count record (dynamodb:LeadingKeys, checked below).
		{"Allow", "dynamodb:GetItem,dynamodb:PutItem", events},
		{"Allow", "kms:DescribeKey,kms:GetPublicKey", strings.Join(keys, ",")},
		{"Allow", "kms:Decrypt", strings.Join(keys, ",")},
		{"Allow", "lambda:InvokeFunction", arn(s.st.Export)},
		{"Allow", "sqs:DeleteMessage,sqs:ReceiveMessage", arn(s.st.ExportFailuresDLQ)},
		{"Allow", "sqs:SendMessage", arn(s.st.ExportFailures)},
		{"Allow", "sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:ReceiveMessage", arn(s.st.IngestFailures)},
		{"Allow", "kinesis:GetRecords,kinesis:GetShardIterator", arn(s.st.RequestLogs)},
	}
	sortGrants(got)
	sortGrants(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("operator grants:\n got %v\nwant %v", got, want)
	}
	if !strings.Contains(decryptCondition, string(sas.Algorithm)) {
		t.Errorf("operators decrypt with condition %s, want kms:EncryptionAlgorithm %s", decryptCondition, sas.Algorithm)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func sortGrants(g []grant) {
	sort.Slice(g, func(i, j int) bool {
		return fmt.Sprint(g[i]) < fmt.Sprint(g[j])
	})
}

// TestNoWildcardAllows checks every policy of the template (IAM, key,
// queue and topic policies): no Allow has a wildcard action. (Deny
// statements may: the TLS-only statements deny sqs:* over plain HTTP.)
func TestNoWildcardAllows(t *testing.T) {
	s := defaults(t)
	docs := map[string]string{
		"AWS::IAM::Policy":      "PolicyDocument",
		"AWS::KMS::Key":         "KeyPolicy",
		"AWS::SQS::QueuePolicy": "PolicyDocument",
		"AWS::SNS::TopicPolicy": "PolicyDocument",
	}
	n := 0
	for typ, field := range docs {
		for id, r := range s.resources(typ) {
			for _, st := range statements(prop(r, "Properties", field)) {
				n++
				if st["Effect"] != "Allow" {
					continue
				}
				if st["NotAction"] != nil {
					t.Errorf("%s: Allow with NotAction", id)
				}
				for _, a := range list(st["Action"]) {
					if strings.Contains(a, "*") {
						t.Errorf("%s: Allow of wildcard action %q", id, a)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no policy statements found")
	}
}

// --- asynchronous invocation -------------------------------------------------

func TestEventInvokeConfig(t *testing.T) {
	s := defaults(t)
	configs := s.resources("AWS::Lambda::EventInvokeConfig")
	if len(configs) != 2 {
		t.Fatalf("%d event invoke configs, want 2", len(configs))
	}
	byFunction := map[string]map[string]interface{}{}
	for _, c := range configs {
		byFunction[render(prop(c, "Properties", "FunctionName"))] = c
	}
	for _, c := range []struct {
		fn, queue, role string
		maxAge          float64
	}{
		{s.id(t, s.st.Export), s.id(t, s.st.ExportFailures), s.id(t, s.st.ExportRole), 6 * 3600},
		{s.id(t, s.st.FanOut), s.id(t, s.st.FanOutFailures), s.id(t, s.st.FanOutRole), 2 * 3600},
	} {
		cfg := byFunction["${Ref:"+c.fn+"}"]
		if cfg == nil {
			t.Errorf("no event invoke config for %s", c.fn)
			continue
		}
		p := cfg["Properties"].(map[string]interface{})
		if p["MaximumRetryAttempts"] != float64(2) {
			t.Errorf("%s: MaximumRetryAttempts %v, want 2", c.fn, p["MaximumRetryAttempts"])
		}
		if p["MaximumEventAgeInSeconds"] != c.maxAge {
			t.Errorf("%s: MaximumEventAgeInSeconds %v, want %v", c.fn, p["MaximumEventAgeInSeconds"], c.maxAge)
		}
		if p["Qualifier"] != "$LATEST" {
			t.Errorf("%s: Qualifier %v", c.fn, p["Qualifier"])
		}
		if d := render(prop(p, "DestinationConfig", "OnFailure", "Destination")); d != "${"+c.queue+".Arn}" {
			t.Errorf("%s: on-failure destination %s, want the failure queue %s", c.fn, d, c.queue)
		}
		if v := prop(p, "DestinationConfig", "OnSuccess"); v != nil {
			t.Errorf("%s: on-success destination %v", c.fn, v)
		}
		// Lambda checks sqs:SendMessage when it stores the configuration.
		policy := policyOf(t, s, c.role)
		if deps := list(cfg["DependsOn"]); !contains(deps, policy) {
			t.Errorf("%s: event invoke config depends on %v, want the role's policy %q", c.fn, deps, policy)
		}
	}
	if got := s.id(t, s.st.ExportFailures); !strings.HasPrefix(got, "ExportFailures") {
		t.Errorf("export failure queue is %s", got)
	}
	if q := prop(s.resource(t, s.id(t, s.st.ExportFailures)), "Properties", "QueueName"); q != "auditlogs-dev-export-failures" {
		t.Errorf("export failure queue named %v", q)
	}
}

// --- queues -----------------------------------------------------------------

func TestQueues(t *testing.T) {
	s := defaults(t)
	queues := s.resources("AWS::SQS::Queue")
	if len(queues) != 6 {
		t.Errorf("%d queues, want 6", len(queues))
	}
	// Every queue is encrypted and has a policy denying plain HTTP.
	tlsOnly := map[string]bool{}
	for _, qp := range s.resources("AWS::SQS::QueuePolicy") {
		for _, st := range statements(prop(qp, "Properties", "PolicyDocument")) {
			if deniesPlainHTTP(st) {
				for _, q := range list(prop(qp, "Properties", "Queues")) {
					tlsOnly[q] = true
				}
			}
		}
	}
	for id, q := range queues {
		p := q["Properties"].(map[string]interface{})
		if p["SqsManagedSseEnabled"] != true && p["KmsMasterKeyId"] == nil {
			t.Errorf("queue %s is not encrypted", id)
		}
		if !tlsOnly["${Ref:"+id+"}"] {
			t.Errorf("queue %s: no policy denying aws:SecureTransport false", id)
		}
		if p["MessageRetentionPeriod"] != float64(14*24*3600) {
			t.Errorf("queue %s: retention %v, want 14 days", id, p["MessageRetentionPeriod"])
		}
	}
	// Every failure queue has its own dead-letter queue; the retry queue's
	// maxReceiveCount is the retry schedule's (docs/reliability.md).
	for _, c := range []struct {
		queue, dlq  constructs.IConstruct
		maxReceives float64
	}{
		{s.st.ExportFailures, s.st.ExportFailuresDLQ, float64(retryschedule.Default.Receives)},
		{s.st.FanOutFailures, s.st.FanOutFailuresDLQ, 5},
	} {
		q := s.resource(t, s.id(t, c.queue))
		rp, _ := prop(q, "Properties", "RedrivePolicy").(map[string]interface{})
		if render(rp["deadLetterTargetArn"]) != "${"+s.id(t, c.dlq)+".Arn}" || rp["maxReceiveCount"] != c.maxReceives {
			t.Errorf("%s: redrive policy %v, want its DLQ %s after %v receives", s.id(t, c.queue), rp, s.id(t, c.dlq), c.maxReceives)
		}
	}
	// Lambda requires a visibility timeout of at least the function's
	// timeout on an SQS event source.
	retryQ := s.resource(t, s.id(t, s.st.ExportFailures))
	if v, _ := prop(retryQ, "Properties", "VisibilityTimeout").(float64); v < 900 {
		t.Errorf("retry queue visibility timeout %v, want at least the retry function's 900 s", v)
	}
	// The retry schedule (docs/reliability.md) spans at least 7 days and
	// fits in the retry queue's retention, however long each receive
	// lasts, up to the retry function's timeout.
	timeout, _ := prop(s.resource(t, s.id(t, s.st.Retry)), "Properties", "Timeout").(float64)
	r, _ := prop(retryQ, "Properties", "MessageRetentionPeriod").(float64)
	retention := time.Duration(r) * time.Second
	for elapsed := time.Duration(0); elapsed <= time.Duration(timeout)*time.Second; elapsed += time.Minute {
		sched := retryschedule.Default
		if span, life := sched.Span(elapsed), sched.Lifetime(elapsed)+time.Duration(sched.Receives)*sched.Margin; span < 7*24*time.Hour || life >= retention {
			t.Errorf("receives of %s: the retries span %s, a message lives %s in the queue (its receives' margins included), which keeps it %s: want a span of 7 days or more inside the retention",
				elapsed, span, life, retention)
		}
	}
}

func TestRetrySource(t *testing.T) {
	s := defaults(t)
	esms := s.resources("AWS::Lambda::EventSourceMapping")
	if len(esms) != 2 {
		t.Fatalf("%d event source mappings, want 2 (retry, ingest)", len(esms))
	}
	for id, m := range map[string]map[string]interface{}{s.id(t, s.st.RetrySource): esms[s.id(t, s.st.RetrySource)]} {
		p := m["Properties"].(map[string]interface{})
		if v := render(p["FunctionName"]); v != "${Ref:"+s.id(t, s.st.Retry)+"}" {
			t.Errorf("%s: function %s, want the retry function", id, v)
		}
		if v := render(p["EventSourceArn"]); v != "${"+s.id(t, s.st.ExportFailures)+".Arn}" {
			t.Errorf("%s: source %s, want the export-failures queue", id, v)
		}
		if p["BatchSize"] != float64(1) {
			t.Errorf("%s: BatchSize %v, want 1", id, p["BatchSize"])
		}
		// The batching window keeps a received message waiting before the
		// handler starts: the retry schedule's margin must cover it.
		if w, _ := p["MaximumBatchingWindowInSeconds"].(float64); time.Duration(w)*time.Second > retryschedule.Default.Margin/2 {
			t.Errorf("%s: MaximumBatchingWindowInSeconds %v, want at most half the retry schedule's margin %s", id, w, retryschedule.Default.Margin)
		}
		if !reflect.DeepEqual(list(p["FunctionResponseTypes"]), []string{"ReportBatchItemFailures"}) {
			t.Errorf("%s: FunctionResponseTypes %v, want ReportBatchItemFailures (the handler's partial batch responses)", id, p["FunctionResponseTypes"])
		}
		if v := prop(p, "ScalingConfig", "MaximumConcurrency"); v != float64(stack.DefaultRetryMaxConcurrency) {
			t.Errorf("%s: maximum concurrency %v", id, v)
		}
		// Lambda checks the role's SQS permissions when it creates the mapping.
		if deps := list(m["DependsOn"]); !contains(deps, policyOf(t, s, s.id(t, s.st.RetryRole))) {
			t.Errorf("%s: depends on %v, want the retry role's policy", id, deps)
		}
	}
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

// TestEveryFunctionDeployed checks that each folder of functions/ is a
// function of the stack, and that Validate wants its bootstrap.
func TestEveryFunctionDeployed(t *testing.T) {
	mains, err := filepath.Glob(filepath.Join("..", "..", "functions", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("functions/*/main.go: %v %v", mains, err)
	}
	var folders []string
	for _, m := range mains {
		folders = append(folders, filepath.Base(filepath.Dir(m)))
	}
	deployed := append([]string(nil), stack.Functions...)
	sort.Strings(folders)
	sort.Strings(deployed)
	if !reflect.DeepEqual(folders, deployed) {
		t.Errorf("functions/ holds %v, the stack deploys %v", folders, deployed)
	}
	s := defaults(t)
	names := map[string]bool{}
	for _, f := range s.resources("AWS::Lambda::Function") {
		names[render(prop(f, "Properties", "FunctionName"))] = true
	}
	for _, fn := range folders {
		if !names["auditlogs-dev-"+fn] {
			t.Errorf("no function auditlogs-dev-%s", fn)
		}
	}
}

// deadLetterQueues are the template's dead-letter queues: those a redrive
// policy or an EventBridge target names.
func deadLetterQueues(s *synthesized) map[string]bool {
	dlqs := map[string]bool{}
	for _, q := range s.resources("AWS::SQS::Queue") {
		if rp, ok := prop(q, "Properties", "RedrivePolicy").(map[string]interface{}); ok {
			dlqs[render(rp["deadLetterTargetArn"])] = true
		}
	}
	for _, r := range s.resources("AWS::Events::Rule") {
		for _, tg := range list2(prop(r, "Properties", "Targets")) {
			if d := prop(tg.(map[string]interface{}), "DeadLetterConfig", "Arn"); d != nil {
				dlqs[render(d)] = true
			}
		}
	}
	return dlqs
}

// --- alarms -------------------------------------------------------------------

func TestAlarms(t *testing.T) {
	s := defaults(t)
	topic := "${Ref:" + s.id(t, s.st.AlarmTopic) + "}"
	// Queue name (a GetAtt of the queue) or function name => metric names alarmed.
	alarmed := map[string]map[string]bool{}
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := a["Properties"].(map[string]interface{})
		if !reflect.DeepEqual(list(p["AlarmActions"]), []string{topic}) {
			t.Errorf("alarm %s: actions %v, want the alarm topic", id, p["AlarmActions"])
		}
		want := float64(1)
		if p["MetricName"] == "IteratorAge" { // milliseconds behind the stream
			want = float64((30 * time.Minute).Milliseconds())
		}
		if p["Threshold"] != want || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("alarm %s: %v %v, want >= %v", id, p["ComparisonOperator"], p["Threshold"], want)
		}
		for _, d := range list2(p["Dimensions"]) {
			v := render(d.(map[string]interface{})["Value"])
			if alarmed[v] == nil {
				alarmed[v] = map[string]bool{}
			}
			alarmed[v][p["MetricName"].(string)] = true
		}
	}
	dlqs := deadLetterQueues(s)
	if len(dlqs) != 3 {
		t.Errorf("dead-letter queues %v, want 3", dlqs)
	}
	for arn := range dlqs {
		name := strings.Replace(arn, ".Arn}", ".QueueName}", 1)
		if !alarmed[name]["ApproximateNumberOfMessagesVisible"] {
			t.Errorf("dead-letter queue %s has no depth alarm", arn)
		}
	}
	for _, q := range []constructs.IConstruct{s.st.ExportFailures, s.st.FanOutFailures, s.st.IngestFailures} {
		if !alarmed["${"+s.id(t, q)+".QueueName}"]["ApproximateNumberOfMessagesVisible"] {
			t.Errorf("failure queue %s has no depth alarm", s.id(t, q))
		}
	}
	for fn, metrics := range map[constructs.IConstruct][]string{
		s.st.Export: {"Errors", "DestinationDeliveryFailures"},
		s.st.FanOut: {"Errors", "DestinationDeliveryFailures"},
		s.st.Retry:  {"Errors"},
		s.st.Ingest: {"Errors", "IteratorAge"},
	} {
		for _, m := range metrics {
			if !alarmed["${Ref:"+s.id(t, fn)+"}"][m] {
				t.Errorf("function %s has no %s alarm", s.id(t, fn), m)
			}
		}
	}
	for _, m := range []string{metrics.PermanentFailures, metrics.IngestRejected} {
		has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{"Namespace": metrics.Namespace, "MetricName": m})
	}
	// Near misses of the ingest (a path that matches a route only when
	// case is ignored): any in five minutes, summed.
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": metrics.Namespace, "MetricName": metrics.IngestSkippedNearMiss, "Statistic": "Sum", "Period": 300,
		"EvaluationPeriods": 1, "TreatMissingData": "notBreaching", "AlarmName": "auditlogs-dev-ingest-near-miss",
	})
	// The fan-out's daily count of SAS URLs expiring within 30 days: a
	// day's period, the day's highest count (several runs a day may each
	// emit it), and a day without a run keeping the state, so that the
	// alarm neither clears nor fires again every night.
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": metrics.Namespace, "MetricName": metrics.SASExpiringSoon,
		"Period": 86400, "Statistic": "Maximum", "EvaluationPeriods": 1, "TreatMissingData": "ignore",
		"AlarmName": "auditlogs-dev-sas-expiring-soon",
	})
	// The fan-out's daily count of registry items it skipped as invalid:
	// the same rhythm, raised until a run counts none.
	has(t, s.tmpl, "AWS::CloudWatch::Alarm", map[string]interface{}{
		"Namespace": metrics.Namespace, "MetricName": metrics.InvalidRegistryItems,
		"Period": 86400, "Statistic": "Maximum", "EvaluationPeriods": 1, "TreatMissingData": "ignore",
		"AlarmName": "auditlogs-dev-invalid-registry-items", "Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
		"AlarmActions": []interface{}{map[string]interface{}{"Ref": s.id(t, s.st.AlarmTopic)}},
	})
	// The topic: TLS only, CloudWatch may publish, no subscription
	// without an alarm email.
	var sslOnly, cloudwatch bool
	for _, tp := range s.resources("AWS::SNS::TopicPolicy") {
		for _, st := range statements(prop(tp, "Properties", "PolicyDocument")) {
			if deniesPlainHTTP(st) {
				sslOnly = true
			}
			if st["Effect"] == "Allow" && render(prop(st, "Principal", "Service")) == "cloudwatch.amazonaws.com" {
				cloudwatch = true
			}
		}
	}
	if !sslOnly || !cloudwatch {
		t.Errorf("alarm topic policy: TLS only %v, CloudWatch may publish %v", sslOnly, cloudwatch)
	}
	if n := len(s.resources("AWS::SNS::Subscription")); n != 0 {
		t.Errorf("%d subscriptions without alarmEmail", n)
	}
}

// --- KMS ----------------------------------------------------------------------

func TestKMSKeys(t *testing.T) {
	s := defaults(t)
	keys := s.resources("AWS::KMS::Key")
	if len(keys) != 2 {
		t.Fatalf("%d keys, want 2", len(keys))
	}
	root := "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:root"
	checkKeyPolicies(t, s, []string{root})

	aliases := map[string]string{}
	for _, a := range s.resources("AWS::KMS::Alias") {
		aliases[render(prop(a, "Properties", "TargetKeyId"))] = render(prop(a, "Properties", "AliasName"))
	}
	for _, r := range stack.Residencies {
		id := s.id(t, s.st.SASKeys[r])
		if want := "alias/auditlogs-dev-sas-" + string(r); aliases["${"+id+".Arn}"] != want {
			t.Errorf("key %s: alias %q, want %q", id, aliases["${"+id+".Arn}"], want)
		}
	}
}

// checkKeyPolicies checks both keys: RSA-4096 for encryption, retained;
// only the roles of the functions that deliver (export, and retry, which
// runs exports in process) and the operators may decrypt; admins may
// administer (without decrypting, re-encrypting or creating grants) and
// read the public key.
func checkKeyPolicies(t *testing.T, s *synthesized, admins []string, operators ...string) {
	t.Helper()
	wantDecrypters := append([]string{"${" + s.id(t, s.st.ExportRole) + ".Arn}", "${" + s.id(t, s.st.RetryRole) + ".Arn}"}, operators...)
	sort.Strings(wantDecrypters)
	sort.Strings(admins)
	for id, k := range s.resources("AWS::KMS::Key") {
		p := k["Properties"].(map[string]interface{})
		if p["KeySpec"] != "RSA_4096" || p["KeyUsage"] != "ENCRYPT_DECRYPT" {
			t.Errorf("key %s: %v %v, want RSA_4096 ENCRYPT_DECRYPT", id, p["KeySpec"], p["KeyUsage"])
		}
		if k["DeletionPolicy"] != "Retain" || k["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("key %s: DeletionPolicy %v, want Retain", id, k["DeletionPolicy"])
		}
		var decrypters []string
		adminActions := map[string]bool{}
		for _, st := range statements(p["KeyPolicy"]) {
			if st["Effect"] != "Allow" {
				continue
			}
			principals := list(prop(st, "Principal", "AWS"))
			sort.Strings(principals)
			if prop(st, "Principal", "Service") != nil || render(st["Principal"]) == "*" {
				t.Errorf("key %s: statement for %v", id, st["Principal"])
			}
			for _, a := range list(st["Action"]) {
				switch {
				case strings.Contains(a, "*"):
					t.Errorf("key %s: wildcard action %q for %v", id, a, principals)
				case a == "kms:Decrypt":
					decrypters = append(decrypters, principals...)
					if render(prop(st, "Condition", "StringEquals", "kms:EncryptionAlgorithm")) != "RSAES_OAEP_SHA_256" {
						t.Errorf("key %s: kms:Decrypt for %v without the RSAES_OAEP_SHA_256 condition", id, principals)
					}
				case strings.HasPrefix(a, "kms:ReEncrypt") || a == "kms:CreateGrant":
					t.Errorf("key %s: %s for %v", id, a, principals)
				default:
					if !reflect.DeepEqual(principals, admins) {
						t.Errorf("key %s: %s for %v, want the admins %v", id, a, principals, admins)
					}
					adminActions[a] = true
				}
			}
		}
		sort.Strings(decrypters)
		if !reflect.DeepEqual(decrypters, wantDecrypters) {
			t.Errorf("key %s: kms:Decrypt for %v, want only the export and retry roles and the operators %v", id, decrypters, wantDecrypters)
		}
		for _, a := range []string{"kms:GetPublicKey", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} {
			if !adminActions[a] {
				t.Errorf("key %s: admins lack %s", id, a)
			}
		}
	}
}

// --- schedule -------------------------------------------------------------------

func TestSchedule(t *testing.T) {
	s := defaults(t)
	checkSchedule(t, s, stack.DefaultSchedule)
	if stack.DefaultSchedule != "cron(0 1 * * ? *)" {
		t.Errorf("default schedule %q", stack.DefaultSchedule)
	}
}

func checkSchedule(t *testing.T, s *synthesized, want string) {
	t.Helper()
	rules := map[string]map[string]interface{}{} // the schedules; the other rule is TestKeyChangeRule's
	for id, r := range s.resources("AWS::Events::Rule") {
		if prop(r, "Properties", "ScheduleExpression") != nil {
			rules[id] = r
		}
	}
	if len(rules) != 1 {
		t.Fatalf("%d scheduled rules, want 1", len(rules))
	}
	for id, r := range rules {
		p := r["Properties"].(map[string]interface{})
		if p["ScheduleExpression"] != want {
			t.Errorf("rule %s: schedule %v, want %q", id, p["ScheduleExpression"], want)
		}
		targets := list2(p["Targets"])
		if len(targets) != 1 {
			t.Fatalf("rule %s: %d targets", id, len(targets))
		}
		tg := targets[0].(map[string]interface{})
		if a := render(tg["Arn"]); a != "${"+s.id(t, s.st.FanOut)+".Arn}" {
			t.Errorf("rule %s targets %s, want the fan-out", id, a)
		}
		if n, ok := prop(tg, "RetryPolicy", "MaximumRetryAttempts").(float64); !ok || n < 1 {
			t.Errorf("rule %s: retry attempts %v", id, prop(tg, "RetryPolicy", "MaximumRetryAttempts"))
		}
		if n, ok := prop(tg, "RetryPolicy", "MaximumEventAgeInSeconds").(float64); !ok || n < 60 {
			t.Errorf("rule %s: max event age %v", id, prop(tg, "RetryPolicy", "MaximumEventAgeInSeconds"))
		}
		if d := render(prop(tg, "DeadLetterConfig", "Arn")); d != "${"+s.id(t, s.st.ScheduleDLQ)+".Arn}" {
			t.Errorf("rule %s: dead-letter queue %s", id, d)
		}
	}
	// EventBridge may invoke the fan-out, for this rule only.
	has(t, s.tmpl, "AWS::Lambda::Permission", map[string]interface{}{
		"Action":       "lambda:InvokeFunction",
		"Principal":    "events.amazonaws.com",
		"FunctionName": map[string]interface{}{"Fn::GetAtt": []string{s.id(t, s.st.FanOut), "Arn"}},
		"SourceArn":    map[string]interface{}{"Fn::GetAtt": []string{s.id(t, s.st.Schedule), "Arn"}},
	})
}

// TestKeyChangeRule: CloudTrail's records of PutKeyPolicy, CreateGrant,
// ScheduleKeyDeletion and DisableKey on the two SAS keys (by ARN) reach the
// alarm topic, which lets EventBridge publish for that rule only.
func TestKeyChangeRule(t *testing.T) {
	s := defaults(t)
	ruleID := *s.st.GetLogicalId(s.st.KeyChanges)
	for id, r := range s.resources("AWS::Events::Rule") {
		if prop(r, "Properties", "EventPattern") != nil && id != ruleID {
			t.Errorf("rule %s has an event pattern: only %s should", id, ruleID)
		}
	}
	rule := s.resource(t, ruleID)["Properties"].(map[string]interface{})
	if rule["State"] != "ENABLED" || rule["EventPattern"] == nil {
		t.Fatalf("rule %s: %v, want an enabled rule with an event pattern", ruleID, rule)
	}
	pattern := rule["EventPattern"].(map[string]interface{})
	if got := list(pattern["source"]); !reflect.DeepEqual(got, []string{"aws.kms"}) {
		t.Errorf("source %v, want aws.kms", got)
	}
	if got := list(pattern["detail-type"]); !reflect.DeepEqual(got, []string{"AWS API Call via CloudTrail"}) {
		t.Errorf("detail-type %v", got)
	}
	if got := list(prop(pattern, "detail", "eventSource")); !reflect.DeepEqual(got, []string{"kms.amazonaws.com"}) {
		t.Errorf("eventSource %v", got)
	}
	names := list(prop(pattern, "detail", "eventName"))
	for _, want := range []string{"PutKeyPolicy", "CreateGrant", "ScheduleKeyDeletion", "DisableKey"} {
		if !contains(names, want) {
			t.Errorf("eventName %v lacks %s", names, want)
		}
	}
	keys := list(prop(pattern, "detail", "resources", "ARN"))
	sort.Strings(keys)
	want := []string{"${" + s.id(t, s.st.SASKeys[sas.US]) + ".Arn}", "${" + s.id(t, s.st.SASKeys[sas.EU]) + ".Arn}"}
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("the pattern matches keys %v, want the two SAS keys %v", keys, want)
	}
	if len(pattern) != 3 || len(pattern["detail"].(map[string]interface{})) != 3 {
		t.Errorf("pattern %v: want source, detail-type and detail (eventSource, eventName, resources) only", pattern)
	}
	topic := "${Ref:" + s.id(t, s.st.AlarmTopic) + "}"
	targets := list2(rule["Targets"])
	if len(targets) != 1 || render(targets[0].(map[string]interface{})["Arn"]) != topic {
		t.Errorf("targets %v, want the alarm topic only", targets)
	}

	// The topic policy: EventBridge may publish, for this rule only.
	ruleArn := "${" + ruleID + ".Arn}"
	var scoped int
	for _, tp := range s.resources("AWS::SNS::TopicPolicy") {
		for _, st := range statements(prop(tp, "Properties", "PolicyDocument")) {
			if st["Effect"] != "Allow" || render(prop(st, "Principal", "Service")) != "events.amazonaws.com" {
				continue
			}
			cond := st["Condition"].(map[string]interface{})
			if !reflect.DeepEqual(list(st["Action"]), []string{"sns:Publish"}) || !reflect.DeepEqual(list(st["Resource"]), []string{topic}) ||
				len(cond) != 1 || render(prop(cond, "ArnEquals", "aws:SourceArn")) != ruleArn {
				t.Errorf("topic statement for EventBridge %v, want sns:Publish on the topic with aws:SourceArn = %s only", st, ruleArn)
			}
			scoped++
		}
	}
	if scoped != 1 {
		t.Errorf("%d topic statements for events.amazonaws.com, want 1", scoped)
	}
}

// --- props --------------------------------------------------------------------

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
	})
	checkSchedule(t, s, "cron(30 2 * * ? *)")
	checkKeyPolicies(t, s, []string{admin, cfnExec}, operator)
	has(t, s.tmpl, "AWS::Lambda::Function", map[string]interface{}{
		"FunctionName": "auditlogs-prod-ingest",
		"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
			"AUDITLOG_INGEST_INCLUDE_POST":      "true",
			"AUDITLOG_LOG_STORE_RETENTION_DAYS": "40",
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

func TestPropsFromContext(t *testing.T) {
	ctx := map[string]interface{}{
		stack.CtxStage: "prod", stack.CtxSchedule: "rate(12 hours)", stack.CtxAlarmEmail: "ops@example.com",
		stack.CtxExportReservedConcurrency: "20", // -c key=value passes strings
		stack.CtxRetryMaxConcurrency:       "4",
		stack.CtxLogStoreRetentionDays:     float64(40),
		stack.CtxKeyAdminArns:              "arn:aws:iam::1:role/a, arn:aws:iam::1:role/b",
		stack.CtxKeyOperatorArns:           []interface{}{"arn:aws:iam::1:role/ops"},
		stack.CtxIngestIncludePOST:         "true",
	}
	p, err := stack.PropsFromValues(func(k string) interface{} { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	p = p.Defaults()
	if p.StageName != "prod" || p.ScheduleExpression != "rate(12 hours)" || p.AlarmEmail != "ops@example.com" ||
		p.ExportReservedConcurrency != 20 || p.RetryMaxConcurrency != 4 || p.LogStoreRetentionDays != 40 || p.FanOutConcurrency != 16 ||
		p.CodeDir != stack.DefaultCodeDir || !reflect.DeepEqual(p.KeyAdminArns, []string{"arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"}) ||
		!reflect.DeepEqual(p.KeyOperatorArns, []string{"arn:aws:iam::1:role/ops"}) || !p.IngestIncludePOST {
		t.Errorf("props %+v", p)
	}
	if _, err := stack.PropsFromValues(func(k string) interface{} {
		if k == stack.CtxExportReservedConcurrency {
			return "lots"
		}
		return nil
	}); err == nil {
		t.Error("a malformed number was accepted")
	}
	if _, err := stack.PropsFromValues(func(k string) interface{} {
		if k == stack.CtxIngestIncludePOST {
			return "yes please"
		}
		return nil
	}); err == nil || !strings.Contains(err.Error(), stack.CtxIngestIncludePOST) {
		t.Errorf("a malformed %s: %v", stack.CtxIngestIncludePOST, err)
	}

	// cdk.json's context gives the same props as the defaults.
	cc := cdkContext(t)
	p, err = stack.PropsFromValues(func(k string) interface{} { return cc[k] })
	if err != nil {
		t.Fatal(err)
	}
	p.StackProps = awscdk.StackProps{}
	if want := (stack.StackProps{CodeDir: stack.DefaultCodeDir}).Defaults(); !reflect.DeepEqual(p.Defaults(), want) {
		t.Errorf("cdk.json context gives %+v, want the defaults %+v", p, want)
	}
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
	} {
		if err := p.Defaults().Validate(); err == nil {
			t.Errorf("%s: invalid props accepted", name)
		}
	}
	if err := (stack.StackProps{CodeDir: dir}).Defaults().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// --- outputs ------------------------------------------------------------------

func TestOutputs(t *testing.T) {
	s := defaults(t)
	outputs, _ := s.json["Outputs"].(map[string]interface{})
	want := map[string]string{
		"CustomerTrustAccountId": "${Ref:AWS::AccountId}",
		"EventsTableName":        "${Ref:" + s.id(t, s.st.EventsTable) + "}",
		"RegistryTableName":      "${Ref:" + s.id(t, s.st.RegistryTable) + "}",
		"LedgerTableName":        "${Ref:" + s.id(t, s.st.LedgerTable) + "}",
		"SasKeyUsArn":            "${" + s.id(t, s.st.SASKeys[sas.US]) + ".Arn}",
		"SasKeyEuArn":            "${" + s.id(t, s.st.SASKeys[sas.EU]) + ".Arn}",
		"FanOutFunctionName":     "${Ref:" + s.id(t, s.st.FanOut) + "}",
		"ExportFunctionName":     "${Ref:" + s.id(t, s.st.Export) + "}",
		"RetryFunctionName":      "${Ref:" + s.id(t, s.st.Retry) + "}",
		"ExportFailuresQueueUrl": "${Ref:" + s.id(t, s.st.ExportFailures) + "}",
		"ExportFailuresDlqUrl":   "${Ref:" + s.id(t, s.st.ExportFailuresDLQ) + "}",
		"FanOutFailuresQueueUrl": "${Ref:" + s.id(t, s.st.FanOutFailures) + "}",
		"FanOutFailuresDlqUrl":   "${Ref:" + s.id(t, s.st.FanOutFailuresDLQ) + "}",
		"ScheduleDlqUrl":         "${Ref:" + s.id(t, s.st.ScheduleDLQ) + "}",
		"AlarmTopicArn":          "${Ref:" + s.id(t, s.st.AlarmTopic) + "}",
		"IngestFunctionName":     "${Ref:" + s.id(t, s.st.Ingest) + "}",
		"RequestLogStreamArn":    "${" + s.id(t, s.st.RequestLogs) + ".Arn}",
		"RejectsBucketName":      "${Ref:" + s.id(t, s.st.Rejects) + "}",
		"IngestFailuresQueueUrl": "${Ref:" + s.id(t, s.st.IngestFailures) + "}",
		"LogStoreRetentionDays":  "35",
		"OperatorPolicyArn":      "${Ref:" + s.id(t, s.st.OperatorPolicy) + "}",
	}
	for k, v := range want {
		o, ok := outputs[k].(map[string]interface{})
		if !ok {
			t.Errorf("no output %s", k)
			continue
		}
		if got := render(o["Value"]); got != v {
			t.Errorf("output %s = %s, want %s", k, got, v)
		}
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

// --- ingest -------------------------------------------------------------------

// TestIngest: the request-log stream (encrypted, on demand, a week of
// retention), the event source mapping (from the oldest record, partial
// batch responses, retried until a day before the stream drops a record,
// then parked in the ingest-failures queue), and the rejects bucket
// (private, encrypted, TLS only, expiring with the log store).
func TestIngest(t *testing.T) {
	s := defaults(t)
	stream := s.resource(t, s.id(t, s.st.RequestLogs))
	if v := prop(stream, "Properties", "StreamEncryption", "EncryptionType"); v != "KMS" {
		t.Errorf("stream encryption %v, want KMS", v)
	}
	if v := prop(stream, "Properties", "StreamModeDetails", "StreamMode"); v != "ON_DEMAND" {
		t.Errorf("stream mode %v, want ON_DEMAND", v)
	}
	retention, _ := prop(stream, "Properties", "RetentionPeriodHours").(float64)
	if retention != 168 || stream["DeletionPolicy"] != "Retain" {
		t.Errorf("stream retention %v h, deletion policy %v: want 168 and Retain", retention, stream["DeletionPolicy"])
	}

	m := s.resource(t, s.id(t, s.st.IngestSource))
	p := m["Properties"].(map[string]interface{})
	if v := render(p["FunctionName"]); v != "${Ref:"+s.id(t, s.st.Ingest)+"}" {
		t.Errorf("ingest source: function %s", v)
	}
	if v := render(p["EventSourceArn"]); v != "${"+s.id(t, s.st.RequestLogs)+".Arn}" {
		t.Errorf("ingest source: stream %s", v)
	}
	if p["StartingPosition"] != "TRIM_HORIZON" {
		t.Errorf("starting position %v, want TRIM_HORIZON (nothing already in the stream is skipped)", p["StartingPosition"])
	}
	if !reflect.DeepEqual(list(p["FunctionResponseTypes"]), []string{"ReportBatchItemFailures"}) {
		t.Errorf("FunctionResponseTypes %v, want ReportBatchItemFailures", p["FunctionResponseTypes"])
	}
	age, _ := p["MaximumRecordAgeInSeconds"].(float64)
	if age <= 0 || age >= retention*3600 || p["MaximumRetryAttempts"] != float64(10000) {
		t.Errorf("max record age %v s, retries %v: want retries up to 10000 and an age under the stream's retention (%v h)", age, p["MaximumRetryAttempts"], retention)
	}
	if v := render(prop(p, "DestinationConfig", "OnFailure", "Destination")); v != "${"+s.id(t, s.st.IngestFailures)+".Arn}" {
		t.Errorf("on-failure destination %s, want the ingest-failures queue", v)
	}
	if deps := list(m["DependsOn"]); !contains(deps, policyOf(t, s, s.id(t, s.st.IngestRole))) {
		t.Errorf("ingest source depends on %v, want the ingest role's policy", deps)
	}

	b := s.resource(t, s.id(t, s.st.Rejects))
	bp := b["Properties"].(map[string]interface{})
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if prop(bp, "PublicAccessBlockConfiguration", k) != true {
			t.Errorf("rejects bucket: %s not set", k)
		}
	}
	if v := render(prop(bp, "BucketEncryption")); !strings.Contains(v, "AES256") {
		t.Errorf("rejects bucket encryption %s", v)
	}
	if v := render(prop(bp, "LifecycleConfiguration")); !strings.Contains(v, `"ExpirationInDays":35`) {
		t.Errorf("rejects bucket lifecycle %s, want expiry after the log store's 35 days", v)
	}
	if b["DeletionPolicy"] != "Retain" {
		t.Errorf("rejects bucket deletion policy %v", b["DeletionPolicy"])
	}
	tlsOnly := false
	for _, bpol := range s.resources("AWS::S3::BucketPolicy") {
		if render(prop(bpol, "Properties", "Bucket")) != "${Ref:"+s.id(t, s.st.Rejects)+"}" {
			continue
		}
		for _, st := range statements(prop(bpol, "Properties", "PolicyDocument")) {
			if deniesPlainHTTP(st) {
				tlsOnly = true
			}
		}
	}
	if !tlsOnly {
		t.Error("rejects bucket: no policy denying aws:SecureTransport false")
	}
}
