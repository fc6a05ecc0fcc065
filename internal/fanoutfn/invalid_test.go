package fanoutfn

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/registry"
)

// TestInvalidRegistryItemsAreSkipped: malformed items among valid ones in
// the registry on moto (written past the registry's validation, as a hand
// edit would be). The scheduled event, through the Lambda handler, invokes
// every valid enabled org once and none of the invalid ones, succeeds,
// counts the skipped items in its summary and in the EMF metric
// AuditLogs/InvalidRegistryItems, and logs one line per skipped item
// naming org, field and reason, never the cipher.
func TestInvalidRegistryItemsAreSkipped(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("fanout-invalid")
	if err := registry.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, table)
	want := map[string]bool{}
	for i := range 24 {
		d := destination.Destination{OrgID: fmt.Sprintf("org%02d", i), Kind: destination.KindS3, Enabled: i != 5,
			S3: &destination.S3{Bucket: "bucket-x", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/r"}}
		if _, err := reg.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
		if d.Enabled {
			want[d.OrgID] = true
		}
	}
	secret := "sv=2025-01-05&sr=c&sp=cw&sig=FanOutSecretSignatureNeverLogged0123456789%2B%3D"
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	on := &types.AttributeValueMemberBOOL{Value: true}
	role := str("arn:aws:iam::123456789012:role/r")
	cipher := str(base64.StdEncoding.EncodeToString(make([]byte, 512)))
	invalid := map[string]string{ // org → the field named
		"bad-kind":    registry.AttrKind,
		"bad-bucket":  registry.AttrBucket,
		"bad-time":    registry.AttrCreatedAt,
		"no-cipher":   registry.AttrSASCipher,
		"leaky-sas":   registry.AttrSASCipher,
		"bad-expiry":  registry.AttrSASExpiry,
		"bad-regions": registry.AttrRegion,
	}
	items := []map[string]types.AttributeValue{
		{"org_id": str("bad-kind"), "kind": str("gcs"), "enabled": on},
		{"org_id": str("bad-bucket"), "kind": str("s3"), "enabled": on, "bucket": str("Bad_Bucket"), "region": str("eu-west-1"), "role_arn": role},
		{"org_id": str("bad-time"), "kind": str("s3"), "enabled": on, "bucket": str("bucket-x"), "region": str("eu-west-1"), "role_arn": role, "created_at": str("last tuesday")},
		{"org_id": str("no-cipher"), "kind": str("azure"), "enabled": on, "residency": str("eu")},
		{"org_id": str("leaky-sas"), "kind": str("azure"), "enabled": on, "residency": str("eu"), "sas_cipher": str(secret)},
		{"org_id": str("bad-expiry"), "kind": str("azure"), "enabled": on, "residency": str("eu"), "sas_cipher": cipher, "sas_expiry": str("soon")},
		{"org_id": str("bad-regions"), "kind": str("s3"), "enabled": on, "bucket": str("bucket-x"), "region": str("EU"), "role_arn": role},
	}
	for _, item := range items {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}

	ep, lc := newEndpoint(t)
	var logs, emf testenv.SyncBuffer
	h := &Handler{Registry: reg, Lambda: lc, ExportFunction: "export-fn", Concurrency: 3, Segments: 3,
		Log: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: &emf}
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, testenv.SampleEvent(t, "scheduled.json"))
	if err != nil {
		t.Fatalf("fan-out with invalid registry items failed: %v\n%s", err, logs.String())
	}
	var sum Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Day != "2026-11-24" || sum.Seen != 24 || sum.Enabled != 23 || sum.Invoked != 23 || sum.Failed != 0 ||
		sum.InvalidItems != len(invalid) || len(sum.InvalidOrgs) != len(invalid) {
		t.Fatalf("summary %+v, want 24 seen, 23 invoked and %d invalid", sum, len(invalid))
	}
	for _, org := range sum.InvalidOrgs {
		if invalid[org] == "" {
			t.Errorf("summary names %q as invalid", org)
		}
	}
	invoked := map[string]int{}
	for _, p := range ep.payloads {
		invoked[p.OrgID]++
	}
	for org := range want {
		if invoked[org] != 1 {
			t.Errorf("valid org %s invoked %d times, want once", org, invoked[org])
		}
	}
	if len(invoked) != len(want) {
		t.Fatalf("invoked %v, want exactly the %d valid enabled orgs", invoked, len(want))
	}

	// One log line per skipped item, naming org, field and reason.
	logged := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var l struct {
			Msg    string
			Org    string `json:"org_id"`
			Field  string `json:"field"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || !strings.HasPrefix(l.Msg, "registry item skipped") {
			continue
		}
		logged[l.Org]++
		if invalid[l.Org] == "" || l.Field != invalid[l.Org] || l.Reason == "" {
			t.Errorf("log line %s: want org %q's field %q and a reason", sc.Text(), l.Org, invalid[l.Org])
		}
	}
	for org := range invalid {
		if logged[org] != 1 {
			t.Errorf("org %s: %d log lines, want one", org, logged[org])
		}
	}
	if strings.Contains(logs.String(), "FanOutSecretSignature") || strings.Contains(logs.String(), secret[:30]) {
		t.Fatalf("the cipher appears in the log:\n%s", logs.String())
	}

	// The run's EMF line carries the count next to SASExpiringSoon.
	lines := strings.Split(strings.TrimSpace(emf.String()), "\n")
	var m struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace string
				Metrics   []struct{ Name string }
			}
		} `json:"_aws"`
		Invalid *float64 `json:"InvalidRegistryItems"`
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &m) != nil || m.Invalid == nil || *m.Invalid != float64(len(invalid)) ||
		len(m.AWS.CloudWatchMetrics) != 1 || m.AWS.CloudWatchMetrics[0].Namespace != "AuditLogs" {
		t.Fatalf("metric lines %q, want one with %s = %d", emf.String(), metrics.InvalidRegistryItems, len(invalid))
	}
	names := map[string]bool{}
	for _, n := range m.AWS.CloudWatchMetrics[0].Metrics {
		names[n.Name] = true
	}
	if !names[metrics.InvalidRegistryItems] || !names[metrics.SASExpiringSoon] {
		t.Fatalf("metrics declared %v, want %s and %s", names, metrics.InvalidRegistryItems, metrics.SASExpiringSoon)
	}
}
