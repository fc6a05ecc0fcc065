package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
)

// TestListAndStatusNameInvalidItems: with malformed registry items among
// valid destinations (on moto), `destination list` and `status` succeed,
// show every valid destination, and name each invalid item with its org
// and field: on standard error in text mode, and in "invalid" with
// --json. No output holds the malformed cipher.
func TestListAndStatusNameInvalidItems(t *testing.T) {
	ctx := context.Background()
	moto := testenv.StartMoto(t)
	regTable, ledTable := testenv.UniqueName("cli-registry"), testenv.UniqueName("cli-ledger")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AUDITLOG_LAKE_BUCKET": "unused-lake",
		"AUDITLOG_REGISTRY_TABLE": regTable, "AUDITLOG_LEDGER_TABLE": ledTable,
	} {
		t.Setenv(k, v)
	}
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	if err := registry.CreateTable(ctx, db, regTable); err != nil {
		t.Fatal(err)
	}
	if err := ledger.CreateTable(ctx, db, ledTable); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, regTable)
	valid := []destination.Destination{
		{OrgID: "acme", Kind: destination.KindS3, Enabled: true,
			S3: &destination.S3{Bucket: "acme-audit", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/AuditLogs"}},
		{OrgID: "globex", Kind: destination.KindAzure, Enabled: true,
			Azure: &destination.Azure{SASCipher: base64.StdEncoding.EncodeToString(make([]byte, 512)), Residency: destination.ResidencyEU}},
		{OrgID: "zeta", Kind: destination.KindS3, Enabled: false,
			S3: &destination.S3{Bucket: "zeta-audit", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/AuditLogs"}},
	}
	for _, d := range valid {
		if _, err := reg.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	leaky := "sv=2025-01-05&sr=c&sp=cw&sig=CliSecretSignatureMustNotPrint0123456789%2B%3D"
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	invalid := map[string]string{"bad-bucket": registry.AttrBucket, "bad-time": registry.AttrUpdatedAt, "leaky": registry.AttrSASCipher}
	for _, item := range []map[string]types.AttributeValue{
		{"org_id": str("bad-bucket"), "kind": str("s3"), "bucket": str("Bad_Bucket"), "region": str("eu-west-1"), "role_arn": str("arn:aws:iam::123456789012:role/r")},
		{"org_id": str("bad-time"), "kind": str("s3"), "bucket": str("ok-bucket"), "region": str("eu-west-1"), "role_arn": str("arn:aws:iam::123456789012:role/r"), "updated_at": str("noon")},
		{"org_id": str("leaky"), "kind": str("azure"), "residency": str("us"), "sas_cipher": str(leaky)},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(regTable), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) (string, string) {
		t.Helper()
		var stdout, stderr syncBuffer
		err := runSplit(ctx, &stdout, &stderr, args...)
		o, e := stdout.String(), stderr.String()
		if err != nil {
			t.Fatalf("auditctl %s failed with invalid registry items: %v\n%s%s", strings.Join(args, " "), err, o, e)
		}
		if strings.Contains(o+e, "CliSecretSignature") || strings.Contains(o+e, leaky[:25]) {
			t.Fatalf("auditctl %s prints the malformed cipher:\n%s%s", strings.Join(args, " "), o, e)
		}
		return o, e
	}
	// stderrNames: one line per invalid item, naming org and field.
	stderrNames := func(what, e string) {
		t.Helper()
		for org, field := range invalid {
			n := 0
			for _, line := range strings.Split(e, "\n") {
				if strings.Contains(line, `org "`+org+`"`) && strings.Contains(line, field) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: standard error names %s (%s) %d times, want once:\n%s", what, org, field, n, e)
			}
		}
	}
	jsonInvalid := func(what string, got []registry.InvalidItem) {
		t.Helper()
		if len(got) != len(invalid) {
			t.Fatalf("%s: invalid %+v, want %d items", what, got, len(invalid))
		}
		for _, bad := range got {
			if invalid[bad.OrgID] != bad.Field || bad.Reason == "" {
				t.Errorf("%s: invalid item %+v, want field %q and a reason", what, bad, invalid[bad.OrgID])
			}
		}
	}

	o, e := cli("destination", "list")
	for _, d := range valid {
		if !strings.Contains(o, d.OrgID+" ") {
			t.Errorf("list lacks %s:\n%s", d.OrgID, o)
		}
	}
	if strings.Count(o, "\n") != 1+len(valid) {
		t.Errorf("list: want the header and %d rows:\n%s", len(valid), o)
	}
	stderrNames("list", e)

	o, _ = cli("destination", "list", "--json")
	var list destinationList
	if err := json.Unmarshal([]byte(o), &list); err != nil || len(list.Destinations) != len(valid) {
		t.Fatalf("list --json: %v\n%s", err, o)
	}
	for i, d := range valid {
		if list.Destinations[i].OrgID != d.OrgID {
			t.Errorf("list --json destination %d is %s, want %s", i, list.Destinations[i].OrgID, d.OrgID)
		}
	}
	jsonInvalid("list --json", list.Invalid)

	o, e = cli("status", "--days", "2")
	for _, d := range valid {
		if strings.Count(o, d.OrgID+" ") != 2 {
			t.Errorf("status lacks the 2 days of %s:\n%s", d.OrgID, o)
		}
	}
	stderrNames("status", e)

	o, _ = cli("status", "--days", "2", "--json")
	var st statusList
	if err := json.Unmarshal([]byte(o), &st); err != nil || len(st.Rows) != 2*len(valid) {
		t.Fatalf("status --json: %v\n%s", err, o)
	}
	jsonInvalid("status --json", st.Invalid)
}
