package api

import (
	"net/http"

	"github.com/contentful/auditlogs/internal/audit"
)

// AuditRequestIDPrefix starts the request ID of the audit events of the
// API's own changes ("api-" and the request's ID): they never collide
// with the platform's request IDs, and writing one again (the log store
// is idempotent by org and request ID) replaces it.
const AuditRequestIDPrefix = "api-"

// audit writes the audit event of a change that took effect: method,
// path, route (the org as :org_id), status and actor user:<sub>, in the
// org's log, so it appears in the org's next file.
//
// The change is made: a failed write cannot undo it, so it is logged at
// error level (the API's error alarm counts it) with what the event
// held, for an operator to write it again (`auditctl ingest`).
func (s *Server) audit(r *http.Request, status int) {
	ri := info(r)
	e := audit.Event{
		OrgID: ri.org, RequestID: AuditRequestIDPrefix + ri.id, RequestTime: s.now().UTC(),
		RequestMethod: r.Method, RequestPath: r.URL.Path, ResponseStatus: status,
		ContentLength: max(r.ContentLength, 0), Route: ri.route, ActorID: ri.actor,
	}
	e.Normalize()
	err := e.Validate()
	if err == nil {
		err = s.AuditLog.Write(r.Context(), []audit.Event{e})
	}
	if err != nil {
		s.log().Error("api: audit event not written", "request_id", ri.id, "org_id", e.OrgID, "method", e.RequestMethod,
			"path", e.RequestPath, "route", e.Route, "status", status, "actor", e.ActorID, "time", e.RequestTime, "error", err)
	}
}
