package onboard

import (
	"cmp"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

var acme = Input{
	OrgID: "acme", Bucket: "acme-audit", Prefix: "contentful", Region: "eu-west-1",
	Account: "606137763417", CustomerAccount: "210987654321",
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGenerate spells out the four documents for one customer: what the
// product doc's steps say, with the prefix scoping, AbortMultipartUpload,
// the external ID and the lifecycle rule added.
func TestGenerate(t *testing.T) {
	d, err := Generate(acme)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		got  any
		want string
	}{
		"iam policy": {d.IAMPolicy, `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ContentfulAuditLogDelivery",
      "Effect": "Allow",
      "Action": [
        "s3:PutObject",
        "s3:AbortMultipartUpload"
      ],
      "Resource": "arn:aws:s3:::acme-audit/contentful/*",
      "Condition": {
        "StringEquals": {
          "s3:ResourceAccount": "210987654321"
        }
      }
    }
  ]
}
`},
		"trust policy": {d.TrustPolicy, `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ContentfulAuditLogDelivery",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::606137763417:root"
      },
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {
          "sts:ExternalId": "acme"
        }
      }
    }
  ]
}
`},
		"bucket policy": {d.BucketPolicy, `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ContentfulAuditLogDelivery",
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::210987654321:role/ContentfulAuditLogs"
      },
      "Action": [
        "s3:PutObject",
        "s3:AbortMultipartUpload"
      ],
      "Resource": "arn:aws:s3:::acme-audit/contentful/*"
    }
  ]
}
`},
		"lifecycle": {d.Lifecycle, `{
  "Rules": [
    {
      "ID": "contentful-audit-logs-abort-incomplete-uploads",
      "Status": "Enabled",
      "Filter": {
        "Prefix": "contentful/"
      },
      "AbortIncompleteMultipartUpload": {
        "DaysAfterInitiation": 7
      }
    }
  ]
}
`},
		"values": {d.Values, `{
  "org_id": "acme",
  "aws_account_id": "210987654321",
  "bucket": "acme-audit",
  "bucket_arn": "arn:aws:s3:::acme-audit",
  "role_arn": "arn:aws:iam::210987654321:role/ContentfulAuditLogs",
  "region": "eu-west-1",
  "prefix": "contentful/",
  "bucket_owner_account_id": "210987654321"
}
`},
	}
	for name, c := range want {
		if got := mustJSON(t, c.got); got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, c.want)
		}
	}
	if got, want := d.Values.RegisterCommand(), "auditctl destination put --org acme --s3-bucket acme-audit --region eu-west-1 --role-arn arn:aws:iam::210987654321:role/ContentfulAuditLogs --prefix contentful/"; got != want {
		t.Errorf("register command\n%s\nwant\n%s", got, want)
	}
}

// TestIAMPolicyIsTheSessionPolicy: the customer's role allows what our
// session policy allows, on the same objects, and nothing more; had the
// two drifted apart, either deliveries would fail (less) or the role
// would grant what we never use (more).
func TestIAMPolicyIsTheSessionPolicy(t *testing.T) {
	for _, in := range []Input{acme,
		{OrgID: "o-1", Bucket: "b-cn", Region: "cn-north-1", Account: "111111111111", CustomerAccount: "222222222222"},
		{OrgID: "o-2", Bucket: "b-2", Region: "us-east-1", Account: "111111111111", CustomerAccount: "222222222222", BucketOwner: "333333333333"},
	} {
		d, err := Generate(in)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := s3sink.SessionPolicy(s3sink.Destination{OrgID: in.OrgID, Bucket: in.Bucket, Region: in.Region, RoleARN: d.Values.RoleARN, Prefix: d.Values.Prefix, BucketOwner: in.BucketOwner})
		if err != nil {
			t.Fatal(err)
		}
		var session Policy
		if err := json.Unmarshal([]byte(sp), &session); err != nil {
			t.Fatal(err)
		}
		if len(session.Statement) != 1 || len(d.IAMPolicy.Statement) != 1 {
			t.Fatalf("statements: session %d, iam %d", len(session.Statement), len(d.IAMPolicy.Statement))
		}
		s, p := session.Statement[0], d.IAMPolicy.Statement[0]
		if !slices.Equal(s.Action, p.Action) || !slices.Equal(s.Resource, p.Resource) || !reflect.DeepEqual(s.Condition, p.Condition) {
			t.Errorf("session policy %v on %v if %v, customer policy %v on %v if %v", s.Action, s.Resource, s.Condition, p.Action, p.Resource, p.Condition)
		}
		if want := cmp.Or(in.BucketOwner, in.CustomerAccount); p.Condition["StringEquals"]["s3:ResourceAccount"] != want || d.Values.BucketOwner != want {
			t.Errorf("condition %v, values' bucket owner %q; want the owner %s", p.Condition, d.Values.BucketOwner, want)
		}
		if got := d.Values.RegisterCommand(); strings.Contains(got, "--bucket-owner") != (in.BucketOwner != "") {
			t.Errorf("register command %s: --bucket-owner only when the bucket's owner is not the role's account", got)
		}
		if !slices.Equal(d.BucketPolicy.Statement[0].Action, p.Action) || !slices.Equal(d.BucketPolicy.Statement[0].Resource, p.Resource) {
			t.Errorf("bucket policy %+v differs from the IAM policy %+v", d.BucketPolicy.Statement[0], p)
		}
	}
}

func TestPartitionAndOptions(t *testing.T) {
	in := acme
	in.Region, in.Prefix, in.RoleName = "cn-northwest-1", "", "audit.writer"
	d, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.IAMPolicy.Statement[0].Resource[0]; got != "arn:aws-cn:s3:::acme-audit/*" {
		t.Errorf("resource %s, want the whole bucket in aws-cn", got)
	}
	if got := d.TrustPolicy.Statement[0].Principal.AWS[0]; got != "arn:aws-cn:iam::606137763417:root" {
		t.Errorf("trusted %s", got)
	}
	if d.Values.RoleARN != "arn:aws-cn:iam::210987654321:role/audit.writer" || d.Lifecycle.Rules[0].Filter.Prefix != "" {
		t.Errorf("values %+v, lifecycle %+v", d.Values, d.Lifecycle)
	}
	if strings.Contains(d.Values.RegisterCommand(), "--prefix") {
		t.Errorf("register command with an empty prefix: %s", d.Values.RegisterCommand())
	}

	in = acme
	in.CustomerAccount = ""
	in.RoleARN = "arn:aws:iam::210987654321:role/path/Writer"
	in.Principals = []string{"arn:aws:iam::606137763417:role/auditlogs-prod-export", "arn:aws:iam::606137763417:role/auditlogs-prod-retry"}
	in.Prefix = "audit & logs/"
	d, err = Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.TrustPolicy.Statement[0].Principal.AWS; !slices.Equal(got, in.Principals) {
		t.Errorf("trusted %v, want %v", got, in.Principals)
	}
	if d.Values.CustomerAccount != "210987654321" || d.BucketPolicy.Statement[0].Principal.AWS[0] != in.RoleARN {
		t.Errorf("values %+v", d.Values)
	}
	if got := mustJSON(t, d.IAMPolicy); !strings.Contains(got, `"arn:aws:s3:::acme-audit/audit & logs/*"`) {
		t.Errorf("prefix with '&' escaped or lost:\n%s", got)
	}
	if got, want := d.Values.RegisterCommand(), "--prefix 'audit & logs/'"; !strings.HasSuffix(got, want) {
		t.Errorf("register command %s, want it to end in %s", got, want)
	}
}

// TestRejects: every input is checked, and the error names it and its value.
func TestRejects(t *testing.T) {
	for name, c := range map[string]struct {
		edit         func(*Input)
		field, value string
	}{
		"org":                  {func(in *Input) { in.OrgID = "acme corp" }, FieldOrg, "acme corp"},
		"no org":               {func(in *Input) { in.OrgID = "" }, FieldOrg, ""},
		"bucket":               {func(in *Input) { in.Bucket = "Acme_Audit" }, FieldBucket, "Acme_Audit"},
		"prefix wildcard":      {func(in *Input) { in.Prefix = "logs/*" }, FieldPrefix, "logs/*/"},
		"prefix dotdot":        {func(in *Input) { in.Prefix = "a/../b" }, FieldPrefix, "a/../b/"},
		"region":               {func(in *Input) { in.Region = "Europe" }, FieldRegion, "Europe"},
		"account":              {func(in *Input) { in.Account = "6061-3776-3417" }, FieldAccount, "6061-3776-3417"},
		"no account":           {func(in *Input) { in.Account = "" }, FieldAccount, ""},
		"customer account":     {func(in *Input) { in.CustomerAccount = "12345" }, FieldCustomerAccount, "12345"},
		"role name":            {func(in *Input) { in.RoleName = "audit logs" }, FieldRoleName, "audit logs"},
		"role arn":             {func(in *Input) { in.CustomerAccount, in.RoleARN = "", "arn:aws:iam::210987654321:user/x" }, FieldRoleARN, "arn:aws:iam::210987654321:user/x"},
		"role arn partition":   {func(in *Input) { in.CustomerAccount, in.RoleARN = "", "arn:aws-cn:iam::210987654321:role/x" }, FieldRoleARN, "arn:aws-cn:iam::210987654321:role/x"},
		"role arn and account": {func(in *Input) { in.RoleARN = "arn:aws:iam::210987654321:role/x" }, FieldCustomerAccount, "210987654321"},
		"principal syntax":     {func(in *Input) { in.Principals = []string{"606137763417"} }, FieldPrincipal, "606137763417"},
		"principal account":    {func(in *Input) { in.Principals = []string{"arn:aws:iam::999999999999:role/x"} }, FieldPrincipal, "arn:aws:iam::999999999999:role/x"},
		"bucket owner":         {func(in *Input) { in.BucketOwner = "2109-8765-4321" }, FieldBucketOwner, "2109-8765-4321"},
	} {
		t.Run(name, func(t *testing.T) {
			in := acme
			c.edit(&in)
			_, err := Generate(in)
			var fe *audit.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || fe.Value != c.value {
				t.Fatalf("err = %v, want a field error for %s %q", err, c.field, c.value)
			}
			if in.Validate() == nil {
				t.Errorf("Validate accepts what Generate refuses")
			}
		})
	}
	if err := acme.Validate(); err != nil {
		t.Errorf("Validate(acme) = %v", err)
	}
}

func TestStringsRoundTrip(t *testing.T) {
	for _, s := range []string{`"a"`, `["a","b"]`} {
		var v Strings
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil || string(b) != s {
			t.Errorf("%s -> %v -> %s (%v)", s, v, b, err)
		}
	}
}
