// Package fanoutfn is the fan-out Lambda's handler: on the daily schedule
// it reads every destination from the registry (a parallel scan) and
// invokes the export function asynchronously once per enabled org, with
// bounded concurrency. Throttling is retried with backoff by the SDK's
// retryer (configured in functions/fanout); invocations that still fail
// make the handler fail with their orgs named, so that the scheduler's own
// retry runs the fan-out again. The same scan counts the enabled Azure
// destinations whose SAS URL expires within 30 days (or has expired): a
// log line per org and the CloudWatch metric AuditLogs/SASExpiringSoon,
// which the stack alarms on, so the customer is asked for a new SAS
// before deliveries fail. A registry item that is not a valid destination
// is skipped, never the end of the scan: every valid org is still
// invoked, and the run logs one line per skipped item (org, field,
// reason) and counts them in AuditLogs/InvalidRegistryItems, which the
// stack alarms on too.
//
// It may import the packages it reads and starts the export through
// (registry, ledger, destination, exportjob, metrics), never the export
// function's handler (internal/exportfn) or another function's package.
// The stack (infra/stack) must not import it: it takes the metric names
// from internal/metrics.
package fanoutfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/metrics"
	"github.com/contentful/auditlogs/internal/registry"
)

// Lister is the registry's parallel scan: fn for each valid destination,
// invalid for each item that is not one.
type Lister interface {
	ListParallel(ctx context.Context, segments int, fn func(destination.Destination) error, invalid func(registry.InvalidItem)) error
}

// Invoker is the part of the Lambda client the fan-out uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Handler handles scheduled and manual fan-out events.
type Handler struct {
	Registry       Lister
	Lambda         Invoker
	ExportFunction string // name or ARN of the export function
	Concurrency    int    // invocations in flight (default 16)
	Segments       int    // parallel scan segments (default 4)
	Log            *slog.Logger

	// Ledger, when set, turns on catch-up: every day of the Lookback
	// window before the target day that the ledger does not show as
	// delivered is dispatched too, from the day the destination was
	// registered, so a customer who fixes a broken destination on day 3
	// receives days 1 to 3 (each once: the export skips delivered days).
	Ledger   Ledger
	Lookback int // days, the target day included (default 7)

	// Metrics, when set, receives the run's embedded-metric-format line
	// (the function's standard output in Lambda): SASExpiringSoon and
	// InvalidRegistryItems.
	Metrics io.Writer
	// Now is the clock SAS expiries are compared with (time.Now if nil).
	Now func() time.Time
}

// Ledger is the delivery ledger's read side.
type Ledger interface {
	Days(ctx context.Context, org string, from, to audit.Day) ([]ledger.Entry, error)
}

// DefaultLookback is the catch-up window in days, the target day included.
const DefaultLookback = 7

// WindowStart is the oldest day a run for target delivers when it is not
// delivered yet (or stale): the first of lookback days ending with target
// (DefaultLookback when lookback < 1).
func WindowStart(target audit.Day, lookback int) audit.Day {
	if lookback < 1 {
		lookback = DefaultLookback
	}
	return target.AddDays(-(lookback - 1))
}

// Detail is the optional detail of a manual run: {"day": "YYYY-MM-DD"}.
type Detail struct {
	Day string `json:"day"`
}

// Summary is what one fan-out did.
type Summary struct {
	Day        string   `json:"day"`
	Seen       int      `json:"orgs_seen"`
	Enabled    int      `json:"orgs_enabled"`
	Invoked    int      `json:"invoked"`
	CatchUp    int      `json:"catch_up_invoked"` // of Invoked, for days before the target day
	Failed     int      `json:"failed"`
	FailedOrgs []string `json:"failed_orgs,omitempty"`
	// SASExpiringSoon counts the enabled Azure destinations whose SAS URL
	// expires within destination.SASWarnBefore or has expired.
	SASExpiringSoon int `json:"sas_expiring_soon"`
	// InvalidItems counts the registry items skipped because they are not
	// valid destinations (InvalidOrgs names their orgs): none of them was
	// invoked, every valid org was.
	InvalidItems int      `json:"invalid_items"`
	InvalidOrgs  []string `json:"invalid_orgs,omitempty"`
}

// ManualRun is the event of a run for day started by hand (auditctl run,
// the demo), as events/manual-run.json shows it.
func ManualRun(day audit.Day) events.EventBridgeEvent {
	detail, _ := json.Marshal(Detail{Day: day.String()})
	return events.EventBridgeEvent{DetailType: "Manual Run", Source: "auditlogs.operator", Time: time.Now().UTC(), Detail: detail}
}

// TargetDay is the day a fan-out delivers: the detail's day for a manual
// run, else the UTC day before the event's time.
func TargetDay(ev events.EventBridgeEvent) (audit.Day, error) {
	if raw := strings.TrimSpace(string(ev.Detail)); raw != "" && raw != "null" && raw != "{}" {
		var d Detail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return audit.Day{}, &exportjob.PermanentError{Err: fmt.Errorf("event detail %s: %w", raw, err)}
		}
		if d.Day != "" {
			day, err := audit.ParseDay(d.Day)
			if err != nil {
				return audit.Day{}, &exportjob.PermanentError{Err: err}
			}
			return day, nil
		}
	}
	if ev.Time.IsZero() {
		return audit.Day{}, &exportjob.PermanentError{Err: &audit.FieldError{Field: "time", Value: "", Reason: "the event has no time and no detail.day"}}
	}
	return audit.DayOf(ev.Time).AddDays(-1), nil
}

// Handle fans out one day.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) (Summary, error) {
	day, err := TargetDay(ev)
	if err != nil {
		return Summary{}, err
	}
	start := time.Now()
	now := start
	if h.Now != nil {
		now = h.Now()
	}
	sum := Summary{Day: day.String()}
	workers := h.Concurrency
	if workers < 1 {
		workers = 16
	}
	segments := h.Segments
	if segments < 1 {
		segments = 4
	}

	orgs := make(chan destination.Destination)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for d := range orgs {
				days, err := h.days(ctx, d, day)
				if err != nil {
					// Catch-up is lost for this org today, not the day itself.
					h.Log.ErrorContext(ctx, "read the ledger for catch-up failed", "org_id", d.OrgID, "error", err.Error())
					days = []audit.Day{day}
				}
				for _, dd := range days {
					err := h.invoke(ctx, d.OrgID, dd)
					mu.Lock()
					if err != nil {
						sum.Failed++
						name := d.OrgID
						if dd != day {
							name += " (" + dd.String() + ")"
						}
						sum.FailedOrgs = append(sum.FailedOrgs, name)
						h.Log.ErrorContext(ctx, "invoke export failed", "org_id", d.OrgID, "day", dd.String(), "error", err.Error())
					} else {
						sum.Invoked++
						if dd != day {
							sum.CatchUp++
						}
					}
					mu.Unlock()
				}
			}
		})
	}
	listErr := h.Registry.ListParallel(ctx, segments, func(d destination.Destination) error {
		mu.Lock()
		sum.Seen++
		if d.Enabled {
			sum.Enabled++
		}
		soon := d.Enabled && d.SASExpiresSoon(now)
		if soon {
			sum.SASExpiringSoon++
		}
		mu.Unlock()
		if !d.Enabled {
			return nil
		}
		if soon {
			h.warnExpiry(ctx, d, now)
		}
		select {
		case orgs <- d:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func(bad registry.InvalidItem) {
		mu.Lock()
		sum.InvalidItems++
		sum.InvalidOrgs = append(sum.InvalidOrgs, bad.OrgID)
		mu.Unlock()
		// The registry never puts the SAS cipher in Value.
		h.Log.ErrorContext(ctx, "registry item skipped: not a valid destination, its org is not delivered until it is fixed",
			"org_id", bad.OrgID, "field", bad.Field, "value", bad.Value, "reason", bad.Reason)
	})
	close(orgs)
	wg.Wait()
	sort.Strings(sum.FailedOrgs)
	sort.Strings(sum.InvalidOrgs)

	h.Log.InfoContext(ctx, "fan-out done", "day", sum.Day, "orgs_seen", sum.Seen, "orgs_enabled", sum.Enabled,
		"invoked", sum.Invoked, "catch_up_invoked", sum.CatchUp, "failed", sum.Failed, "sas_expiring_soon", sum.SASExpiringSoon, "invalid_items", sum.InvalidItems, "duration_ms", time.Since(start).Milliseconds())
	var errs []error
	if listErr != nil {
		errs = append(errs, fmt.Errorf("read registry: %w", listErr))
	} else if h.Metrics != nil {
		// Only after a whole scan: a partial count could clear an alarm
		// while expiring SAS URLs or invalid items went unseen (a failed
		// scan fails the run, which has its own alarm).
		counts := map[string]int64{metrics.SASExpiringSoon: int64(sum.SASExpiringSoon), metrics.InvalidRegistryItems: int64(sum.InvalidItems)}
		if err := metrics.Write(h.Metrics, now, counts, map[string]any{"day": sum.Day}); err != nil {
			h.Log.ErrorContext(ctx, "write metric", "error", err.Error())
		}
	}
	if sum.Failed > 0 {
		names := sum.FailedOrgs
		more := ""
		if len(names) > 50 {
			names, more = names[:50], fmt.Sprintf(" and %d more", len(sum.FailedOrgs)-50)
		}
		errs = append(errs, fmt.Errorf("invoking the export for day %s failed for %d orgs: %s%s", sum.Day, sum.Failed, strings.Join(names, ", "), more))
	}
	return sum, errors.Join(errs...)
}

// warnExpiry logs one line for an org whose SAS URL expires soon: the org
// and the date, for the operator to ask the customer for a new one. The
// SAS itself is never at hand here (the fan-out does not decrypt).
func (h *Handler) warnExpiry(ctx context.Context, d destination.Destination, now time.Time) {
	exp := d.Azure.SASExpiry
	if !exp.After(now) {
		h.Log.WarnContext(ctx, "SAS URL expired: deliveries to this org fail until it sends a new one", "org_id", d.OrgID,
			"sas_expires", exp.UTC().Format(time.RFC3339))
		return
	}
	h.Log.WarnContext(ctx, "SAS URL expires soon: ask the org for a new one", "org_id", d.OrgID,
		"sas_expires", exp.UTC().Format(time.RFC3339), "days_left", int(exp.Sub(now).Hours()/24))
}

// days are the days to dispatch for d: the target day, and with a ledger
// the earlier days of the window, from the destination's registration,
// that are not delivered, oldest first.
func (h *Handler) days(ctx context.Context, d destination.Destination, target audit.Day) ([]audit.Day, error) {
	if h.Ledger == nil {
		return []audit.Day{target}, nil
	}
	from := WindowStart(target, h.Lookback)
	if !d.CreatedAt.IsZero() {
		if created := audit.DayOf(d.CreatedAt); from.Before(created) {
			from = created
		}
	}
	if !from.Before(target) {
		// Registered on or after the target day: nothing to catch up,
		// and no Query (DynamoDB refuses a BETWEEN whose bounds cross).
		return []audit.Day{target}, nil
	}
	entries, err := h.Ledger.Days(ctx, d.OrgID, from, target.AddDays(-1))
	if err != nil {
		return nil, err
	}
	delivered := map[audit.Day]bool{}
	for _, e := range entries {
		if e.Current() { // a stale delivery lacks late events: deliver it again
			delivered[e.Day] = true
		}
	}
	var days []audit.Day
	for dd := from; dd.Before(target); dd = dd.AddDays(1) {
		if !delivered[dd] {
			days = append(days, dd)
		}
	}
	return append(days, target), nil
}

func (h *Handler) invoke(ctx context.Context, org string, day audit.Day) error {
	payload, err := json.Marshal(exportjob.Payload{OrgID: org, Day: day.String(), Attempt: 1})
	if err != nil {
		return err
	}
	out, err := h.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(h.ExportFunction),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return err
	}
	switch out.StatusCode {
	case 202: // Lambda queued the event: the export runs on its own.
		return nil
	case 200:
		// Only an emulator (the Lambda Runtime Interface Emulator of the
		// local stack) answers an Event invocation with 200: it ran the
		// function synchronously and returns its result, where a failed
		// export shows as {"errorMessage": ...}. Count that as a failure,
		// so that a local run reports it as Lambda's async path would
		// report it through the on-failure destination.
		if msg, failed := functionError(out); failed {
			return fmt.Errorf("invoke %s: the function failed: %s", h.ExportFunction, msg)
		}
		return nil
	default:
		return fmt.Errorf("invoke %s: status %d, want 202 (accepted)", h.ExportFunction, out.StatusCode)
	}
}

// functionError reads a synchronous answer: Lambda's X-Amz-Function-Error
// header or the runtime's error document.
func functionError(out *lambda.InvokeOutput) (string, bool) {
	var doc struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	_ = json.Unmarshal(out.Payload, &doc)
	switch {
	case doc.Message != "":
		return doc.Message, true
	case aws.ToString(out.FunctionError) != "":
		return aws.ToString(out.FunctionError), true
	}
	return "", false
}
