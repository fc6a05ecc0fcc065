// Package onboard writes, for one org and one S3 bucket, the documents a
// customer needs to let us deliver audit logs (the product doc's AWS steps
// 2, 3 and 5), filled in and tightened:
//
//   - the IAM policy of the customer's role: exactly the actions our
//     session policy allows (s3sink.DeliveryActions: s3:PutObject and
//     s3:AbortMultipartUpload, which the product doc forgot and which our
//     multipart uploads need to clean up after a failure), on the objects
//     under the destination's prefix only (the product doc grants the
//     whole bucket), in a bucket of the bucket owner's account only
//     (s3sink.OwnerCondition, the session policy's condition too);
//   - the role's trust policy: our AWS account (or named principals of it)
//     may assume the role only with sts:ExternalId equal to the org ID;
//   - the bucket policy statement for that role, scoped the same way;
//   - an optional lifecycle rule that aborts incomplete multipart uploads,
//     since parts of an upload that was never completed nor aborted (a
//     process killed mid-upload) are billed until someone removes them;
//
// and the values the customer sends back (step 6), which register the
// destination. Every input is validated with the destination package's
// rules; errors are *audit.FieldError naming the input.
//
// It writes documents and calls nothing: it imports audit, destination and
// s3sink (for the session policy's actions and condition), and must not
// import internal/app, the opener or anything that talks to AWS on its
// behalf (its tests deliver through internal/sink/opener).
package onboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// DefaultRoleName is the customer's role name when they choose none.
const DefaultRoleName = "ContentfulAuditLogs"

// AbortAfterDays is the lifecycle rule's DaysAfterInitiation. Our uploads
// finish or are aborted within the export's 15 minutes, so any older
// incomplete upload under the prefix is dead; a week (the figure AWS
// suggests) leaves room should the rule also cover other writers' uploads
// when there is no prefix.
const AbortAfterDays = 7

// Field names of Input in errors. The CLI maps them to its flags.
const (
	FieldOrg             = "org"
	FieldBucket          = "bucket"
	FieldPrefix          = "prefix"
	FieldRegion          = "region"
	FieldAccount         = "account"
	FieldPrincipal       = "principal"
	FieldCustomerAccount = "customer_account"
	FieldRoleName        = "role_name"
	FieldRoleARN         = "role_arn"
	FieldBucketOwner     = "bucket_owner"
)

// Input is what the documents are made from.
type Input struct {
	OrgID  string // also the external ID
	Bucket string
	Prefix string // may be empty; a trailing "/" is added
	Region string // the bucket's region; it also gives the partition

	// Account is our AWS account ID: the one the export runs in, which
	// the customer's role trusts.
	Account string
	// Principals, if set, are IAM role or user ARNs in Account to trust
	// instead of the whole account (its root). The account root with the
	// external ID is the usual cross-account set-up and survives our
	// roles being re-created; naming roles is narrower.
	Principals []string

	// The customer's role: RoleARN, or CustomerAccount and RoleName
	// (DefaultRoleName if empty).
	CustomerAccount string
	RoleName        string
	RoleARN         string

	// BucketOwner is the account that owns the bucket, if not the role's.
	BucketOwner string
}

// Documents are the filled-in documents and values.
type Documents struct {
	// IAMPolicy is step 2: the permissions of the customer's role.
	IAMPolicy Policy `json:"iam_policy"`
	// TrustPolicy is step 3: who may assume the role.
	TrustPolicy Policy `json:"trust_policy"`
	// BucketPolicy is step 5: the statement to add to the bucket policy.
	BucketPolicy Policy `json:"bucket_policy"`
	// Lifecycle is optional and recommended: the bucket's lifecycle
	// configuration with the one rule (merge it into an existing one).
	Lifecycle Lifecycle `json:"lifecycle"`
	// Values is step 6: what the customer sends back.
	Values Values `json:"values"`
}

// Policy is an IAM policy document.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Policy.
type Statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal *Principal                   `json:"Principal,omitempty"`
	Action    Strings                      `json:"Action"`
	Resource  Strings                      `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// Principal names AWS principals.
type Principal struct {
	AWS Strings `json:"AWS"`
}

// Strings is written as a JSON string when it holds one value and as an
// array otherwise, as the AWS consoles show policies.
type Strings []string

// MarshalJSON implements json.Marshaler.
// It does not escape HTML characters: a prefix with '&' stays readable.
func (s Strings) MarshalJSON() ([]byte, error) {
	var v any = []string(s)
	if len(s) == 1 {
		v = s[0]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// UnmarshalJSON accepts both forms.
func (s *Strings) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = Strings{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// Lifecycle is an S3 bucket lifecycle configuration in the shape of
// `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration`.
type Lifecycle struct {
	Rules []LifecycleRule `json:"Rules"`
}

// LifecycleRule is one rule of a Lifecycle.
type LifecycleRule struct {
	ID                             string          `json:"ID"`
	Status                         string          `json:"Status"`
	Filter                         LifecycleFilter `json:"Filter"`
	AbortIncompleteMultipartUpload AbortIncomplete `json:"AbortIncompleteMultipartUpload"`
}

// LifecycleFilter selects the objects of a rule; an empty prefix selects
// the whole bucket.
type LifecycleFilter struct {
	Prefix string `json:"Prefix"`
}

// AbortIncomplete is the rule's action.
type AbortIncomplete struct {
	DaysAfterInitiation int `json:"DaysAfterInitiation"`
}

// Values are what the customer sends back (step 6) and what registers
// the destination.
type Values struct {
	OrgID           string `json:"org_id"` // the external ID
	CustomerAccount string `json:"aws_account_id"`
	Bucket          string `json:"bucket"`
	BucketARN       string `json:"bucket_arn"`
	RoleARN         string `json:"role_arn"`
	Region          string `json:"region"`
	Prefix          string `json:"prefix"`
	// BucketOwner is the account that owns the bucket: the role's
	// account unless the customer says otherwise.
	BucketOwner string `json:"bucket_owner_account_id"`
}

// RegisterCommand is the auditctl command line that registers the
// destination once the customer has set it up.
func (v Values) RegisterCommand() string {
	cmd := fmt.Sprintf("auditctl destination put --org %s --s3-bucket %s --region %s --role-arn %s",
		shellQuote(v.OrgID), shellQuote(v.Bucket), shellQuote(v.Region), shellQuote(v.RoleARN))
	if v.BucketOwner != "" && v.BucketOwner != destination.RoleAccount(v.RoleARN) {
		cmd += " --bucket-owner " + shellQuote(v.BucketOwner)
	}
	if v.Prefix != "" {
		cmd += " --prefix " + shellQuote(v.Prefix)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it holds anything beyond
// the characters of IDs, ARNs and plain prefixes.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/=+,@", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var accountPattern = regexp.MustCompile(`^\d{12}$`)

// roleNamePattern is IAM's rule for role names.
var roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// principalPattern is an IAM role or user ARN; the account is checked
// against Input.Account separately.
var principalPattern = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(role|user)/((?:[\w+=,.@-]+/)*)[\w+=,.@-]{1,64}$`)

// Partition returns the AWS partition of a region: aws-cn for China,
// aws-us-gov for GovCloud, aws otherwise.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func fieldErr(field, value, reason string) error {
	return &audit.FieldError{Field: field, Value: value, Reason: reason}
}

// withField renames the field of a validator's *audit.FieldError, so that
// the error names the input it came from.
func withField(err error, field string) error {
	if fe, ok := err.(*audit.FieldError); ok {
		return fieldErr(field, fe.Value, fe.Reason)
	}
	return err
}

// normalize trims what people paste loosely and fills the defaults.
func (in Input) normalize() Input {
	for _, p := range []*string{&in.OrgID, &in.Bucket, &in.Region, &in.Account, &in.CustomerAccount, &in.RoleName, &in.RoleARN, &in.BucketOwner} {
		*p = strings.TrimSpace(*p)
	}
	if in.Prefix != "" && !strings.HasSuffix(in.Prefix, "/") {
		in.Prefix += "/"
	}
	if in.RoleARN == "" && in.RoleName == "" {
		in.RoleName = DefaultRoleName
	}
	return in
}

// roleARN returns the customer's role ARN from in, validated.
func (in Input) roleARN(partition string) (string, error) {
	if in.RoleARN != "" {
		if in.CustomerAccount != "" {
			return "", fieldErr(FieldCustomerAccount, in.CustomerAccount, "give either the role ARN or the customer's account (and role name), not both")
		}
		if err := destination.ValidateRoleARN(in.RoleARN); err != nil {
			return "", withField(err, FieldRoleARN)
		}
		if p := strings.SplitN(in.RoleARN, ":", 3)[1]; p != partition {
			return "", fieldErr(FieldRoleARN, in.RoleARN, fmt.Sprintf("is in partition %s, but region %s is in %s", p, in.Region, partition))
		}
		return in.RoleARN, nil
	}
	if !accountPattern.MatchString(in.CustomerAccount) {
		return "", fieldErr(FieldCustomerAccount, in.CustomerAccount, "must be the customer's 12-digit AWS account ID")
	}
	if !roleNamePattern.MatchString(in.RoleName) {
		return "", fieldErr(FieldRoleName, in.RoleName, "must be 1 to 64 characters of letters, digits and +=,.@_-")
	}
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, in.CustomerAccount, in.RoleName), nil
}

// Validate checks every input, returning a *audit.FieldError for the first
// problem.
func (in Input) Validate() error {
	_, err := in.normalize().check()
	return err
}

// check validates a normalized Input and returns the role ARN.
func (in Input) check() (string, error) {
	if err := audit.ValidateOrgID(in.OrgID); err != nil {
		return "", withField(err, FieldOrg)
	}
	if err := destination.ValidateBucket(in.Bucket); err != nil {
		return "", withField(err, FieldBucket)
	}
	if err := destination.ValidatePrefix(in.Prefix); err != nil {
		return "", withField(err, FieldPrefix)
	}
	if err := destination.ValidateRegion(in.Region); err != nil {
		return "", withField(err, FieldRegion)
	}
	if !accountPattern.MatchString(in.Account) {
		return "", fieldErr(FieldAccount, in.Account, "must be our 12-digit AWS account ID")
	}
	partition := Partition(in.Region)
	for _, p := range in.Principals {
		m := principalPattern.FindStringSubmatch(p)
		switch {
		case m == nil:
			return "", fieldErr(FieldPrincipal, p, "must be an IAM role or user ARN such as arn:aws:iam::123456789012:role/auditlogs-prod-export")
		case m[2] != in.Account:
			return "", fieldErr(FieldPrincipal, p, "is not in our account "+in.Account)
		case m[1] != partition:
			return "", fieldErr(FieldPrincipal, p, fmt.Sprintf("is in partition %s, but region %s is in %s", m[1], in.Region, partition))
		}
	}
	if in.BucketOwner != "" {
		if err := destination.ValidateAccountID(FieldBucketOwner, in.BucketOwner); err != nil {
			return "", err
		}
	}
	// A role in our own account is not refused here, though our deployed
	// export may not assume one (infra/stack denies it): that is the
	// deployment's rule, which the CLI applies, and the emulator tests
	// need both in one account (moto checks trust policies only there).
	return in.roleARN(partition)
}

// Generate validates in and returns the documents.
func Generate(in Input) (Documents, error) {
	in = in.normalize()
	role, err := in.check()
	if err != nil {
		return Documents{}, err
	}
	partition := Partition(in.Region)
	owner := in.BucketOwner
	if owner == "" {
		owner = destination.RoleAccount(role)
	}
	objects := s3sink.ObjectResource(partition, in.Bucket, in.Prefix)
	actions := Strings(s3sink.DeliveryActions())

	trusted := Strings{fmt.Sprintf("arn:%s:iam::%s:root", partition, in.Account)}
	if len(in.Principals) > 0 {
		trusted = Strings(in.Principals)
	}
	return Documents{
		IAMPolicy: Policy{Version: "2012-10-17", Statement: []Statement{{
			Sid: "ContentfulAuditLogDelivery", Effect: "Allow", Action: actions, Resource: Strings{objects},
			Condition: s3sink.OwnerCondition(owner),
		}}},
		TrustPolicy: Policy{Version: "2012-10-17", Statement: []Statement{{
			Sid: "ContentfulAuditLogDelivery", Effect: "Allow", Principal: &Principal{AWS: trusted},
			Action:    Strings{"sts:AssumeRole"},
			Condition: s3sink.ExternalIDCondition(in.OrgID),
		}}},
		BucketPolicy: Policy{Version: "2012-10-17", Statement: []Statement{{
			Sid: "ContentfulAuditLogDelivery", Effect: "Allow", Principal: &Principal{AWS: Strings{role}},
			Action: actions, Resource: Strings{objects},
		}}},
		Lifecycle: Lifecycle{Rules: []LifecycleRule{{
			ID: "contentful-audit-logs-abort-incomplete-uploads", Status: "Enabled",
			Filter:                         LifecycleFilter{Prefix: in.Prefix},
			AbortIncompleteMultipartUpload: AbortIncomplete{DaysAfterInitiation: AbortAfterDays},
		}}},
		Values: Values{
			OrgID:           in.OrgID,
			CustomerAccount: strings.Split(role, ":")[4],
			Bucket:          in.Bucket,
			BucketARN:       fmt.Sprintf("arn:%s:s3:::%s", partition, in.Bucket),
			RoleARN:         role,
			Region:          in.Region,
			Prefix:          in.Prefix,
			BucketOwner:     owner,
		},
	}, nil
}

// JSON renders v indented, without HTML escaping (a prefix with '&' stays
// readable), ending in a newline: ready to paste into a console or to pass
// to the AWS CLI as file://.
func JSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("onboard: %w", err)
	}
	return buf.Bytes(), nil
}

// Files are the names --out writes each document to.
var Files = []struct {
	Name string
	Doc  func(Documents) any
}{
	{"iam-policy.json", func(d Documents) any { return d.IAMPolicy }},
	{"trust-policy.json", func(d Documents) any { return d.TrustPolicy }},
	{"bucket-policy.json", func(d Documents) any { return d.BucketPolicy }},
	{"lifecycle.json", func(d Documents) any { return d.Lifecycle }},
	{"values.json", func(d Documents) any { return d.Values }},
}
