// Package backfill re-delivers a range of days for one org through the
// ledgered delivery (internal/delivery), the same path as `auditctl export
// --force`, and summarizes the outcome of each day. A failed day does not
// stop the others.
//
// Days go one after another by default. Each delivery is already parallel
// inside (the lake's file is read ahead while several parts upload at
// once), so more days at once mostly adds load on the log store, which
// the daily run shares, and on the customer's bucket; one at a time also
// makes an interruption stop after exactly the day in progress. A small
// Concurrency is allowed for long ranges of small days.
//
// Cancelling the context stops the run between days: a day that has
// started is finished (on a context of its own, bounded by DayTimeout),
// since cutting an upload short only wastes it, and the days not started
// are reported as not run.
//
// backfill may not import internal/exportfn or any Lambda package: it
// hands each day to its Deliverer as an audit.Day.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
)

// MaxConcurrency bounds Runner.Concurrency.
const MaxConcurrency = 4

// Status of one day.
type Status string

const (
	// Delivered: the file was written now.
	Delivered Status = "delivered"
	// AlreadyDelivered: the ledger says so and the run was not forced;
	// the result is the earlier delivery's.
	AlreadyDelivered Status = "already-delivered"
	// Leased: another export is delivering the day now; its outcome is
	// not known here.
	Leased Status = "leased"
	// Failed: the delivery failed; Error says why.
	Failed Status = "failed"
	// NotRun: the run was interrupted before the day started.
	NotRun Status = "not-run"
)

// DayResult is the outcome of one day.
type DayResult struct {
	Day        audit.Day `json:"day"`
	Status     Status    `json:"status"`
	Key        string    `json:"key,omitempty"`
	Rows       int64     `json:"rows"`
	Bytes      int64     `json:"bytes"`
	SHA256     string    `json:"sha256,omitempty"`
	Error      string    `json:"error,omitempty"`
	Permanent  bool      `json:"permanent,omitempty"` // the error is one no retry fixes
	DurationMS int64     `json:"duration_ms"`
}

// Summary is the outcome of a run.
type Summary struct {
	OrgID       string      `json:"org_id"`
	From        audit.Day   `json:"from"`
	To          audit.Day   `json:"to"`
	Days        []DayResult `json:"days"`
	Delivered   int         `json:"delivered"` // written now or before (AlreadyDelivered)
	Failed      int         `json:"failed"`
	Leased      int         `json:"leased"`
	NotRun      int         `json:"not_run"`
	Interrupted bool        `json:"interrupted"`
}

// OK reports whether every day is delivered, now or before.
func (s Summary) OK() bool { return s.Delivered == len(s.Days) }

// RangeError is a range that cannot be backfilled: Field is "from" or
// "to", Value the day as given.
type RangeError struct {
	Field, Value, Reason string
	Err                  error // export.ErrDayNotOver, export.ErrOutsideRetention or nil
}

func (e *RangeError) Error() string { return fmt.Sprintf("%s %s: %s", e.Field, e.Value, e.Reason) }
func (e *RangeError) Unwrap() error { return e.Err }

// Days returns the days from..to (inclusive) after checking, up front, that
// each can be delivered at now with the log store's retention: the same
// rule the export applies to one day (export.CheckDay).
func Days(from, to audit.Day, now time.Time, retention time.Duration) ([]audit.Day, error) {
	if to.Before(from) {
		return nil, &RangeError{Field: "from", Value: from.String(), Reason: "is after to " + to.String()}
	}
	for _, c := range []struct {
		field string
		day   audit.Day
	}{{"from", from}, {"to", to}} {
		err := export.CheckDay(c.day, now, retention)
		switch {
		case errors.Is(err, export.ErrDayNotOver):
			return nil, &RangeError{Field: c.field, Value: c.day.String(), Err: err,
				Reason: fmt.Sprintf("is not over yet: days up to yesterday (UTC), %s, can be delivered", audit.DayOf(now).AddDays(-1))}
		case errors.Is(err, export.ErrOutsideRetention):
			return nil, &RangeError{Field: c.field, Value: c.day.String(), Err: err,
				Reason: fmt.Sprintf("is older than the log store keeps events (%s): the oldest day that can be delivered now is %s", days(retention), export.OldestDay(now, retention))}
		case err != nil:
			return nil, err
		}
	}
	var out []audit.Day
	for d := from; !to.Before(d); d = d.AddDays(1) {
		out = append(out, d)
	}
	return out, nil
}

// days writes a retention in days when it is whole days.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// Deliverer delivers one org-day (*delivery.Service).
type Deliverer interface {
	Run(ctx context.Context, org string, day audit.Day, force bool) (delivery.Outcome, error)
}

// Progress hears of each day as it starts and ends. Calls are serialized.
type Progress interface {
	Start(day audit.Day)
	Done(r DayResult, done, total int)
}

// Runner runs backfills.
type Runner struct {
	Delivery Deliverer
	// Concurrency is the number of days delivered at once: 1 if zero,
	// at most MaxConcurrency.
	Concurrency int
	// DayTimeout bounds one day's delivery; zero means none beyond the
	// delivery's own.
	DayTimeout time.Duration
	// Progress, if set, is told of each day.
	Progress Progress
}

// Run delivers each of days for org; force re-delivers days the ledger
// shows as delivered. It returns when every started day has ended.
func (r *Runner) Run(ctx context.Context, org string, days []audit.Day, force bool) Summary {
	sum := Summary{OrgID: org, Days: make([]DayResult, len(days))}
	if len(days) == 0 {
		return sum
	}
	sum.From, sum.To = days[0], days[len(days)-1]
	for i, d := range days {
		sum.Days[i] = DayResult{Day: d, Status: NotRun}
	}
	n := min(max(r.Concurrency, 1), MaxConcurrency)
	var mu sync.Mutex // serializes Progress and done
	done := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					// Interrupted while this day waited for a worker: the
					// feeding select may still have handed it over.
					continue
				}
				day := days[i]
				mu.Lock()
				if r.Progress != nil {
					r.Progress.Start(day)
				}
				mu.Unlock()
				res := r.one(ctx, org, day, force)
				mu.Lock()
				sum.Days[i] = res
				done++
				if r.Progress != nil {
					r.Progress.Done(res, done, len(days))
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range days {
		// Checked before the select too: when a worker is free and ctx is
		// already done, select would pick either case at random.
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	sum.Interrupted = ctx.Err() != nil
	for _, d := range sum.Days {
		switch d.Status {
		case Delivered, AlreadyDelivered:
			sum.Delivered++
		case Failed:
			sum.Failed++
		case Leased:
			sum.Leased++
		case NotRun:
			sum.NotRun++
		}
	}
	return sum
}

// one delivers one day on a context that the run's cancellation does not
// reach (see the package comment).
func (r *Runner) one(ctx context.Context, org string, day audit.Day, force bool) DayResult {
	dctx := context.WithoutCancel(ctx)
	if r.DayTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(dctx, r.DayTimeout)
		defer cancel()
	}
	start := time.Now()
	out, err := r.Delivery.Run(dctx, org, day, force)
	res := DayResult{Day: day, DurationMS: time.Since(start).Milliseconds()}
	if err != nil {
		res.Status, res.Error, res.Permanent = Failed, err.Error(), exportjob.IsPermanent(err)
		return res
	}
	res.Key, res.Rows, res.Bytes, res.SHA256 = out.Key, out.Rows, out.Bytes, out.SHA256
	switch out.Skipped {
	case exportjob.SkippedDelivered:
		res.Status = AlreadyDelivered
	case exportjob.SkippedLeased:
		res.Status = Leased
	default:
		res.Status = Delivered
	}
	return res
}
