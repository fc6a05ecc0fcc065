package s3sink

import (
	"errors"

	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/sink"
)

// kinds maps S3 and STS error codes to the sink's permanent failures.
// Every other code (throttling, 5xx, timeouts, a failing source) is
// transient.
var kinds = map[string]error{
	// Credentials or permissions refused: ours (InvalidAccessKeyId,
	// InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken) or the
	// customer's role (AccessDenied).
	"AccessDenied":          sink.ErrAccessDenied,
	"InvalidAccessKeyId":    sink.ErrAccessDenied,
	"InvalidClientTokenId":  sink.ErrAccessDenied, // STS's InvalidAccessKeyId
	"SignatureDoesNotMatch": sink.ErrAccessDenied,
	"ExpiredToken":          sink.ErrAccessDenied,
	"InvalidToken":          sink.ErrAccessDenied,
	"AllAccessDisabled":     sink.ErrAccessDenied,

	"NoSuchBucket": sink.ErrNotFound,

	// The bucket is in another region than the destination says.
	"PermanentRedirect":                  sink.ErrInvalidConfig,
	"AuthorizationHeaderMalformed":       sink.ErrInvalidConfig,
	"IllegalLocationConstraintException": sink.ErrInvalidConfig,
	"InvalidBucketName":                  sink.ErrInvalidConfig,
	// STS refuses the request itself: the region is not enabled for STS
	// in our account, or the session policy is not acceptable.
	"RegionDisabledException": sink.ErrInvalidConfig,
	"MalformedPolicyDocument": sink.ErrInvalidConfig,
	"PackedPolicyTooLarge":    sink.ErrInvalidConfig,
}

// kindOf returns the sentinel for err's API error code, or nil when err is
// transient (or not an API error at all).
func kindOf(err error) (kind error, code string) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return nil, ""
	}
	return kinds[ae.ErrorCode()], ae.ErrorCode()
}

// classifiedError carries both the sentinel and the SDK's error, so that
// errors.Is works on the one and errors.As on the other.
type classifiedError struct {
	kind error
	err  error
	hint string
}

func (e *classifiedError) Error() string {
	s := e.kind.Error() + ": " + e.err.Error()
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

func (e *classifiedError) Unwrap() []error { return []error{e.kind, e.err} }

// classify returns err, wrapped with its sentinel when it is permanent.
func classify(err error) error {
	kind, code := kindOf(err)
	if kind == nil {
		return err
	}
	var hint string
	switch code {
	case "AccessDenied":
		hint = "check that the role's permission policy allows s3:PutObject and s3:AbortMultipartUpload on the bucket and prefix"
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		hint = "the bucket is in another region than the destination's"
	}
	return &classifiedError{kind: kind, err: err, hint: hint}
}

// classifyAssumeRole is classify for the AssumeRole call, with a hint that
// points the customer at the trust policy.
func classifyAssumeRole(err error, org string) error {
	kind, code := kindOf(err)
	if kind == nil {
		return err
	}
	var hint string
	switch code {
	case "AccessDenied":
		hint = "check the role's trust policy: principal and sts:ExternalId = " + org
	case "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
		hint = "STS refused our own credentials, not the customer's role"
	}
	return &classifiedError{kind: kind, err: err, hint: hint}
}
