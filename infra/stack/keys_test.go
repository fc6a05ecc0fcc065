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
	if len(keys) != 3 {
		t.Fatalf("%d keys, want 3 (the two SAS keys, the signing key)", len(keys))
	}
	root := "arn:${Ref:AWS::Partition}:iam::${Ref:AWS::AccountId}:root"
	checkKeyPolicies(t, s, []string{root})
	checkSigningKey(t, s, []string{root})

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
	id := s.id(t, s.st.SigningKey)
	if want := "alias/auditlogs-dev-signing"; aliases["${"+id+".Arn}"] != want {
		t.Errorf("signing key %s: alias %q, want %q", id, aliases["${"+id+".Arn}"], want)
	}
}

// checkSigningKey checks the signing key: RSA-4096 for SIGN_VERIFY,
// retained; only the roles of the functions that deliver (export, retry)
// may sign, with RSASSA_PKCS1_V1_5_SHA_256 and digests only; they, the
// HTTP API's role (GET /v1/keys) and the operators read the public key; the admins administer it (without
// signing or creating grants) and read the public key; no other
// statement.
func checkSigningKey(t *testing.T, s *synthesized, admins []string, operators ...string) {
	t.Helper()
	id := s.id(t, s.st.SigningKey)
	k := s.resource(t, id)
	p := k["Properties"].(map[string]interface{})
	if p["KeySpec"] != "RSA_4096" || p["KeyUsage"] != "SIGN_VERIFY" {
		t.Errorf("signing key: %v %v, want RSA_4096 SIGN_VERIFY", p["KeySpec"], p["KeyUsage"])
	}
	if k["DeletionPolicy"] != "Retain" || k["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("signing key: DeletionPolicy %v, UpdateReplacePolicy %v, want Retain", k["DeletionPolicy"], k["UpdateReplacePolicy"])
	}
	deliveries := []string{"${" + s.id(t, s.st.ExportRole) + ".Arn}", "${" + s.id(t, s.st.RetryRole) + ".Arn}"}
	sort.Strings(deliveries)
	readers := append(append([]string{"${" + s.id(t, s.st.APIRole) + ".Arn}"}, deliveries...), operators...)
	sort.Strings(readers)
	admins = append([]string{}, admins...)
	sort.Strings(admins)
	byAction := map[string][][]string{} // action: the principal lists of its statements
	for _, st := range statements(p["KeyPolicy"]) {
		if st["Effect"] != "Allow" || st["NotAction"] != nil || st["NotPrincipal"] != nil {
			t.Errorf("signing key: statement %v", st)
			continue
		}
		if prop(st, "Principal", "Service") != nil || render(st["Principal"]) == "*" {
			t.Errorf("signing key: statement for %v", st["Principal"])
		}
		principals := list(prop(st, "Principal", "AWS"))
		sort.Strings(principals)
		for _, a := range list(st["Action"]) {
			byAction[a] = append(byAction[a], principals)
			switch {
			case strings.Contains(a, "*"):
				t.Errorf("signing key: wildcard action %q for %v", a, principals)
			case a == "kms:Sign":
				want := `{"StringEquals":{"kms:MessageType":"DIGEST","kms:SigningAlgorithm":"RSASSA_PKCS1_V1_5_SHA_256"}}`
				if got := render(st["Condition"]); got != want {
					t.Errorf("signing key: kms:Sign for %v if %s, want %s", principals, got, want)
				}
			case a == "kms:CreateGrant" || a == "kms:Decrypt" || strings.HasPrefix(a, "kms:ReEncrypt") || a == "kms:Verify":
				t.Errorf("signing key: %s for %v", a, principals)
			}
		}
	}
	if got := byAction["kms:Sign"]; !reflect.DeepEqual(got, [][]string{deliveries}) {
		t.Errorf("signing key: kms:Sign for %v, want only the export and retry roles %v", got, deliveries)
	}
	for _, a := range []string{"kms:GetPublicKey", "kms:DescribeKey"} {
		got := byAction[a]
		sort.Slice(got, func(i, j int) bool { return strings.Join(got[i], ",") < strings.Join(got[j], ",") })
		want := [][]string{admins, readers}
		sort.Slice(want, func(i, j int) bool { return strings.Join(want[i], ",") < strings.Join(want[j], ",") })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("signing key: %s for %v, want the admins and the deliveries with the API and the operators %v", a, got, want)
		}
	}
	for a, who := range byAction {
		if a != "kms:Sign" && a != "kms:GetPublicKey" && a != "kms:DescribeKey" && !reflect.DeepEqual(who, [][]string{admins}) {
			t.Errorf("signing key: %s for %v, want the admins %v only", a, who, admins)
		}
	}
	for _, a := range []string{"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} {
		if !reflect.DeepEqual(byAction[a], [][]string{admins}) {
			t.Errorf("signing key: admins lack %s (%v)", a, byAction[a])
		}
	}
}

// TestOnlyDeliveriesMaySign: no policy of the template but the signing
// key's and the export's and retry's roles' names kms:Sign, and those on
// the signing key only; the fan-out, ingest and compaction roles, the
// services' roles and the operators' policy have none.
func TestOnlyDeliveriesMaySign(t *testing.T) {
	s := defaults(t)
	exportRole, retryRole := s.id(t, s.st.ExportRole), s.id(t, s.st.RetryRole)
	signingArn := "${" + s.id(t, s.st.SigningKey) + ".Arn}"
	signers := map[string]bool{}
	for role, sts := range rolePolicies(t, s) {
		for _, st := range sts {
			if st["Effect"] != "Allow" || !contains(list(st["Action"]), "kms:Sign") {
				continue
			}
			signers[role] = true
			if res := list(st["Resource"]); !reflect.DeepEqual(res, []string{signingArn}) || !reflect.DeepEqual(list(st["Action"]), []string{"kms:Sign"}) {
				t.Errorf("role %s: %v on %v, want kms:Sign on the signing key only", role, st["Action"], res)
			}
		}
	}
	if !reflect.DeepEqual(signers, map[string]bool{exportRole: true, retryRole: true}) {
		t.Errorf("roles that may sign: %v, want the export's %s and the retry's %s only", signers, exportRole, retryRole)
	}
	for _, typ := range []string{"AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"} {
		for id, r := range s.resources(typ) {
			for _, st := range statements(prop(r, "Properties", "PolicyDocument")) {
				if contains(list(st["Action"]), "kms:Sign") {
					t.Errorf("%s %s: kms:Sign", typ, id)
				}
			}
		}
	}
	for id, k := range s.resources("AWS::KMS::Key") {
		if id == s.id(t, s.st.SigningKey) {
			continue
		}
		for _, st := range statements(prop(k, "Properties", "KeyPolicy")) {
			if contains(list(st["Action"]), "kms:Sign") {
				t.Errorf("key %s: kms:Sign for %v", id, st["Principal"])
			}
		}
	}
}

// checkKeyPolicies checks both SAS keys: RSA-4096 for encryption, retained;
// only the roles of the functions that deliver (export, and retry, which
// runs exports in process), the HTTP API's role (which checks a cipher
// before storing it) and the operators may decrypt; admins may
// administer (without decrypting, re-encrypting or creating grants) and
// read the public key, which the HTTP API's role may read too (GET
// /v1/keys), whoever the admins are.
func checkKeyPolicies(t *testing.T, s *synthesized, admins []string, operators ...string) {
	t.Helper()
	apiRole := "${" + s.id(t, s.st.APIRole) + ".Arn}"
	wantDecrypters := append([]string{"${" + s.id(t, s.st.ExportRole) + ".Arn}", "${" + s.id(t, s.st.RetryRole) + ".Arn}", apiRole}, operators...)
	sort.Strings(wantDecrypters)
	sort.Strings(admins)
	for _, r := range stack.Residencies {
		id := s.id(t, s.st.SASKeys[r])
		k := s.resource(t, id)
		p := k["Properties"].(map[string]interface{})
		if p["KeySpec"] != "RSA_4096" || p["KeyUsage"] != "ENCRYPT_DECRYPT" {
			t.Errorf("key %s: %v %v, want RSA_4096 ENCRYPT_DECRYPT", id, p["KeySpec"], p["KeyUsage"])
		}
		if k["DeletionPolicy"] != "Retain" || k["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("key %s: DeletionPolicy %v, want Retain", id, k["DeletionPolicy"])
		}
		var decrypters []string
		adminActions, apiReads := map[string]bool{}, map[string]bool{}
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
				case reflect.DeepEqual(principals, []string{apiRole}) && (a == "kms:GetPublicKey" || a == "kms:DescribeKey"):
					apiReads[a] = true
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
			t.Errorf("key %s: kms:Decrypt for %v, want only the export, retry and API roles and the operators %v", id, decrypters, wantDecrypters)
		}
		if !apiReads["kms:GetPublicKey"] || !apiReads["kms:DescribeKey"] {
			t.Errorf("key %s: the API's role may not read the public key (%v)", id, apiReads)
		}
		for _, a := range []string{"kms:GetPublicKey", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} {
			if !adminActions[a] {
				t.Errorf("key %s: admins lack %s", id, a)
			}
		}
	}
}

// TestKeyChangeRule: CloudTrail's records of PutKeyPolicy, CreateGrant,
// ScheduleKeyDeletion and DisableKey on the two SAS keys and the signing
// key (by ARN) reach the alarm topic, which lets EventBridge publish for that rule only.
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
	want := []string{"${" + s.id(t, s.st.SASKeys[sas.US]) + ".Arn}", "${" + s.id(t, s.st.SASKeys[sas.EU]) + ".Arn}", "${" + s.id(t, s.st.SigningKey) + ".Arn}"}
	sort.Strings(want)
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("the pattern matches keys %v, want the two SAS keys and the signing key %v", keys, want)
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
