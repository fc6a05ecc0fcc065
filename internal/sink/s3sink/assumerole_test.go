package s3sink_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// motoAccount is moto's default account: the exporter's and, in this test,
// also the customer's.
const motoAccount = "123456789012"

// setupCalls is the number of requests trustSetup sends before moto starts
// to authenticate: 3 for the exporter user (CreateUser, PutUserPolicy,
// CreateAccessKey), 3 for the admin user, 2 for the role (CreateRole,
// PutRolePolicy), 1 for the role that trusts without an external ID
// (CreateRole) and 1 for the bucket. testenv's readiness probe is a bare
// TCP connect and does not count. moto counts every request that reaches
// its authorization check, retries included.
const setupCalls = 10

type trustFixture struct {
	moto                        *testenv.Server
	roleARN, bucket             string
	openRoleARN                 string // trusts the exporter with no sts:ExternalId condition
	exporterKey, exporterSecret string
	admin                       *s3.Client
	secrets                     []string // never printed
}

// trustSetup creates, without authentication, our exporter user, an admin
// user for reading back, the customer's role that trusts the exporter with
// sts:ExternalId = org, and the bucket. It sends exactly setupCalls
// requests.
func trustSetup(t *testing.T, moto *testenv.Server, org string) *trustFixture {
	t.Helper()
	ctx := testenv.Context(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	ic := iam.NewFromConfig(cfg)
	f := &trustFixture{moto: moto, bucket: testenv.UniqueName("customer")}
	t.Cleanup(func() {
		if t.Failed() {
			testenv.PrintLog(t, moto, f.secrets...)
		}
	})

	user := func(name string, statement map[string]any) (string, string) {
		id, secret := testenv.IAMUser(ctx, t, ic, name, statement)
		f.secrets = append(f.secrets, secret)
		return id, secret
	}
	f.exporterKey, f.exporterSecret = user("exporter", map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
	adminKey, adminSecret := user("admin", map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"})

	trust := testenv.JSON(t, map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": trustedPrincipal},
			"Action":    "sts:AssumeRole",
			"Condition": map[string]any{"StringEquals": map[string]any{"sts:ExternalId": org}},
		}},
	})
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("auditlogs-writer"), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	f.roleARN = aws.ToString(role.Role.Arn)
	write := testenv.JSON(t, map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":   "Allow",
			"Action":   []string{"s3:PutObject", "s3:AbortMultipartUpload"},
			"Resource": "arn:aws:s3:::" + f.bucket + "/*",
		}},
	})
	if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("auditlogs-writer"), PolicyName: aws.String("write"), PolicyDocument: aws.String(write)}); err != nil {
		t.Fatalf("put role policy: %v", err)
	}
	// A role whose trust has no sts:ExternalId condition: any external ID
	// assumes it (a set-up that the product doc's console steps allow if
	// the customer leaves "Require external ID" unticked).
	open := testenv.JSON(t, map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": trustedPrincipal}, "Action": "sts:AssumeRole"}},
	})
	openRole, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("auditlogs-open"), AssumeRolePolicyDocument: aws.String(open)})
	if err != nil {
		t.Fatalf("create role: %v", err)
	}
	f.openRoleARN = aws.ToString(openRole.Role.Arn)
	if _, err := pathStyle(cfg).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	f.admin = pathStyle(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, adminKey, adminSecret))
	return f
}

func pathStyle(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// trustedPrincipal is who the customer's role trusts. The customer would
// trust our account root (arn:aws:iam::<account>:root); moto 5.2.1 does not
// understand account principals (it compares the caller's ARN with the
// principal string), so the test trusts the exporter user itself, which
// AWS accepts as well.
var trustedPrincipal = "arn:aws:iam::" + motoAccount + ":user/exporter"

// TestAssumeRoleTrustPolicy runs Open against a moto that authenticates
// every request after the set-up: the org named in the role's trust policy
// delivers, another org is refused by sts:ExternalId and writes nothing.
func TestAssumeRoleTrustPolicy(t *testing.T) {
	const org, otherOrg = "org-trusted", "org-other"
	moto := testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(setupCalls))
	f := trustSetup(t, moto, org)
	ctx := testenv.Context(t)

	// Authentication is on from here: moto's default credentials are
	// refused, so a count too high would show here, and a count too low
	// would have failed the set-up.
	bogus := s3sink.New(pathStyle(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})), f.bucket, s3sink.Options{})
	if err := bogus.Upload(ctx, "bogus.csv", strings.NewReader("x"), sink.Object{}); !errors.Is(err, sink.ErrAccessDenied) {
		t.Fatalf("upload with unknown credentials: err = %v, want sink.ErrAccessDenied (is moto authenticating?)", err)
	}

	exporter := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, f.exporterKey, f.exporterSecret)
	dest := s3sink.Destination{OrgID: org, Bucket: f.bucket, Region: "us-east-1", RoleARN: f.roleARN, Prefix: "contentful/"}

	t.Run("TrustedOrgDelivers", func(t *testing.T) {
		// Record what Open asks STS for: moto checks the external ID but
		// ignores session policies, so check that one is sent.
		var assumed []*sts.AssumeRoleInput
		cfg := exporter.Copy()
		rec := &ownerRecorder{}
		cfg.HTTPClient = rec
		cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("recordAssumeRole",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*sts.AssumeRoleInput); ok {
						assumed = append(assumed, p)
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
		s, err := s3sink.Open(ctx, cfg, dest, s3sink.Options{})
		if err != nil {
			t.Fatalf("Open for %s: %v", org, err)
		}
		if len(assumed) != 1 {
			t.Fatalf("Open called AssumeRole %d times, want once", len(assumed))
		}
		wantPolicy, err := s3sink.SessionPolicy(dest)
		if err != nil {
			t.Fatal(err)
		}
		a := assumed[0]
		if aws.ToString(a.ExternalId) != org || aws.ToString(a.RoleArn) != f.roleARN ||
			aws.ToString(a.RoleSessionName) != "auditlogs-"+org || aws.ToString(a.Policy) != wantPolicy ||
			aws.ToInt32(a.DurationSeconds) != 3600 {
			t.Errorf("AssumeRole input: ExternalId %q, RoleArn %q, RoleSessionName %q, DurationSeconds %d, Policy %s; want %q, %q, %q, 3600, %s",
				aws.ToString(a.ExternalId), aws.ToString(a.RoleArn), aws.ToString(a.RoleSessionName), aws.ToInt32(a.DurationSeconds), aws.ToString(a.Policy),
				org, f.roleARN, "auditlogs-"+org, wantPolicy)
		}
		want := "request_time,request_method\r\n2026-11-24T00:00:00.000Z,PUT\r\n"
		if err := s.Upload(ctx, "2026-11-24.csv", strings.NewReader(want), sink.Object{}); err != nil {
			t.Fatalf("Upload: %v", err)
		}
		out, err := f.admin.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("contentful/2026-11-24.csv")})
		if err != nil {
			t.Fatalf("read back with the admin's keys: %v", err)
		}
		defer out.Body.Close()
		got, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("object = %q, want %q", got, want)
		}
		// Open takes the bucket owner from the destination (here the
		// role's account, the default) for ExpectedBucketOwner.
		puts := 0
		for _, r := range rec.take() {
			if r.op == "PutObject" {
				puts++
				if r.owner != motoAccount {
					t.Errorf("PutObject sent ExpectedBucketOwner %q, want the role's account %s", r.owner, motoAccount)
				}
			}
		}
		if puts != 1 {
			t.Errorf("%d PutObject requests recorded, want 1", puts)
		}
	})

	t.Run("OtherOrgRefused", func(t *testing.T) {
		before := listAll(t, f.admin, f.bucket)
		other := dest
		other.OrgID = otherOrg
		s, err := s3sink.Open(ctx, exporter, other, s3sink.Options{})
		if err == nil {
			_ = s.Upload(ctx, "2026-11-24.csv", strings.NewReader("must not arrive\n"), sink.Object{})
			t.Fatalf("Open for %s succeeded on a role that trusts only %s", otherOrg, org)
		}
		if !errors.Is(err, sink.ErrAccessDenied) {
			t.Errorf("err = %v, want sink.ErrAccessDenied", err)
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" {
			t.Errorf("err = %v, want it to wrap STS's AccessDenied", err)
		}
		for _, part := range []string{f.roleARN, otherOrg, "sts:ExternalId"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("error %q does not mention %q", err, part)
			}
		}
		if after := listAll(t, f.admin, f.bucket); !slices.Equal(after, before) {
			t.Errorf("objects changed after a refused Open: before %v, after %v", before, after)
		}
	})
}

// TestCheckExternalID: on a moto that authenticates and evaluates trust
// policies, a role whose trust requires sts:ExternalId = org refuses a
// random external ID (the check passes), and a role whose trust has no
// such condition accepts it (the check names the problem and its fix).
func TestCheckExternalID(t *testing.T) {
	const org = "org-trusted"
	moto := testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(setupCalls))
	f := trustSetup(t, moto, org)
	ctx := testenv.Context(t)
	exporter := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, f.exporterKey, f.exporterSecret)

	good := s3sink.Destination{OrgID: org, Bucket: f.bucket, Region: "us-east-1", RoleARN: f.roleARN}
	if _, err := s3sink.Open(ctx, exporter, good, s3sink.Options{}); err != nil {
		t.Fatalf("Open with the org's external ID: %v", err)
	}
	if err := s3sink.CheckExternalID(ctx, exporter, good); err != nil {
		t.Errorf("a role that requires the external ID: CheckExternalID = %v, want nil", err)
	}

	open := good
	open.RoleARN = f.openRoleARN
	if _, err := s3sink.Open(ctx, exporter, open, s3sink.Options{}); err != nil {
		t.Fatalf("Open of the role without an external ID condition: %v", err)
	}
	err := s3sink.CheckExternalID(ctx, exporter, open)
	var ee *s3sink.ExternalIDError
	if !errors.Is(err, s3sink.ErrExternalIDNotRequired) || !errors.As(err, &ee) {
		t.Fatalf("a role that does not require the external ID: CheckExternalID = %v, want ErrExternalIDNotRequired", err)
	}
	if !strings.Contains(err.Error(), f.openRoleARN) || !strings.Contains(err.Error(), `sts:ExternalId = "`+org+`"`) ||
		ee.Fix() != `"Condition": {"StringEquals": {"sts:ExternalId": "`+org+`"}}` {
		t.Errorf("error %q, fix %s: want the role, the org and the condition to add", err, ee.Fix())
	}

	// Our own credentials refused: not a finding about the role.
	bogus := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}, "AKIANOTAREALKEY00000", "not-a-real-secret")
	if err := s3sink.CheckExternalID(ctx, bogus, open); err == nil || errors.Is(err, s3sink.ErrExternalIDNotRequired) || !errors.Is(err, sink.ErrAccessDenied) {
		t.Errorf("with refused credentials: CheckExternalID = %v, want a classified STS error", err)
	}
}

func listAll(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	names, err := lister(c, bucket)(testenv.Context(t), "")
	if err != nil {
		t.Fatalf("list %s: %v", bucket, err)
	}
	return names
}
