// Package registration is the one check a destination passes before it is
// stored, and the store: `auditctl destination put` and the local stack's
// demo both register through Register. An S3 role is assumed as a
// delivery assumes it and must require the org ID as external ID; an
// Azure SAS cipher is decrypted and its URL checked as a delivery checks
// it (scope, permissions, expiry, host), and its expiry and container are
// stored with the destination, where the registry claims the container
// for the org. Its errors and warnings speak to the operator: they name
// the overrides, the flags of `destination put` (FlagAllowNoExternalID,
// FlagShareContainerWith), and the auditctl commands that help.
//
// It is a package of its own, not part of internal/sink/opener, because
// it is the operator's step, not a delivery's: it writes the destination
// (the opener, which every delivery runs, only records what a decryption
// tells, on conditions), and its wording is the CLI's. It may import the
// sink layer, sas, destination and registry; it must not import
// internal/app, the export, any Lambda handler package, cmd or
// internal/localdev (its callers pass the App's parts in).
package registration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// The flags of `auditctl destination put` that override the check, named
// by its errors and warnings.
const (
	// FlagAllowNoExternalID overrides the check of an S3 role's trust
	// policy (Options.AllowNoExternalID).
	FlagAllowNoExternalID = "allow-no-external-id"
	// FlagShareContainerWith names the orgs an Azure destination shares
	// its container with (Options.ShareContainerWith).
	FlagShareContainerWith = "share-container-with"
)

// Sinks opens destinations as a delivery does (opener.Opener).
type Sinks interface {
	Open(ctx context.Context, d destination.Destination) (sink.Sink, error)
	CheckExternalID(ctx context.Context, d destination.Destination) error
}

// Decrypter decrypts and checks a SAS cipher (sas.Decrypter, the one the
// opener decrypts with).
type Decrypter interface {
	Decrypt(ctx context.Context, residency sas.Residency, cipherB64 string) (*sas.URL, error)
}

// Store stores a destination, claiming its Azure container
// (registry.Registry.PutShared).
type Store interface {
	PutShared(ctx context.Context, d destination.Destination, shared []string) (destination.Destination, error)
}

// Registrar checks and stores destinations.
type Registrar struct {
	Sinks    Sinks
	SAS      Decrypter
	Registry Store
}

// Options are one registration's overrides and where its words go.
type Options struct {
	// AllowNoExternalID stores an S3 role whose trust policy does not
	// require the org ID as external ID, or whose trust could not be
	// checked, with a warning (--allow-no-external-id).
	AllowNoExternalID bool
	// ShareContainerWith names the orgs whose Azure destinations use the
	// same container on purpose (--share-container-with).
	ShareContainerWith []string
	// CipherSource names where the SAS cipher came from in the errors
	// about it ("--azure-sas-cipher-file FILE"); "the SAS cipher" if "".
	CipherSource string
	// Warn receives each warning, a sentence that starts with "org ORG:"
	// (dropped if nil).
	Warn func(string)
	// Notice, when set, receives each warning's code (WarnRoleNotAssumable,
	// WarnExternalIDNotChecked) with the sentence Warn receives: callers
	// that speak to customers, not operators (the self-service API),
	// word their warnings from the code.
	Notice func(code, msg string)
}

// Warning codes, given to Options.Notice.
const (
	// WarnRoleNotAssumable: the S3 role cannot be assumed with the org ID
	// yet, so its trust policy was not checked; stored anyway.
	WarnRoleNotAssumable = "role_not_assumable_yet"
	// WarnExternalIDNotChecked: the role's trust does not require the
	// external ID, or could not be checked, and AllowNoExternalID stored
	// it anyway.
	WarnExternalIDNotChecked = "external_id_not_checked"
)

// Register checks d as a delivery would open it and stores it. A role
// that cannot be assumed yet (the customer has not finished) is stored
// with a warning; a role that any external ID assumes, a SAS URL that
// cannot work, or a container that other orgs hold is refused, naming the
// problem (never the URL) and the way out. It returns the destination as
// stored.
func (r *Registrar) Register(ctx context.Context, d destination.Destination, opts Options) (destination.Destination, error) {
	d.Normalize()
	if err := d.Validate(); err != nil {
		return d, err
	}
	switch d.Kind {
	case destination.KindS3:
		if err := r.checkTrust(ctx, d, opts); err != nil {
			return d, err
		}
	case destination.KindAzure:
		if err := r.checkSAS(ctx, &d, opts); err != nil {
			return d, err
		}
	}
	saved, err := r.Registry.PutShared(ctx, d, opts.ShareContainerWith)
	var claimed *registry.ClaimedError
	if errors.As(err, &claimed) {
		return d, fmt.Errorf("org %s: %w: pass --%s %s if the orgs deliver there on purpose (one customer's orgs), or ask the customer for a SAS URL of a container of their own",
			d.OrgID, err, FlagShareContainerWith, strings.Join(claimed.Holders, ","))
	}
	if err != nil {
		return d, fmt.Errorf("org %s: %w: %w", d.OrgID, ErrStore, err)
	}
	return saved, nil
}

// ErrStore marks a destination that passed its checks and could not be
// stored: the registry's failure, not the destination's.
var ErrStore = errors.New("the destination could not be stored")

// checkTrust assumes d's role as a delivery does, then checks that it
// cannot be assumed with another external ID (opener.Opener's
// CheckExternalID). A role that is not assumable yet is a warning: the
// check would prove nothing, and verify runs it once the customer is
// done.
func (r *Registrar) checkTrust(ctx context.Context, d destination.Destination, opts Options) error {
	if _, err := r.Sinks.Open(ctx, d); err != nil {
		opts.warn(WarnRoleNotAssumable, fmt.Sprintf("org %s: role %s cannot be assumed with external ID %s yet, so its trust policy was not checked (%v); run auditctl verify --org %s once the customer has set it up",
			d.OrgID, d.S3.RoleARN, d.ExternalID(), err, d.OrgID))
		return nil
	}
	err := r.Sinks.CheckExternalID(ctx, d)
	var ee *s3sink.ExternalIDError
	switch {
	case err == nil:
		return nil
	case opts.AllowNoExternalID:
		opts.warn(WarnExternalIDNotChecked, fmt.Sprintf("org %s: %v; stored anyway (--%s)", d.OrgID, err, FlagAllowNoExternalID))
		return nil
	case errors.As(err, &ee):
		return fmt.Errorf("org %s: %w: the customer must add %s to the role's trust policy (auditctl policies prints it), or pass --%s to register it anyway",
			d.OrgID, err, ee.Fix(), FlagAllowNoExternalID)
	}
	return fmt.Errorf("org %s: could not check that role %s requires the external ID: %w (pass --%s to register it without the check)", d.OrgID, d.S3.RoleARN, err, FlagAllowNoExternalID)
}

// checkSAS decrypts and checks d's SAS as a delivery does, so that a SAS
// URL that cannot work is refused now, not on the first night, and sets
// the expiry and the container it writes to in d. Its errors never hold
// the URL.
func (r *Registrar) checkSAS(ctx context.Context, d *destination.Destination, opts Options) error {
	u, err := r.SAS.Decrypt(ctx, d.Azure.Residency, d.Azure.SASCipher)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException" {
		// Not the customer's fault: the key policy decides who may
		// decrypt (docs/operations.md).
		return fmt.Errorf("org %s: your AWS credentials may not decrypt with the %s SAS key, so the cipher cannot be checked: %w", d.OrgID, d.Azure.Residency, err)
	}
	if err != nil {
		return fmt.Errorf("org %s: %s: %w", d.OrgID, opts.cipherSource(), err)
	}
	d.Azure.SASExpiry = u.Expiry().UTC().Truncate(time.Second)
	d.Azure.StorageAccount, d.Azure.Container = u.Account(), u.Container()
	return nil
}

func (o Options) warn(code, msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
	if o.Notice != nil {
		o.Notice(code, msg)
	}
}

func (o Options) cipherSource() string {
	if o.CipherSource == "" {
		return "the SAS cipher"
	}
	return o.CipherSource
}
