package verify

import (
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// Cause names why a check failed: a stable, machine-readable code (the
// "code" of --json), documented for customers in docs/onboarding.md.
type Cause string

const (
	// Our side or the registry.
	CauseNotRegistered      Cause = "not_registered"      // no destination for the org
	CauseInvalidDestination Cause = "invalid_destination" // the registered destination is malformed
	CauseRegistry           Cause = "registry_unavailable"

	// S3.
	// CauseRoleNotAssumable: STS refused AssumeRole with the org ID as
	// external ID. AWS answers a missing role, a trust policy that does not
	// name our account and an sts:ExternalId condition other than the org
	// ID alike (AccessDenied, the same message), on purpose: it does not
	// tell a caller whether a role exists. So this one cause covers the
	// three, and its fix lists them.
	CauseRoleNotAssumable Cause = "role_not_assumable"
	// CauseExternalIDNotRequired: the role was assumed with the org ID,
	// and once more with a random external ID: its trust policy does not
	// require the external ID, so any org could register the role.
	CauseExternalIDNotRequired Cause = "external_id_not_required"
	CauseOurCredentials        Cause = "our_credentials_refused" // STS refused our own credentials
	CausePutDenied             Cause = "put_denied"              // the role was assumed, S3 refused the write
	CauseBucketMissing         Cause = "bucket_missing"
	CauseBucketRegion          Cause = "bucket_wrong_region"

	// Azure.
	CauseCipherUndecryptable Cause = "sas_cipher_undecryptable" // KMS refuses the cipher with the residency's key
	CauseKMSKeyMissing       Cause = "kms_key_not_configured"   // ours: no key for the residency
	CauseKMSUnavailable      Cause = "kms_unavailable"          // KMS failed otherwise (throttled, down, key disabled)
	CauseSASExpired          Cause = "sas_expired"
	CauseSASPermissions      Cause = "sas_permissions"     // lacks create and write
	CauseSASScope            Cause = "sas_scope_too_broad" // an account SAS, or permissions beyond create, write and add
	CauseSASHostNotAllowed   Cause = "sas_host_not_allowed"
	CauseSASInvalid          Cause = "sas_invalid" // any other problem with the URL's form
	CauseSASRefused          Cause = "sas_refused" // Azure refused the signature (revoked, key rotated, IP rules)
	CauseContainerMissing    Cause = "container_missing"
	// CauseContainerClaimed: the SAS writes to a container that another
	// org's destination holds (registry claims); the operator decides
	// whether the orgs share it.
	CauseContainerClaimed Cause = "container_registered_for_another_org"

	// Either.
	CauseUnavailable Cause = "unavailable" // network, throttling, 5xx: a retry may work
	CauseUnknown     Cause = "unknown"
)

// Causes lists every Cause, for documentation and its test.
var Causes = []Cause{
	CauseNotRegistered, CauseInvalidDestination, CauseRegistry,
	CauseRoleNotAssumable, CauseExternalIDNotRequired, CauseOurCredentials, CausePutDenied, CauseBucketMissing, CauseBucketRegion,
	CauseCipherUndecryptable, CauseKMSKeyMissing, CauseKMSUnavailable, CauseSASExpired, CauseSASPermissions,
	CauseSASScope, CauseSASHostNotAllowed, CauseSASInvalid, CauseSASRefused, CauseContainerMissing, CauseContainerClaimed,
	CauseUnavailable, CauseUnknown,
}

// Stage is the step a check failed at.
type Stage string

const (
	StageRegistry Stage = "registry" // reading the destination
	StageOpen     Stage = "open"     // assuming the role, or decrypting and checking the SAS
	StageUpload   Stage = "upload"   // writing the probe
)

// Failure is why a check failed.
type Failure struct {
	Cause Cause `json:"code"`
	Stage Stage `json:"stage"`
	// Message says what went wrong, Fix what to do about it, for people.
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// Detail is the underlying error. The packages it comes from keep
	// secrets out of their errors (sas, azuresink rebuild theirs; STS and
	// S3 errors name principals and resources, not credentials).
	Detail string `json:"detail,omitempty"`
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %s", f.Cause, f.Message) }

// classify names the cause of err, met at stage while checking d. info is
// the opened Azure sink, if any.
func classify(stage Stage, d destination.Destination, info sasSink, err error) *Failure {
	cause := causeOf(stage, d, info, err)
	f := &Failure{Cause: cause, Stage: stage, Detail: err.Error()}
	f.Message, f.Fix = explain(cause, d, info)
	return f
}

// causeOf finds the cause with errors.Is and errors.As only.
func causeOf(stage Stage, d destination.Destination, info sasSink, err error) Cause {
	var fe *audit.FieldError
	switch {
	case errors.Is(err, s3sink.ErrExternalIDNotRequired):
		return CauseExternalIDNotRequired
	case errors.Is(err, registry.ErrClaimed):
		return CauseContainerClaimed
	case errors.Is(err, registry.ErrNotFound):
		return CauseNotRegistered
	case stage == StageRegistry && (errors.As(err, &fe) || errors.Is(err, sink.ErrInvalidConfig)):
		return CauseInvalidDestination
	case stage == StageRegistry:
		return CauseRegistry
	case d.Kind == destination.KindS3:
		return s3Cause(stage, err)
	case d.Kind == destination.KindAzure:
		return azureCause(info, err)
	}
	return CauseUnknown
}

// s3Cause: the sink wraps the SDK's error, so errors.As finds the API
// error code of STS (at open) or S3 (at upload).
func s3Cause(stage Stage, err error) Cause {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch code {
	case "InvalidClientTokenId", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
		// Our own credentials at open; at upload the session's, which STS
		// has just issued: ours to look into either way.
		return CauseOurCredentials
	case "AccessDenied":
		if stage == StageOpen {
			return CauseRoleNotAssumable
		}
		return CausePutDenied
	case "NoSuchBucket":
		return CauseBucketMissing
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		return CauseBucketRegion
	}
	var fe *audit.FieldError
	switch {
	case errors.As(err, &fe) || errors.Is(err, sink.ErrInvalidConfig):
		return CauseInvalidDestination
	case errors.Is(err, sink.ErrAccessDenied):
		if stage == StageOpen {
			return CauseRoleNotAssumable
		}
		return CausePutDenied
	case errors.Is(err, sink.ErrNotFound):
		return CauseBucketMissing
	case sink.IsPermanent(err):
		return CauseUnknown
	}
	return CauseUnavailable
}

// azureCause: the SAS's problems found before any request carry a reason
// from package sas; Azure's answers arrive as *azuresink.Error with
// Azure's error code.
func azureCause(info sasSink, err error) Cause {
	var ae *azuresink.Error
	switch {
	case errors.Is(err, sas.ErrExpired):
		return CauseSASExpired
	case errors.Is(err, sas.ErrPermissions):
		return CauseSASPermissions
	case errors.Is(err, sas.ErrScope):
		return CauseSASScope
	case errors.Is(err, sas.ErrHostNotAllowed):
		return CauseSASHostNotAllowed
	case errors.Is(err, sas.ErrUndecryptable):
		return CauseCipherUndecryptable
	case errors.Is(err, sas.ErrNoKey):
		return CauseKMSKeyMissing
	case errors.As(err, &ae):
		return azureResponseCause(ae)
	case errors.Is(err, sink.ErrInvalidConfig):
		if info == nil {
			// Refused while decrypting or parsing: the URL's form.
			return CauseSASInvalid
		}
		return CauseInvalidDestination
	case info == nil:
		// Open failed otherwise: the KMS call (throttled, unreachable, the
		// key disabled or not ours to use).
		return CauseKMSUnavailable
	}
	return CauseUnavailable
}

func azureResponseCause(e *azuresink.Error) Cause {
	switch bloberror.Code(e.Code) {
	case bloberror.AuthorizationPermissionMismatch:
		return CauseSASPermissions
	case bloberror.ContainerNotFound:
		return CauseContainerMissing
	}
	switch {
	case errors.Is(e, sink.ErrAccessDenied):
		return CauseSASRefused
	case errors.Is(e, sink.ErrNotFound):
		return CauseContainerMissing
	case sink.IsPermanent(e):
		return CauseUnknown
	}
	return CauseUnavailable
}

// Explain names the cause of err, met at stage while checking d outside a
// Verify (the self-service API's PUT, which registers through
// internal/registration): the same codes, messages and fixes a check
// gives, so that a refused registration and a failed check read alike.
func Explain(stage Stage, d destination.Destination, err error) *Failure {
	return classify(stage, d, nil, err)
}
