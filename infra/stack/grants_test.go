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
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/sas"
)

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
