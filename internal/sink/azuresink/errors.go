package azuresink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/contentful/auditlogs/internal/sink"
)

// Error is what Upload returns when Azure or the network fails. It is
// built from facts that cannot hold the SAS (status, Azure's error code,
// request ID, blob name) and never wraps azcore's or net/http's errors,
// whose messages can contain the request URL with its signature.
type Error struct {
	Account   string
	Container string
	Blob      string
	// StatusCode is the HTTP status, 0 when no response came back.
	StatusCode int
	// Code is Azure's error code (x-ms-error-code), such as
	// AuthorizationPermissionMismatch; empty when unknown.
	Code string
	// RequestID is Azure's x-ms-request-id, for support requests.
	RequestID string

	kind  error // sink.ErrAccessDenied, sink.ErrNotFound, or nil: transient
	cause error // a *scrubbedError or a context error, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "azure: upload %s/%s/%s", e.Account, e.Container, e.Blob)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": status %d", e.StatusCode)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.RequestID != "" {
			b.WriteString(" (request id " + e.RequestID + ")")
		}
	}
	if e.cause != nil {
		b.WriteString(": " + e.cause.Error())
	}
	if e.kind != nil {
		b.WriteString(": " + e.kind.Error())
		if hint := hints[bloberror.Code(e.Code)]; hint != "" {
			b.WriteString(" (" + hint + ")")
		}
	}
	return b.String()
}

// Unwrap gives errors.Is the sentinel and the cause (a context error keeps
// errors.Is(err, context.Canceled) working).
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Timeout reports whether the failure was a timeout, as net.Error does.
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.cause, &t) && t.Timeout()
}

var hints = map[bloberror.Code]string{
	bloberror.AuthenticationFailed:            "the SAS signature was refused: the SAS may be expired or revoked, or its account key rotated",
	bloberror.AuthorizationPermissionMismatch: "the SAS lacks a permission: it needs create (c) and write (w)",
	bloberror.AuthorizationFailure:            "the SAS was refused: check its signature, its stored access policy and the storage account's network rules",
	bloberror.AuthorizationSourceIPMismatch:   "the SAS is restricted to IP addresses (sip) that do not include ours",
	bloberror.ContainerNotFound:               "the container named in the SAS URL does not exist",
}

// kindOf classifies an Azure response. Every 403 is access denied: Azure
// uses 403 only for authentication and authorization failures
// (AuthenticationFailed, AuthorizationFailure, AuthorizationPermissionMismatch,
// AuthorizationSourceIPMismatch, ...), and none of them goes away by
// retrying. A missing container is the one 404 that upload can meet.
// Everything else (408, 429, 5xx, ...) is transient.
func kindOf(status int, code string) error {
	switch {
	case status == http.StatusForbidden:
		return sink.ErrAccessDenied
	case status == http.StatusNotFound && code == string(bloberror.ContainerNotFound):
		return sink.ErrNotFound
	}
	return nil
}

// responseError turns an azcore.ResponseError into an *Error, keeping only
// the fields that cannot hold the SAS.
func (s *Sink) responseError(blob string, re *azcore.ResponseError) *Error {
	e := &Error{Account: s.account, Container: s.container, Blob: blob, StatusCode: re.StatusCode, Code: re.ErrorCode}
	if re.RawResponse != nil {
		e.RequestID = re.RawResponse.Header.Get("x-ms-request-id")
		if e.Code == "" {
			e.Code = re.RawResponse.Header.Get("x-ms-error-code")
		}
	}
	e.kind = kindOf(e.StatusCode, e.Code)
	return e
}

// classify turns whatever the SDK returned into an *Error.
func (s *Sink) classify(blob string, err error) *Error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return s.responseError(blob, re)
	}
	return &Error{Account: s.account, Container: s.container, Blob: blob, cause: scrub(err, s.secrets.list())}
}

// scrubbedError stands in for an error of the HTTP stack (a *url.Error
// quotes the whole request URL, SAS included). It keeps a scrubbed copy of
// the message, whether it was a timeout, and the context sentinel if there
// was one, but not the original error: errors.As must not be able to dig
// the unscrubbed *url.Error out and print it.
type scrubbedError struct {
	msg     string
	timeout bool
	ctxErr  error // context.Canceled or context.DeadlineExceeded, or nil
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Timeout() bool { return e.timeout }
func (e *scrubbedError) Unwrap() error { return e.ctxErr }

var (
	// Any URL query in a message, up to white space or a quote.
	queryPattern = regexp.MustCompile(`\?[^\s"'<>]*`)
	// A sig parameter that is not after a '?' (e.g. "&sig=" in a fragment).
	sigPattern = regexp.MustCompile(`(?i)sig=[^&\s"'<>]*`)
)

// scrub returns err as a *scrubbedError whose message has every URL query
// and every given secret replaced by REDACTED.
func scrub(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "REDACTED")
		}
	}
	msg = queryPattern.ReplaceAllString(msg, "?REDACTED")
	msg = sigPattern.ReplaceAllString(msg, "sig=REDACTED")
	out := &scrubbedError{msg: msg}
	var ne net.Error
	out.timeout = errors.As(err, &ne) && ne.Timeout()
	switch {
	case errors.Is(err, context.Canceled):
		out.ctxErr = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		out.ctxErr = context.DeadlineExceeded
		out.timeout = true
	}
	return out
}
