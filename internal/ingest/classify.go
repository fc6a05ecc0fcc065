package ingest

import (
	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/routes"
)

// Config says which requests are audited.
type Config struct {
	// IncludePOST audits creates (POST) as well as PUT, PATCH and DELETE
	// (routes.DefaultMethods). GET, HEAD, OPTIONS and any other method are
	// never audited.
	IncludePOST bool
}

// Audited reports whether requests with method are audited under c.
func (c Config) Audited(method string) bool {
	switch method {
	case "PUT", "PATCH", "DELETE":
		return true
	case "POST":
		return c.IncludePOST
	}
	return false
}

// Kind is what becomes of a record.
type Kind uint8

const (
	// Stored: an audited request on an audited route; its event is
	// written to the log store.
	Stored Kind = iota + 1
	// SkippedMethod: the method is not audited (GET, HEAD, OPTIONS, POST
	// unless Config.IncludePOST, ...). Not stored, counted.
	SkippedMethod
	// SkippedRoute: an audited method on a path that is no audited route
	// (unknown to internal/routes). Not stored, counted.
	SkippedRoute
	// Rejected: the record is malformed. Not stored; it goes to the
	// RejectSink with its reason.
	Rejected
	// SkippedNearMiss: an audited method on a path that matches an
	// audited route only when case is ignored (/Spaces/s1/Entries/e1,
	// routes.NearMiss). Not stored, since the path is not the route's, but
	// counted apart and alarmed on: it may be a change that is not
	// audited.
	SkippedNearMiss
)

func (k Kind) String() string {
	switch k {
	case Stored:
		return "stored"
	case SkippedMethod:
		return "skipped-method"
	case SkippedRoute:
		return "skipped-route"
	case Rejected:
		return "rejected"
	case SkippedNearMiss:
		return "skipped-near-miss"
	}
	return "unknown"
}

// Outcome is the classification of one record.
type Outcome struct {
	Kind   Kind
	Entity string // the route's entity type (routes.Route.Entity) when Stored
	Route  string // the route's template when Stored, the one nearly matched when SkippedNearMiss
	Err    error  // why, when Rejected: a *audit.FieldError
}

// Classify decides what becomes of a record that Parse returned and, when it is to be
// stored, builds its event: the route is the template that the path's
// canonical form (routes.Canonical: no trailing or doubled slash, no dot
// segment, unreserved characters decoded) matches, the space that form's
// space_id segment (empty for organization-level routes), and
// every other field is the record's, the path as sent, its credentials
// redacted (audit.Event.Normalize). The event is normalized and valid
// (audit.Event.Validate).
func (c Config) Classify(rec *Record) (audit.Event, Outcome) {
	if !c.Audited(rec.Method) {
		return audit.Event{}, Outcome{Kind: SkippedMethod}
	}
	rt, space, ok := routes.Lookup(rec.Method, rec.Path)
	if !ok {
		if near, ok := routes.NearMiss(rec.Method, rec.Path); ok {
			return audit.Event{}, Outcome{Kind: SkippedNearMiss, Route: near.Template}
		}
		return audit.Event{}, Outcome{Kind: SkippedRoute}
	}
	e := audit.Event{
		OrgID: rec.OrgID, RequestID: rec.RequestID, RequestTime: rec.Time,
		RequestMethod: rec.Method, RequestPath: rec.Path, RequestQuery: rec.Query,
		ResponseStatus: rec.Status, ContentLength: rec.ContentLength,
		Space: space, Route: rt.Template, Referrer: rec.Referrer, ActorID: rec.ActorID,
	}
	// Credentials are redacted here, so that whatever the ingest hands
	// on holds none (the store normalizes again; the rest of Normalize,
	// valid UTF-8 and a UTC time in milliseconds, Parse has done).
	e.Redact()
	// Parse has checked every field of the record against the event's
	// rules (the same limits, valid UTF-8, a UTC time in milliseconds);
	// what only the event has is the space, a path segment that may be
	// longer than an ID may be, and the redacted values, which may be
	// longer than the values sent (REDACTED replacing "sig=x"). Validate,
	// the authority, says why: the store would refuse the event, and with
	// it the whole batch.
	if len(e.Space) > audit.MaxShortLen || len(e.Route) > audit.MaxRouteLen ||
		len(e.RequestQuery) > audit.MaxQueryLen || len(e.Referrer) > audit.MaxReferrerLen || len(e.RequestPath) > audit.MaxPathLen {
		return audit.Event{}, Outcome{Kind: Rejected, Err: e.Validate()}
	}
	return e, Outcome{Kind: Stored, Entity: rt.Entity, Route: rt.Template}
}
