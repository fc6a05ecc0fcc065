// Package sink defines where a delivered file goes: one small interface,
// Sink, with one package per provider below this one (s3sink, azuresink,
// memsink) and one acceptance suite (sinktest) that every provider passes.
//
// Errors are classified with the sentinels of internal/failure, which this
// package names too (ErrAccessDenied and the others are the same values),
// so that the delivery and the retry path can tell a failure that a retry
// may fix from one that only the customer can fix.
//
// sink imports only internal/failure of this module: the providers below
// it import sink, never the other way round.
package sink

import (
	"context"
	"io"

	"github.com/contentful/auditlogs/internal/failure"
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

// Permanent failures, as the providers report them: internal/failure's
// sentinels under the names the providers and their callers use.
// errors.Is(err, sink.ErrAccessDenied) and errors.Is(err,
// failure.ErrAccessDenied) are the same test.
var (
	ErrAccessDenied  = failure.ErrAccessDenied
	ErrNotFound      = failure.ErrNotFound
	ErrInvalidConfig = failure.ErrInvalidConfig
)

// IsPermanent is failure.IsPermanent: whether err is one of the permanent
// failures above.
func IsPermanent(err error) bool { return failure.IsPermanent(err) }

// PartSize returns the part (S3) or block (Azure) size to use for a
// configured value v: def when v is zero, else v held between the
// provider's limits lo and hi.
func PartSize(v, def, lo, hi int64) int64 {
	if v == 0 {
		return def
	}
	return min(max(v, lo), hi)
}
