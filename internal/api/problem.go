package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/contentful/auditlogs/internal/redact"
	"github.com/contentful/auditlogs/internal/verify"
)

// ProblemBase starts the type URI of every problem: ProblemBase + its code
// (docs/api.md lists them).
const ProblemBase = "https://docs.auditlogs.contentful.com/problems/"

// ProblemType is the media type of error answers (RFC 9457).
const ProblemType = "application/problem+json"

// Problem is an error answer, an RFC 9457 problem document. Code is the
// stable, machine-readable name of the problem (the last segment of
// Type); Errors name the fields and values at fault; the members after
// them are the extensions some problems carry.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	Code      string       `json:"code"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	// Fix says what to do about it, where there is something to do.
	Fix string `json:"fix,omitempty"`
	// Stage and Report: a destination check that failed (verify, PUT).
	Stage  verify.Stage   `json:"stage,omitempty"`
	Report *verify.Report `json:"report,omitempty"`
	// Queued and NotQueued: a redelivery queued in part.
	Queued    []string    `json:"queued,omitempty"`
	NotQueued []NotQueued `json:"not_queued,omitempty"`
}

// FieldError names a field of the request (a JSON path such as
// s3.bucket, or a query parameter) and the value at fault, as shown.
type FieldError struct {
	Field  string `json:"field"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// NotQueued is a day of a redelivery that could not be queued.
type NotQueued struct {
	Day    string `json:"day"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// problem builds a Problem of status and code; title is its summary.
func problem(status int, code, title, detail string) *Problem {
	return &Problem{Type: ProblemBase + code, Title: title, Status: status, Code: code, Detail: detail}
}

// Problems common to every route.
func badRequest(code, detail string, errs ...FieldError) *Problem {
	p := problem(http.StatusBadRequest, code, "The request is not valid", detail)
	p.Errors = errs
	return p
}

func fieldProblem(field, value, reason string) *Problem {
	return badRequest("invalid_field", field+": "+reason, FieldError{Field: field, Value: shown(value), Reason: reason})
}

func notFound() *Problem {
	// One answer for an org that does not exist, one that has no
	// destination and one the caller does not administer: the answer
	// tells no caller which orgs exist.
	return problem(http.StatusNotFound, "not_found", "Not found",
		"no destination is registered for this organization, or you do not administer it")
}

func internalError() *Problem {
	return problem(http.StatusInternalServerError, "internal_error", "Internal error",
		"the request failed on our side; retry later, and quote the request_id if it persists")
}

func unavailable(code, detail string) *Problem {
	return problem(http.StatusServiceUnavailable, code, "Temporarily unavailable", detail)
}

// write sends p, with the request's ID and path.
func (p *Problem) write(w http.ResponseWriter, r *http.Request) {
	p.RequestID = requestID(r.Context())
	p.Instance = r.URL.Path
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="auditlogs"`)
	}
	w.Header().Set("Content-Type", ProblemType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// maxShown bounds a value echoed in an error.
const maxShown = 200

// shown is a value as an error may echo it: credentials redacted (a
// token pasted into a field, a SAS URL's signature), control characters
// escaped, and cut at maxShown bytes.
func shown(v string) string {
	if looksLikeSASURL(v) {
		return "(a URL with a signature: not shown)"
	}
	v = redact.Text(v)
	if len(v) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, v)
}

// looksLikeSASURL: a value holding a SAS signature is never echoed, even
// redacted (its other parameters say which container it opens).
func looksLikeSASURL(v string) bool {
	l := strings.ToLower(v)
	return strings.Contains(l, "sig=") || strings.Contains(l, "sig%3d")
}
