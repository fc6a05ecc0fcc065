package stack_test

import (
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/retryschedule"
	"github.com/contentful/auditlogs/internal/sas"
)

func TestFunctions(t *testing.T) {
	s := defaults(t)
	fns := s.resources("AWS::Lambda::Function")
	if len(fns) != 6 {
		t.Fatalf("%d functions, want 6 (no helper functions such as log retention)", len(fns))
	}
	exportID, fanOutID, retryID, ingestID, compactID := s.id(t, s.st.Export), s.id(t, s.st.FanOut), s.id(t, s.st.Retry), s.id(t, s.st.Ingest), s.id(t, s.st.Compact)
	apiID := s.id(t, s.st.API)
	lakeBucket, reg, led := s.id(t, s.st.LakeBucket), s.id(t, s.st.RegistryTable), s.id(t, s.st.LedgerTable)
	keyUS, keyEU := s.id(t, s.st.SASKeys[sas.US]), s.id(t, s.st.SASKeys[sas.EU])
	// The functions that read the log store read the lake: its kind and
	// its bucket (the log store has no table).
	delivery := map[string]string{
		"AUDITLOG_LOG_STORE":      "lake",
		"AUDITLOG_LAKE_BUCKET":    "${Ref:" + lakeBucket + "}",
		"AUDITLOG_REGISTRY_TABLE": "${Ref:" + reg + "}",
		"AUDITLOG_LEDGER_TABLE":   "${Ref:" + led + "}",
		"AUDITLOG_KMS_KEY_US":     "${" + keyUS + ".Arn}",
		"AUDITLOG_KMS_KEY_EU":     "${" + keyEU + ".Arn}",
		"AUDITLOG_SIGNING_KEY_ID": "${" + s.id(t, s.st.SigningKey) + ".Arn}",

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
			"AUDITLOG_REGISTRY_TABLE":     "${Ref:" + reg + "}",
			"AUDITLOG_LEDGER_TABLE":       "${Ref:" + led + "}",
			"AUDITLOG_EXPORT_FUNCTION":    "${Ref:" + exportID + "}",
			"AUDITLOG_FANOUT_CONCURRENCY": "16",
		}},
		// The ingest writes the lake through the Firehose stream.
		{ingestID, s.id(t, s.st.IngestRole), "auditlogs-dev-ingest", 1024, 300, map[string]string{
			"AUDITLOG_LOG_STORE":           "lake",
			"AUDITLOG_LAKE_BUCKET":         "${Ref:" + lakeBucket + "}",
			"AUDITLOG_LAKE_STREAM":         "${Ref:" + *s.st.GetLogicalId(s.st.RawStream) + "}",
			"AUDITLOG_REGISTRY_TABLE":      "${Ref:" + reg + "}",
			"AUDITLOG_LEDGER_TABLE":        "${Ref:" + led + "}",
			"AUDITLOG_REJECTS_BUCKET":      "${Ref:" + s.id(t, s.st.Rejects) + "}",
			"AUDITLOG_REJECTS_PREFIX":      "rejects/",
			"AUDITLOG_INGEST_INCLUDE_POST": "false",
		}},
		// One full vCPU, Lambda's longest timeout.
		{compactID, s.id(t, s.st.CompactRole), "auditlogs-dev-compact", 1769, 900, map[string]string{
			"AUDITLOG_LAKE_BUCKET":  "${Ref:" + lakeBucket + "}",
			"AUDITLOG_LEDGER_TABLE": "${Ref:" + led + "}",
		}},
		// The HTTP API answers within API Gateway's 30 s; it writes its
		// audit events through the lake's stream, as the ingest does.
		{apiID, s.id(t, s.st.APIRole), "auditlogs-dev-api", 512, 28, map[string]string{
			"AUDITLOG_LOG_STORE":                "lake",
			"AUDITLOG_LAKE_BUCKET":              "${Ref:" + lakeBucket + "}",
			"AUDITLOG_LAKE_STREAM":              "${Ref:" + *s.st.GetLogicalId(s.st.RawStream) + "}",
			"AUDITLOG_REGISTRY_TABLE":           "${Ref:" + reg + "}",
			"AUDITLOG_LEDGER_TABLE":             "${Ref:" + led + "}",
			"AUDITLOG_EXPORT_FUNCTION":          "${Ref:" + exportID + "}",
			"AUDITLOG_KMS_KEY_US":               "${" + keyUS + ".Arn}",
			"AUDITLOG_KMS_KEY_EU":               "${" + keyEU + ".Arn}",
			"AUDITLOG_SIGNING_KEY_ID":           "${" + s.id(t, s.st.SigningKey) + ".Arn}",
			"AUDITLOG_LOG_STORE_RETENTION_DAYS": "35",
			"AUDITLOG_API_ISSUER":               "https://idp.example.com",
			"AUDITLOG_API_AUDIENCE":             "auditlogs",
			"AUDITLOG_API_JWKS_URL":             "https://idp.example.com/.well-known/jwks.json",
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
	// The compaction's sorted runs are on /tmp: 10 GiB of it.
	if v := prop(fns[compactID], "Properties", "EphemeralStorage", "Size"); v != float64(10240) {
		t.Errorf("compact: ephemeral storage %v MiB, want 10240", v)
	}
	// The delivering functions spool a file before its upload: 4 GiB.
	for _, id := range []string{exportID, retryID} {
		if v := prop(fns[id], "Properties", "EphemeralStorage", "Size"); v != float64(4096) {
			t.Errorf("%s: ephemeral storage %v MiB, want 4096", id, v)
		}
	}
	for _, id := range []string{fanOutID, ingestID, apiID} {
		if v := prop(fns[id], "Properties", "EphemeralStorage"); v != nil {
			t.Errorf("%s: ephemeral storage %v, want Lambda's default", id, v)
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

func TestSchedule(t *testing.T) {
	s := defaults(t)
	checkSchedule(t, s, stack.DefaultSchedule)
	if stack.DefaultSchedule != "cron(0 1 * * ? *)" {
		t.Errorf("default schedule %q", stack.DefaultSchedule)
	}
}

func checkSchedule(t *testing.T, s *synthesized, want string) {
	t.Helper()
	// The schedules: the fan-out's and the compaction's
	// (TestCompactionSchedule); the other rule is TestKeyChangeRule's.
	rules := map[string]map[string]interface{}{}
	scheduled := 0
	for id, r := range s.resources("AWS::Events::Rule") {
		if prop(r, "Properties", "ScheduleExpression") != nil {
			scheduled++
			if id == s.id(t, s.st.Schedule) {
				rules[id] = r
			}
		}
	}
	if scheduled != 2 || len(rules) != 1 {
		t.Fatalf("%d scheduled rules, the fan-out's found %d times: want 2 and once", scheduled, len(rules))
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

// TestIngestSource: the ingest's event source mapping reads the
// request-log stream from the oldest record, with partial batch
// responses, retries a batch until a day before the stream drops its
// records, then parks it in the ingest-failures queue.
func TestIngestSource(t *testing.T) {
	s := defaults(t)
	retention, _ := prop(s.resource(t, s.id(t, s.st.RequestLogs)), "Properties", "RetentionPeriodHours").(float64)
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
}
