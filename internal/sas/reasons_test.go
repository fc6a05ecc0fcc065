package sas_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/failure"
	"github.com/contentful/auditlogs/internal/sas"
)

// TestRefusalReasons: each refusal that a customer fixes in a specific way
// carries exactly its reason, so that callers (auditctl verify) can name
// it with errors.Is; other refusals carry none of them.
func TestRefusalReasons(t *testing.T) {
	reasons := []error{sas.ErrExpired, sas.ErrPermissions, sas.ErrScope, sas.ErrHostNotAllowed, sas.ErrUndecryptable, sas.ErrNoKey}
	for _, tc := range []struct {
		name string
		raw  string
		want error // nil: none of the reasons
	}{
		{"expired", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-01-02T00:00:00Z"), sas.ErrExpired},
		{"expires right now", azureHost + "/audit-logs?" + query("sp", "cw", "se", "2026-06-01T12:00:00Z"), sas.ErrExpired},
		{"read only", azureHost + "/audit-logs?" + query("sp", "r", "se", "2026-12-31"), sas.ErrPermissions},
		{"write only", azureHost + "/audit-logs?" + query("sp", "w", "se", "2026-12-31"), sas.ErrPermissions},
		{"no permissions", azureHost + "/audit-logs?" + query("se", "2026-12-31"), sas.ErrPermissions},
		{"read and list, no write", azureHost + "/audit-logs?" + query("sp", "rl", "se", "2026-12-31"), sas.ErrPermissions},
		{"read and delete too", azureHost + "/audit-logs?" + query("sp", "rcwd", "se", "2026-12-31"), sas.ErrScope},
		{"account SAS", azureHost + "/audit-logs?" + query("ss", "b", "srt", "c", "sp", "cw", "se", "2026-12-31"), sas.ErrScope},
		{"other host", "https://evil.example.com/audit-logs?" + good, sas.ErrHostNotAllowed},
		{"attacker suffix", "https://acct01.blob.core.windows.net.evil.example.com/audit-logs?" + good, sas.ErrHostNotAllowed},
		{"emulator not allowed", "http://" + emuHost + "/devstoreaccount1/audit-logs?" + good, sas.ErrHostNotAllowed},
		{"no signature", azureHost + "/audit-logs?sv=2025-01-05&sr=c&sp=cw&se=2026-12-31", nil},
		{"blob SAS", azureHost + "/audit-logs?" + query("sr", "b", "sp", "cw", "se", "2026-12-31"), nil},
		{"bad expiry", azureHost + "/audit-logs?" + query("sp", "cw", "se", "tomorrow"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sas.Parse(tc.raw, now, sas.Policy{})
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if !errors.Is(err, failure.ErrInvalidConfig) {
				t.Errorf("error does not wrap failure.ErrInvalidConfig: %v", err)
			}
			for _, r := range reasons {
				if got := errors.Is(err, r); got != (r == tc.want) {
					t.Errorf("errors.Is(err, %q) = %v; err = %v", r, got, err)
				}
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
}

func TestExpiredError(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	err := sas.ExpiredError(at)
	if !errors.Is(err, sas.ErrExpired) || !errors.Is(err, failure.ErrInvalidConfig) || err.Error() != "SAS URL expired at 2026-01-02T02:04:05Z" {
		t.Fatalf("ExpiredError = %v", err)
	}
}

// TestDecryptReasons: KMS refusing the cipher is ErrUndecryptable (the
// customer's to fix), a residency without a key is ErrNoKey and not
// ErrInvalidConfig (ours), and a KMS outage is neither.
func TestDecryptReasons(t *testing.T) {
	cipher := base64.StdEncoding.EncodeToString(randomBytes(t, destination.CipherBytes))
	keys := map[sas.Residency]string{sas.US: "key-us"}
	for _, tc := range []struct {
		name    string
		res     sas.Residency
		kms     *fakeKMS
		want    error
		invalid bool
	}{
		{"wrong key", sas.US, &fakeKMS{err: &types.InvalidCiphertextException{Message: aws.String("")}}, sas.ErrUndecryptable, true},
		{"incorrect key", sas.US, &fakeKMS{err: &types.IncorrectKeyException{Message: aws.String("")}}, sas.ErrUndecryptable, true},
		{"no key for residency", sas.EU, &fakeKMS{}, sas.ErrNoKey, false},
		{"KMS unavailable", sas.US, &fakeKMS{err: &types.KMSInternalException{Message: aws.String("")}}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &sas.Decrypter{KMS: tc.kms, KeyIDs: keys, Now: func() time.Time { return now }}
			_, err := d.Decrypt(context.Background(), tc.res, cipher)
			if err == nil {
				t.Fatal("Decrypt succeeded")
			}
			for _, r := range []error{sas.ErrUndecryptable, sas.ErrNoKey, sas.ErrExpired} {
				if got := errors.Is(err, r); got != (r == tc.want) {
					t.Errorf("errors.Is(err, %q) = %v; err = %v", r, got, err)
				}
			}
			if got := errors.Is(err, failure.ErrInvalidConfig); got != tc.invalid {
				t.Errorf("errors.Is(err, failure.ErrInvalidConfig) = %v, want %v; err = %v", got, tc.invalid, err)
			}
		})
	}
}
