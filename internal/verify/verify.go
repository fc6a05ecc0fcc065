// Package verify checks an organization's destination by delivering to it:
// it reads the destination from the registry, opens the production sink
// the export opens (assume the customer's role with the org ID as external
// ID and the session policy, or decrypt the SAS cipher through KMS and
// check the URL), and uploads a small probe object through that sink under
// the destination's prefix. A failure is named by a stable Cause, with a
// sentence saying what went wrong and one saying how to fix it; the cause
// is found with errors.Is and errors.As on the typed errors of the
// registry, sas, s3sink and azuresink packages, never by reading messages.
//
// The probe cannot be deleted by us: the session policy (S3) and the SAS
// permissions (Azure) allow writing and nothing else, on purpose. Its name
// never collides with a day's file (see ProbePrefix).
//
// The sink is opened by internal/sink/opener, the export's own opener:
// what a check writes to the registry (an Azure SAS's container and
// expiry) is the opener's conditional writes, and nothing else. verify
// may import the sink layer, sas, destination and registry; it must not
// import internal/app, the export, any Lambda handler package or cmd.
package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/opener"
)

// Timeout bounds one check: the sinks retry transient failures with
// back-off, which must not keep an operator waiting for long.
const Timeout = 2 * time.Minute

// ExpiryWarning is how long before its SAS expires a check warns: time
// for the customer to make a new SAS and send us its cipher. The same as
// status's and the daily run's warnings.
const ExpiryWarning = destination.SASWarnBefore

// Destinations looks up an org's destination (the registry). A missing
// destination is an error wrapping registry.ErrNotFound.
type Destinations interface {
	Get(ctx context.Context, org string) (destination.Destination, error)
}

// SinkOpener opens the sink of a destination, as the export does
// (opener.Opener): for Azure it records the SAS's container and expiry in
// the registry, each only while the cipher it decrypted is still the
// registered one, and notes an expiry it could not record.
type SinkOpener interface {
	OpenNoting(ctx context.Context, d destination.Destination) (sink.Sink, opener.Notes, error)
}

// sasSink is what an Azure sink tells about itself (azuresink.Sink).
type sasSink interface {
	Account() string
	Container() string
	Expiry() time.Time
}

// TrustChecker checks that an S3 destination's role cannot be assumed
// with another external ID than the org ID (opener.Opener.CheckExternalID):
// an error wrapping s3sink.ErrExternalIDNotRequired if it can, nil for a
// destination that has no role.
type TrustChecker interface {
	CheckExternalID(ctx context.Context, d destination.Destination) error
}

// Verifier checks destinations.
type Verifier struct {
	Destinations Destinations
	Sinks        SinkOpener
	// Trust, when set, checks an S3 role's trust policy once the role was
	// assumed: a role that any external ID assumes fails the check
	// (CauseExternalIDNotRequired) before anything is written.
	Trust TrustChecker
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Notice is a warning that does not fail the check.
type Notice struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Warning codes.
const (
	WarnDisabled          = "delivery_disabled"
	WarnSASExpiresSoon    = "sas_expires_soon"
	WarnExpiryNotRecorded = "sas_expiry_not_recorded"
)

// Report is the outcome of one check. Nothing in it is secret: the SAS
// appears only as its account, container and expiry.
type Report struct {
	OrgID     string           `json:"org_id"`
	OK        bool             `json:"ok"`
	CheckedAt time.Time        `json:"checked_at"`
	Kind      destination.Kind `json:"kind,omitempty"`
	Enabled   bool             `json:"enabled"`
	Prefix    string           `json:"prefix,omitempty"`

	// S3: the bucket and the role assumed, with the external ID used.
	Bucket     string `json:"bucket,omitempty"`
	Region     string `json:"region,omitempty"`
	RoleARN    string `json:"role_arn,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
	// BucketOwner is the account that must own the bucket (every write
	// sends it as ExpectedBucketOwner).
	BucketOwner string `json:"bucket_owner,omitempty"`
	// Azure: known once the SAS was decrypted.
	StorageAccount string     `json:"storage_account,omitempty"`
	Container      string     `json:"container,omitempty"`
	SASExpires     *time.Time `json:"sas_expires,omitempty"`

	// Key is the probe's object key (blob name in the container), prefix
	// included: written when OK, attempted otherwise. Bytes is its size,
	// once written.
	Key   string `json:"key,omitempty"`
	Bytes int    `json:"bytes,omitempty"`

	Warnings []Notice `json:"warnings,omitempty"`
	Failure  *Failure `json:"failure,omitempty"`
}

// Verify checks org's destination. Its outcome is in the Report: OK, or
// Failure naming the cause.
func (v *Verifier) Verify(ctx context.Context, org string) Report {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	now = now.UTC()
	r := Report{OrgID: org, CheckedAt: now}

	d, err := v.Destinations.Get(ctx, org)
	if err != nil {
		r.Failure = classify(StageRegistry, destination.Destination{OrgID: org}, nil, err)
		return r
	}
	r.describe(d)
	if !d.Enabled {
		r.Warnings = append(r.Warnings, Notice{WarnDisabled,
			"delivery is disabled for this org: the daily files are not delivered until it is enabled again; the check runs all the same"})
	}
	random, err := randomSuffix()
	if err != nil {
		r.Failure = &Failure{Cause: CauseUnknown, Stage: StageOpen, Message: "could not make a name for the probe", Fix: "try again", Detail: err.Error()}
		return r
	}
	name := ProbeName(d.OrgID, now, random)
	r.Key = d.Prefix + name

	s, notes, err := v.Sinks.OpenNoting(ctx, d)
	if err != nil {
		r.Failure = classify(StageOpen, d, nil, err)
		return r
	}
	if v.Trust != nil { // the opener's check: nothing to check but an S3 role
		if err := v.Trust.CheckExternalID(ctx, d); err != nil {
			r.Failure = classify(StageOpen, d, nil, err)
			return r
		}
	}
	info, _ := s.(sasSink)
	if info != nil {
		r.learnSAS(info, notes, now)
	}
	content := ProbeContent(d.OrgID, now)
	// The zero Object: the probe goes up with the default Content-Type,
	// as it always has.
	if err := s.Upload(ctx, name, strings.NewReader(content), sink.Object{}); err != nil {
		r.Failure = classify(StageUpload, d, info, err)
		return r
	}
	r.OK, r.Bytes = true, len(content)
	return r
}

// describe fills in where d delivers.
func (r *Report) describe(d destination.Destination) {
	r.Kind, r.Enabled, r.Prefix = d.Kind, d.Enabled, d.Prefix
	if d.S3 != nil {
		r.Bucket, r.Region, r.RoleARN, r.ExternalID, r.BucketOwner = d.S3.Bucket, d.S3.Region, d.S3.RoleARN, d.ExternalID(), d.S3.Owner()
	}
}

// learnSAS reports where the SAS writes and until when, and warns when
// that is soon or when the opener could not record the expiry. The check
// writes no expiry of its own: the opener's write is conditional on the
// cipher it decrypted, and an unconditional one here could put the
// expiry of a SAS replaced meanwhile over the new SAS's.
func (r *Report) learnSAS(info sasSink, notes opener.Notes, now time.Time) {
	exp := info.Expiry().UTC()
	r.StorageAccount, r.Container, r.SASExpires = info.Account(), info.Container(), &exp
	if left := exp.Sub(now); left < ExpiryWarning {
		r.Warnings = append(r.Warnings, Notice{WarnSASExpiresSoon,
			"the SAS URL expires at " + exp.Format(time.RFC3339) + ", in " + days(left) +
				": create a new SAS (create and write, a later expiry), encrypt it and send us the cipher before then"})
	}
	if err := notes.ExpiryNotRecorded; err != nil {
		r.Warnings = append(r.Warnings, Notice{WarnExpiryNotRecorded, "the SAS expiry could not be recorded in the registry: " + err.Error()})
	}
}

// days says how long d is in whole days, or in hours below two days.
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
