package ingest

import (
	"time"
	"unicode/utf8"

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
	}
	return "unknown"
}

// Outcome is the classification of one record.
type Outcome struct {
	Kind   Kind
	Entity string // the route's entity type (routes.Route.Entity) when Stored
	Err    error  // why, when Rejected: a *audit.FieldError
}

// Classify decides what becomes of a parsed record and, when it is to be
// stored, builds its event: the route is the matched template, the space
// the path's space_id segment (empty for organization-level routes), and
// every other field is the record's, the path as sent. The event is
// normalized and valid (audit.Event.Validate).
func (c Config) Classify(rec *Record) (audit.Event, Outcome) {
	if !c.Audited(rec.Method) {
		return audit.Event{}, Outcome{Kind: SkippedMethod}
	}
	rt, space, ok := routes.Lookup(rec.Method, rec.Path)
	if !ok {
		return audit.Event{}, Outcome{Kind: SkippedRoute}
	}
	e := audit.Event{
		OrgID: rec.OrgID, RequestID: rec.RequestID, RequestTime: rec.Time,
		RequestMethod: rec.Method, RequestPath: rec.Path, RequestQuery: rec.Query,
		ResponseStatus: rec.Status, ContentLength: rec.ContentLength,
		Space: space, Route: rt.Template, Referrer: rec.Referrer, ActorID: rec.ActorID,
	}
	// Parse has checked every field already; this is the guard that
	// keeps an event the store would refuse (which fails the whole
	// write) out of a batch, and catches what only the event knows, such
	// as a space ID longer than audit.MaxShortLen.
	if err := normalize(&e); err != nil {
		return audit.Event{}, Outcome{Kind: Rejected, Err: err}
	}
	return e, Outcome{Kind: Stored, Entity: rt.Entity}
}

// normalize does what e.Normalize and e.Validate do, without Validate's
// regular expression on the hot path: a quick check of the same rules
// decides the common case, and audit.Event.Validate, the authority, has
// the last word on an event the quick check doubts.
func normalize(e *audit.Event) error {
	for _, f := range [...]*string{&e.RequestPath, &e.RequestQuery, &e.Space, &e.Route, &e.Referrer, &e.ActorID} {
		if !utf8.ValidString(*f) {
			e.Normalize()
			break
		}
	}
	e.RequestTime = e.RequestTime.UTC().Truncate(time.Millisecond)
	y := e.RequestTime.Year()
	if validOrgID(e.OrgID) && e.RequestID != "" && len(e.RequestID) <= audit.MaxShortLen && printable(e.RequestID) &&
		y >= 2000 && y <= 9999 && auditable(e.RequestMethod) &&
		e.RequestPath != "" && e.RequestPath[0] == '/' && len(e.RequestPath) <= audit.MaxPathLen &&
		len(e.RequestQuery) <= audit.MaxQueryLen && e.ResponseStatus >= 100 && e.ResponseStatus <= 599 &&
		e.ContentLength >= 0 && len(e.Space) <= audit.MaxShortLen && len(e.Route) <= audit.MaxRouteLen &&
		len(e.Referrer) <= audit.MaxReferrerLen && len(e.ActorID) <= audit.MaxShortLen {
		return nil
	}
	return e.Validate()
}

// auditable are the methods an audit event may carry.
func auditable(m string) bool { return m == "PUT" || m == "PATCH" || m == "DELETE" || m == "POST" }
