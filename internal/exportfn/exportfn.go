// Package exportfn is the export Lambda's handler: it takes one org-day
// from its JSON payload, delivers it with export.Exporter, logs one
// structured line per delivery, and tells permanent failures (no retry can
// fix them) from transient ones by the error's type, which Lambda reports
// as errorType to whatever retries the invocation.
package exportfn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
)

// Exporter delivers one org-day.
type Exporter interface {
	Export(ctx context.Context, org string, day audit.Day) (export.Result, error)
}

// Outcome is an invocation's result: the delivery, or why none was made.
type Outcome struct {
	export.Result
	// Skipped says why nothing was delivered: "already-delivered" (the
	// result is the earlier delivery's) or "leased" (another export is
	// delivering the org-day).
	Skipped string `json:"skipped,omitempty"`
}

// Ledger records each org-day's delivery (internal/ledger).
type Ledger interface {
	Begin(ctx context.Context, org string, day audit.Day, owner string, lease time.Duration, force bool) (ledger.Entry, error)
	Finish(ctx context.Context, org string, day audit.Day, owner string, r ledger.Result) error
	Fail(ctx context.Context, org string, day audit.Day, owner string, permanent bool, msg string) error
	MarkStale(ctx context.Context, org string, day audit.Day) error
}

// recordReserve is how long before the caller's own deadline (the
// function's timeout) the export stops: time to record its outcome in the
// ledger, and for the retry function to set its message's backoff.
const recordReserve = 15 * time.Second

// Handler handles export invocations.
type Handler struct {
	Exporter Exporter
	// Ledger, when set, gives one export at a time an org-day's lease and
	// records the outcome; a delivered day is skipped unless forced.
	Ledger Ledger
	// Lease is how long an invocation holds the org-day's lease; zero
	// means exportjob.Lease (AUDITLOG_LEASE_SECONDS through internal/app).
	Lease time.Duration
	// LeaseMargin is the end of the lease the export leaves unused; zero
	// means exportjob.LeaseMargin (tests with short leases shorten it).
	LeaseMargin time.Duration
	Log         *slog.Logger
}

// Handle validates the payload and delivers the org-day.
func (h *Handler) Handle(ctx context.Context, p exportjob.Payload) (Outcome, error) {
	if err := audit.ValidateOrgID(p.OrgID); err != nil {
		return Outcome{}, &exportjob.PermanentError{Err: err}
	}
	day, err := audit.ParseDay(p.Day)
	if err != nil {
		return Outcome{}, &exportjob.PermanentError{Err: err}
	}
	if p.Attempt < 0 {
		return Outcome{}, &exportjob.PermanentError{Err: &audit.FieldError{Field: "attempt", Value: fmt.Sprint(p.Attempt), Reason: "must not be negative"}}
	}
	owner := invocationID(ctx)
	ectx := ctx // the export's context: bounded by the lease
	if h.Ledger != nil {
		lease := h.Lease
		if lease <= 0 {
			lease = exportjob.Lease
		}
		// The lease starts when Begin writes it, after this: a deadline
		// counted from here ends before the lease does.
		taken := time.Now()
		prev, err := h.Ledger.Begin(ctx, p.OrgID, day, owner, lease, p.Force)
		switch {
		case errors.Is(err, ledger.ErrDelivered):
			// Ends cleanly: a duplicate or late invocation must not
			// deliver the day twice.
			h.Log.InfoContext(ctx, "skipped: already delivered", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt, "key", prev.Key, "rows", prev.Rows, "sha256", prev.SHA256)
			return Outcome{Result: export.Result{OrgID: p.OrgID, Day: day, Key: prev.Key, Rows: prev.Rows, Bytes: prev.Bytes, SHA256: prev.SHA256}, Skipped: exportjob.SkippedDelivered}, nil
		case errors.Is(err, ledger.ErrLeased):
			h.Log.InfoContext(ctx, "skipped: another export is delivering this org-day", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt, "lease_owner", prev.LeaseOwner)
			return Outcome{Result: export.Result{OrgID: p.OrgID, Day: day}, Skipped: exportjob.SkippedLeased}, nil
		case err != nil:
			return Outcome{}, err // transient: the ledger is unavailable
		}
		var cancel context.CancelFunc
		ectx, cancel = context.WithDeadline(ctx, h.deadline(ctx, taken, lease))
		defer cancel()
	}
	start := time.Now()
	res, err := h.Exporter.Export(ectx, p.OrgID, day)
	if err != nil {
		if d, ok := ectx.Deadline(); ok && ectx.Err() != nil && ctx.Err() == nil {
			// Stopped by the lease's bound, not by the caller.
			err = fmt.Errorf("stopped at %s, before the org-day's lease runs out: %w", d.UTC().Format(time.RFC3339), err)
		}
		permanent := export.IsPermanent(err)
		h.Log.ErrorContext(ctx, "delivery failed", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt,
			"permanent", permanent, "error", err.Error(), "duration_ms", time.Since(start).Milliseconds())
		if h.Ledger != nil {
			if lerr := h.Ledger.Fail(ctx, p.OrgID, day, owner, permanent, err.Error()); lerr != nil {
				h.Log.ErrorContext(ctx, "recording the failure in the ledger failed", "org_id", p.OrgID, "day", p.Day, "error", lerr.Error())
			}
		}
		if permanent {
			return Outcome{}, &exportjob.PermanentError{Err: err}
		}
		return Outcome{}, err
	}
	h.Log.InfoContext(ctx, "delivered", "org_id", res.OrgID, "day", res.Day.String(), "attempt", p.Attempt,
		"key", res.Key, "rows", res.Rows, "bytes", res.Bytes, "sha256", res.SHA256, "duration_ms", res.Duration.Milliseconds())
	if h.Ledger != nil {
		err := h.Ledger.Finish(ctx, p.OrgID, day, owner, ledger.Result{Key: res.Key, Rows: res.Rows, Bytes: res.Bytes, SHA256: res.SHA256})
		switch {
		case errors.Is(err, ledger.ErrLeaseLost):
			// This export outlived its lease and another took over: its
			// object may have replaced the newer export's, which could
			// hold events this one missed. Not a success: the day is
			// marked stale, so that it is delivered again, complete, and
			// the error is transient, so that it is retried.
			err = fmt.Errorf("org %s day %s: delivered after the lease was taken over by another export; marked stale, to be delivered again: %w", p.OrgID, p.Day, err)
			if serr := h.Ledger.MarkStale(ctx, p.OrgID, day); serr != nil {
				err = fmt.Errorf("%w; marking the day stale failed: %w", err, serr)
			}
			h.Log.WarnContext(ctx, "delivered after the lease was taken over", "org_id", p.OrgID, "day", p.Day, "error", err.Error())
			return Outcome{}, err
		case err != nil:
			// The file is delivered but not recorded: a retry delivers
			// it again, overwriting it with the same content. Release the
			// lease, so that the retry need not wait for it to run out.
			err = fmt.Errorf("record the delivery of org %s day %s: %w", p.OrgID, p.Day, err)
			if ferr := h.Ledger.Fail(ctx, p.OrgID, day, owner, false, "delivered, but "+err.Error()); ferr != nil {
				h.Log.ErrorContext(ctx, "recording the failure in the ledger failed", "org_id", p.OrgID, "day", p.Day, "error", ferr.Error())
			}
			return Outcome{}, err
		}
	}
	return Outcome{Result: res}, nil
}

// deadline is when an export whose lease was taken at or after taken must
// end: LeaseMargin before the lease does, and recordReserve before the
// caller's own deadline, whichever comes first.
func (h *Handler) deadline(ctx context.Context, taken time.Time, lease time.Duration) time.Time {
	margin := h.LeaseMargin
	if margin <= 0 {
		margin = exportjob.LeaseMargin
	}
	d := taken.Add(lease - margin)
	if cd, ok := ctx.Deadline(); ok && cd.Add(-recordReserve).Before(d) {
		d = cd.Add(-recordReserve)
	}
	return d
}

// invocationID names this invocation as the lease's owner: Lambda's
// request ID, or a random one outside Lambda (the CLI).
func invocationID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "local-" + hex.EncodeToString(b)
}
