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

// audited writes the audit event of a change that took effect (method,
// path, route with the org as :org_id, status, actor user:<sub>) to the
// org's log, so that it appears in the org's next file, and reports
// whether it was written.
//
// A change whose record is lost is what an audit log must not allow, and
// the change cannot be undone: so a failed write is answered 500
// audit_not_recorded (the client learns that the change took effect and
// that repeating the request records it; the API's 5xx alarm fires) and
// logged at error level with everything the event held, for an operator
// to write it again.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, status int) bool {
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
	if err == nil {
		return true
	}
	s.log().Error("api: audit event not written", "request_id", ri.id, "org_id", e.OrgID, "method", e.RequestMethod,
		"path", e.RequestPath, "route", e.Route, "status", status, "actor", e.ActorID, "time", e.RequestTime, "error", err)
	pr := problem(http.StatusInternalServerError, "audit_not_recorded", "The change was made but not recorded",
		"the change took effect, but its audit event could not be written to your organization's log")
	pr.Fix = "send the same request again: it records the change (quote the request_id to support if it fails again)"
	pr.write(w, r)
	return false
}
