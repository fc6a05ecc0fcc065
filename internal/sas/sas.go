// Package sas decrypts and checks the SAS URLs that customers give us for
// Azure Blob delivery.
//
// A customer creates a container SAS URL (permissions create and write, an
// expiry), encrypts it with `openssl pkeyutl` (RSA-OAEP, SHA-256) to the
// public half of our KMS key for their data residency, and submits the
// base64 of the cipher. Decrypter sends the cipher to KMS, where the
// private key stays, and Parse checks the plaintext before any request is
// made with it: an Azure Blob host (or an explicitly allowed emulator), a
// single container, a signature, create and write permissions and nothing
// beyond them but add (no account SAS, no read, list or delete: we must not
// hold a credential that reads or removes the customer's data), an expiry
// in the future.
//
// The decrypted URL is a secret: whoever holds it can write to the
// customer's container. URL therefore prints, logs and marshals as a
// redacted form (sig=REDACTED), and only URL.Reveal gives the real string,
// for the Azure SDK. Errors from this package never contain the signature
// or the query string, and refusals wrap failure.ErrInvalidConfig, because
// only the customer can fix them.
//
// The residencies and the cipher's encoding (base64 in lines, as customers
// submit it) are the model's, internal/destination's; sas names the
// residencies for its keys (Residency, US, EU).
//
// Of this module, sas imports only internal/failure (the sentinel its
// refusals wrap), internal/destination (the model) and internal/rsakey
// (reading the public keys). It may not import
// internal/sink or a sink provider: the Azure sink uses sas, not the other
// way round; nor may destination import sas.
package sas

import (
	"fmt"

	"github.com/contentful/auditlogs/internal/failure"
)

// invalidError is a refusal of customer input. Its message is written here
// from validated or length-only facts, never copied from the input, so it
// cannot carry the secret.
type invalidError struct {
	msg    string
	cause  error // optional, must itself be free of secrets
	reason error // optional: ErrExpired, ErrPermissions, ... (reasons.go)
}

func (e *invalidError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

// Unwrap makes errors.Is(err, failure.ErrInvalidConfig) hold, and
// errors.Is(err, reason) for the refusal's reason.
func (e *invalidError) Unwrap() []error {
	errs := []error{failure.ErrInvalidConfig}
	if e.reason != nil {
		errs = append(errs, e.reason)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}
