package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/redact"
)

// Event is one audited request. Field names follow the CSV columns.
type Event struct {
	OrgID          string
	RequestID      string
	RequestTime    time.Time
	RequestMethod  string
	RequestPath    string
	RequestQuery   string
	ResponseStatus int
	ContentLength  int64
	Space          string
	Route          string
	Referrer       string
	ActorID        string
}

// Limits on free-text fields. They keep one event far below DynamoDB's
// 400 KB item limit and stop one pathological request from bloating a file.
// They hold for the values as stored: normalized, credentials redacted
// (Normalize).
const (
	MaxPathLen     = 8 << 10
	MaxQueryLen    = 32 << 10
	MaxReferrerLen = 8 << 10
	MaxShortLen    = 256 // space, route segments excepted, actor ID, request ID
	MaxRouteLen    = 1 << 10
)

// ValidOrgID reports whether id can be an organization ID: 2 to 64
// characters of A-Z a-z 0-9 '-' '_', starting with a letter or digit
// (^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$, written out: the ingest checks every
// record with it). The rule is also what makes an org ID safe as an STS
// external ID (2 to 1224 characters), inside a RoleSessionName, an object
// name and a DynamoDB key that uses '#' as a separator.
func ValidOrgID(id string) bool {
	if len(id) < 2 || len(id) > 64 || !isAlnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateOrgID is ValidOrgID as an error that names the field and value.
func ValidateOrgID(id string) error {
	if !ValidOrgID(id) {
		return &FieldError{Field: "org_id", Value: id, Reason: "must be 2 to 64 characters of letters, digits, '-' or '_', starting with a letter or digit"}
	}
	return nil
}

// FieldError names the field and the value that failed validation.
type FieldError struct {
	Field  string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s %s: %s", e.Field, quoteTrunc(e.Value), e.Reason)
}

// quoteTrunc quotes v for an error message, cut to a readable length.
func quoteTrunc(v string) string {
	const max = 120
	if len(v) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return strconv.Quote(v[:cut]) + fmt.Sprintf("…(%d bytes)", len(v))
	}
	return strconv.Quote(v)
}

// auditedMethods are the methods an event may carry. POST is here because
// ingest can be configured to audit creates; GET never changes state.
var auditedMethods = map[string]bool{"PUT": true, "PATCH": true, "DELETE": true, "POST": true}

// Normalize replaces invalid UTF-8 in every text field with U+FFFD,
// redacts credentials (Redact) and sets the time to UTC milliseconds, so
// that stores and encoders only ever see valid text and no credential. It
// is idempotent. Every store calls it on every event it writes, so this is
// the one place where the rule applies to whatever enters the log store.
func (e *Event) Normalize() {
	for _, f := range []*string{&e.RequestPath, &e.RequestQuery, &e.Space, &e.Route, &e.Referrer, &e.ActorID} {
		if !utf8.ValidString(*f) {
			*f = strings.ToValidUTF8(*f, "\uFFFD")
		}
	}
	e.Redact()
	// Milliseconds are the precision of the CSV; truncating here keeps the
	// store's sort order and the file's order the same.
	e.RequestTime = e.RequestTime.UTC().Truncate(time.Millisecond)
}

// Redact replaces credential values with "REDACTED" (internal/redact): in
// the query, in the query and fragment of the referrer, and in a query
// that the path carries after a '?' (the event format has it in
// request_query, but a path is stored as given). A value that needs no
// change is left as it is, without allocating. It is idempotent.
func (e *Event) Redact() {
	e.RequestQuery, e.Referrer, e.RequestPath = redacted(e)
}

// redacted returns the redacted query, referrer and path of e. A field
// without credentials comes back as the same string.
func redacted(e *Event) (query, referrer, path string) {
	query, referrer, path = redact.Query(e.RequestQuery), redact.URL(e.Referrer), e.RequestPath
	if i := strings.IndexByte(path, '?'); i >= 0 {
		if r := redact.URL(path[i:]); r != path[i:] {
			path = path[:i] + r
		}
	}
	return query, referrer, path
}

// Validate checks every field and returns a *FieldError for the first
// that is wrong.
func (e *Event) Validate() error {
	if err := ValidateOrgID(e.OrgID); err != nil {
		return err
	}
	if e.RequestID == "" || len(e.RequestID) > MaxShortLen || !Printable(e.RequestID) {
		return &FieldError{Field: "request_id", Value: e.RequestID, Reason: fmt.Sprintf("must be 1 to %d printable characters", MaxShortLen)}
	}
	if e.RequestTime.IsZero() {
		return &FieldError{Field: "request_time", Value: "", Reason: "is required"}
	}
	if y := e.RequestTime.UTC().Year(); y < 2000 || y > 9999 {
		return &FieldError{Field: "request_time", Value: e.RequestTime.UTC().Format(time.RFC3339Nano), Reason: "must be between the years 2000 and 9999"}
	}
	if !auditedMethods[e.RequestMethod] {
		return &FieldError{Field: "request_method", Value: e.RequestMethod, Reason: "must be one of PUT, PATCH, DELETE, POST"}
	}
	if e.RequestPath == "" || e.RequestPath[0] != '/' {
		return &FieldError{Field: "request_path", Value: e.RequestPath, Reason: "must start with '/'"}
	}
	if err := maxLen("request_path", e.RequestPath, MaxPathLen); err != nil {
		return err
	}
	if err := maxRedactedLen("request_query", e.RequestQuery, MaxQueryLen); err != nil {
		return err
	}
	if e.ResponseStatus < 100 || e.ResponseStatus > 599 {
		return &FieldError{Field: "response_status", Value: strconv.Itoa(e.ResponseStatus), Reason: "must be an HTTP status code from 100 to 599"}
	}
	if e.ContentLength < 0 {
		return &FieldError{Field: "content_length", Value: strconv.FormatInt(e.ContentLength, 10), Reason: "must not be negative"}
	}
	if err := maxLen("space", e.Space, MaxShortLen); err != nil {
		return err
	}
	if err := maxLen("route", e.Route, MaxRouteLen); err != nil {
		return err
	}
	if err := maxRedactedLen("referrer", e.Referrer, MaxReferrerLen); err != nil {
		return err
	}
	return maxLen("actor_id", e.ActorID, MaxShortLen)
}

func maxLen(field, v string, n int) error {
	if len(v) > n {
		return &FieldError{Field: field, Value: v, Reason: fmt.Sprintf("is %d bytes, more than the limit of %d", len(v), n)}
	}
	return nil
}

// maxRedactedLen is maxLen for a field that Redact changes: the limit is
// on the value as stored, where a credential is the 8 bytes of REDACTED,
// which can be longer than what it replaced.
func maxRedactedLen(field, v string, n int) error {
	if len(v) > n {
		return &FieldError{Field: field, Value: v, Reason: fmt.Sprintf("is %d bytes with its credentials redacted (each value REDACTED), more than the limit of %d", len(v), n)}
	}
	return nil
}

// Printable is the rule for IDs: no spaces, no control characters, no
// U+FFFD (which stands for bytes that were not UTF-8). ASCII, the common
// case, is checked a byte at a time.
func Printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf {
			return printableRunes(s[i:])
		} else if c < 0x21 || c == 0x7f {
			return false
		}
	}
	return true
}

func printableRunes(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}
