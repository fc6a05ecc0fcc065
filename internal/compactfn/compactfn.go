// Package compactfn is the compaction Lambda's handler: the item processor
// of the daily compaction state machine (a Step Functions Distributed Map
// over the lake's org buckets) invokes it once per bucket. It translates
// the event and calls compaction.Compactor for each day the event names:
//
//	{"bucket": 17, "time": "2026-12-02T00:30:00Z"}   the closed days up to time − margin, the last LookbackDays
//	{"bucket": 17, "day": "2026-12-01"}              that day only (a manual run, auditctl compact)
//
// Looking back over several days is how late events are found: a
// bucket-day whose manifest lists all its raw objects costs a List and a
// Get, and one with a raw object it does not list is compacted again (see
// internal/compaction). Bad input is a *BadEventError, which the state
// machine does not retry; everything else is transient and is retried
// with backoff by the state machine.
//
// It imports audit, lake and compaction, never another function's package
// or the composition root (functions/compact builds it).
package compactfn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/lake"
)

// Margin is how long after a day's end its compaction starts: Firehose
// flushes a partition's buffer after at most 900 s (its largest buffering
// interval), and a Kinesis batch that the ingest retries reaches Firehose
// within its own few minutes; 30 minutes covers both with room. Events that
// come later still are late events, found by the look-back.
const Margin = 30 * time.Minute

// LookbackDays is how many closed days a scheduled run checks for late raw
// objects: a week, the span of the export's retries.
const LookbackDays = 7

// Event is the item processor's input.
type Event struct {
	Bucket *int   `json:"bucket"`
	Day    string `json:"day,omitempty"`
	Time   string `json:"time,omitempty"`
}

// Output is what the handler returns to the state machine, one result per
// day compacted.
type Output struct {
	Bucket  int                 `json:"bucket"`
	Results []compaction.Result `json:"results"`
	// Changed counts the org-days marked stale (late events).
	Changed int `json:"changed"`
}

// BadEventError is an event the handler cannot act on. Its name is the
// Lambda error type that the state machine's retry excludes.
type BadEventError struct {
	Field, Value, Reason string
}

func (e *BadEventError) Error() string {
	return fmt.Sprintf("compaction event: %s %q: %s", e.Field, e.Value, e.Reason)
}

// Compactor compacts one bucket-day (compaction.Compactor).
type Compactor interface {
	Compact(ctx context.Context, day audit.Day, bucket int) (compaction.Result, error)
}

// Handler handles compaction events.
type Handler struct {
	Compactor Compactor
	Log       *slog.Logger
	Now       func() time.Time // nil for time.Now
}

// Days returns the days an event asks for, oldest first.
func (h *Handler) Days(ev Event) ([]audit.Day, error) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	if ev.Day != "" {
		d, err := audit.ParseDay(ev.Day)
		if err != nil {
			return nil, &BadEventError{"day", ev.Day, "must be a day such as 2026-12-01"}
		}
		if !d.End().Before(now()) {
			return nil, &BadEventError{"day", ev.Day, "is not over yet"}
		}
		return []audit.Day{d}, nil
	}
	at := now()
	if ev.Time != "" {
		t, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			return nil, &BadEventError{"time", ev.Time, "must be an RFC 3339 time such as 2026-12-02T00:30:00Z"}
		}
		at = t
	}
	// The last day whose end is at least Margin before at.
	last := audit.DayOf(at.Add(-Margin)).AddDays(-1)
	days := make([]audit.Day, 0, LookbackDays)
	for i := LookbackDays - 1; i >= 0; i-- {
		days = append(days, last.AddDays(-i))
	}
	return days, nil
}

// Handle compacts the event's bucket for each of its days. Every day is
// tried; the first error is returned after the others ran, so that one bad
// day does not hold back the rest of the bucket.
func (h *Handler) Handle(ctx context.Context, ev Event) (Output, error) {
	if ev.Bucket == nil {
		return Output{}, &BadEventError{"bucket", "", "is required"}
	}
	out := Output{Bucket: *ev.Bucket}
	if *ev.Bucket < 0 || *ev.Bucket >= lake.Buckets {
		return out, &BadEventError{"bucket", fmt.Sprint(*ev.Bucket), fmt.Sprintf("must be 0 to %d", lake.Buckets-1)}
	}
	days, err := h.Days(ev)
	if err != nil {
		return out, err
	}
	var errs []error
	for _, d := range days {
		res, err := h.Compactor.Compact(ctx, d, *ev.Bucket)
		if err != nil {
			errs = append(errs, err)
			if h.Log != nil {
				h.Log.ErrorContext(ctx, "compaction failed", "day", d.String(), "bucket", *ev.Bucket, "error", err.Error())
			}
			continue
		}
		out.Results = append(out.Results, res)
		out.Changed += len(res.Changed)
	}
	return out, errors.Join(errs...)
}
