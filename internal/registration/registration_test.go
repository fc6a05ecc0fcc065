package registration_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/registration"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/memsink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// These tests need no emulator: the opener, the decrypter and the
// registry are fakes. cmd/auditctl runs `destination put` through
// Register on the emulators (moto evaluating trust policies, local-kms,
// Azurite's SAS URLs), and the local stack's demo registers through it.

const testSig = "k3Y+q1Xv7s9w/zR0aB4cD5eF6gH7iJ8kL9mN0oP1qR2="

var (
	now    = time.Now().UTC()
	expiry = now.Add(90 * 24 * time.Hour).Truncate(time.Second)
	rawSAS = "https://acct01.blob.core.windows.net/logs?sv=2025-01-05&sr=c&sp=cw&se=" + expiry.Format(time.RFC3339) + "&sig=" + url.QueryEscape(testSig)
)

// sinks is the opener: Open fails with openErr, CheckExternalID with
// trustErr.
type sinks struct{ openErr, trustErr error }

func (s sinks) Open(context.Context, destination.Destination) (sink.Sink, error) {
	if s.openErr != nil {
		return nil, s.openErr
	}
	return memsink.New(), nil
}

func (s sinks) CheckExternalID(context.Context, destination.Destination) error { return s.trustErr }

// decrypter decrypts every cipher to rawSAS, or fails with err.
type decrypter struct{ err error }

func (d decrypter) Decrypt(_ context.Context, _ sas.Residency, _ string) (*sas.URL, error) {
	if d.err != nil {
		return nil, d.err
	}
	return sas.Parse(rawSAS, now, sas.Policy{})
}

// store records what is stored, or fails with err.
type store struct {
	saved  []destination.Destination
	shared [][]string
	err    error
}

func (s *store) PutShared(_ context.Context, d destination.Destination, shared []string) (destination.Destination, error) {
	if s.err != nil {
		return d, s.err
	}
	s.saved, s.shared = append(s.saved, d), append(s.shared, shared)
	return d, nil
}

const role = "arn:aws:iam::123456789012:role/AuditLogs"

// cipher is a well-formed cipher (512 bytes, base64) that only the fake
// decrypts.
var cipher = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, destination.CipherBytes))

func s3Dest() destination.Destination {
	return destination.Destination{OrgID: "acme", Kind: destination.KindS3, Enabled: true, Prefix: "logs",
		S3: &destination.S3{Bucket: "acme-audit", Region: "eu-west-1", RoleARN: role}}
}

func azureDest() destination.Destination {
	return destination.Destination{OrgID: "globex", Kind: destination.KindAzure, Enabled: true,
		Azure: &destination.Azure{SASCipher: cipher[:76] + "\n" + cipher[76:] + "\n", Residency: " EU"}}
}

func register(t *testing.T, s registration.Sinks, dec registration.Decrypter, st *store, d destination.Destination, opts registration.Options) (destination.Destination, []string, error) {
	t.Helper()
	var warnings []string
	opts.Warn = func(m string) { warnings = append(warnings, m) }
	r := &registration.Registrar{Sinks: s, SAS: dec, Registry: st}
	saved, err := r.Register(context.Background(), d, opts)
	return saved, warnings, err
}

// TestRegisterS3: a role that requires the org ID as external ID is
// stored, normalized; one that any external ID assumes is refused with
// the condition to add and the override, and stored with the override
// and a warning; one not assumable yet is stored with a warning; a check
// that fails otherwise is refused, naming the override.
func TestRegisterS3(t *testing.T) {
	open := &s3sink.ExternalIDError{RoleARN: role, OrgID: "acme"}
	for _, tc := range []struct {
		name     string
		sinks    sinks
		allow    bool
		stored   bool
		warnings []string // each warning's text, in part
		err      []string // the error's text, in parts
	}{
		{name: "requires the external ID", stored: true},
		{name: "any external ID", sinks: sinks{trustErr: open},
			err: []string{"org acme: role " + role + " can be assumed with any external ID", open.Fix(), "auditctl policies", "or pass --allow-no-external-id to register it anyway"}},
		{name: "any external ID, allowed", sinks: sinks{trustErr: open}, allow: true, stored: true,
			warnings: []string{"org acme: role " + role + " can be assumed with any external ID", "; stored anyway (--allow-no-external-id)"}},
		{name: "not assumable yet", sinks: sinks{openErr: fmt.Errorf("assume role: %w", sink.ErrAccessDenied)}, stored: true,
			warnings: []string{"org acme: role " + role + " cannot be assumed with external ID acme yet, so its trust policy was not checked (assume role: access denied); run auditctl verify --org acme once the customer has set it up"}},
		{name: "check failed", sinks: sinks{trustErr: errors.New("STS throttled")},
			err: []string{"org acme: could not check that role " + role + " requires the external ID: STS throttled (pass --allow-no-external-id to register it without the check)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &store{}
			saved, warnings, err := register(t, tc.sinks, decrypter{err: errors.New("no SAS to decrypt")}, st, s3Dest(), registration.Options{AllowNoExternalID: tc.allow})
			for _, want := range tc.err {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v, want it to contain %q", err, want)
				}
			}
			if len(tc.err) == 0 && err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if tc.stored != (len(st.saved) == 1) {
				t.Fatalf("stored %v, want stored: %v", st.saved, tc.stored)
			}
			if tc.stored && (saved.Prefix != "logs/" || saved.S3.Owner() != "123456789012") {
				t.Errorf("stored %+v %+v, want it normalized", saved, saved.S3)
			}
			if len(warnings) != min(len(tc.warnings), 1) {
				t.Fatalf("warnings %q, want %q", warnings, tc.warnings)
			}
			for _, want := range tc.warnings {
				if !strings.Contains(warnings[0], want) {
					t.Errorf("warning %q, want it to contain %q", warnings[0], want)
				}
			}
		})
	}
}

// TestRegisterAzure: the SAS is decrypted and checked, and stored with its
// expiry and container, shared with the orgs named; a refused decryption
// or a claimed container is refused with the CLI's words, never the SAS.
func TestRegisterAzure(t *testing.T) {
	st := &store{}
	saved, warnings, err := register(t, sinks{}, decrypter{}, st, azureDest(), registration.Options{ShareContainerWith: []string{"initech"}})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Register: %v, warnings %q", err, warnings)
	}
	if a := saved.Azure; a.StorageAccount != "acct01" || a.Container != "logs" || !a.SASExpiry.Equal(expiry) || a.Residency != sas.EU || strings.ContainsAny(a.SASCipher, "\n ") {
		t.Errorf("stored %+v", a)
	}
	if len(st.shared) != 1 || fmt.Sprint(st.shared[0]) != "[initech]" {
		t.Errorf("shared with %v, want [initech]", st.shared)
	}

	for _, tc := range []struct {
		name  string
		dec   decrypter
		store *store
		opts  registration.Options
		want  string
	}{
		{"key policy", decrypter{err: &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not allowed"}}, &store{}, registration.Options{},
			"org globex: your AWS credentials may not decrypt with the eu SAS key, so the cipher cannot be checked: api error AccessDeniedException: not allowed"},
		{"refused SAS", decrypter{err: fmt.Errorf("decrypted SAS URL (eu): SAS URL expired: %w", sink.ErrInvalidConfig)}, &store{}, registration.Options{CipherSource: "--azure-sas-cipher-file sas.b64"},
			"org globex: --azure-sas-cipher-file sas.b64: decrypted SAS URL (eu): SAS URL expired: invalid destination configuration"},
		{"refused SAS, no source named", decrypter{err: errors.New("bad")}, &store{}, registration.Options{},
			"org globex: the SAS cipher: bad"},
		{"claimed", decrypter{}, &store{err: &registry.ClaimedError{Org: "globex", Account: "acct01", Container: "logs", Holders: []string{"initech", "umbrella"}}}, registration.Options{},
			`org globex: storage account "acct01" container "logs" is already registered for org initech, umbrella: pass --share-container-with initech,umbrella if the orgs deliver there on purpose (one customer's orgs), or ask the customer for a SAS URL of a container of their own`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := register(t, sinks{}, tc.dec, tc.store, azureDest(), tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n  %v\nwant\n  %s", err, tc.want)
			}
			if len(tc.store.saved) != 0 {
				t.Errorf("stored %v", tc.store.saved)
			}
			for _, secret := range []string{testSig, url.QueryEscape(testSig), rawSAS} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error holds the SAS: %v", err)
				}
			}
		})
	}
}

// TestRegisterInvalid: a malformed destination is refused before anything
// is opened or stored.
func TestRegisterInvalid(t *testing.T) {
	st := &store{}
	d := s3Dest()
	d.OrgID = "Not An Org"
	if _, _, err := register(t, sinks{openErr: errors.New("opened")}, decrypter{}, st, d, registration.Options{}); err == nil || len(st.saved) != 0 {
		t.Fatalf("Register of a malformed org: %v, stored %v", err, st.saved)
	}
}
