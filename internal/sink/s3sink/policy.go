package s3sink

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/sink"
)

const (
	// sessionNamePrefix marks our sessions in the customer's CloudTrail.
	sessionNamePrefix = "auditlogs-"
	// maxSessionName is STS's limit on RoleSessionName.
	maxSessionName = 64
	// maxPolicyLen is STS's limit on the plain text of a session policy.
	maxPolicyLen = 2048
)

// validateDestination rejects a destination that cannot work or that would
// make the session policy broader than one bucket prefix. The rules are the
// destination package's (a '*' or '?' in the bucket or prefix would widen
// the policy's resource ARN); they are checked again here because the
// policy's safety must not depend on the caller having validated.
func validateDestination(d Destination) error {
	for _, err := range []error{
		audit.ValidateOrgID(d.OrgID),
		destination.ValidateBucket(d.Bucket),
		destination.ValidateRegion(d.Region),
		destination.ValidateRoleARN(d.RoleARN),
		destination.ValidatePrefix(d.Prefix),
		validateOwner(d.BucketOwner),
	} {
		if err != nil {
			return fmt.Errorf("s3sink: %w: %w", err, sink.ErrInvalidConfig)
		}
	}
	return nil
}

// validateOwner accepts an empty owner (the role's account) or an
// account ID.
func validateOwner(owner string) error {
	if owner == "" {
		return nil
	}
	return destination.ValidateAccountID(destination.FieldBucketOwner, owner)
}

// roleARN parses an IAM role ARN.
func roleARN(s string) (arn.ARN, error) {
	a, err := arn.Parse(s)
	if err != nil {
		return a, fmt.Errorf("not an ARN")
	}
	if a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") || a.AccountID == "" {
		return a, fmt.Errorf("not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
	}
	return a, nil
}

// DeliveryActions are the S3 actions a delivery needs, and all that the
// session policy allows: s3:PutObject (in IAM it also covers
// CreateMultipartUpload, UploadPart and CompleteMultipartUpload) and
// s3:AbortMultipartUpload, a separate action, so that a failed upload's
// parts are removed. The customer's role must allow at least these on
// ObjectResource (internal/onboard writes that policy from this list).
func DeliveryActions() []string { return []string{"s3:PutObject", "s3:AbortMultipartUpload"} }

// ObjectResource is the ARN of every object under prefix in bucket, in
// partition (aws, aws-cn, aws-us-gov). Bucket and prefix must have been
// validated: a '*' or '?' in them would widen the grant.
func ObjectResource(partition, bucket, prefix string) string {
	return fmt.Sprintf("arn:%s:s3:::%s/%s*", partition, bucket, prefix)
}

type policyDocument struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  string
	Condition map[string]map[string]string `json:",omitempty"`
}

// OwnerCondition is the condition of every statement that lets us write:
// the bucket must belong to owner (s3:ResourceAccount). A bucket is named
// globally, so once the customer deletes theirs, anyone may create one of
// the same name in another account; the condition (with the
// ExpectedBucketOwner that every write sends) keeps our files out of it.
// The session policy and the role's IAM policy that `auditctl policies`
// prints share it.
func OwnerCondition(owner string) map[string]map[string]string {
	return map[string]map[string]string{"StringEquals": {"s3:ResourceAccount": owner}}
}

// SessionPolicy returns the inline session policy that Open passes to
// AssumeRole: the session may only write objects under the destination's
// prefix, and abort its own failed multipart uploads (DeliveryActions on
// ObjectResource), in a bucket of the destination's owner
// (OwnerCondition). The session's rights are the intersection of this and
// the role's policies. The partition comes from the role ARN (aws,
// aws-cn, aws-us-gov).
func SessionPolicy(d Destination) (string, error) {
	if err := validateDestination(d); err != nil {
		return "", err
	}
	role, _ := roleARN(d.RoleARN) // validated above
	doc := policyDocument{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Sid:       "AuditLogDelivery",
			Effect:    "Allow",
			Action:    DeliveryActions(),
			Resource:  ObjectResource(role.Partition, d.Bucket, d.Prefix),
			Condition: OwnerCondition(d.owner()),
		}},
	}
	// No HTML escaping: a prefix with '&' stays readable in CloudTrail.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("s3sink: session policy: %w", err)
	}
	b := bytes.TrimSpace(buf.Bytes())
	if len(b) > maxPolicyLen {
		return "", fmt.Errorf("s3sink: session policy for bucket %q prefix %q is %d bytes, STS allows %d: %w", d.Bucket, d.Prefix, len(b), maxPolicyLen, sink.ErrInvalidConfig)
	}
	return string(b), nil
}

// SessionName returns the RoleSessionName for org: "auditlogs-<org>",
// which shows in the customer's CloudTrail. Org IDs only hold characters
// STS allows ([\w+=,.@-]); a name over STS's 64 characters is cut and
// ends in a hash of the whole org ID, so it stays distinct.
func SessionName(org string) string {
	name := sessionNamePrefix + org
	if len(name) <= maxSessionName {
		return name
	}
	sum := sha256.Sum256([]byte(org))
	suffix := "-" + hex.EncodeToString(sum[:4])
	return name[:maxSessionName-len(suffix)] + suffix
}
