// Package exportfn is the export Lambda's handler: it takes one org-day
// from its JSON payload, delivers it with export.Exporter, logs one
// structured line per delivery, and tells permanent failures (no retry can
// fix them) from transient ones by the error's type, which Lambda reports
// as errorType to whatever retries the invocation.
package exportfn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
)

// Payload is the export function's input:
// {"org_id": "...", "day": "YYYY-MM-DD", "attempt": 1}.
type Payload struct {
	OrgID   string `json:"org_id"`
	Day     string `json:"day"`
	Attempt int    `json:"attempt"`
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

// Handler handles export invocations.
type Handler struct {
	Exporter Exporter
	Log      *slog.Logger
}

// PermanentError wraps a failure that retrying the same payload cannot
// fix: a bad payload, an org without an enabled destination, a day out of
// range, a destination that refuses us. Lambda reports its type name,
// "PermanentError", as the invocation's errorType.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Handle validates the payload and delivers the org-day.
func (h *Handler) Handle(ctx context.Context, p Payload) (export.Result, error) {
	if err := audit.ValidateOrgID(p.OrgID); err != nil {
		return export.Result{}, &PermanentError{Err: err}
	}
	day, err := audit.ParseDay(p.Day)
	if err != nil {
		return export.Result{}, &PermanentError{Err: err}
	}
	if p.Attempt < 0 {
		return export.Result{}, &PermanentError{Err: &audit.FieldError{Field: "attempt", Value: fmt.Sprint(p.Attempt), Reason: "must not be negative"}}
	}
	start := time.Now()
	res, err := h.Exporter.Export(ctx, p.OrgID, day)
	if err != nil {
		permanent := export.IsPermanent(err)
		h.Log.ErrorContext(ctx, "delivery failed", "org_id", p.OrgID, "day", p.Day, "attempt", p.Attempt,
			"permanent", permanent, "error", err.Error(), "duration_ms", time.Since(start).Milliseconds())
		if permanent {
			return export.Result{}, &PermanentError{Err: err}
		}
		return export.Result{}, err
	}
	h.Log.InfoContext(ctx, "delivered", "org_id", res.OrgID, "day", res.Day.String(), "attempt", p.Attempt,
		"key", res.Key, "rows", res.Rows, "bytes", res.Bytes, "sha256", res.SHA256, "duration_ms", res.Duration.Milliseconds())
	return res, nil
}

// IsPermanent reports whether err (as returned by Handle) is permanent.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}
