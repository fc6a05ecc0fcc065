// Package api is the self-service HTTP API (docs/api.md, the contract in
// api/openapi.yaml): customers' administrators set up, check, pause and
// resume their org's destination, read its delivery history and queue
// redeliveries, with the platform's bearer tokens. It is a plain
// http.Handler, so that the same code serves behind API Gateway (through
// internal/apifn, in the API function) and locally (`auditctl api
// serve`).
//
// Every route that names an org checks the token first and then that the
// token's org_ids holds that org; an org the caller does not administer
// answers the same 404 as one that does not exist. Errors are RFC 9457
// problem documents naming the field and the value at fault, values
// echoed only through shown (no credential, no SAS URL). Every change
// that succeeds is written to the log store as an audit event of its org
// (audit.go), so it appears in the org's own next file.
//
// api holds the HTTP side only: the checks are internal/registration's
// and internal/verify's, the records the registry's and the ledger's, the
// redelivery the export function's (Exports), which days may be delivered
// the export's rule (export.CheckDay). It may import those and audit,
// destination, apiauth; it must not import internal/app, cmd, functions
// or internal/localdev.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/contentful/auditlogs/internal/apiauth"
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/verify"
)

// MaxBody is the largest request body read: a destination with an
// RSA-4096 cipher in base64 is under 2 KiB.
const MaxBody = 64 << 10

// Authenticator checks a request's Authorization header (apiauth.Verifier):
// errors wrap apiauth.ErrUnauthenticated, or apiauth.ErrKeysUnavailable
// when the identity provider's keys cannot be read.
type Authenticator interface {
	Verify(ctx context.Context, authorization string) (apiauth.Principal, error)
}

// Registry reads and changes destinations (registry.Registry). A missing
// one is an error wrapping registry.ErrNotFound.
type Registry interface {
	Get(ctx context.Context, org string) (destination.Destination, error)
	SetEnabled(ctx context.Context, org string, enabled bool) error
	DeleteExisting(ctx context.Context, org string) (destination.Kind, error)
}

// Registrar checks and stores a destination (registration.Registrar).
type Registrar interface {
	Register(ctx context.Context, d destination.Destination, opts registration.Options) (destination.Destination, error)
}

// Verifier runs the test delivery of `auditctl verify` (verify.Verifier).
type Verifier interface {
	Verify(ctx context.Context, org string) verify.Report
}

// Ledger pages through an org's delivery records (ledger.Ledger).
type Ledger interface {
	Page(ctx context.Context, org string, from, to audit.Day, limit int) ([]ledger.Entry, bool, error)
}

// Exports queues the forced export of one org-day on the export function
// (LambdaExports): the work runs there, not inside the request.
type Exports interface {
	Queue(ctx context.Context, org string, day audit.Day) error
}

// AuditLog stores the audit events of the API's own changes (the log
// store's logstore.Writer).
type AuditLog interface {
	Write(ctx context.Context, events []audit.Event) error
}

// Keys gives the public keys of GET /v1/keys (KMSKeys).
type Keys interface {
	KeySet(ctx context.Context) (KeySet, error)
}

// Server holds what the routes need. Every field but Log and Now is
// required.
type Server struct {
	Auth      Authenticator
	Registry  Registry
	Registrar Registrar
	Verifier  Verifier
	Ledger    Ledger
	Exports   Exports
	AuditLog  AuditLog
	Keys      Keys
	// Retention is the log store's: a redelivery may not reach back
	// further than the store keeps events.
	Retention time.Duration
	// TrustRequestID takes the request's ID from its X-Request-Id header
	// (set behind API Gateway by internal/apifn, from the gateway's own
	// request ID, whatever the client sent); otherwise each request gets
	// a random one. Audit events are named by it.
	TrustRequestID bool
	Log            *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Handler is the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.methods(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(http.StatusNotFound, "not_found", "Not found", "no such route: see the API's reference").write(w, r)
	})
	return s.middleware(mux)
}

// route is one path, its audit route and its handlers by method.
type route struct {
	pattern string
	// audited is the path as audit events name it (the org as :org_id).
	audited string
	methods map[string]http.HandlerFunc
}

const orgPath = "/v1/organizations/{org_id}"

func (s *Server) routes() []route {
	return []route{
		{pattern: "/v1/keys", methods: map[string]http.HandlerFunc{http.MethodGet: s.getKeys}},
		{pattern: orgPath + "/destination", audited: "/v1/organizations/:org_id/destination", methods: map[string]http.HandlerFunc{
			http.MethodGet: s.getDestination, http.MethodPut: s.putDestination, http.MethodDelete: s.deleteDestination}},
		{pattern: orgPath + "/destination/verify", methods: map[string]http.HandlerFunc{http.MethodPost: s.verifyDestination}},
		{pattern: orgPath + "/destination/pause", audited: "/v1/organizations/:org_id/destination/pause", methods: map[string]http.HandlerFunc{
			http.MethodPost: func(w http.ResponseWriter, r *http.Request) { s.setEnabled(w, r, false) }}},
		{pattern: orgPath + "/destination/resume", audited: "/v1/organizations/:org_id/destination/resume", methods: map[string]http.HandlerFunc{
			http.MethodPost: func(w http.ResponseWriter, r *http.Request) { s.setEnabled(w, r, true) }}},
		{pattern: orgPath + "/deliveries", methods: map[string]http.HandlerFunc{http.MethodGet: s.listDeliveries}},
		{pattern: orgPath + "/deliveries/redeliver", audited: "/v1/organizations/:org_id/deliveries/redeliver", methods: map[string]http.HandlerFunc{
			http.MethodPost: s.redeliver}},
	}
}

// methods dispatches by method, answering others 405 with Allow.
func (s *Server) methods(rt route) http.Handler {
	allow := ""
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		if rt.methods[m] != nil {
			if allow != "" {
				allow += ", "
			}
			allow += m
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := rt.methods[r.Method]
		if h == nil {
			w.Header().Set("Allow", allow)
			problem(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed", r.Method+" is not allowed here; allowed: "+allow).write(w, r)
			return
		}
		info(r).route = rt.audited
		h(w, r)
	})
}

// requestInfo is what the middleware's log line and the audit event learn
// of a request as it is served.
type requestInfo struct {
	id    string
	route string // the audited route, "" for reads
	actor string
	org   string
}

type infoKey struct{}

func info(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func requestID(ctx context.Context) string {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i.id
	}
	return ""
}

// statusWriter records the status sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// middleware names the request, bounds its body, recovers from a panic
// and logs one line a request: never a header, a body or a query value
// (the Authorization header and ciphers stay out of the logs).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: s.requestIDOf(r)}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		w.Header().Set("X-Request-Id", ri.id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		sw := &statusWriter{ResponseWriter: w}
		r.Body = http.MaxBytesReader(sw, r.Body, MaxBody)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log().Error("api: panic", "request_id", ri.id, "method", r.Method, "path", r.URL.Path, "panic", v)
				if sw.status == 0 {
					internalError().write(sw, r)
				}
			}
			s.log().Info("api request", "request_id", ri.id, "method", r.Method, "path", r.URL.Path,
				"org_id", ri.org, "actor", ri.actor, "status", sw.status, "duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) requestIDOf(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); s.TrustRequestID && id != "" && len(id) <= 64 && audit.Printable(id) {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// org authenticates the request and returns the org of its path with the
// caller, or writes the refusal and returns ok false. An org the caller
// does not administer is answered as one that does not exist.
func (s *Server) org(w http.ResponseWriter, r *http.Request) (string, apiauth.Principal, bool) {
	p, err := s.Auth.Verify(r.Context(), r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, apiauth.ErrKeysUnavailable):
		s.log().Error("api: the identity provider's keys are unavailable", "request_id", requestID(r.Context()), "error", err)
		unavailable("keys_unavailable", "the identity provider's signing keys cannot be read just now; retry shortly").write(w, r)
		return "", p, false
	case err != nil:
		// apiauth's errors name the claim at fault, never the token.
		pr := problem(http.StatusUnauthorized, "unauthenticated", "Authentication required", err.Error())
		pr.Fix = "send a valid bearer token of the platform's identity provider: Authorization: Bearer <token>"
		pr.write(w, r)
		return "", p, false
	}
	ri := info(r)
	ri.actor = p.Actor()
	org := r.PathValue("org_id")
	if !audit.ValidOrgID(org) || !p.Administers(org) {
		notFound().write(w, r)
		return "", p, false
	}
	ri.org = org
	return org, p, true
}
