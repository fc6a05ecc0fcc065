// Package exportfn is the export Lambda's handler, a thin adapter: it
// checks the JSON payload of one org-day (exportjob.Payload: org ID, day,
// attempt; delivery.JobOf), names the invocation by Lambda's request ID as
// the owner of the org-day's lease, and runs the ledgered delivery
// (internal/delivery), whose outcome it returns. Permanent failures (a bad
// payload, or one no retry can fix) are *exportjob.PermanentError, whose
// type name Lambda reports as errorType to whatever retries the
// invocation.
//
// exportfn holds no delivery logic: the lease, the export and the log
// lines are internal/delivery's. Only functions/export (and tests) import
// it; it may not import internal/app, internal/export or the ledger.
package exportfn

import (
	"context"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/exportjob"
)

// Deliverer runs one delivery (*delivery.Service).
type Deliverer interface {
	RunJob(ctx context.Context, j delivery.Job) (delivery.Outcome, error)
}

// Handler handles export invocations.
type Handler struct {
	Delivery Deliverer
}

// Handle validates the payload and delivers the org-day.
func (h *Handler) Handle(ctx context.Context, p exportjob.Payload) (delivery.Outcome, error) {
	j, err := delivery.JobOf(p)
	if err != nil {
		return delivery.Outcome{}, err
	}
	j.Owner = InvocationID(ctx)
	return h.Delivery.RunJob(ctx, j)
}

// InvocationID is Lambda's request ID of the invocation ctx belongs to,
// or "" outside Lambda (the delivery then names a random owner).
func InvocationID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
