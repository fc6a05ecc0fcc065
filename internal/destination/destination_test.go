package destination

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/fileformat"
)

func cipher(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

func s3Dest() Destination {
	return Destination{OrgID: "org1", Kind: KindS3, S3: &S3{Bucket: "acme-audit", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/AuditLogs"}}
}

func TestValidDestinations(t *testing.T) {
	a := Destination{OrgID: "org1", Kind: " Azure ", Prefix: "audit/contentful", Azure: &Azure{SASCipher: EncodeCipher(make([]byte, 512)), Residency: "EU"}}
	a.Normalize()
	if err := a.Validate(); err != nil {
		t.Fatalf("azure: %v", err)
	}
	if a.Prefix != "audit/contentful/" || strings.ContainsAny(a.Azure.SASCipher, "\n ") || a.Kind != KindAzure || a.Azure.Residency != ResidencyEU {
		t.Fatalf("normalized = %+v %+v", a, a.Azure)
	}
	s := s3Dest()
	s.S3.RoleARN = "arn:aws:iam::123456789012:role/service-role/Audit+Logs=,.@-x"
	s.Normalize()
	if err := s.Validate(); err != nil {
		t.Fatalf("s3: %v", err)
	}
	if s.ExternalID() != "org1" {
		t.Fatal("the external ID must be the org ID")
	}
	// The bucket owner defaults to the role's account.
	if s.S3.BucketOwner != "123456789012" || s.S3.Owner() != "123456789012" {
		t.Fatalf("bucket owner %q (Owner %q), want the role's account", s.S3.BucketOwner, s.S3.Owner())
	}
	o := s3Dest()
	o.S3.BucketOwner = " 210987654321 "
	o.Normalize()
	if err := o.Validate(); err != nil || o.S3.Owner() != "210987654321" {
		t.Fatalf("explicit owner: %v, Owner %q", err, o.S3.Owner())
	}
	if legacy := (&S3{RoleARN: "arn:aws:iam::123456789012:role/x"}); legacy.Owner() != "123456789012" {
		t.Fatalf("an S3 without BucketOwner: Owner %q, want the role's account", legacy.Owner())
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		field, value string
		mut          func(*Destination)
	}{
		{"kind", "gcs", func(d *Destination) { d.Kind = "gcs" }},
		{"org_id", "", func(d *Destination) { d.OrgID = "" }},
		{"bucket", "Acme", func(d *Destination) { d.S3.Bucket = "Acme" }},
		{"bucket", "ab", func(d *Destination) { d.S3.Bucket = "ab" }},
		{"bucket", "a..b", func(d *Destination) { d.S3.Bucket = "a..b" }},
		{"bucket", "192.168.1.1", func(d *Destination) { d.S3.Bucket = "192.168.1.1" }},
		{"bucket", "xn--abc", func(d *Destination) { d.S3.Bucket = "xn--abc" }},
		{"bucket", "logs-s3alias", func(d *Destination) { d.S3.Bucket = "logs-s3alias" }},
		{"bucket", "-abc", func(d *Destination) { d.S3.Bucket = "-abc" }},
		{"region", "eu-west", func(d *Destination) { d.S3.Region = "eu-west" }},
		{"region", "EU-WEST-1", func(d *Destination) { d.S3.Region = "EU-WEST-1" }},
		{"role_arn", "arn:aws:iam::12345:role/x", func(d *Destination) { d.S3.RoleARN = "arn:aws:iam::12345:role/x" }},
		{"role_arn", "arn:aws:iam::123456789012:user/x", func(d *Destination) { d.S3.RoleARN = "arn:aws:iam::123456789012:user/x" }},
		{"role_arn", "arn:aws:s3:::bucket", func(d *Destination) { d.S3.RoleARN = "arn:aws:s3:::bucket" }},
		{"bucket_owner", "21098765432", func(d *Destination) { d.S3.BucketOwner = "21098765432" }},
		{"bucket_owner", "acme", func(d *Destination) { d.S3.BucketOwner = "acme" }},
		{"prefix", "/abs/", func(d *Destination) { d.Prefix = "/abs/" }},
		{"prefix", "a/../b/", func(d *Destination) { d.Prefix = "a/../b/" }},
		{"prefix", "a//b/", func(d *Destination) { d.Prefix = "a//b/" }},
		{"prefix", "", func(d *Destination) { d.Prefix = "a\x00b/" }},
		{"prefix", "logs/*", func(d *Destination) { d.Prefix = "logs/*" }},
	}
	for _, tc := range cases {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			d := s3Dest()
			tc.mut(&d)
			err := d.Validate()
			var fe *audit.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate() = %v, want an error on field %s", err, tc.field)
			}
			if !strings.Contains(err.Error(), tc.value) {
				t.Fatalf("error %q does not show the value %q", err, tc.value)
			}
		})
	}
}

func TestCipherValidation(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"short", cipher(256), "decodes to 256 bytes"},
		{"long", cipher(513), "decodes to 513 bytes"},
		{"not base64", "!!!!" + cipher(512)[4:], "not standard base64"},
		{"empty", "", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Destination{OrgID: "org1", Kind: KindAzure, Azure: &Azure{SASCipher: tc.in, Residency: ResidencyUS}}
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), "sas_cipher") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want sas_cipher error with %q", err, tc.want)
			}
			if len(tc.in) > 40 && strings.Contains(err.Error(), tc.in[:40]) {
				t.Fatal("error repeats the cipher")
			}
		})
	}
	d := Destination{OrgID: "org1", Kind: KindAzure, Azure: &Azure{SASCipher: cipher(512), Residency: "asia"}}
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), `residency "asia"`) {
		t.Fatalf("residency: %v", err)
	}
}

func TestObjectName(t *testing.T) {
	day, _ := audit.ParseDay("2026-11-24")
	d := s3Dest()
	d.Prefix = "logs/"
	if got, want := d.Key(day), "logs/contentful-audit-unstable-beta-org1-20261124T000000000Z.csv"; got != want {
		t.Fatalf("Key = %s, want %s", got, want)
	}
}

// TestFormatAndLayout: the file's name follows the format; the daily
// layout puts it under date=YYYY-MM-DD/; the defaults are today's name;
// bad values are refused naming the field and the value.
func TestFormatAndLayout(t *testing.T) {
	day, _ := audit.ParseDay("2026-11-24")
	d := s3Dest()
	d.Prefix = "logs/"
	for _, c := range []struct {
		format fileformat.Format
		layout Layout
		want   string
	}{
		{"", "", "logs/contentful-audit-unstable-beta-org1-20261124T000000000Z.csv"},
		{fileformat.CSVGzip, LayoutFlat, "logs/contentful-audit-unstable-beta-org1-20261124T000000000Z.csv.gz"},
		{fileformat.JSONLGzip, LayoutDaily, "logs/date=2026-11-24/contentful-audit-unstable-beta-org1-20261124T000000000Z.jsonl.gz"},
		{fileformat.Parquet, LayoutDaily, "logs/date=2026-11-24/contentful-audit-unstable-beta-org1-20261124T000000000Z.parquet"},
	} {
		d.Format, d.Layout = c.format, c.layout
		if got := d.Key(day); got != c.want {
			t.Errorf("format %q layout %q: Key = %s, want %s", c.format, c.layout, got, c.want)
		}
		if got := d.Name(day); d.Prefix+got != c.want {
			t.Errorf("format %q layout %q: Name = %s", c.format, c.layout, got)
		}
	}
	d.Format, d.Layout = " Parquet ", " DAILY"
	d.Normalize()
	if d.Format != fileformat.Parquet || d.Layout != LayoutDaily || d.Validate() != nil {
		t.Fatalf("normalized to %q %q: %v", d.Format, d.Layout, d.Validate())
	}
	for field, bad := range map[string]Destination{
		"format": {OrgID: "org1", Kind: KindS3, Format: "xlsx", S3: s3Dest().S3},
		"layout": {OrgID: "org1", Kind: KindS3, Layout: "hourly", S3: s3Dest().S3},
	} {
		var fe *audit.FieldError
		if err := bad.Validate(); !errors.As(err, &fe) || fe.Field != field || !strings.Contains(err.Error(), map[string]string{"format": "xlsx", "layout": "hourly"}[field]) {
			t.Errorf("%s: %v, want a FieldError naming it and the value", field, err)
		}
	}
}
