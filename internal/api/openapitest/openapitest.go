// Package openapitest holds the API tests to the contract: a Checker's
// http.RoundTripper validates every request a test sends and every
// response it receives against the OpenAPI document (api.Document), and
// reports each mismatch as a test error. A handler that drifts from the
// document, or a document that drifts from the handler, fails the tests
// instead of surprising a customer.
//
// Validation is github.com/pb33f/libopenapi-validator, on the model of
// github.com/pb33f/libopenapi: it is maintained, reads OpenAPI 3.1 with
// its JSON Schema 2020-12 schemas (additionalProperties, if/then, const,
// formats), and validates both sides of an exchange, requests (path and
// query parameters, security, body and its content type) and responses
// (status, headers, content type, body), with messages that name the
// field. Formats are asserted, so a malformed date or date-time fails.
//
// What JSON Schema cannot say is checked here: a request body over its
// operation's x-max-body-bytes (64 KiB) is invalid, and a request on a
// path that the document lacks must get a 404 problem document, one with
// a method the path lacks a 405 problem document with an Allow header. Such requests, like any a test sends invalid on purpose, are
// marked with ExpectInvalidRequest.
//
// It is for tests: it imports the contract (api), the validator and
// testing, and nothing that the Lambda or auditctl run may import it.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/router"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/contentful/auditlogs/api"
)

// contract is api.Document parsed, built into a model and a validator:
// once per process, as it takes a while and never changes.
type contract struct {
	model      *v3.Document
	validator  validator.Validator
	router     router.Router
	operations []string // operationIds, in the document's order
	problem    *base.Schema
}

var (
	parseOnce sync.Once
	parsed    *contract
	parseErr  error
)

// load parses api.Document once.
func load() (*contract, error) {
	parseOnce.Do(func() { parsed, parseErr = parse(api.Document) })
	return parsed, parseErr
}

// parse builds the contract of an OpenAPI document, and refuses a
// document that breaks the OpenAPI schema or lacks what the checks here
// rely on.
func parse(spec []byte) (*contract, error) {
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, fmt.Errorf("parse the OpenAPI document: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build the OpenAPI model: %w", err)
	}
	if ok, verrs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		return nil, fmt.Errorf("the OpenAPI document is invalid:\n%s", describe(verrs, ""))
	}
	c := &contract{
		model:     &m.Model,
		validator: validator.NewValidatorFromV3Model(&m.Model, config.WithFormatAssertions()),
		router:    router.NewRouter(&m.Model, router.WithPathOnlyMatching()),
	}
	for p := m.Model.Paths.PathItems.First(); p != nil; p = p.Next() {
		for o := p.Value().GetOperations().First(); o != nil; o = o.Next() {
			id := o.Value().OperationId
			if id == "" {
				return nil, fmt.Errorf("%s %s has no operationId", strings.ToUpper(o.Key()), p.Key())
			}
			if slices.Contains(c.operations, id) {
				return nil, fmt.Errorf("operationId %s is used twice", id)
			}
			c.operations = append(c.operations, id)
		}
	}
	if err := checkBodyLimits(&m.Model); err != nil {
		return nil, err
	}
	if m.Model.Components == nil || m.Model.Components.Schemas.GetOrZero("Problem") == nil {
		return nil, errors.New("the OpenAPI document has no Problem schema")
	}
	if c.problem, err = m.Model.Components.Schemas.GetOrZero("Problem").BuildSchema(); err != nil {
		return nil, fmt.Errorf("build the Problem schema: %w", err)
	}
	return c, nil
}

// checkBodyLimits refuses an x-max-body-bytes that is not a positive
// integer: bodyLimit would ignore it.
func checkBodyLimits(m *v3.Document) error {
	for p := m.Paths.PathItems.First(); p != nil; p = p.Next() {
		for o := p.Value().GetOperations().First(); o != nil; o = o.Next() {
			rb := o.Value().RequestBody
			if rb == nil {
				continue
			}
			if node := rb.Extensions.GetOrZero(maxBodyExtension); node != nil {
				if n, err := strconv.Atoi(node.Value); err != nil || n <= 0 {
					return fmt.Errorf("%s %s: %s %q is not a positive integer", strings.ToUpper(o.Key()), p.Key(), maxBodyExtension, node.Value)
				}
			}
		}
	}
	return nil
}

// Checker validates the exchanges of one test against the document. It
// reports to the t it was made with, so make one per test (the parsed
// document is shared by all). It is safe for concurrent use.
type Checker struct {
	t testing.TB
	c *contract

	mu   sync.Mutex
	seen map[string]bool
}

// New returns a Checker reporting to t; it fails t at once if the
// document itself is invalid.
func New(t testing.TB) *Checker {
	t.Helper()
	c, err := load()
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	return &Checker{t: t, c: c, seen: map[string]bool{}}
}

type expectInvalidKey struct{}

// ExpectInvalidRequest marks a request that a test sends invalid on
// purpose (an unknown field, an oversized body, a bad date, no token, a
// method the route lacks): that it fails validation is expected, and
// required, since a test that means to send an invalid request and sends
// a valid one no longer tests what it says. Its response is still
// validated.
func (c *Checker) ExpectInvalidRequest(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), expectInvalidKey{}, true))
}

// Client is an http.Client whose requests and responses are validated,
// sent through http.DefaultTransport.
func (c *Checker) Client() *http.Client {
	return &http.Client{Transport: c.Transport(http.DefaultTransport)}
}

// Transport wraps base: each request is validated before it is sent and
// each response after it is received (its body is read and restored for
// the caller). Failures are reported with t.Errorf, naming the method,
// path and status and giving the validator's messages; the test goes on
// with the response, so that its own checks still run.
func (c *Checker) Transport(base http.RoundTripper) http.RoundTripper {
	return &transport{c: c, base: base}
}

// Operations returns every operationId of the document, in its order.
func (c *Checker) Operations() []string { return slices.Clone(c.c.operations) }

// Seen returns the operationIds of the responses validated so far, in
// the document's order.
func (c *Checker) Seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, id := range c.c.operations {
		if c.seen[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// RequireAllSeen fails t listing the operations of the document that no
// validated response exercised: an operation no test calls is one whose
// contract nothing holds.
func (c *Checker) RequireAllSeen(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var unseen []string
	for _, id := range c.c.operations {
		if !c.seen[id] {
			unseen = append(unseen, id)
		}
	}
	if len(unseen) > 0 {
		t.Errorf("openapitest: operations no test exercised: %s", strings.Join(unseen, ", "))
	}
}

func (c *Checker) markSeen(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[id] = true
}

type transport struct {
	c    *Checker
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := tr.c
	expectInvalid, _ := req.Context().Value(expectInvalidKey{}).(bool)

	// The body is read once and replayed: to the validator, and to base.
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read the request body: %w", err)
		}
		body = b
	}
	out := withBody(req, body)

	reqOK, reqErrs := c.c.validator.ValidateHttpRequestSync(withBody(req, body))
	if tooLarge := c.c.bodyLimit(req, len(body)); tooLarge != nil {
		reqOK, reqErrs = false, append(reqErrs, tooLarge)
	}

	resp, err := tr.base.RoundTrip(out)
	status := "no response"
	if resp != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	// Secrets stay out of the test's output: the validator's messages do
	// not quote the Authorization header, and redact makes sure of it.
	secret := req.Header.Get("Authorization")
	where := fmt.Sprintf("%s %s -> %s", req.Method, req.URL.Path, status)
	switch {
	case expectInvalid && reqOK:
		c.t.Errorf("openapitest: %s: request expected invalid was valid", where)
	case !expectInvalid && !reqOK:
		c.t.Errorf("openapitest: %s: request invalid:\n%s", where, describe(reqErrs, secret))
	}
	if err != nil {
		return nil, err
	}

	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("openapitest: read the response body of %s: %w", where, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	if problems := c.checkResponse(req, resp, respBody); len(problems) > 0 {
		c.t.Errorf("openapitest: %s: response invalid:\n%s", where, redact(strings.Join(problems, "\n"), secret))
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	return resp, nil
}

// maxBodyExtension declares, on a requestBody, the most bytes that the
// API reads of a body; JSON Schema cannot say it.
const maxBodyExtension = "x-max-body-bytes"

// bodyLimit is the error of a request body of n bytes over its
// operation's x-max-body-bytes, nil if it is not over or has no limit.
func (c *contract) bodyLimit(req *http.Request, n int) *valerrors.ValidationError {
	route, err := c.router.FindRoute(req)
	if err != nil || route == nil || route.Operation == nil || route.Operation.RequestBody == nil {
		return nil
	}
	node := route.Operation.RequestBody.Extensions.GetOrZero(maxBodyExtension)
	if node == nil {
		return nil
	}
	limit, err := strconv.Atoi(node.Value)
	if err != nil || n <= limit {
		return nil
	}
	return &valerrors.ValidationError{
		Message: fmt.Sprintf("request body of %d bytes", n),
		Reason:  fmt.Sprintf("over the %s of the operation, %d", maxBodyExtension, limit),
	}
}

// checkResponse validates resp, the answer to req, and returns what is
// wrong with it; a valid response to an operation of the document marks
// the operation seen.
func (c *Checker) checkResponse(req *http.Request, resp *http.Response, body []byte) []string {
	route, err := c.c.router.FindRoute(req)
	switch {
	case errors.Is(err, router.ErrMethodNotAllowed):
		problems := c.checkProblem(resp, body, http.StatusMethodNotAllowed)
		if resp.Header.Get("Allow") == "" {
			problems = append(problems, "  - a 405 must name the route's methods in an Allow header")
		}
		return problems
	case err != nil || route == nil || route.Operation == nil:
		// No path of the document: the handler must say it has no such
		// resource, as a problem document.
		return c.checkProblem(resp, body, http.StatusNotFound)
	}
	vresp := *resp
	vresp.Body = io.NopCloser(bytes.NewReader(body))
	ok, errs := c.c.validator.ValidateHttpResponse(withBody(req, nil), &vresp)
	if !ok {
		return []string{describe(errs, "")}
	}
	c.markSeen(route.Operation.OperationId)
	return nil
}

// checkProblem checks a response outside the document's operations: the
// status wanted, an X-Request-Id and a Problem body.
func (c *Checker) checkProblem(resp *http.Response, body []byte, want int) []string {
	var problems []string
	if resp.StatusCode != want {
		problems = append(problems, fmt.Sprintf("  - the document has no such operation: the status must be %d, not %d", want, resp.StatusCode))
	}
	if resp.Header.Get("X-Request-Id") == "" {
		problems = append(problems, "  - no X-Request-Id header")
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/problem+json" {
		problems = append(problems, fmt.Sprintf("  - content type %q, not application/problem+json", resp.Header.Get("Content-Type")))
		return problems
	}
	if ok, errs := schema_validation.NewSchemaValidator(config.WithFormatAssertions()).ValidateSchemaBytes(c.c.problem, body); !ok {
		problems = append(problems, describe(errs, ""))
	}
	return problems
}

// withBody is a copy of r that reads body (r's own body is consumed
// once, and a RoundTripper must not change the request it was given).
func withBody(r *http.Request, body []byte) *http.Request {
	out := r.Clone(r.Context())
	if body == nil {
		out.Body = http.NoBody
		out.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return out
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return out
}

// describe renders the validator's errors, one line each, with the
// schema failures under them.
func describe(errs []*valerrors.ValidationError, secret string) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s", e.Message)
		if e.Reason != "" && e.Reason != e.Message {
			fmt.Fprintf(&b, ": %s", e.Reason)
		}
		b.WriteString("\n")
		for _, f := range e.SchemaValidationErrors {
			if f.FieldPath != "" {
				fmt.Fprintf(&b, "      %s: %s\n", f.FieldPath, f.Reason)
			} else {
				fmt.Fprintf(&b, "      %s\n", f.Reason)
			}
		}
	}
	return redact(strings.TrimRight(b.String(), "\n"), secret)
}

// redact removes the Authorization header's value, and its token, from s.
func redact(s, authorization string) string {
	if authorization == "" {
		return s
	}
	s = strings.ReplaceAll(s, authorization, "[redacted]")
	if _, token, ok := strings.Cut(authorization, " "); ok && len(token) >= 8 {
		s = strings.ReplaceAll(s, token, "[redacted]")
	}
	return s
}
