package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/grants"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sink"
)

// startStack starts a local stack of the test's own; Start sets the
// process environment (the operator's), which the test restores after.
func startStack(t *testing.T) *Stack {
	t.Helper()
	testenv.RequireTools(t, "moto_server", "local-kms", "azurite-blob")
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	st, err := Start(context.Background())
	t.Cleanup(st.Stop)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAnotherOrgsRoleIsRefused: an org registered with another org's role
// is not delivered to, on the local stack as in AWS, because the role's
// trust policy requires the other org's ID as external ID. (Before moto
// authenticated, the export succeeded.)
func TestAnotherOrgsRoleIsRefused(t *testing.T) {
	st := startStack(t)
	ctx := context.Background()
	role, err := st.CustomerRole(ctx, "victim-org")
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"victim-org", "intruder-org"} {
		d := destination.Destination{OrgID: org, Kind: destination.KindS3, Enabled: true, S3: &destination.S3{Bucket: Bucket, Region: "us-east-1", RoleARN: role}}
		if _, err := a.Registry.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	day := audit.DayOf(time.Now()).AddDays(-1)
	if _, err := st.compactDay(ctx, a.Config, day); err != nil { // an empty day, compacted
		t.Fatal(err)
	}
	if _, err := a.Exporter.Export(ctx, "victim-org", day); err != nil {
		t.Fatalf("the role's own org: %v", err)
	}
	_, err = a.Exporter.Export(ctx, "intruder-org", day)
	if !errors.Is(err, sink.ErrAccessDenied) || !strings.Contains(err.Error(), "sts:ExternalId") {
		t.Fatalf("another org with the role: err = %v, want access denied by the trust policy", err)
	}
	out, err := s3.NewFromConfig(st.AWS, func(o *s3.Options) { o.UsePathStyle = true }).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.Contains(aws.ToString(o.Key), "intruder-org") {
			t.Errorf("the intruder's file %s was delivered", aws.ToString(o.Key))
		}
	}
}

// TestIdentitiesHaveTheStacksPermissions: each identity may do what its
// statements of internal/grants allow and is refused what they do not, as
// moto evaluates its policy.
func TestIdentitiesHaveTheStacksPermissions(t *testing.T) {
	st := startStack(t)
	ctx := context.Background()
	role, err := st.CustomerRole(ctx, "iam-org")
	if err != nil {
		t.Fatal(err)
	}
	db := func(id grants.Identity) *dynamodb.Client { return dynamodb.NewFromConfig(st.Config(id)) }
	key := map[string]dbtypes.AttributeValue{registry.AttrOrgID: &dbtypes.AttributeValueMemberS{Value: "iam-org"}}
	assume := func(id grants.Identity, external string) error {
		_, err := sts.NewFromConfig(st.Config(id)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("t"), ExternalId: aws.String(external)})
		return err
	}
	s3As := func(id grants.Identity) *s3.Client {
		return s3.NewFromConfig(st.Config(id), s3obj.PathStyleForEmulators)
	}
	// An object of each part of the lake, put by the administrator.
	lakeObject, rawObject := grants.LakeOrgDayPrefix+"day=2026-01-01/bucket=000/org=iam-org/events.ndjson.gz", grants.LakeRawPrefix+"day=2026-01-01/bucket=000/r.gz"
	for _, k := range []string{lakeObject, rawObject} {
		if _, err := st.s3().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name    string
		allowed bool
		call    func() error
	}{
		{"the fan-out scans the registry", true, func() error {
			_, err := db(grants.FanOut).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(RegistryTable)})
			return err
		}},
		{"the fan-out may not write a destination", false, func() error {
			_, err := db(grants.FanOut).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(RegistryTable), Item: key})
			return err
		}},
		{"the export reads a destination", true, func() error {
			_, err := db(grants.Export).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(RegistryTable), Key: key})
			return err
		}},
		{"the export may not list destinations", false, func() error {
			_, err := db(grants.Export).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(RegistryTable)})
			return err
		}},
		{"the ingest writes raw objects (in Firehose's place)", true, func() error {
			_, err := s3As(grants.Ingest).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(grants.LakeRawPrefix + "x.gz"), Body: strings.NewReader("x")})
			return err
		}},
		{"the ingest may not read the lake", false, func() error {
			_, err := s3As(grants.Ingest).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(lakeObject)})
			return err
		}},
		{"the ingest may not write compacted org-days", false, func() error {
			_, err := s3As(grants.Ingest).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(grants.LakeOrgDayPrefix + "x"), Body: strings.NewReader("x")})
			return err
		}},
		{"the export reads a compacted org-day", true, func() error {
			_, err := s3As(grants.Export).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(lakeObject)})
			return err
		}},
		{"the export may not read raw objects", false, func() error {
			_, err := s3As(grants.Export).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(rawObject)})
			return err
		}},
		{"the export may not write the lake", false, func() error {
			_, err := s3As(grants.Export).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(lakeObject), Body: strings.NewReader("x")})
			return err
		}},
		{"the compaction reads raw objects", true, func() error {
			_, err := s3As(grants.Compact).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(rawObject)})
			return err
		}},
		// A prefix with "/" and "=" in the query: signed as S3 wants it,
		// which moto accepts only with emulator.Moto's fix.
		{"the compaction lists a bucket-day's raw objects", true, func() error {
			out, err := s3As(grants.Compact).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(LakeBucket), Prefix: aws.String(grants.LakeRawPrefix + "day=2026-01-01/bucket=000/")})
			if err == nil && (len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != rawObject) {
				err = fmt.Errorf("listed %d objects, want %s", len(out.Contents), rawObject)
			}
			return err
		}},
		{"the compaction writes compacted org-days", true, func() error {
			_, err := s3As(grants.Compact).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(grants.LakeOrgDayPrefix + "y"), Body: strings.NewReader("y")})
			return err
		}},
		{"the compaction may not write raw objects", false, func() error {
			_, err := s3As(grants.Compact).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(rawObject), Body: strings.NewReader("x")})
			return err
		}},
		{"the compaction deletes nothing", false, func() error {
			_, err := s3As(grants.Compact).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(rawObject)})
			return err
		}},
		{"the fan-out may not read the lake", false, func() error {
			_, err := s3As(grants.FanOut).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(lakeObject)})
			return err
		}},
		// (Not which table: moto does not resolve DynamoDB resources, see
		// iam.go; the stack's tests check them.)
		{"the operator may not batch-read items", false, func() error {
			_, err := db(grants.Operator).BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]dbtypes.KeysAndAttributes{
				LedgerTable: {Keys: []map[string]dbtypes.AttributeValue{{"org_id": &dbtypes.AttributeValueMemberS{Value: "iam-org"}, "day": &dbtypes.AttributeValueMemberS{Value: "2026-01-01"}}}}}})
			return err
		}},
		// The HTTP API reads and changes one destination at a time, never
		// lists them, and reads the lake's objects not at all.
		{"the api reads a destination", true, func() error {
			_, err := db(grants.API).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(RegistryTable), Key: key})
			return err
		}},
		{"the api may not scan the registry", false, func() error {
			_, err := db(grants.API).Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(RegistryTable)})
			return err
		}},
		{"the api may not put a whole item", false, func() error {
			_, err := db(grants.API).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(RegistryTable), Item: key})
			return err
		}},
		{"the api may not read the lake", false, func() error {
			_, err := s3As(grants.API).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(LakeBucket), Key: aws.String(lakeObject)})
			return err
		}},
		{"the api assumes the role with the org's ID", true, func() error { return assume(grants.API, "iam-org") }},
		{"the export assumes the role with the org's ID", true, func() error { return assume(grants.Export, "iam-org") }},
		{"the export may not assume it with another org's ID", false, func() error { return assume(grants.Export, "other-org") }},
		{"the fan-out may not assume customers' roles", false, func() error { return assume(grants.FanOut, "iam-org") }},
		{"the export may not write the customer's bucket itself", false, func() error {
			_, err := s3.NewFromConfig(st.Config(grants.Export), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx,
				&s3.PutObjectInput{Bucket: aws.String(Bucket), Key: aws.String("x.csv"), Body: strings.NewReader("x")})
			return err
		}},
		{"the ingest writes rejects under the prefix", true, func() error {
			_, err := s3.NewFromConfig(st.Config(grants.Ingest), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx,
				&s3.PutObjectInput{Bucket: aws.String(RejectsBucket), Key: aws.String(grants.RejectsPrefix + "x.jsonl"), Body: strings.NewReader("x")})
			return err
		}},
		{"the ingest may not write rejects elsewhere", false, func() error {
			_, err := s3.NewFromConfig(st.Config(grants.Ingest), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx,
				&s3.PutObjectInput{Bucket: aws.String(RejectsBucket), Key: aws.String("elsewhere/x.jsonl"), Body: strings.NewReader("x")})
			return err
		}},
		{"the retry function reads its queue", true, func() error {
			_, err := sqs.NewFromConfig(st.Config(grants.Retry)).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Env["AUDITLOG_RETRY_QUEUE_URL"])})
			return err
		}},
		{"the export may not read the retry queue", false, func() error {
			_, err := sqs.NewFromConfig(st.Config(grants.Export)).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.Env["AUDITLOG_RETRY_QUEUE_URL"])})
			return err
		}},
		{"the operator moves dead letters back (batch send)", true, func() error {
			_, err := sqs.NewFromConfig(st.Config(grants.Operator)).SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(st.Env["AUDITLOG_RETRY_QUEUE_URL"]),
				Entries: []sqstypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("{}")}}})
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			// moto answers a refusal of a JSON-protocol service (DynamoDB,
			// SQS) in XML, which the SDK cannot decode: the status tells.
			var ae smithy.APIError
			var re *awshttp.ResponseError
			denied := (errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "AccessDenied")) ||
				(errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden)
			switch {
			case c.allowed && err != nil:
				t.Errorf("refused: %v", err)
			case !c.allowed && !denied:
				t.Errorf("err = %v, want AccessDenied", err)
			}
		})
	}
}

// TestPolicyDocuments: the local policies are internal/grants' statements,
// action for action, with "*" only where moto does not resolve the
// resource (tables, streams).
func TestPolicyDocuments(t *testing.T) {
	s := &Stack{Env: map[string]string{"AUDITLOG_KMS_KEY_US": "k-us", "AUDITLOG_KMS_KEY_EU": "k-eu", "AUDITLOG_SIGNING_KEY_ID": "k-sign"}}
	for _, id := range grants.Identities {
		raw, err := s.policyDocument(id)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Statement []struct {
				Sid      string
				Effect   string
				Action   []string
				Resource []string
			}
		}
		if err := json.Unmarshal([]byte(raw), &doc); err != nil {
			t.Fatal(err)
		}
		want := append(grants.For(id), localOnly[id]...)
		if len(doc.Statement) != len(want) {
			t.Fatalf("%s: %d statements, want %d", id, len(doc.Statement), len(want))
		}
		for i, st := range doc.Statement {
			w := want[i]
			if st.Sid != w.Sid || st.Effect != string(w.Effect) {
				t.Errorf("%s: statement %d is %s %s, want %s %s", id, i, st.Sid, st.Effect, w.Sid, w.Effect)
			}
			for _, a := range w.Actions {
				if !slices.Contains(st.Action, a) {
					t.Errorf("%s %s: lacks %s", id, w.Sid, a)
				}
			}
			for _, a := range st.Action {
				if !slices.Contains(w.Actions, a) && !slices.ContainsFunc(w.Actions, func(g string) bool { return slices.Contains(motoAliases[g], a) }) {
					t.Errorf("%s %s: %s is neither granted nor moto's name of a granted action", id, w.Sid, a)
				}
			}
			for _, r := range st.Resource {
				if r == "*" && !slices.ContainsFunc(w.Resources, func(r grants.Resource) bool {
					return r.Name == grants.RegistryTable || r.Name == grants.LedgerTable || r.Name == grants.RequestLogs
				}) {
					t.Errorf("%s %s: resource * for %v", id, w.Sid, w.Resources)
				}
			}
		}
	}
}
