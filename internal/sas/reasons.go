package sas

import (
	"errors"
	"time"
)

// Reasons for a refusal, for callers that must tell the customer precisely
// what to fix (auditctl verify): errors.Is(err, ErrExpired) and so on. A
// refusal wraps at most one of them, on top of failure.ErrInvalidConfig (or,
// for ErrNoKey, instead of it: that one is ours to fix). Refusals that
// wrap none are other problems with the URL's form, named in the message.
var (
	// ErrExpired: the SAS's expiry (se) is not in the future.
	ErrExpired = errors.New("SAS expired")
	// ErrPermissions: the SAS lacks create (c) or write (w).
	ErrPermissions = errors.New("SAS lacks create and write permissions")
	// ErrScope: the SAS reaches further than writing to one container:
	// an account SAS (ss, srt), or permissions beyond create, write and
	// add (read, list, delete, ...). We must not hold it.
	ErrScope = errors.New("SAS grants more than writing to one container")
	// ErrHostNotAllowed: the URL's host is neither an Azure Blob host nor
	// an allowed emulator, so the signature is not sent there.
	ErrHostNotAllowed = errors.New("SAS host not allowed")
	// ErrUndecryptable: KMS refused to decrypt the cipher with the
	// residency's key (made with another key, or not a cipher).
	ErrUndecryptable = errors.New("SAS cipher cannot be decrypted")
	// ErrNoKey: no KMS key is configured for the residency: our
	// configuration, not the customer's.
	ErrNoKey = errors.New("no KMS key configured for the residency")
)

// refusef is invalidf with a reason.
func refusef(reason error, format string, args ...any) error {
	e := invalidf(format, args...).(*invalidError)
	e.reason = reason
	return e
}

// ExpiredError is the refusal of a SAS URL that expired at expiry, for
// checks made after Parse (the sink checks again before each upload).
func ExpiredError(expiry time.Time) error {
	return refusef(ErrExpired, "SAS URL expired at %s", expiry.UTC().Format(time.RFC3339))
}
