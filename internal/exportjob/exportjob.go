// Package exportjob is the contract between the export function and the
// functions and commands that start it: the payload of one org-day's
// export, the permanent-error type that Lambda reports as the invocation's
// errorType, the reasons for an export that delivered nothing, and the
// timing that the stack, the configuration and the delivery agree on.
//
// It is a leaf: it imports nothing of this module, so that the fan-out
// and the retry function can build payloads and classify errors without
// linking the export pipeline.
package exportjob

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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

// PermanentError wraps a failure that retrying the same payload cannot
// fix: a bad payload, an org without an enabled destination, a day out of
// range, a destination that refuses us. Lambda reports its type name,
// "PermanentError", as the invocation's errorType.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is, or wraps, a PermanentError.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// Reasons for an export that delivered nothing.
const (
	SkippedDelivered = "already-delivered" // the ledger holds the delivery; not forced
	SkippedLeased    = "leased"            // another export is delivering the org-day
)

// FunctionTimeout is the timeout of the functions that run exports (the
// export and the retry function): Lambda's maximum, which the CDK stack
// gives both.
const FunctionTimeout = 15 * time.Minute

// Lease is how long an export holds its org-day: longer than the
// function's 15-minute timeout plus LeaseMargin, so that only a dead
// export's lease runs out and is taken over.
const Lease = 17 * time.Minute

// LeaseMargin is the end of its lease an export leaves unused: its
// deadline is the lease's start + lease - LeaseMargin, so that what may
// still happen after it (S3 may apply a CompleteMultipartUpload whose
// request was cancelled, the clocks of two hosts differ) is over before
// another export can take the lease over.
const LeaseMargin = time.Minute
