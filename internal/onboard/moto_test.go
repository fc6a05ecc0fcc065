package onboard_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/memstore"
	"github.com/contentful/auditlogs/internal/onboard"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/opener"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// motoAccount is moto's default account. Here it is ours and the
// customer's: moto 5.2.1 evaluates a role's trust policy only when the
// caller is in the role's account (for a role of another account it skips
// the trust check and the external ID with it), so the one account is what
// lets this test prove the external ID. Our deployed export is denied
// roles of its own account; auditctl refuses such a set-up.
const motoAccount = "123456789012"

// setupCalls is the number of requests customerSetup sends before moto
// starts to authenticate (INITIAL_NO_AUTH_ACTION_COUNT): 3 for our
// exporter user, 3 for an admin user that reads back, the bucket, the
// role (CreateRole and UpdateAssumeRolePolicy), the IAM policy
// (CreatePolicy and AttachRolePolicy), the bucket policy, the lifecycle
// configuration, and 2 for a second role with the product doc's policy.
const setupCalls = 15

// The product doc's step 2 policy, as published: s3:PutObject on the
// whole bucket and nothing else.
const productDocPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::%s/*"}]}`

type fixture struct {
	docs           onboard.Documents
	bucket         string
	exporter       aws.Config // our credentials: may only call sts:AssumeRole
	admin          aws.Config // the customer's administrator, to read back
	productDocRole string     // a role set up as the product doc says
}

// customerSetup does, as the customer would and without authentication,
// what the generated documents say: bucket, role with the trust policy,
// the IAM policy attached, the bucket policy, the lifecycle rule. It sends
// exactly setupCalls requests.
func customerSetup(t *testing.T, moto *testenv.Server, org, prefix string) *fixture {
	t.Helper()
	ctx := testenv.Context(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	ic := iam.NewFromConfig(cfg)
	f := &fixture{bucket: testenv.UniqueName("customer")}

	user := func(name, action string) aws.Config {
		id, secret := testenv.IAMUser(ctx, t, ic, name, map[string]any{"Effect": "Allow", "Action": action, "Resource": "*"})
		return testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, id, secret)
	}
	f.exporter = user("exporter", "sts:AssumeRole")
	f.admin = user("admin", "*")

	// moto compares the caller's ARN with the trust policy's principal
	// string and does not know that an account's root stands for every
	// principal of the account; so the test trusts our exporter user by
	// name (Input.Principals), which AWS accepts too. The default, the
	// account root, is checked in TestGenerate.
	docs, err := onboard.Generate(onboard.Input{
		OrgID: org, Bucket: f.bucket, Prefix: prefix, Region: "us-east-1",
		Account: motoAccount, Principals: []string{"arn:aws:iam::" + motoAccount + ":user/exporter"},
		CustomerAccount: motoAccount,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.docs = docs
	doc := func(v any) *string {
		b, err := onboard.JSON(v)
		if err != nil {
			t.Fatal(err)
		}
		return aws.String(string(b))
	}

	s3c := pathStyle(cfg)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(onboard.DefaultRoleName), AssumeRolePolicyDocument: doc(docs.TrustPolicy)}); err != nil {
		t.Fatalf("create role with the trust policy: %v", err)
	}
	// moto's CreateRole stores the trust policy unchecked, and
	// UpdateAssumeRolePolicy runs its trust policy validator: so the
	// document is set again through it.
	if _, err := ic.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(onboard.DefaultRoleName), PolicyDocument: doc(docs.TrustPolicy)}); err != nil {
		t.Fatalf("trust policy refused: %v", err)
	}
	pol, err := ic.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("ContentfulAuditLogDelivery"), PolicyDocument: doc(docs.IAMPolicy)})
	if err != nil {
		t.Fatalf("IAM policy refused: %v", err)
	}
	if _, err := ic.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(onboard.DefaultRoleName), PolicyArn: pol.Policy.Arn}); err != nil {
		t.Fatalf("attach policy: %v", err)
	}
	if _, err := s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(f.bucket), Policy: doc(docs.BucketPolicy)}); err != nil {
		t.Fatalf("bucket policy refused: %v", err)
	}
	if _, err := s3c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket: aws.String(f.bucket), LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: sdkRules(docs.Lifecycle)},
	}); err != nil {
		t.Fatalf("lifecycle configuration refused: %v", err)
	}
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ProductDocRole"), AssumeRolePolicyDocument: doc(docs.TrustPolicy)})
	if err != nil {
		t.Fatalf("create product doc role: %v", err)
	}
	f.productDocRole = aws.ToString(role.Role.Arn)
	if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ProductDocRole"), PolicyName: aws.String("write"), PolicyDocument: aws.String(fmt.Sprintf(productDocPolicy, f.bucket))}); err != nil {
		t.Fatalf("product doc policy: %v", err)
	}
	return f
}

// sdkRules converts the generated lifecycle configuration to the SDK's
// types, field by field, as the AWS CLI does with the JSON file.
func sdkRules(l onboard.Lifecycle) []s3types.LifecycleRule {
	var rules []s3types.LifecycleRule
	for _, r := range l.Rules {
		rules = append(rules, s3types.LifecycleRule{
			ID:                             aws.String(r.ID),
			Status:                         s3types.ExpirationStatus(r.Status),
			Filter:                         &s3types.LifecycleRuleFilter{Prefix: aws.String(r.Filter.Prefix)},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(int32(r.AbortIncompleteMultipartUpload.DaysAfterInitiation))},
		})
	}
	return rules
}

func pathStyle(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// failingReader yields n bytes of CSV-ish text, then fails: an export
// whose source breaks after the first part went up.
type failingReader struct{ n int }

var errSource = errors.New("log store went away")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errSource
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

// TestGeneratedSetUpOnMoto sets up a customer from the generated documents
// on a moto that authenticates every request after the set-up, registers
// the destination, and delivers through the production export path.
func TestGeneratedSetUpOnMoto(t *testing.T) {
	const org, prefix = "org-onboard", "contentful/audit"
	moto := testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(setupCalls))
	f := customerSetup(t, moto, org, prefix)
	ctx := testenv.Context(t)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(moto.LogPath()); err == nil {
				t.Logf("moto log (tail):\n%s", b[max(0, len(b)-3000):])
			}
		}
	})
	admin := pathStyle(f.admin)

	// Authentication is on: unknown credentials are refused. (A set-up
	// count too low would have failed above, one too high shows here.)
	_, err := pathStyle(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("x"), Body: strings.NewReader("x")})
	if err == nil {
		t.Fatal("moto accepted unknown credentials: it is not authenticating")
	}

	// moto stored the bucket policy and the lifecycle rule as given. It
	// does not evaluate a bucket policy that names a principal (its S3
	// honours only Principal "*" statements, and its IAM checks no
	// resource-based policies), so what the bucket policy allows is not
	// proven here; the role's IAM policy is what moto enforces below.
	gp, err := admin.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatalf("get bucket policy: %v", err)
	}
	var stored onboard.Policy
	if err := json.Unmarshal([]byte(aws.ToString(gp.Policy)), &stored); err != nil || !reflect.DeepEqual(stored, f.docs.BucketPolicy) {
		t.Errorf("stored bucket policy %s (%v), want %+v", aws.ToString(gp.Policy), err, f.docs.BucketPolicy)
	}
	lc, err := admin.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatalf("get lifecycle: %v", err)
	}
	if len(lc.Rules) != 1 || lc.Rules[0].AbortIncompleteMultipartUpload == nil ||
		aws.ToInt32(lc.Rules[0].AbortIncompleteMultipartUpload.DaysAfterInitiation) != onboard.AbortAfterDays ||
		lc.Rules[0].Filter == nil || aws.ToString(lc.Rules[0].Filter.Prefix) != prefix+"/" {
		t.Errorf("stored lifecycle rules %+v", lc.Rules)
	}

	// Register the destination from the values the customer sends back.
	db := dynamodb.NewFromConfig(f.admin)
	table := testenv.UniqueName("registry")
	if err := registry.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, table)
	v := f.docs.Values
	if _, err := reg.Put(ctx, destination.Destination{OrgID: v.OrgID, Kind: destination.KindS3, Prefix: v.Prefix, Enabled: true,
		S3: &destination.S3{Bucket: v.Bucket, Region: v.Region, RoleARN: v.RoleARN}}); err != nil {
		t.Fatalf("register: %v", err)
	}

	opts := s3sink.Options{PartSize: s3sink.MinPartSize, Concurrency: 2}
	sinks := &opener.Opener{AWS: f.exporter, S3: opts}
	day := audit.DayOf(time.Now()).AddDays(-1)

	t.Run("DeliversMultipart", func(t *testing.T) {
		// More than one 5 MiB part, so CreateMultipartUpload, UploadPart
		// and CompleteMultipartUpload all pass moto's check of the role's
		// policy (moto maps them to s3:PutObject, as IAM does).
		store := memstore.New()
		const n = 30_000
		var events []audit.Event
		for i := range n {
			events = append(events, audit.Event{OrgID: org, RequestID: fmt.Sprintf("r%06d", i), RequestTime: day.Start().Add(time.Duration(i) * time.Second),
				RequestMethod: "PATCH", RequestPath: fmt.Sprintf("/spaces/space%06d/environments/master/entries/%s", i, strings.Repeat("e", 150)), ResponseStatus: 200})
		}
		if err := store.Write(ctx, events); err != nil {
			t.Fatal(err)
		}
		x := &export.Exporter{Destinations: reg, Store: store, Sinks: sinks}
		res, err := x.Export(ctx, org, day)
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if res.Rows != n || res.Bytes <= s3sink.MinPartSize || res.Key != v.Prefix+destination.ObjectName(org, day) {
			t.Fatalf("result %+v: want %d rows, more than one part, under the prefix", res, n)
		}
		head, err := admin.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(res.Key)})
		if err != nil {
			t.Fatalf("head %s: %v", res.Key, err)
		}
		if aws.ToInt64(head.ContentLength) != res.Bytes || !strings.Contains(aws.ToString(head.ETag), "-") {
			t.Errorf("object: %d bytes, ETag %s; want %d bytes from a multipart upload", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), res.Bytes)
		}
	})

	// pending lists the incomplete multipart uploads in the bucket.
	pending := func(t *testing.T) []string {
		t.Helper()
		out, err := admin.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(f.bucket)})
		if err != nil {
			t.Fatalf("list uploads: %v", err)
		}
		var keys []string
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		return keys
	}

	t.Run("FailedUploadIsAborted", func(t *testing.T) {
		// The source fails after the first part: the sink aborts the
		// upload, which moto checks as s3:AbortMultipartUpload.
		s, err := s3sink.Open(ctx, f.exporter, s3sink.Destination{OrgID: org, Bucket: v.Bucket, Region: v.Region, RoleARN: v.RoleARN, Prefix: v.Prefix}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Upload(ctx, "broken.csv", &failingReader{n: s3sink.MinPartSize + 1}, sink.Object{}); !errors.Is(err, errSource) {
			t.Fatalf("upload: err = %v, want the source's error", err)
		}
		if p := pending(t); len(p) != 0 {
			t.Fatalf("incomplete uploads left with the generated policy: %v", p)
		}
	})

	t.Run("ProductDocPolicyLeavesParts", func(t *testing.T) {
		// The product doc's policy lacks s3:AbortMultipartUpload: the same
		// failure leaves the upload's parts behind (and billed). This is
		// what makes the generated policy's extra action necessary, and
		// what the lifecycle rule cleans up after.
		s, err := s3sink.Open(ctx, f.exporter, s3sink.Destination{OrgID: org, Bucket: v.Bucket, Region: v.Region, RoleARN: f.productDocRole, Prefix: v.Prefix}, opts)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Upload(ctx, "broken-too.csv", &failingReader{n: s3sink.MinPartSize + 1}, sink.Object{})
		if !errors.Is(err, errSource) || !strings.Contains(err.Error(), "abort") {
			t.Errorf("upload: err = %v, want the source's error and the failed abort", err)
		}
		if p := pending(t); len(p) != 1 || p[0] != v.Prefix+"broken-too.csv" {
			t.Fatalf("incomplete uploads %v, want the one the product doc's policy could not abort", p)
		}
	})

	t.Run("OtherOrgRefused", func(t *testing.T) {
		_, err := s3sink.Open(ctx, f.exporter, s3sink.Destination{OrgID: "org-other", Bucket: v.Bucket, Region: v.Region, RoleARN: v.RoleARN, Prefix: v.Prefix}, opts)
		if !errors.Is(err, sink.ErrAccessDenied) || !strings.Contains(err.Error(), "org-other") {
			t.Fatalf("Open for another org's external ID: err = %v, want sink.ErrAccessDenied naming it", err)
		}
	})

	t.Run("KeyOutsidePrefixRefused", func(t *testing.T) {
		// Assume the role as the export does but without the session
		// policy (moto ignores session policies anyway), so that only the
		// generated IAM policy decides: inside the prefix is allowed,
		// beside it is not.
		creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(f.exporter), v.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = aws.String(org)
		}))
		c := s3.NewFromConfig(f.exporter, func(o *s3.Options) { o.UsePathStyle = true; o.Credentials = creds })
		put := func(key string) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
			return err
		}
		if err := put(v.Prefix + "probe.csv"); err != nil {
			t.Fatalf("put inside the prefix: %v", err)
		}
		for _, key := range []string{"probe.csv", "contentful/probe.csv", "contentful/auditx/probe.csv"} {
			if err := put(key); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
				t.Errorf("put %s outside the prefix %s: err = %v, want AccessDenied", key, v.Prefix, err)
			}
		}
		// Reading is not granted either.
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(v.Prefix + "probe.csv")}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("get inside the prefix: err = %v, want AccessDenied: the role must only write", err)
		}
	})
}
