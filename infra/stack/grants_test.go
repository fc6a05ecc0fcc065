package stack_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/constructs-go/constructs/v10"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/sas"
)

// grant is one statement of a role's policy, rendered.
type grant struct {
	Effect    string
	Actions   string // sorted, comma-separated
	Resources string // sorted, comma-separated
	Condition string // rendered, "" for none
}

// grantOf renders a policy statement.
func grantOf(st map[string]interface{}) grant {
	actions, resources := list(st["Action"]), list(st["Resource"])
	sort.Strings(actions)
	sort.Strings(resources)
	g := grant{st["Effect"].(string), strings.Join(actions, ","), strings.Join(resources, ","), ""}
	if c := st["Condition"]; c != nil {
		g.Condition = render(c)
	}
	return g
}

// under is the condition of a ListBucket limited to prefix.
func under(prefix string) string { return `{"StringLike":{"s3:prefix":"` + prefix + `*"}}` }

// rolePolicies are the template's IAM policies by the one role each is
// attached to.
func rolePolicies(t *testing.T, s *synthesized) map[string][]map[string]interface{} {
	t.Helper()
	out := map[string][]map[string]interface{}{}
	for id, p := range s.resources("AWS::IAM::Policy") {
		roles := list(prop(p, "Properties", "Roles"))
		if len(roles) != 1 {
			t.Errorf("policy %s attached to %v, want exactly one role", id, roles)
			continue
		}
		role := strings.TrimSuffix(strings.TrimPrefix(roles[0], "${Ref:"), "}")
		out[role] = append(out[role], statements(prop(p, "Properties", "PolicyDocument"))...)
	}
	return out
}

func TestIAMPolicies(t *testing.T) {
	s := defaults(t)
	exportRole, retryRole, fanOutRole, ingestRole, compactRole := s.id(t, s.st.ExportRole), s.id(t, s.st.RetryRole), s.id(t, s.st.FanOutRole),
		s.id(t, s.st.IngestRole), s.id(t, s.st.CompactRole)
	apiRole := s.id(t, s.st.APIRole)
	isFunctionRole := map[string]bool{exportRole: true, retryRole: true, fanOutRole: true, ingestRole: true, compactRole: true, apiRole: true}
	arn := func(c constructs.IConstruct) string { return "${" + s.id(t, c) + ".Arn}" }
	lakeArn := arn(s.st.LakeBucket)
	// Objects under the lake's and the rejects bucket's prefixes are the
	// other wildcards.
	objectPrefixes := []string{
		"${" + s.id(t, s.st.Rejects) + ".Arn}/rejects/*",
		lakeArn + "/raw/*", lakeArn + "/lake/*", lakeArn + "/export/*",
	}
	got := map[string][]grant{}
	for role, sts := range rolePolicies(t, s) {
		if !isFunctionRole[role] {
			continue // the services' roles: TestServiceRoles
		}
		for _, st := range sts {
			if st["NotAction"] != nil || st["NotResource"] != nil || st["Principal"] != nil {
				t.Errorf("role %s: statement %v uses NotAction, NotResource or Principal", role, st)
			}
			actions, resources := list(st["Action"]), list(st["Resource"])
			for _, a := range actions {
				if strings.Contains(a, "*") {
					t.Errorf("role %s: wildcard action %q", role, a)
				}
			}
			onlyAssumeRole := len(actions) == 1 && actions[0] == "sts:AssumeRole"
			for _, r := range resources {
				if r == "*" || (strings.Contains(r, "*") && !onlyAssumeRole && !contains(objectPrefixes, r)) {
					t.Errorf("role %s: wildcard resource %q for %v (only sts:AssumeRole and objects under a prefix may have one, and never \"*\")", role, r, actions)
				}
			}
			got[role] = append(got[role], grantOf(st))
		}
	}

	keys := []string{arn(s.st.SASKeys[sas.US]), arn(s.st.SASKeys[sas.EU])}
	sort.Strings(keys)
	// The lake as the export and the retry read it (lakestore): the
	// manifests and org-day objects under lake/, the delivered files
	// under export/, and a listing limited to those prefixes, so that a
	// missing manifest or an expired file is NoSuchKey; nothing of raw/,
	// nothing written.
	readLake := []grant{
		{"Allow", "s3:GetObject", lakeArn + "/export/*," + lakeArn + "/lake/*", ""},
		{"Allow", "s3:ListBucket", lakeArn, under("lake/")},
		{"Allow", "s3:ListBucket", lakeArn, under("export/")},
	}
	delivery := func(fn string) []grant {
		return append([]grant{
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[fn]), ""},
			{"Allow", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::*:role/*", ""},
			{"Deny", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:role/*", ""},
			{"Allow", "kms:Decrypt", strings.Join(keys, ","), ""},
			// Manifests signed, the signatures checked against the public key.
			{"Allow", "kms:Sign", arn(s.st.SigningKey), `{"StringEquals":{"kms:MessageType":"DIGEST","kms:SigningAlgorithm":"RSASSA_PKCS1_V1_5_SHA_256"}}`},
			{"Allow", "kms:DescribeKey,kms:GetPublicKey", arn(s.st.SigningKey), ""},
			{"Allow", "dynamodb:GetItem", arn(s.st.RegistryTable), ""},
			// registry.RecordSASExpiry and RecordSASContainer (a
			// transaction of UpdateItems), after the SAS is decrypted.
			{"Allow", "dynamodb:UpdateItem", arn(s.st.RegistryTable), ""},
			// The delivery recorded (with its manifest, a transaction of
			// UpdateItems), after the chain head is read (GetItem).
			{"Allow", "dynamodb:GetItem,dynamodb:UpdateItem", arn(s.st.LedgerTable), ""},
		}, readLake...)
	}
	want := map[string][]grant{
		exportRole: append(delivery(stack.ExportFunction),
			grant{"Allow", "sqs:SendMessage", arn(s.st.ExportFailures), ""}),
		retryRole: append(delivery(stack.RetryFunction),
			grant{"Allow", "sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:ReceiveMessage", arn(s.st.ExportFailures), ""}),
		fanOutRole: {
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[stack.FanOutFunction]), ""},
			{"Allow", "dynamodb:Scan", arn(s.st.RegistryTable), ""},
			{"Allow", "dynamodb:Query", arn(s.st.LedgerTable), ""},
			{"Allow", "lambda:InvokeFunction", arn(s.st.Export), ""},
			{"Allow", "sqs:SendMessage", arn(s.st.FanOutFailures), ""},
		},
		// The ingest hands events to the one Firehose stream (no S3 of
		// the lake, no table of events), notes late days in the ledger,
		// writes rejects under the prefix, and its event source mapping
		// reads the request-log stream.
		ingestRole: {
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[stack.IngestFunction]), ""},
			{"Allow", "kinesis:DescribeStream,kinesis:DescribeStreamSummary,kinesis:GetRecords,kinesis:GetShardIterator,kinesis:ListShards", arn(s.st.RequestLogs), ""},
			{"Allow", "sqs:SendMessage", arn(s.st.IngestFailures), ""},
			{"Allow", "firehose:PutRecordBatch", "${" + *s.st.GetLogicalId(s.st.RawStream) + ".Arn}", ""},
			{"Allow", "dynamodb:UpdateItem", arn(s.st.LedgerTable), ""},
			{"Allow", "s3:PutObject", arn(s.st.Rejects) + "/rejects/*", ""},
		},
		// The compaction lists and reads raw/ and lake/ (the previous
		// manifest, a missing one NoSuchKey), writes lake/ and export/
		// (objects, delivered files, manifests; multipart uploads
		// aborted on failure), deletes nothing, and marks stale org-days
		// in the ledger (ledger.MarkStale: UpdateItem).
		compactRole: {
			{"Allow", "logs:CreateLogStream,logs:PutLogEvents", arn(s.st.LogGroups[stack.CompactFunction]), ""},
			{"Allow", "s3:ListBucket", lakeArn, under("raw/")},
			{"Allow", "s3:ListBucket", lakeArn, under("lake/")},
			{"Allow", "s3:GetObject", lakeArn + "/lake/*," + lakeArn + "/raw/*", ""},
			{"Allow", "s3:AbortMultipartUpload,s3:PutObject", lakeArn + "/export/*," + lakeArn + "/lake/*", ""},
			{"Allow", "dynamodb:UpdateItem", arn(s.st.LedgerTable), ""},
		},
		// The HTTP API: TestAPIPolicy.
		apiRole: apiGrants(t, s),
	}
	for role, w := range want {
		g := got[role]
		sortGrants(g)
		sortGrants(w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("role %s grants:\n got %v\nwant %v", role, g, w)
		}
	}

	// The functions' roles carry nothing else: no managed policies (the
	// basic execution policy has logs:CreateLogGroup on *), no inline
	// policies, and only Lambda may assume them.
	for id, r := range s.resources("AWS::IAM::Role") {
		if !isFunctionRole[id] {
			continue
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

// TestServiceRoles: the roles of the AWS services the stack configures,
// statement for statement: the Firehose stream writes raw/ and
// raw-errors/ of the lake and its log stream; the state machine invokes
// the compaction function and runs its own Map's child executions; the
// compaction schedule starts the state machine. Each is assumable by its
// service only, and no other role exists.
func TestServiceRoles(t *testing.T) {
	s := defaults(t)
	arn := func(c constructs.IConstruct) string { return "${" + s.id(t, c) + ".Arn}" }
	lakeArn := arn(s.st.LakeBucket)
	streamRole, smRole, scheduleRole := s.id(t, s.st.RawStreamRole), s.id(t, s.st.StateMachineRole), s.id(t, s.st.CompactionScheduleRole)
	states := "arn:${Ref:AWS::Partition}:states:${Ref:AWS::Region}:${Ref:AWS::AccountId}:"
	want := map[string][]grant{
		streamRole: {
			{"Allow", "s3:AbortMultipartUpload,s3:PutObject", lakeArn + "/raw-errors/*," + lakeArn + "/raw/*", ""},
			{"Allow", "s3:GetBucketLocation,s3:ListBucket,s3:ListBucketMultipartUploads", lakeArn, ""},
			{"Allow", "logs:PutLogEvents", "arn:${Ref:AWS::Partition}:logs:${Ref:AWS::Region}:${Ref:AWS::AccountId}:log-group:${Ref:" +
				s.id(t, s.st.RawStreamLogs) + "}:log-stream:${Ref:" + s.id(t, s.st.RawStreamLogStream) + "}", ""},
		},
		smRole: {
			{"Allow", "lambda:InvokeFunction", arn(s.st.Compact), ""},
			{"Allow", "states:StartExecution", states + "stateMachine:auditlogs-dev-compaction", ""},
			{"Allow", "states:DescribeExecution,states:StopExecution",
				states + "execution:auditlogs-dev-compaction/*," + states + "execution:auditlogs-dev-compaction:*", ""},
			// Vended log delivery, which takes no resource but "*".
			{"Allow", "logs:CreateLogDelivery,logs:DeleteLogDelivery,logs:DescribeLogGroups,logs:DescribeResourcePolicies,logs:GetLogDelivery," +
				"logs:ListLogDeliveries,logs:PutResourcePolicy,logs:UpdateLogDelivery", "*", ""},
		},
		scheduleRole: {
			{"Allow", "states:StartExecution", "${" + *s.st.GetLogicalId(s.st.StateMachine) + ".Arn}", ""},
		},
	}
	policies := rolePolicies(t, s)
	for role, w := range want {
		var g []grant
		for _, st := range policies[role] {
			g = append(g, grantOf(st))
		}
		sortGrants(g)
		sortGrants(w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("role %s grants:\n got %v\nwant %v", role, g, w)
		}
	}
	trusts := map[string]string{
		streamRole:   `firehose.amazonaws.com if {"StringEquals":{"sts:ExternalId":{"Ref":"AWS::AccountId"}}}`,
		smRole:       `states.amazonaws.com if {"StringEquals":{"aws:SourceAccount":{"Ref":"AWS::AccountId"}}}`,
		scheduleRole: "events.amazonaws.com",
	}
	functionRoles := map[string]bool{}
	for _, r := range []constructs.IConstruct{s.st.ExportRole, s.st.RetryRole, s.st.FanOutRole, s.st.IngestRole, s.st.CompactRole, s.st.APIRole} {
		functionRoles[s.id(t, r)] = true
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		if functionRoles[id] {
			continue
		}
		w, ok := trusts[id]
		if !ok {
			t.Errorf("unexpected role %s", id)
			continue
		}
		if v := prop(r, "Properties", "ManagedPolicyArns"); v != nil {
			t.Errorf("role %s: managed policies %v", id, v)
		}
		trust := statements(prop(r, "Properties", "AssumeRolePolicyDocument"))
		got := ""
		if len(trust) == 1 {
			got = render(prop(trust[0], "Principal", "Service"))
			if c := trust[0]["Condition"]; c != nil {
				got += " if " + render(c)
			}
		}
		if got != w {
			t.Errorf("role %s: trust %s, want %s", id, got, w)
		}
	}
	// Nothing in the template may delete an object.
	for typ, field := range map[string]string{"AWS::IAM::Policy": "PolicyDocument", "AWS::IAM::ManagedPolicy": "PolicyDocument", "AWS::S3::BucketPolicy": "PolicyDocument"} {
		for id, r := range s.resources(typ) {
			for _, st := range statements(prop(r, "Properties", field)) {
				if st["Effect"] == "Allow" && slices.ContainsFunc(list(st["Action"]), func(a string) bool { return strings.HasPrefix(a, "s3:Delete") }) {
					t.Errorf("%s allows %v", id, st["Action"])
				}
			}
		}
	}
}

// TestOperatorPolicy: what auditctl may do, command by command, and no
// more: no delete but a destination's, no read of customers' storage but
// through their roles (with the Deny on our own), decrypting with the SAS
// algorithm only, the lake read as the export reads it, written through
// its stream and compacted as the compaction function does.
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
		g := grantOf(st)
		if g.Actions == "kms:Decrypt" {
			decryptCondition, g.Condition = g.Condition, ""
		}
		got = append(got, g)
	}
	arn := func(c constructs.IConstruct) string { return "${" + s.id(t, c) + ".Arn}" }
	keys := []string{arn(s.st.SASKeys[sas.US]), arn(s.st.SASKeys[sas.EU])}
	sort.Strings(keys)
	publicKeys := append([]string{arn(s.st.SigningKey)}, keys...)
	sort.Strings(publicKeys)
	lakeArn := arn(s.st.LakeBucket)
	want := []grant{
		{"Allow", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::*:role/*", ""},
		{"Deny", "sts:AssumeRole", "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:role/*", ""},
		{"Allow", "dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:Scan,dynamodb:UpdateItem", arn(s.st.RegistryTable), ""},
		{"Allow", "dynamodb:GetItem,dynamodb:Query,dynamodb:UpdateItem", arn(s.st.LedgerTable), ""},
		// export, backfill: an org-day of the lake, as the export reads it.
		{"Allow", "s3:GetObject", lakeArn + "/export/*," + lakeArn + "/lake/*", ""},
		{"Allow", "s3:ListBucket", lakeArn, under("lake/")},
		{"Allow", "s3:ListBucket", lakeArn, under("export/")},
		// events load, ingest, ingest replay: through the stream.
		{"Allow", "firehose:PutRecordBatch", "${" + *s.st.GetLogicalId(s.st.RawStream) + ".Arn}", ""},
		// compact, in process: what the compaction function may do.
		{"Allow", "s3:ListBucket", lakeArn, under("raw/")},
		{"Allow", "s3:GetObject", lakeArn + "/lake/*," + lakeArn + "/raw/*", ""},
		{"Allow", "s3:AbortMultipartUpload,s3:PutObject", lakeArn + "/export/*," + lakeArn + "/lake/*", ""},
		// keys public (the signing key's too: never kms:Sign), sas encrypt, encrypt-page.
		{"Allow", "kms:DescribeKey,kms:GetPublicKey", strings.Join(publicKeys, ","), ""},
		{"Allow", "kms:Decrypt", strings.Join(keys, ","), ""},
		{"Allow", "lambda:InvokeFunction", arn(s.st.Export), ""},
		{"Allow", "sqs:DeleteMessage,sqs:ReceiveMessage", arn(s.st.ExportFailuresDLQ), ""},
		{"Allow", "sqs:SendMessage", arn(s.st.ExportFailures), ""},
		{"Allow", "sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:ReceiveMessage", arn(s.st.IngestFailures), ""},
		{"Allow", "kinesis:GetRecords,kinesis:GetShardIterator", arn(s.st.RequestLogs), ""},
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
