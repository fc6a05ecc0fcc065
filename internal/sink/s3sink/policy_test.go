package s3sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/sink"
)

func validDest() Destination {
	return Destination{
		OrgID:   "org-42",
		Bucket:  "customer-audit",
		Region:  "eu-west-1",
		RoleARN: "arn:aws:iam::210987654321:role/auditlogs-writer",
		Prefix:  "contentful/audit/",
	}
}

func TestSessionPolicy(t *testing.T) {
	for _, tc := range []struct {
		name         string
		mutate       func(*Destination)
		wantResource string
		wantOwner    string
	}{
		{"prefix", func(*Destination) {}, "arn:aws:s3:::customer-audit/contentful/audit/*", "210987654321"},
		{"no prefix", func(d *Destination) { d.Prefix = "" }, "arn:aws:s3:::customer-audit/*", "210987654321"},
		{"china partition", func(d *Destination) { d.RoleARN = "arn:aws-cn:iam::210987654321:role/w" }, "arn:aws-cn:s3:::customer-audit/contentful/audit/*", "210987654321"},
		{"quote in prefix", func(d *Destination) { d.Prefix = `a"b&c/` }, `arn:aws:s3:::customer-audit/a"b&c/*`, "210987654321"},
		// The bucket belongs to another account of the customer than the
		// role's.
		{"bucket owner", func(d *Destination) { d.BucketOwner = "333344445555" }, "arn:aws:s3:::customer-audit/contentful/audit/*", "333344445555"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := validDest()
			tc.mutate(&d)
			p, err := SessionPolicy(d)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Version   string
				Statement []struct {
					Sid       string
					Effect    string
					Action    []string
					Resource  any
					Principal any
					Condition map[string]map[string]string
					NotAction any
				}
			}
			dec := json.NewDecoder(strings.NewReader(p))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("policy %s is not the expected JSON: %v", p, err)
			}
			if doc.Version != "2012-10-17" {
				t.Errorf("Version = %q", doc.Version)
			}
			if len(doc.Statement) != 1 {
				t.Fatalf("statements = %d, want 1: %s", len(doc.Statement), p)
			}
			st := doc.Statement[0]
			if st.Effect != "Allow" {
				t.Errorf("Effect = %q", st.Effect)
			}
			if strings.Join(st.Action, ",") != "s3:PutObject,s3:AbortMultipartUpload" {
				t.Errorf("Action = %v, want only s3:PutObject and s3:AbortMultipartUpload", st.Action)
			}
			if st.Resource != tc.wantResource {
				t.Errorf("Resource = %v, want %s", st.Resource, tc.wantResource)
			}
			if st.NotAction != nil || st.Principal != nil {
				t.Errorf("unexpected elements in %s", p)
			}
			// Only a bucket of the owner's account: a bucket re-created
			// under the same name in another account matches nothing.
			if want := map[string]map[string]string{"StringEquals": {"s3:ResourceAccount": tc.wantOwner}}; !reflect.DeepEqual(st.Condition, want) {
				t.Errorf("Condition = %v, want %v", st.Condition, want)
			}
		})
	}
}

func TestValidateDestination(t *testing.T) {
	for _, tc := range []struct {
		field  string
		mutate func(*Destination)
	}{
		{"org_id", func(d *Destination) { d.OrgID = "" }},
		{"org_id", func(d *Destination) { d.OrgID = "a b" }},
		{"bucket", func(d *Destination) { d.Bucket = "" }},
		{"bucket", func(d *Destination) { d.Bucket = "*" }},
		{"bucket", func(d *Destination) { d.Bucket = "Upper" }},
		{"bucket", func(d *Destination) { d.Bucket = "b/x" }},
		{"region", func(d *Destination) { d.Region = "" }},
		{"role_arn", func(d *Destination) { d.RoleARN = "auditlogs-writer" }},
		{"role_arn", func(d *Destination) { d.RoleARN = "arn:aws:iam::210987654321:user/w" }},
		{"role_arn", func(d *Destination) { d.RoleARN = "arn:aws:s3:::customer-audit" }},
		{"prefix", func(d *Destination) { d.Prefix = "a*" }},
		{"prefix", func(d *Destination) { d.Prefix = "a?" }},
		{"prefix", func(d *Destination) { d.Prefix = "${aws:username}/" }},
		{"prefix", func(d *Destination) { d.Prefix = "a\nb" }},
		{"prefix", func(d *Destination) { d.Prefix = strings.Repeat("p", 513) }},
		{"bucket_owner", func(d *Destination) { d.BucketOwner = "12345" }},
		{"bucket_owner", func(d *Destination) { d.BucketOwner = "arn:aws:iam::210987654321:root" }},
	} {
		d := validDest()
		tc.mutate(&d)
		_, err := SessionPolicy(d)
		if !errors.Is(err, sink.ErrInvalidConfig) {
			t.Errorf("%+v: err = %v, want sink.ErrInvalidConfig", d, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %q does not name the field %s", d, err, tc.field)
		}
	}
	if err := validateDestination(validDest()); err != nil {
		t.Errorf("valid destination refused: %v", err)
	}
}

func TestSessionName(t *testing.T) {
	stsName := regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	long1 := strings.Repeat("a", 63) + "1"
	long2 := strings.Repeat("a", 63) + "2"
	for _, org := range []string{"org-42", "x_y", long1, long2} {
		n := SessionName(org)
		if !stsName.MatchString(n) {
			t.Errorf("SessionName(%q) = %q, not a valid STS session name", org, n)
		}
		if !strings.HasPrefix(n, "auditlogs-") {
			t.Errorf("SessionName(%q) = %q, want the auditlogs- prefix", org, n)
		}
	}
	if got := SessionName("org-42"); got != "auditlogs-org-42" {
		t.Errorf("SessionName(org-42) = %q", got)
	}
	if SessionName(long1) == SessionName(long2) {
		t.Errorf("long org IDs %q and %q share the session name %q", long1, long2, SessionName(long1))
	}
}

func TestClassify(t *testing.T) {
	for code, want := range map[string]error{
		"AccessDenied":                 sink.ErrAccessDenied,
		"InvalidAccessKeyId":           sink.ErrAccessDenied,
		"SignatureDoesNotMatch":        sink.ErrAccessDenied,
		"ExpiredToken":                 sink.ErrAccessDenied,
		"NoSuchBucket":                 sink.ErrNotFound,
		"PermanentRedirect":            sink.ErrInvalidConfig,
		"AuthorizationHeaderMalformed": sink.ErrInvalidConfig,
		"SlowDown":                     nil,
		"InternalError":                nil,
		"RequestTimeout":               nil,
	} {
		api := &smithy.GenericAPIError{Code: code, Message: "msg"}
		// As the SDK returns it: inside an operation error.
		sdkErr := &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: api}
		err := fmt.Errorf("context: %w", classify(sdkErr))
		for _, s := range []error{sink.ErrAccessDenied, sink.ErrNotFound, sink.ErrInvalidConfig} {
			if got := errors.Is(err, s); got != (s == want) {
				t.Errorf("%s: errors.Is(err, %v) = %v", code, s, got)
			}
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Errorf("%s: the SDK error is not reachable with errors.As: %v", code, err)
		}
	}
	if err := classify(errors.New("source failed")); sink.IsPermanent(err) {
		t.Errorf("a plain error is classified permanent: %v", err)
	}
	err := classifyAssumeRole(&smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole"}, "org-42")
	if !errors.Is(err, sink.ErrAccessDenied) || !strings.Contains(err.Error(), "sts:ExternalId = org-42") {
		t.Errorf("assume role refusal: %v", err)
	}
}

func TestOpenRefusesBadDestinationWithoutCalls(t *testing.T) {
	// An empty config has no credentials and no region: reaching STS would
	// fail differently, so ErrInvalidConfig proves Open stopped before.
	bad := validDest()
	bad.Prefix = "*"
	if _, err := Open(context.Background(), aws.Config{}, bad, Options{}); !errors.Is(err, sink.ErrInvalidConfig) {
		t.Errorf("wildcard prefix: err = %v, want sink.ErrInvalidConfig", err)
	}
	if _, err := Open(context.Background(), aws.Config{}, validDest(), Options{Prefix: "other/"}); !errors.Is(err, sink.ErrInvalidConfig) {
		t.Errorf("Options.Prefix differing from the destination's: err = %v, want sink.ErrInvalidConfig", err)
	}
	if _, err := Open(context.Background(), aws.Config{}, validDest(), Options{BucketOwner: "999988887777"}); !errors.Is(err, sink.ErrInvalidConfig) {
		t.Errorf("Options.BucketOwner differing from the destination's: err = %v, want sink.ErrInvalidConfig", err)
	}
}

func TestNewS3Client(t *testing.T) {
	creds := aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("k", "s", ""))
	real := newS3Client(aws.Config{Region: "us-east-1"}, "eu-west-1", creds).Options()
	if real.UsePathStyle || real.Region != "eu-west-1" || real.Credentials != creds {
		t.Errorf("without an endpoint override: UsePathStyle %v, Region %q, own credentials %v; want false, eu-west-1, true",
			real.UsePathStyle, real.Region, real.Credentials == creds)
	}
	if _, ok := real.Retryer.(*retry.Standard); !ok {
		t.Errorf("retryer is %T, want the SDK's standard retryer", real.Retryer)
	}
	emu := newS3Client(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:5000")}, "eu-west-1", creds).Options()
	if !emu.UsePathStyle {
		t.Error("with an endpoint override: UsePathStyle = false, want true")
	}
}

func TestOptionsDefaults(t *testing.T) {
	for _, tc := range []struct {
		in       Options
		part     int64
		parallel int
	}{
		{Options{}, DefaultPartSize, DefaultConcurrency},
		{Options{PartSize: 1 << 20, Concurrency: -1}, MinPartSize, DefaultConcurrency},
		{Options{PartSize: 6 << 20, Concurrency: 8}, 6 << 20, 8},
		{Options{PartSize: 6 << 30}, MaxPartSize, DefaultConcurrency},
	} {
		got := tc.in.withDefaults()
		if got.PartSize != tc.part || got.Concurrency != tc.parallel {
			t.Errorf("%+v.withDefaults() = %+v, want PartSize %d, Concurrency %d", tc.in, got, tc.part, tc.parallel)
		}
	}
}
