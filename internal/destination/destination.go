// Package destination describes where an organization's audit logs go: an
// S3 bucket reached through the customer's IAM role, or an Azure Blob
// container reached through a SAS URL that the customer encrypted to our
// public key. It validates what customers and operators submit, with
// errors that name the field and the value; storage of destinations is the
// registry package's job.
//
// It owns the model's vocabulary that others check against: the data
// residencies (Residency, ParseResidency), the SAS cipher's encoding as
// customers submit it (DecodeCipher, EncodeCipher) and the names of an
// Azure storage account and container.
//
// destination imports of this module only internal/audit,
// internal/failure (the sentinel its refusals of a cipher or residency
// wrap) and internal/fileformat (the formats a destination chooses). It
// may not import internal/sas, a sink or the registry: they import it.
package destination

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/fileformat"
)

// Kind is the storage provider.
type Kind string

const (
	KindS3    Kind = "s3"
	KindAzure Kind = "azure"
)

// Destination is one organization's delivery target.
type Destination struct {
	OrgID string
	Kind  Kind
	// Prefix is prepended to every object name; when set it ends in "/".
	Prefix string
	// Format of the delivered files ("" is fileformat.Default) and their
	// Layout under the prefix ("" is LayoutFlat).
	Format    fileformat.Format
	Layout    Layout
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	S3        *S3    // set when Kind is KindS3
	Azure     *Azure // set when Kind is KindAzure
}

// S3 is a customer's bucket and the role we assume to write to it.
type S3 struct {
	Bucket  string
	Region  string
	RoleARN string
	// BucketOwner is the 12-digit ID of the AWS account that owns the
	// bucket. Every write asks S3 to check it (ExpectedBucketOwner) and
	// the session policy allows no other (s3:ResourceAccount), so that a
	// bucket of the same name re-created in another account after the
	// customer deleted theirs receives nothing. Normalize sets it to the
	// role's account when it is empty; Owner gives that default for a
	// destination stored before the field existed.
	BucketOwner string
}

// Owner is the account that must own the bucket: BucketOwner, or the
// role's account when it is unset.
func (s *S3) Owner() string {
	if s.BucketOwner != "" {
		return s.BucketOwner
	}
	return RoleAccount(s.RoleARN)
}

// Azure is a customer's container, known only through an encrypted SAS URL.
type Azure struct {
	// SASCipher is the base64 RSA-OAEP-SHA256 ciphertext of the SAS URL,
	// stored without the line breaks that `base64` adds.
	SASCipher string
	Residency Residency
	// SASExpiry is when the SAS stops working, once known (it is inside
	// the cipher, so it is learnt at the first decryption); zero if unknown.
	SASExpiry time.Time
	// StorageAccount and Container are where the SAS writes, once known
	// (learnt at decryption, like SASExpiry); both empty if unknown. The
	// registry keeps one org per account and container unless the
	// operator says that orgs share it: the cipher is safe to show, so
	// anyone holding another customer's could register it as their own.
	StorageAccount string
	Container      string
}

// ExternalID is the STS external ID used when assuming the customer's
// role. It is always the org ID and deliberately not a field: letting
// anyone choose it would reopen the confused-deputy problem it closes.
func (d *Destination) ExternalID() string { return d.OrgID }

// Error is a validation failure naming the field and the value.
type Error = audit.FieldError

// Normalize canonicalizes what a user may type loosely: surrounding
// spaces, a prefix without its trailing "/", a cipher wrapped over lines.
func (d *Destination) Normalize() {
	d.OrgID = strings.TrimSpace(d.OrgID)
	d.Kind = Kind(strings.ToLower(strings.TrimSpace(string(d.Kind))))
	d.Format = fileformat.Format(strings.ToLower(strings.TrimSpace(string(d.Format))))
	if d.Format == "" {
		d.Format = fileformat.Default
	}
	d.Layout = Layout(strings.ToLower(strings.TrimSpace(string(d.Layout))))
	if d.Layout == "" {
		d.Layout = LayoutFlat
	}
	if d.Prefix != "" && !strings.HasSuffix(d.Prefix, "/") {
		d.Prefix += "/"
	}
	if d.S3 != nil {
		d.S3.Bucket = strings.TrimSpace(d.S3.Bucket)
		d.S3.Region = strings.TrimSpace(d.S3.Region)
		d.S3.RoleARN = strings.TrimSpace(d.S3.RoleARN)
		d.S3.BucketOwner = strings.TrimSpace(d.S3.BucketOwner)
		if d.S3.BucketOwner == "" {
			d.S3.BucketOwner = RoleAccount(d.S3.RoleARN)
		}
	}
	if d.Azure != nil {
		d.Azure.SASCipher = strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, d.Azure.SASCipher)
		d.Azure.Residency = Residency(strings.ToLower(strings.TrimSpace(string(d.Azure.Residency))))
	}
}

// Validate checks d and returns a *audit.FieldError for the first problem.
func (d *Destination) Validate() error {
	if err := audit.ValidateOrgID(d.OrgID); err != nil {
		return err
	}
	if err := ValidatePrefix(d.Prefix); err != nil {
		return err
	}
	if d.Format != "" {
		if _, err := fileformat.Parse(string(d.Format)); err != nil {
			return err
		}
	}
	if d.Layout != "" {
		if _, err := ParseLayout(string(d.Layout)); err != nil {
			return err
		}
	}
	switch d.Kind {
	case KindS3:
		if d.S3 == nil || d.Azure != nil {
			return &Error{Field: "kind", Value: string(d.Kind), Reason: "an s3 destination needs the s3 fields and no azure fields"}
		}
		if err := ValidateBucket(d.S3.Bucket); err != nil {
			return err
		}
		if err := ValidateRegion(d.S3.Region); err != nil {
			return err
		}
		if err := ValidateRoleARN(d.S3.RoleARN); err != nil {
			return err
		}
		if d.S3.BucketOwner == "" {
			return nil // the role's account (Owner)
		}
		return ValidateAccountID(FieldBucketOwner, d.S3.BucketOwner)
	case KindAzure:
		if d.Azure == nil || d.S3 != nil {
			return &Error{Field: "kind", Value: string(d.Kind), Reason: "an azure destination needs the azure fields and no s3 fields"}
		}
		if err := ValidateResidency(string(d.Azure.Residency)); err != nil {
			return err
		}
		if err := validateTarget(d.Azure.StorageAccount, d.Azure.Container); err != nil {
			return err
		}
		_, err := DecodeCipher(d.Azure.SASCipher)
		return err
	default:
		return &Error{Field: "kind", Value: string(d.Kind), Reason: `must be "s3" or "azure"`}
	}
}

// validateTarget accepts a storage account and container both unknown
// (empty) or both valid names.
func validateTarget(account, container string) error {
	switch {
	case account == "" && container == "":
		return nil
	case !ValidAccountName(account):
		return &Error{Field: "storage_account", Value: account, Reason: "must be 3 to 24 lowercase letters or digits, set together with the container"}
	case !ValidContainerName(container):
		return &Error{Field: "container", Value: container, Reason: "must be 3 to 63 lowercase letters, digits or single hyphens, set together with the storage account"}
	}
	return nil
}

var roleARNPattern = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$`)

// ValidateRoleARN checks an IAM role ARN such as
// arn:aws:iam::123456789012:role/path/AuditLogs.
func ValidateRoleARN(arn string) error {
	m := roleARNPattern.FindStringSubmatch(arn)
	if m == nil || len(m[3]) > 510 {
		return &Error{Field: "role_arn", Value: arn, Reason: "must be an IAM role ARN like arn:aws:iam::123456789012:role/AuditLogsDelivery"}
	}
	return nil
}

// RoleAccount is the AWS account ID in a role ARN, or "" if arn is not
// one.
func RoleAccount(arn string) string {
	if m := roleARNPattern.FindStringSubmatch(arn); m != nil {
		return m[2]
	}
	return ""
}

// FieldBucketOwner names the bucket owner in errors.
const FieldBucketOwner = "bucket_owner"

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// ValidateAccountID checks a 12-digit AWS account ID, naming field.
func ValidateAccountID(field, id string) error {
	if !accountIDPattern.MatchString(id) {
		return &Error{Field: field, Value: id, Reason: "must be a 12-digit AWS account ID"}
	}
	return nil
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$`)

// ValidateRegion checks the syntax of an AWS region name such as eu-west-1.
func ValidateRegion(r string) error {
	if !regionPattern.MatchString(r) {
		return &Error{Field: "region", Value: r, Reason: "must be an AWS region such as us-east-1 or eu-central-1"}
	}
	return nil
}

var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ValidateBucket applies S3's general purpose bucket naming rules.
func ValidateBucket(b string) error {
	bad := func(reason string) error { return &Error{Field: "bucket", Value: b, Reason: reason} }
	switch {
	case !bucketPattern.MatchString(b):
		return bad("must be 3 to 63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter or digit")
	case strings.Contains(b, ".."):
		return bad("must not hold two adjacent periods")
	case strings.Contains(b, ".-") || strings.Contains(b, "-."):
		return bad("must not hold a period next to a hyphen")
	case net.ParseIP(b) != nil:
		return bad("must not be formatted as an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return bad("must not start with the reserved prefix " + p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return bad("must not end with the reserved suffix " + s)
		}
	}
	return nil
}

// MaxPrefixLen leaves room for the file name inside S3's 1,024-byte keys.
const MaxPrefixLen = 512

// ValidatePrefix checks an object name prefix: relative, no ".." or "."
// segments, no empty segments, printable UTF-8.
func ValidatePrefix(p string) error {
	if p == "" {
		return nil
	}
	bad := func(reason string) error { return &Error{Field: "prefix", Value: p, Reason: reason} }
	switch {
	case len(p) > MaxPrefixLen:
		return bad(fmt.Sprintf("is longer than %d bytes", MaxPrefixLen))
	case !utf8.ValidString(p):
		return bad("is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("must not start with '/'")
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsControl(r) || r == '\\' }):
		return bad("must not hold control characters or '\\'")
	case strings.ContainsAny(p, "*?$"):
		// IAM reads '*' and '?' as wildcards and "${...}" as a variable in
		// the session policy's resource ARN: they would widen the grant.
		return bad("must not hold '*', '?' or '$'")
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		switch seg {
		case "..", ".":
			return bad("must not hold '.' or '..' segments")
		case "":
			return bad("must not hold empty segments ('//')")
		}
	}
	return nil
}

// ObjectName is the name of the CSV file for org and day, without prefix:
// contentful-audit-unstable-beta-<ORG>-<YYYYMMDD>T<HHmmssSSS>Z.csv, the
// time being the start of the delivered window (00:00:00.000 UTC). A
// retry therefore overwrites the same object and never adds another.
func ObjectName(org string, day audit.Day) string { return FileName(org, day, fileformat.CSV) }

// FileName is ObjectName with the extension of format f.
func FileName(org string, day audit.Day, f fileformat.Format) string {
	ts := strings.Replace(day.Start().Format("20060102T150405.000"), ".", "", 1)
	return "contentful-audit-unstable-beta-" + org + "-" + ts + "Z" + f.Extension()
}

// Layout is how a destination's files are arranged under its prefix.
type Layout string

const (
	// LayoutFlat puts every file right under the prefix (the product
	// doc's keys).
	LayoutFlat Layout = "flat"
	// LayoutDaily puts each day's file and manifest under
	// <prefix>date=YYYY-MM-DD/, which Athena's partition projection and
	// DuckDB's Hive partitioning read as a column.
	LayoutDaily Layout = "daily"
)

// ParseLayout reads a layout; "" is LayoutFlat.
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(strings.ToLower(strings.TrimSpace(s))); l {
	case "":
		return LayoutFlat, nil
	case LayoutFlat, LayoutDaily:
		return l, nil
	}
	return "", &Error{Field: "layout", Value: s, Reason: `must be "flat" or "daily"`}
}

// FileFormat is d's format, the default when unset (a destination stored
// before formats existed).
func (d *Destination) FileFormat() fileformat.Format {
	if d.Format == "" {
		return fileformat.Default
	}
	return d.Format
}

// Name is the day's file name at d without the prefix: FileName in d's
// format, under date=YYYY-MM-DD/ for the daily layout.
func (d *Destination) Name(day audit.Day) string {
	name := FileName(d.OrgID, day, d.FileFormat())
	if d.Layout == LayoutDaily {
		name = "date=" + day.String() + "/" + name
	}
	return name
}

// Key is the day's file's full name at d: prefix and Name.
func (d *Destination) Key(day audit.Day) string { return d.Prefix + d.Name(day) }
