// Package logstore defines the log store: where ingested audit events wait,
// grouped by org and UTC day, until the export delivers them. Providers
// live in packages below this one (dynamostore on DynamoDB, memstore in
// memory for tests) and pass the acceptance suite in storetest; an S3
// data-lake store is expected later and must pass the same suite.
package logstore

import (
	"context"

	"github.com/contentful/auditlogs/internal/audit"
)

// Reader streams one org-day.
type Reader interface {
	// ReadDay calls fn once per event of org on day, in (RequestTime,
	// RequestID) order, each request ID once. fn must not keep e after it
	// returns: implementations reuse it. An error from fn stops the read
	// and is returned as is. A store error is returned, never taken for
	// the end of the day: a truncated day must not look complete.
	ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error
}

// Writer stores events.
type Writer interface {
	// Write stores events, which must be valid (see audit.Event.Validate).
	// It is idempotent by (OrgID, RequestID): writing an event again
	// replaces it and never adds a second row.
	Write(ctx context.Context, events []audit.Event) error
}
