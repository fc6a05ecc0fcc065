// Package sink defines where a delivered file goes: one small interface,
// Sink, with one package per provider below this one (s3sink, azuresink,
// memsink) and one acceptance suite (sinktest) that every provider passes.
//
// Errors are classified with sentinels so that the edge (the export
// handler, later the retry path) can tell a failure that a retry may fix
// from one that only the customer can fix.
package sink

import (
	"context"
	"errors"
	"io"
)

// Sink stores named objects in storage that a customer owns.
type Sink interface {
	// Upload stores everything read from r under name, replacing any object
	// of that name, so it is idempotent: uploading the same name twice
	// leaves one object. If reading r fails, or ctx ends, before r reports
	// io.EOF, Upload returns an error and no object of that name becomes
	// visible (a previous, complete one stays as it was).
	Upload(ctx context.Context, name string, r io.Reader) error
}

// Permanent failures: retrying without a change by the customer or the
// operator cannot succeed.
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

// IsPermanent reports whether err is one of the permanent failures above.
// Everything else (throttling, timeouts, 5xx, a failing source) is
// transient.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidConfig)
}

// PartSize returns the part (S3) or block (Azure) size to use for a
// configured value v: def when v is zero, else v held between the
// provider's limits lo and hi.
func PartSize(v, def, lo, hi int64) int64 {
	if v == 0 {
		return def
	}
	return min(max(v, lo), hi)
}
