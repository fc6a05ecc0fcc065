// Package failure holds the sentinels that classify a failure as
// permanent: retrying the same request, without a change by the customer
// or the operator, cannot succeed. The packages that detect such a
// failure (the sinks, sas, destination, the app's sink opener) wrap one of
// them; those that decide whether to retry (export.IsPermanent, and
// through it the export, retry and backfill paths) test for them with
// errors.Is.
//
// It is a leaf: it imports nothing of this module, so that a package can
// classify its errors without importing the package that reports them
// (sas wrapped sink's sentinel, an arrow from the SAS checks back up to
// the sink interface).
package failure

import "errors"

// Permanent failures of a destination.
var (
	// ErrAccessDenied: credentials were refused, the role cannot be
	// assumed, the external ID does not match, or the policy forbids the
	// write.
	ErrAccessDenied = errors.New("access denied")
	// ErrNotFound: the bucket or container does not exist.
	ErrNotFound = errors.New("bucket or container not found")
	// ErrInvalidConfig: the destination itself is malformed (bad SAS URL,
	// host not allowed, expired SAS, missing permissions in the SAS).
	ErrInvalidConfig = errors.New("invalid destination configuration")
)

// IsPermanent reports whether err is, or wraps, one of the permanent
// failures above. Everything else (throttling, timeouts, 5xx, a failing
// source) is transient.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidConfig)
}
