// Package exportfn is the export Lambda's handler: it takes one org-day
// from its JSON payload, delivers it with export.Exporter, logs one
// structured line per delivery, and tells permanent failures (no retry can
// fix them) from transient ones by the error's type, which Lambda reports
// as errorType to whatever retries the invocation.
package exportfn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/ledger"
)

// Payload is the export function's input:
// {"org_id": "...", "day": "YYYY-MM-DD", "attempt": 1}.
type Payload struct {
	OrgID   string `json:"org_id"`
	Day     string `json:"day"`
	Attempt int    `json:"attempt"`
	// Force delivers a day that the ledger says was delivered already.
	Force bool `json:"force,omitempty"`
}

// UnmarshalJSON is strict: an unknown key (a typo such as "org") is an
// error rather than an empty field.
func (p *Payload) UnmarshalJSON(b []byte) error {
	type plain Payload
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v plain
	if err := dec.Decode(&v); err != nil {
		return &PermanentError{Err: fmt.Errorf("export payload: %w", err)}
	}
	*p = Payload(v)
	return nil
}

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
}

// Reasons for an Outcome without a delivery.
const (
	SkippedDelivered = "already-delivered"
	SkippedLeased    = "leased"
)

// Lease is how long an export holds its org-day: longer than the
// function's 15-minute timeout, so that only a dead export's lease runs
// out and is taken over.
const Lease = 16 * time.Minute

// FunctionTimeout is the timeout of the functions that run exports (the
// export and the retry function): Lambda's maximum, which the CDK stack
// gives both.
const FunctionTimeout = 15 * time.Minute

// Handler handles export invocations.
type Handler struct {
	Exporter Exporter
	// Ledger, when set, gives one export at a time an org-day's lease and
	// records the outcome; a delivered day is skipped unless forced.
	Ledger Ledger
	// Lease is how long an invocation holds the org-day's lease; zero
	// means Lease (AUDITLOG_LEASE_SECONDS through internal/app).
	Lease time.Duration
	Log   *slog.Logger
}

// PermanentError wraps a failure that retrying the same payload cannot
// fix: a bad payload, an org without an enabled destination, a day out of
// range, a destination that refuses us. Lambda reports its type name,
// "PermanentError", as the invocation's errorType.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Handle validates the payload and delivers the org-day.
func (h *Handler) Handle(ctx context.Context, p Payload) (Outcome, error) {
	if err := audit.ValidateOrgID(p.OrgID); err != nil {
		return Outcome{}, &PermanentError{Err: err}
	}
	day, err := audit.ParseDay(p.Day)
	if err != nil {
		return Outcome{}, &PermanentError{Err: err}
	}
	if p.Attempt < 0 {
		return Outcome{}, &PermanentError{Err: &audit.FieldError{Field: "attempt", Value: fmt.Sprint(p.Attempt), Reason: "must not be negative"}}
	}
	owner := invocationID(ctx)
	if h.Ledger != nil {
		lease := h.Lease
		if lease <= 0 {
			lease = Lease
		}
		prev, err := h.Ledger.Begin(ctx, p.OrgID, day, owner, lease, p.Force)
		switch {
		case errors.Is(err, ledger.ErrDelivered):
			// Ends cleanly: a duplicate or late invocation must not
			// deliver the day twice.
			h.Log.InfoContext(ctx, "skipped: already delivered", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt, "key", prev.Key, "rows", prev.Rows, "sha256", prev.SHA256)
			return Outcome{Result: export.Result{OrgID: p.OrgID, Day: day, Key: prev.Key, Rows: prev.Rows, Bytes: prev.Bytes, SHA256: prev.SHA256}, Skipped: SkippedDelivered}, nil
		case errors.Is(err, ledger.ErrLeased):
			h.Log.InfoContext(ctx, "skipped: another export is delivering this org-day", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt, "lease_owner", prev.LeaseOwner)
			return Outcome{Result: export.Result{OrgID: p.OrgID, Day: day}, Skipped: SkippedLeased}, nil
		case err != nil:
			return Outcome{}, err // transient: the ledger is unavailable
		}
	}
	start := time.Now()
	res, err := h.Exporter.Export(ctx, p.OrgID, day)
	if err != nil {
		permanent := export.IsPermanent(err)
		h.Log.ErrorContext(ctx, "delivery failed", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt,
			"permanent", permanent, "error", err.Error(), "duration_ms", time.Since(start).Milliseconds())
		if h.Ledger != nil {
			if lerr := h.Ledger.Fail(ctx, p.OrgID, day, owner, permanent, err.Error()); lerr != nil {
				h.Log.ErrorContext(ctx, "recording the failure in the ledger failed", "org_id", p.OrgID, "day", p.Day, "error", lerr.Error())
			}
		}
		if permanent {
			return Outcome{}, &PermanentError{Err: err}
		}
		return Outcome{}, err
	}
	h.Log.InfoContext(ctx, "delivered", "org_id", res.OrgID, "day", res.Day.String(), "attempt", p.Attempt,
		"key", res.Key, "rows", res.Rows, "bytes", res.Bytes, "sha256", res.SHA256, "duration_ms", res.Duration.Milliseconds())
	if h.Ledger != nil {
		err := h.Ledger.Finish(ctx, p.OrgID, day, owner, ledger.Result{Key: res.Key, Rows: res.Rows, Bytes: res.Bytes, SHA256: res.SHA256})
		switch {
		case errors.Is(err, ledger.ErrLeaseLost):
			// This export outlived its lease and another took over; both
			// wrote the same complete object under the same key.
			h.Log.WarnContext(ctx, "delivered after the lease was taken over", "org_id", p.OrgID, "day", p.Day)
		case err != nil:
			// The file is delivered but not recorded: a retry delivers
			// it again, overwriting it with the same content.
			return Outcome{}, fmt.Errorf("record the delivery of org %s day %s: %w", p.OrgID, p.Day, err)
		}
	}
	return Outcome{Result: res}, nil
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

// IsPermanent reports whether err (as returned by Handle) is permanent.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}
