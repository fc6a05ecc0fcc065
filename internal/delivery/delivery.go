// Package delivery is the ledgered delivery of one org-day: the use case
// that the export function, the retry function, `auditctl export` and
// `auditctl backfill` run. Service.Run takes the org-day's lease in the
// ledger, exports with a deadline bounded by the lease (and by the
// caller's own deadline), and records the outcome: the delivery (Finish),
// or the failure and whether it is permanent (Fail). An export that
// outlived its lease is not a success: the day is marked stale and the
// error is transient. A day the ledger holds as delivered is skipped unless
// forced, as is one that another export holds the lease of. Each outcome
// is one structured log line.
//
// delivery may not import internal/exportfn, internal/retryfn or any Lambda
// package (aws-lambda-go): the Lambda adapters read the payload (JobOf)
// and name the invocation that owns the lease (Job.Owner). Of this module
// it imports audit, export (the Delivery and its IsPermanent), exportjob
// (the contract: PermanentError, the skip reasons, the lease's timing)
// and ledger (the Entry, the Result, the chain's links and the ledger's
// errors); the Sealer is internal/seal's, wired by internal/app.
//
// With a Sealer, each delivered file gets its manifest and signature
// before the delivery is recorded: the manifest names the org's chain head
// as its previous, and the ledger records it only if that is still the
// head (ledger.ErrChainMoved otherwise, and the delivery seals again, so
// that of two deliveries to one org at once each names the other at most
// once and the chain stays one line). A file whose manifest could not be
// written is a failed delivery, retried.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
)

// Exporter delivers one org-day (export.Exporter).
type Exporter interface {
	Export(ctx context.Context, org string, day audit.Day) (export.Delivery, error)
}

// Sealer writes a delivered file's manifest and signature beside it
// (internal/seal), after head, the org's last manifest (nil for its
// first), superseding earlier's (the org-day's entry as the lease was
// taken).
type Sealer interface {
	// Seal returns the manifest's record and the day's earlier manifests,
	// oldest first.
	Seal(ctx context.Context, d export.Delivery, head *ledger.Link, earlier *ledger.Entry) (ledger.ManifestRecord, []ledger.ManifestRecord, error)
}

// Ledger records each org-day's delivery (internal/ledger).
type Ledger interface {
	Begin(ctx context.Context, org string, day audit.Day, owner string, lease time.Duration, force bool) (ledger.Entry, error)
	Finish(ctx context.Context, org string, day audit.Day, owner string, r ledger.Result) error
	Fail(ctx context.Context, org string, day audit.Day, owner string, permanent bool, msg string) error
	MarkStale(ctx context.Context, org string, day audit.Day) error
	Head(ctx context.Context, org string) (*ledger.Link, error)
}

// Outcome is a run's result: the delivery, or why none was made.
type Outcome struct {
	export.Result
	// Skipped says why nothing was delivered: "already-delivered" (the
	// result is the earlier delivery's) or "leased" (another export is
	// delivering the org-day).
	Skipped string `json:"skipped,omitempty"`
}

// Job is one run of the delivery.
type Job struct {
	OrgID string
	Day   audit.Day
	// Force delivers a day that the ledger says was delivered already.
	Force bool
	// Attempt is the how-many-th try this is, for the log lines only.
	Attempt int
	// Owner names the run as the lease's owner (a Lambda invocation's
	// request ID); empty means a random "local-" name.
	Owner string
}

// JobOf checks an export payload, in the order the export function always
// has (org ID, day, attempt), and returns its job, without an owner. A
// payload that no retry can fix fails with *exportjob.PermanentError.
func JobOf(p exportjob.Payload) (Job, error) {
	if err := audit.ValidateOrgID(p.OrgID); err != nil {
		return Job{}, &exportjob.PermanentError{Err: err}
	}
	day, err := audit.ParseDay(p.Day)
	if err != nil {
		return Job{}, &exportjob.PermanentError{Err: err}
	}
	if p.Attempt < 0 {
		return Job{}, &exportjob.PermanentError{Err: &audit.FieldError{Field: "attempt", Value: fmt.Sprint(p.Attempt), Reason: "must not be negative"}}
	}
	return Job{OrgID: p.OrgID, Day: day, Force: p.Force, Attempt: p.Attempt}, nil
}

// recordReserve is how long before the caller's own deadline (the
// function's timeout) the export stops: time to record its outcome in the
// ledger, and for the retry function to set its message's backoff.
const recordReserve = 15 * time.Second

// Service runs deliveries. Build it once (internal/app, App.Delivery) and
// share it: it holds no state of its own between runs.
type Service struct {
	Exporter Exporter
	// Ledger, when set, gives one export at a time an org-day's lease and
	// records the outcome; a delivered day is skipped unless forced.
	// Without it every run delivers.
	Ledger Ledger
	// Lease is how long a run holds the org-day's lease; zero means
	// exportjob.Lease (AUDITLOG_LEASE_SECONDS through internal/app).
	Lease time.Duration
	// LeaseMargin is the end of the lease the export leaves unused; zero
	// means exportjob.LeaseMargin (tests with short leases shorten it).
	LeaseMargin time.Duration
	// Sealer, when set, writes each delivered file's manifest and
	// signature; with the Ledger, the manifests form the org's chain.
	Sealer Sealer
	// Log receives one line per outcome (slog.Default if nil).
	Log *slog.Logger
}

// Run delivers org's day as attempt 1, the lease owned by a random name:
// what `auditctl export` and `auditctl backfill` do. force delivers a day
// the ledger holds as delivered.
func (s *Service) Run(ctx context.Context, org string, day audit.Day, force bool) (Outcome, error) {
	return s.RunJob(ctx, Job{OrgID: org, Day: day, Force: force, Attempt: 1})
}

// RunJob delivers j's org-day: Run with the attempt and the owner given.
// A failure no retry can fix is an *exportjob.PermanentError.
func (s *Service) RunJob(ctx context.Context, j Job) (Outcome, error) {
	if err := audit.ValidateOrgID(j.OrgID); err != nil {
		return Outcome{}, &exportjob.PermanentError{Err: err}
	}
	if j.Day.IsZero() {
		return Outcome{}, &exportjob.PermanentError{Err: &audit.FieldError{Field: "day", Value: "", Reason: "is required"}}
	}
	log := s.logger()
	org, day, attempt := j.OrgID, j.Day, j.Attempt
	owner := j.Owner
	if owner == "" {
		owner = randomOwner()
	}
	ectx := ctx              // the export's context: bounded by the lease
	var earlier ledger.Entry // the org-day's entry as the lease was taken
	if s.Ledger != nil {
		lease := s.Lease
		if lease <= 0 {
			lease = exportjob.Lease
		}
		// The lease starts when Begin writes it, after this: a deadline
		// counted from here ends before the lease does.
		taken := time.Now()
		prev, err := s.Ledger.Begin(ctx, org, day, owner, lease, j.Force)
		earlier = prev
		switch {
		case errors.Is(err, ledger.ErrDelivered):
			// Ends cleanly: a duplicate or late invocation must not
			// deliver the day twice.
			log.InfoContext(ctx, "skipped: already delivered", "org_id", org, "day", day.String(), "attempt", attempt, "key", prev.Key, "rows", prev.Rows, "sha256", prev.SHA256)
			return Outcome{Result: export.Result{OrgID: org, Day: day, Key: prev.Key, Rows: prev.Rows, Bytes: prev.Bytes, SHA256: prev.SHA256}, Skipped: exportjob.SkippedDelivered}, nil
		case errors.Is(err, ledger.ErrLeased):
			log.InfoContext(ctx, "skipped: another export is delivering this org-day", "org_id", org, "day", day.String(), "attempt", attempt, "lease_owner", prev.LeaseOwner)
			return Outcome{Result: export.Result{OrgID: org, Day: day}, Skipped: exportjob.SkippedLeased}, nil
		case err != nil:
			return Outcome{}, err // transient: the ledger is unavailable
		}
		var cancel context.CancelFunc
		ectx, cancel = context.WithDeadline(ctx, s.deadline(ctx, taken, lease))
		defer cancel()
	}
	start := time.Now()
	dlv, err := s.Exporter.Export(ectx, org, day)
	res := dlv.Result
	if err != nil {
		return Outcome{}, s.failed(ctx, ectx, j, owner, start, err)
	}
	err = s.record(ctx, ectx, j, owner, dlv, &earlier)
	switch {
	case errors.Is(err, ledger.ErrLeaseLost):
		// This export outlived its lease and another took over: its
		// object may have replaced the newer export's, which could
		// hold events this one missed. Not a success: the day is
		// marked stale, so that it is delivered again, complete, and
		// the error is transient, so that it is retried.
		err = fmt.Errorf("org %s day %s: delivered after the lease was taken over by another export; marked stale, to be delivered again: %w", org, day, err)
		if serr := s.Ledger.MarkStale(ctx, org, day); serr != nil {
			err = fmt.Errorf("%w; marking the day stale failed: %w", err, serr)
		}
		log.WarnContext(ctx, "delivered after the lease was taken over", "org_id", org, "day", day.String(), "error", err.Error())
		return Outcome{}, err
	case errors.As(err, new(*sealError)):
		return Outcome{}, s.failed(ctx, ectx, j, owner, start, err)
	case err != nil:
		// The file is delivered but not recorded: a retry delivers
		// it again, overwriting it with the same content. Release the
		// lease, so that the retry need not wait for it to run out.
		err = fmt.Errorf("record the delivery of org %s day %s: %w", org, day, err)
		if ferr := s.Ledger.Fail(ctx, org, day, owner, false, "delivered, but "+err.Error()); ferr != nil {
			log.ErrorContext(ctx, "recording the failure in the ledger failed", "org_id", org, "day", day.String(), "error", ferr.Error())
		}
		return Outcome{}, err
	}
	return Outcome{Result: res}, nil
}

// maxChainRounds bounds how often a delivery makes its manifest again
// because other deliveries to the org recorded theirs first.
const maxChainRounds = 8

// sealError is a failure to write the manifest of a delivered file: the
// delivery is not complete, and fails as an export does.
type sealError struct{ err error }

func (e *sealError) Error() string {
	return "the file is delivered but its manifest is not: " + e.err.Error()
}
func (e *sealError) Unwrap() error { return e.err }

// record seals the delivery (its manifest after the org's chain head) and
// records it in the ledger, sealing again when another delivery to the org
// moved the head first. It logs the delivery.
func (s *Service) record(ctx, ectx context.Context, j Job, owner string, dlv export.Delivery, earlier *ledger.Entry) error {
	res := dlv.Result
	org, day := j.OrgID, j.Day
	lr := ledger.Result{Key: res.Key, Rows: res.Rows, Bytes: res.Bytes, SHA256: res.SHA256}
	for round := 1; ; round++ {
		var head *ledger.Link
		if s.Sealer != nil {
			if s.Ledger != nil {
				var err error
				if head, err = s.Ledger.Head(ectx, org); err != nil {
					return &sealError{err}
				}
			}
			m, history, err := s.Sealer.Seal(ectx, dlv, head, earlier)
			if err != nil {
				return &sealError{err}
			}
			lr.Manifest, lr.History, lr.Head = &m, history, head
		}
		if s.Ledger == nil {
			s.logDelivered(ctx, j, res, lr.Manifest)
			return nil
		}
		err := s.Ledger.Finish(ctx, org, day, owner, lr)
		if errors.Is(err, ledger.ErrChainMoved) && round < maxChainRounds {
			continue
		}
		if err == nil {
			s.logDelivered(ctx, j, res, lr.Manifest)
		}
		return err
	}
}

func (s *Service) logDelivered(ctx context.Context, j Job, res export.Result, m *ledger.ManifestRecord) {
	attrs := []any{"org_id", res.OrgID, "day", res.Day.String(), "attempt", j.Attempt,
		"key", res.Key, "format", string(res.Format), "rows", res.Rows, "bytes", res.Bytes, "sha256", res.SHA256, "duration_ms", res.Duration.Milliseconds()}
	if m != nil {
		attrs = append(attrs, "manifest", m.Key, "manifest_sha256", m.SHA256)
	}
	s.logger().InfoContext(ctx, "delivered", attrs...)
}

// failed logs and records a failed attempt and returns its error, an
// *exportjob.PermanentError when no retry can fix it.
func (s *Service) failed(ctx, ectx context.Context, j Job, owner string, start time.Time, err error) error {
	org, day := j.OrgID, j.Day
	if d, ok := ectx.Deadline(); ok && ectx.Err() != nil && ctx.Err() == nil {
		// Stopped by the lease's bound, not by the caller.
		err = fmt.Errorf("stopped at %s, before the org-day's lease runs out: %w", d.UTC().Format(time.RFC3339), err)
	}
	permanent := export.IsPermanent(err)
	s.logger().ErrorContext(ctx, "delivery failed", "org_id", org, "day", day.String(), "attempt", j.Attempt,
		"permanent", permanent, "error", err.Error(), "duration_ms", time.Since(start).Milliseconds())
	if s.Ledger != nil {
		if lerr := s.Ledger.Fail(ctx, org, day, owner, permanent, err.Error()); lerr != nil {
			s.logger().ErrorContext(ctx, "recording the failure in the ledger failed", "org_id", org, "day", day.String(), "error", lerr.Error())
		}
	}
	if permanent {
		return &exportjob.PermanentError{Err: err}
	}
	return err
}

// deadline is when an export whose lease was taken at or after taken must
// end: LeaseMargin before the lease does, and recordReserve before the
// caller's own deadline, whichever comes first.
func (s *Service) deadline(ctx context.Context, taken time.Time, lease time.Duration) time.Time {
	margin := s.LeaseMargin
	if margin <= 0 {
		margin = exportjob.LeaseMargin
	}
	d := taken.Add(lease - margin)
	if cd, ok := ctx.Deadline(); ok && cd.Add(-recordReserve).Before(d) {
		d = cd.Add(-recordReserve)
	}
	return d
}

func (s *Service) logger() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// randomOwner names a run outside Lambda (the CLI) as the lease's owner.
func randomOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "local-" + hex.EncodeToString(b)
}
