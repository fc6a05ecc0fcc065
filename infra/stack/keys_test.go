package stack_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/infra/stack"
	"github.com/contentful/auditlogs/internal/sas"
)

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
