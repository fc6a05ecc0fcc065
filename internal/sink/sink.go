// Package sink defines where a delivered file goes: one small interface,
// Sink, with one package per provider below this one (s3sink, azuresink,
// memsink) and one acceptance suite (sinktest) that every provider passes.
//
// Errors are classified with the sentinels of internal/failure, which this
// package names too (ErrAccessDenied and the others are the same values),
// so that the delivery and the retry path can tell a failure that a retry
// may fix from one that only the customer can fix.
//
// sink imports only internal/failure and internal/audit (for FieldError)
// of this module: the providers below it import sink, never the other way
// round.
package sink

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/failure"
)

// DefaultContentType is the Content-Type of an object whose Object leaves
// it empty. The export writes UTF-8 CSV, and saying so spares spreadsheet
// tools from guessing the encoding.
const DefaultContentType = "text/csv; charset=utf-8"

// MaxMetadataSize is the most bytes that the names and values of an
// object's user metadata may add up to: S3's limit on user-defined
// metadata (Azure allows 8 KiB, so S3's is the one that binds).
const MaxMetadataSize = 2 << 10

// Object is what an upload says about the object besides its bytes.
type Object struct {
	// ContentType: "" means DefaultContentType.
	ContentType string
	// ContentEncoding: "" means none (the header is not sent).
	ContentEncoding string
	// Metadata is user metadata (S3 x-amz-meta-*, Azure blob metadata).
	// It must pass ValidateMetadata; a provider refuses it before it
	// uploads anything otherwise.
	Metadata map[string]string
}

// ContentTypeOrDefault is o.ContentType, or DefaultContentType if empty.
func (o Object) ContentTypeOrDefault() string {
	if o.ContentType == "" {
		return DefaultContentType
	}
	return o.ContentType
}

// ValidateMetadata checks that m reads back the same from S3 and Azure:
//   - names are lowercase ASCII letters and digits, starting with a
//     letter. Azure wants C# identifiers and S3 lowercases names, so
//     this is a set both store as given. Underscores, which both accept,
//     are refused too: a name travels as an HTTP header, x-amz-meta-name
//     or x-ms-meta-name, and servers that map headers to CGI variables
//     (where - and _ both become _) drop headers with an underscore
//     without a word: werkzeug does, under moto, and nginx, Apache and
//     gunicorn do by default. A lost metadata value must not go unnoticed.
//   - values are non-empty printable ASCII (space to tilde) without a
//     leading or trailing space: metadata travels in HTTP headers, where
//     anything else is refused, re-encoded or trimmed;
//   - names and values add up to at most MaxMetadataSize bytes.
//
// A nil or empty m is valid. The error is an *audit.FieldError naming the
// first bad name (in sorted order) or value.
func ValidateMetadata(m map[string]string) error {
	size := 0
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		size += len(k) + len(v)
		if reason := badName(k); reason != "" {
			return &audit.FieldError{Field: "metadata name", Value: k, Reason: reason}
		}
		if reason := badValue(v); reason != "" {
			return &audit.FieldError{Field: "metadata value of " + k, Value: v, Reason: reason}
		}
	}
	if size > MaxMetadataSize {
		return &audit.FieldError{Field: "metadata size", Value: strconv.Itoa(size),
			Reason: fmt.Sprintf("names and values add up to more than %d bytes, S3's limit", MaxMetadataSize)}
	}
	return nil
}

func badName(k string) string {
	if k == "" {
		return "empty"
	}
	if k[0] < 'a' || k[0] > 'z' {
		return "must start with a lowercase ASCII letter"
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return "only lowercase ASCII letters and digits are allowed"
		}
	}
	return ""
}

func badValue(v string) string {
	if v == "" {
		return "empty"
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' {
		return "leading or trailing space, which HTTP drops"
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return fmt.Sprintf("byte %d (0x%02x) is not printable ASCII", i, v[i])
		}
	}
	return ""
}

// Sink stores named objects in storage that a customer owns.
type Sink interface {
	// Upload stores everything read from r under name, with the
	// Content-Type, Content-Encoding and user metadata of o, replacing any
	// object of that name (its metadata included), so it is idempotent:
	// uploading the same name twice leaves one object. If reading r fails,
	// or ctx ends, before r reports io.EOF, Upload returns an error and no
	// object of that name becomes visible (a previous, complete one stays
	// as it was). Metadata that fails ValidateMetadata is refused before
	// anything is read or sent, with an error that is not permanent (the
	// bug is the caller's, not the destination's).
	Upload(ctx context.Context, name string, r io.Reader, o Object) error
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
