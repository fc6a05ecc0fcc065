package verify_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/app"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/faultproxy"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/verify"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// motoAccount is moto's default account: ours and, here, the customer's.
const motoAccount = "123456789012"

// otherAccount owns no bucket here.
const otherAccount = "111122223333"

// s3SetupCalls is the number of requests s3Setup sends before moto starts
// to authenticate: 3 per user (CreateUser, PutUserPolicy,
// CreateAccessKey) for the exporter and the admin, 2 per role with a
// permission policy (CreateRole, PutRolePolicy) for writer and reader, 1
// for the untrusting role (CreateRole), 1 for the role whose trust has no
// external ID condition (CreateRole) and 1 for the bucket.
const s3SetupCalls = 3 + 3 + 2 + 2 + 1 + 1 + 1

// The orgs of the S3 test, and what their checks must find.
const (
	orgHealthy    = "s3-healthy"
	orgDisabled   = "s3-disabled"
	orgNoBucket   = "s3-nobucket"
	orgWrongExtID = "s3-wrong-extid" // uses the writer role, whose trust names other orgs
	orgUntrusted  = "s3-untrusted"   // its role trusts someone else
	orgNoRole     = "s3-no-role"     // its role does not exist
	orgPutDenied  = "s3-put-denied"  // its role may read, not write
	orgUnknown    = "s3-unknown"     // not registered
	orgRegion     = "s3-wrong-region"
	orgFlaky      = "s3-flaky"       // S3 answers 503
	orgInvalid    = "s3-invalid"     // its registry item holds a bad bucket name
	orgOtherOwner = "s3-other-owner" // its bucket is owned by another account than the one registered
	orgOpenTrust  = "s3-open-trust"  // its role's trust has no sts:ExternalId condition
)

type s3Fixture struct {
	bucket, missingBucket              string
	writerARN, readerARN, untrustedARN string
	openARN                            string
	exporterKey, exporterSecret        string
	adminKey, adminSecret              string
	admin                              *s3.Client
	secrets                            []string // must never be printed
}

// s3Setup creates, before moto authenticates, our exporter user (it may
// assume roles and use the registry table), an admin user that reads back,
// the customer's roles and the bucket, as the set-up guide tells customers:
// writer trusts the exporter with sts:ExternalId in a list of orgs and may
// write the bucket and the missing one; reader trusts it for
// orgPutDenied but may only read; untrusting names another principal.
func s3Setup(t *testing.T, moto *testenv.Server) *s3Fixture {
	t.Helper()
	ctx := testenv.Context(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	ic := iam.NewFromConfig(cfg)
	f := &s3Fixture{bucket: testenv.UniqueName("verify"), missingBucket: testenv.UniqueName("never-created")}

	user := func(name string, statements ...map[string]any) (string, string) {
		id, secret := testenv.IAMUser(ctx, t, ic, name, statements...)
		f.secrets = append(f.secrets, secret)
		return id, secret
	}
	f.exporterKey, f.exporterSecret = user("exporter",
		map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
		map[string]any{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})
	f.adminKey, f.adminSecret = user("admin", map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"})

	role := func(name, principal string, externalIDs []string, actions []string, resources ...string) string {
		trust := testenv.JSON(t, map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": principal},
				"Action":    "sts:AssumeRole",
				"Condition": map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalIDs}},
			}},
		})
		out, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
		if err != nil {
			t.Fatalf("create role %s: %v", name, err)
		}
		if len(actions) > 0 {
			doc := testenv.JSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": resources}}})
			if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("audit-logs"), PolicyDocument: aws.String(doc)}); err != nil {
				t.Fatalf("put role policy %s: %v", name, err)
			}
		}
		return aws.ToString(out.Role.Arn)
	}
	// moto 5.2.1 compares the caller's ARN with the trust policy's
	// principal and does not understand an account root principal, so the
	// roles trust the exporter user itself (AWS accepts that as well).
	exporter := "arn:aws:iam::" + motoAccount + ":user/exporter"
	write := []string{"s3:PutObject", "s3:AbortMultipartUpload"}
	f.writerARN = role("audit-writer", exporter, []string{orgHealthy, orgDisabled, orgNoBucket, orgRegion, orgFlaky, orgOtherOwner}, write,
		"arn:aws:s3:::"+f.bucket+"/*", "arn:aws:s3:::"+f.missingBucket+"/*")
	f.readerARN = role("audit-reader", exporter, []string{orgPutDenied}, []string{"s3:GetObject"}, "arn:aws:s3:::"+f.bucket+"/*")
	f.untrustedARN = role("audit-untrusting", "arn:aws:iam::"+motoAccount+":user/admin", []string{orgUntrusted}, nil)
	open := testenv.JSON(t, map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": exporter}, "Action": "sts:AssumeRole"}}})
	out, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("audit-open"), AssumeRolePolicyDocument: aws.String(open)})
	if err != nil {
		t.Fatalf("create role audit-open: %v", err)
	}
	f.openARN = aws.ToString(out.Role.Arn)
	if _, err := pathStyle(cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	f.admin = pathStyle(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, f.adminKey, f.adminSecret))
	t.Cleanup(func() {
		if t.Failed() {
			testenv.PrintLog(t, moto, f.secrets...)
		}
	})
	return f
}

func pathStyle(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// productionApp builds the App as the Lambda functions and auditctl do
// (config.FromEnv, app.New) from the environment given, on top of settings
// that keep the SDK away from any real cloud.
func productionApp(t *testing.T, env map[string]string) *app.App {
	t.Helper()
	base := map[string]string{
		"AWS_REGION":                  "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AUDITLOG_LAKE_BUCKET":        "unused-lake",
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_DYNAMODB", "AUDITLOG_LEDGER_TABLE"} {
		base[k] = ""
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
	a, err := app.Load(testenv.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// probeKey is the shape of a probe's key under prefix for org.
func probeKey(prefix, org string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(prefix+verify.ProbePrefix+org+"-") + `\d{8}T\d{6}Z-[0-9a-f]{8}\.txt$`)
}

// TestS3 checks S3 destinations through the production App against a
// moto that authenticates every request after the set-up, so STS checks
// the roles' trust policies (principal and sts:ExternalId) and S3 the
// assumed roles' permission policies.
func TestS3(t *testing.T) {
	moto := testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(s3SetupCalls))
	f := s3Setup(t, moto)
	ctx := testenv.Context(t)

	// From here on moto authenticates: the admin creates the registry
	// table and registers the destinations.
	adminCfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, f.adminKey, f.adminSecret)
	table := testenv.UniqueName("registry")
	if err := registry.CreateTable(ctx, dynamodb.NewFromConfig(adminCfg), table); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(dynamodb.NewFromConfig(adminCfg), table)
	put := func(org, bucket, role string, enabled bool) {
		t.Helper()
		if _, err := reg.Put(ctx, destination.Destination{OrgID: org, Kind: destination.KindS3, Prefix: "contentful/", Enabled: enabled,
			S3: &destination.S3{Bucket: bucket, Region: "us-east-1", RoleARN: role}}); err != nil {
			t.Fatalf("register %s: %v", org, err)
		}
	}
	put(orgHealthy, f.bucket, f.writerARN, true)
	put(orgDisabled, f.bucket, f.writerARN, false)
	put(orgNoBucket, f.missingBucket, f.writerARN, true)
	put(orgWrongExtID, f.bucket, f.writerARN, true)
	put(orgUntrusted, f.bucket, f.untrustedARN, true)
	put(orgNoRole, f.bucket, "arn:aws:iam::"+motoAccount+":role/no-such-role", true)
	put(orgPutDenied, f.bucket, f.readerARN, true)
	put(orgFlaky, f.bucket, f.writerARN, true)
	put(orgOpenTrust, f.bucket, f.openARN, true)
	// The registered owner is not the bucket's (moto's account owns it):
	// S3 would refuse every write that says so.
	if _, err := reg.Put(ctx, destination.Destination{OrgID: orgOtherOwner, Kind: destination.KindS3, Prefix: "contentful/", Enabled: true,
		S3: &destination.S3{Bucket: f.bucket, Region: "us-east-1", RoleARN: f.writerARN, BucketOwner: otherAccount}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Put(ctx, destination.Destination{OrgID: orgRegion, Kind: destination.KindS3, Prefix: "contentful/", Enabled: true,
		S3: &destination.S3{Bucket: f.bucket, Region: "eu-west-1", RoleARN: f.writerARN}}); err != nil {
		t.Fatal(err)
	}
	// An item that Put would refuse, as an older version or a hand edit
	// could have left it.
	if _, err := dynamodb.NewFromConfig(adminCfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		registry.AttrOrgID: &ddbtypes.AttributeValueMemberS{Value: orgInvalid}, registry.AttrKind: &ddbtypes.AttributeValueMemberS{Value: "s3"},
		registry.AttrEnabled: &ddbtypes.AttributeValueMemberBOOL{Value: true}, registry.AttrBucket: &ddbtypes.AttributeValueMemberS{Value: "Bad_Bucket"},
		registry.AttrRegion: &ddbtypes.AttributeValueMemberS{Value: "us-east-1"}, registry.AttrRoleARN: &ddbtypes.AttributeValueMemberS{Value: f.writerARN},
	}}); err != nil {
		t.Fatal(err)
	}

	// moto assumes a role that does not exist (it checks trust policies
	// only of roles it has) where AWS refuses with AccessDenied, the same
	// answer as for a wrong external ID. So, for that role only, a fault
	// proxy in front of moto answers AssumeRole as STS does.
	proxy, err := faultproxy.Start(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	noRole := "arn:aws:iam::" + motoAccount + ":role/no-such-role"
	noRoleRule := &faultproxy.Rule{Name: "AssumeRole of a missing role", Method: http.MethodPost,
		Form:   map[string]string{"Action": "AssumeRole", "RoleArn": noRole},
		Action: faultproxy.STSError(403, "AccessDenied", "User: arn:aws:iam::"+motoAccount+":user/exporter is not authorized to perform: sts:AssumeRole on resource: "+noRole)}
	// Nor does moto tell a bucket's region, or fail as S3 sometimes does:
	// the proxy answers those two orgs' writes as S3 would.
	regionRule := &faultproxy.Rule{Name: "bucket in another region", Method: http.MethodPut, Path: verify.ProbePrefix + orgRegion,
		Action: faultproxy.S3Error(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.")}
	flakyRule := &faultproxy.Rule{Name: "S3 unavailable", Method: http.MethodPut, Path: verify.ProbePrefix + orgFlaky,
		Action: faultproxy.S3Error(503, "ServiceUnavailable", "Please reduce your request rate.")}
	// moto ignores ExpectedBucketOwner; S3 answers a write whose expected
	// owner is not the bucket's with 403 AccessDenied, and so does the
	// proxy, for the header the other-owner org's destination must send.
	ownerRule := &faultproxy.Rule{Name: "bucket of another owner", Method: http.MethodPut, Header: map[string]string{"X-Amz-Expected-Bucket-Owner": otherAccount},
		Action: faultproxy.S3Error(403, "AccessDenied", "Access Denied")}
	proxy.Add(noRoleRule, regionRule, flakyRule, ownerRule)

	a := productionApp(t, map[string]string{
		"AWS_ENDPOINT_URL":        proxy.URL,
		"AWS_ACCESS_KEY_ID":       f.exporterKey,
		"AWS_SECRET_ACCESS_KEY":   f.exporterSecret,
		"AUDITLOG_REGISTRY_TABLE": table,
	})
	v := &verify.Verifier{Destinations: a.Registry, Sinks: a.Sinks, Trust: a.Sinks}

	for _, tc := range []struct {
		org      string
		want     verify.Cause // "" means OK
		stage    verify.Stage
		warnings []string
		mention  []string // in the message or fix
	}{
		{org: orgHealthy},
		{org: orgDisabled, warnings: []string{verify.WarnDisabled}},
		{orgWrongExtID, verify.CauseRoleNotAssumable, verify.StageOpen, nil, []string{f.writerARN, `sts:ExternalId is exactly "` + orgWrongExtID + `"`}},
		{orgUntrusted, verify.CauseRoleNotAssumable, verify.StageOpen, nil, []string{f.untrustedARN, "trust policy"}},
		{orgNoRole, verify.CauseRoleNotAssumable, verify.StageOpen, nil, []string{"role/no-such-role", "exists"}},
		{orgPutDenied, verify.CausePutDenied, verify.StageUpload, nil, []string{f.readerARN, "s3:PutObject", "arn:aws:s3:::" + f.bucket + "/contentful/*"}},
		{orgNoBucket, verify.CauseBucketMissing, verify.StageUpload, nil, []string{f.missingBucket}},
		{orgUnknown, verify.CauseNotRegistered, verify.StageRegistry, nil, []string{orgUnknown, "destination put"}},
		{orgRegion, verify.CauseBucketRegion, verify.StageUpload, nil, []string{f.bucket, "eu-west-1"}},
		{orgFlaky, verify.CauseUnavailable, verify.StageUpload, nil, []string{"check again"}},
		{orgOpenTrust, verify.CauseExternalIDNotRequired, verify.StageOpen, nil, []string{f.openARN, `"sts:ExternalId": "` + orgOpenTrust + `"`, "any external ID"}},
		{orgOtherOwner, verify.CausePutDenied, verify.StageUpload, nil, []string{"belongs to AWS account " + otherAccount}},
		{orgInvalid, verify.CauseInvalidDestination, verify.StageRegistry, nil, []string{orgInvalid}},
	} {
		t.Run(tc.org, func(t *testing.T) {
			before := listAll(t, f.admin, f.bucket)
			r := v.Verify(ctx, tc.org)
			out := testenv.JSON(t, r)
			t.Logf("report: %s", out)
			assertNoSecret(t, out, f.secrets)
			if r.OrgID != tc.org {
				t.Errorf("OrgID = %q", r.OrgID)
			}
			checkWarnings(t, r, tc.warnings)
			after := listAll(t, f.admin, f.bucket)
			if !checkOutcome(t, r, tc.want, tc.stage, tc.mention, "bucket", before, after) {
				return
			}
			if r.Bucket != f.bucket || r.RoleARN != f.writerARN || r.ExternalID != tc.org || r.BucketOwner != motoAccount || !probeKey("contentful/", tc.org).MatchString(r.Key) {
				t.Errorf("bucket %q role %q external ID %q key %q", r.Bucket, r.RoleARN, r.ExternalID, r.Key)
			}
			// The probe is there, under its own name, saying what it is;
			// nothing else changed.
			if want := append(slices.Clone(before), r.Key); !slices.Equal(after, sorted(want)) {
				t.Errorf("objects after the check %v, want %v plus %s", after, before, r.Key)
			}
			body := getObject(t, f.admin, f.bucket, r.Key)
			if len(body) != r.Bytes || !strings.Contains(body, "organization: "+tc.org) || !strings.Contains(body, "can be deleted") ||
				!strings.Contains(body, r.CheckedAt.Format("2006-01-02T15:04:05Z")) {
				t.Errorf("probe (%d bytes, report says %d):\n%s", len(body), r.Bytes, body)
			}
		})
	}
	if ownerRule.Hits() != 1 {
		t.Errorf("the proxy saw %d writes expecting owner %s, want the other-owner org's one", ownerRule.Hits(), otherAccount)
	}
	if noRoleRule.Hits() != 1 || regionRule.Hits() != 1 || flakyRule.Hits() < 1 {
		t.Errorf("the proxy answered AssumeRole of the missing role %d times, the wrong region's write %d times, the flaky write %d times; want 1, 1, at least 1",
			noRoleRule.Hits(), regionRule.Hits(), flakyRule.Hits())
	}

	// Our own credentials refused: by STS (a real moto answer), and by
	// DynamoDB when the registry is read with them.
	bogus := productionApp(t, map[string]string{
		"AWS_ENDPOINT_URL":        moto.URL,
		"AWS_ACCESS_KEY_ID":       "AKIANOTAREALKEY00000",
		"AWS_SECRET_ACCESS_KEY":   "not-a-real-secret",
		"AUDITLOG_REGISTRY_TABLE": table,
	})
	r := (&verify.Verifier{Destinations: a.Registry, Sinks: bogus.Sinks}).Verify(ctx, orgHealthy)
	if r.Failure == nil || r.Failure.Cause != verify.CauseOurCredentials || r.Failure.Stage != verify.StageOpen {
		t.Errorf("with our credentials refused by STS: failure %+v, want %s at open", r.Failure, verify.CauseOurCredentials)
	}
	r = (&verify.Verifier{Destinations: bogus.Registry, Sinks: bogus.Sinks}).Verify(ctx, orgHealthy)
	if r.Failure == nil || r.Failure.Cause != verify.CauseRegistry || r.Failure.Stage != verify.StageRegistry {
		t.Errorf("with the registry refusing us: failure %+v, want %s", r.Failure, verify.CauseRegistry)
	}
	assertNoSecret(t, testenv.JSON(t, r), append(f.secrets, "not-a-real-secret"))
}

func listAll(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return sorted(keys)
}

func sorted(s []string) []string { slices.Sort(s); return s }

func getObject(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func assertNoSecret(t *testing.T, s string, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Fatalf("output holds a secret (one of %d characters)", len(sec))
		}
	}
}

// checkWarnings checks the report's warning codes.
func checkWarnings(t *testing.T, r verify.Report, want []string) {
	t.Helper()
	var codes []string
	for _, w := range r.Warnings {
		codes = append(codes, w.Code)
	}
	if !slices.Equal(codes, want) {
		t.Errorf("warnings %v, want %v", codes, want)
	}
}

// checkOutcome checks a report against the case's expectation: a failure
// with cause want at stage, its message or fix mentioning each of mention,
// and the destination's objects (in where) unchanged; or a success. It
// reports whether a probe was delivered, for the caller to look at.
func checkOutcome(t *testing.T, r verify.Report, want verify.Cause, stage verify.Stage, mention []string, where string, before, after []string) (delivered bool) {
	t.Helper()
	if want != "" {
		if r.OK || r.Failure == nil || r.Failure.Cause != want || r.Failure.Stage != stage {
			t.Fatalf("OK %v failure %+v, want cause %s at %s", r.OK, r.Failure, want, stage)
		}
		for _, m := range mention {
			if !strings.Contains(r.Failure.Message+" "+r.Failure.Fix, m) {
				t.Errorf("message %q / fix %q does not mention %q", r.Failure.Message, r.Failure.Fix, m)
			}
		}
		if !slices.Equal(after, before) {
			t.Errorf("a failed check changed the %s: before %v, after %v", where, before, after)
		}
		return false
	}
	if !r.OK || r.Failure != nil {
		t.Fatalf("check failed: %+v", r.Failure)
	}
	return true
}
