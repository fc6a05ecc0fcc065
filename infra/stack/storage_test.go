package stack_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/registry"
)

func TestTables(t *testing.T) {
	s := defaults(t)
	// The log store is the lake: no table of its own.
	tables := s.resources("AWS::DynamoDB::Table")
	if len(tables) != 2 {
		t.Fatalf("%d tables, want 2 (registry, ledger)", len(tables))
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

// TestRequestLogStream: the request-log stream is encrypted, on demand,
// keeps a week of records and is kept when removed from the stack.
func TestRequestLogStream(t *testing.T) {
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
}

// TestRejectsBucket: the rejects bucket is private, encrypted, TLS only,
// and expires its records with the log store.
func TestRejectsBucket(t *testing.T) {
	s := defaults(t)
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
