// Package opener opens the production sink of a registered destination:
// the factory that picks the provider from the destination's kind (S3:
// assume the customer's role, s3sink; Azure: decrypt the SAS cipher
// through KMS and check the URL, azuresink), as an object-store client
// factory picks its bucket implementation from a configuration. On the
// way it records in the registry what decrypting a SAS tells: the
// container the SAS writes to (claimed for the org) and its expiry, each
// through the registry's conditional write, so that a destination
// replaced meanwhile is never overwritten with what the old cipher said.
//
// The export (every delivery), `auditctl verify` and `auditctl
// destination put` open sinks here; internal/app builds one Opener. This
// package belongs to the sink layer: it may import the sink packages,
// sas, destination and registry (for its sentinel errors), and must not
// import internal/app, the export, any Lambda handler package (exportfn,
// fanoutfn, retryfn, ingestfn), cmd or internal/localdev.
package opener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/registry"
	"github.com/contentful/auditlogs/internal/sas"
	"github.com/contentful/auditlogs/internal/sink"
	"github.com/contentful/auditlogs/internal/sink/azuresink"
	"github.com/contentful/auditlogs/internal/sink/s3sink"
)

// Opener opens the production sink for a destination.
type Opener struct {
	AWS   aws.Config // our own credentials, used to call STS
	SAS   *sas.Decrypter
	S3    s3sink.Options
	Azure azuresink.Options
	// Expiries, when set, learns the expiry of every SAS URL decrypted
	// here whose expiry the registry does not hold yet (or holds wrong),
	// so that `auditctl status` and the daily run warn before it runs out.
	Expiries ExpiryRecorder
	// Containers, when set, records and claims the storage account and
	// container of every SAS URL decrypted here whose destination does not
	// hold them yet (registered before they were recorded), and refuses
	// to open a sink on a container that another org holds: the cipher is
	// safe to show, so another org may have registered it (the confused
	// deputy that the registry's claims close, registry/claims.go).
	Containers ContainerRecorder
	// Log receives a failure to record an expiry (slog.Default if nil).
	Log *slog.Logger
}

// ContainerRecorder is the registry's RecordSASContainer.
type ContainerRecorder interface {
	RecordSASContainer(ctx context.Context, org, cipher, account, container string) error
}

// ExpiryRecorder is the registry's RecordSASExpiry.
type ExpiryRecorder interface {
	RecordSASExpiry(ctx context.Context, org, cipher string, expires time.Time) error
}

// Open assumes the customer's role (S3) or decrypts and checks the SAS URL
// (Azure), and returns a sink that writes under the destination's prefix.
func (o *Opener) Open(ctx context.Context, d destination.Destination) (sink.Sink, error) {
	s, _, err := o.OpenNoting(ctx, d)
	return s, err
}

// Notes is what Open could not record on the way and only logged, for a
// caller that reports it (`auditctl verify`).
type Notes struct {
	// ExpiryNotRecorded is why the SAS's expiry was not recorded in the
	// registry (the registry failed, or the cipher was replaced
	// meanwhile: registry.ErrCipherReplaced); nil when it was recorded,
	// was right already, or the destination is not Azure.
	ExpiryNotRecorded error
}

// OpenNoting is Open, and also returns the Notes of what it could not
// record.
func (o *Opener) OpenNoting(ctx context.Context, d destination.Destination) (sink.Sink, Notes, error) {
	switch {
	case d.Kind == destination.KindS3 && d.S3 != nil:
		s, err := s3sink.Open(ctx, o.AWS, s3Destination(d), o.S3)
		return s, Notes{}, err
	case d.Kind == destination.KindAzure && d.Azure != nil:
		u, err := o.SAS.Decrypt(ctx, d.Azure.Residency, d.Azure.SASCipher)
		if err != nil {
			return nil, Notes{}, fmt.Errorf("decrypt SAS URL of org %s: %w", d.OrgID, err)
		}
		if err := o.recordContainer(ctx, d, u.Account(), u.Container()); err != nil {
			return nil, Notes{}, err
		}
		notes := Notes{ExpiryNotRecorded: o.recordExpiry(ctx, d, u.Expiry())}
		opts := o.Azure
		opts.Prefix = d.Prefix
		s, err := azuresink.New(u, opts)
		return s, notes, err
	}
	return nil, Notes{}, fmt.Errorf("org %s: destination kind %q: %w", d.OrgID, d.Kind, sink.ErrInvalidConfig)
}

// s3Destination is d as the S3 sink takes it.
func s3Destination(d destination.Destination) s3sink.Destination {
	return s3sink.Destination{OrgID: d.OrgID, Bucket: d.S3.Bucket, Region: d.S3.Region, RoleARN: d.S3.RoleARN, Prefix: d.Prefix, BucketOwner: d.S3.Owner()}
}

// CheckExternalID checks that an S3 destination's role requires the org
// ID as external ID (s3sink.CheckExternalID: one more AssumeRole, with a
// random external ID, which must be refused), for `destination put` and
// `auditctl verify`, once Open has assumed the role. Other destinations
// have nothing to check.
func (o *Opener) CheckExternalID(ctx context.Context, d destination.Destination) error {
	if d.Kind != destination.KindS3 || d.S3 == nil {
		return nil
	}
	return s3sink.CheckExternalID(ctx, o.AWS, s3Destination(d))
}

// recordContainer makes sure that the registry holds the container the
// SAS writes to for d's org. Unlike the expiry, a failure stops the
// delivery: a container claimed by another org is a permanent refusal
// (sink.ErrInvalidConfig, for the operator: register the org again with
// the orgs it shares the container with), anything else is transient (a
// retry reads the destination again).
func (o *Opener) recordContainer(ctx context.Context, d destination.Destination, account, container string) error {
	if o.Containers == nil || (d.Azure.StorageAccount == account && d.Azure.Container == container) {
		return nil
	}
	err := o.Containers.RecordSASContainer(ctx, d.OrgID, d.Azure.SASCipher, account, container)
	switch {
	case errors.Is(err, registry.ErrClaimed):
		return fmt.Errorf("org %s: %w: %w", d.OrgID, err, sink.ErrInvalidConfig)
	case err != nil:
		return fmt.Errorf("org %s: record the SAS URL's storage account and container: %w", d.OrgID, err)
	}
	o.logger().InfoContext(ctx, "recorded the SAS URL's storage account and container", "org_id", d.OrgID, "storage_account", account, "container", container)
	return nil
}

func (o *Opener) logger() *slog.Logger {
	if o.Log == nil {
		return slog.Default()
	}
	return o.Log
}

// recordExpiry stores the SAS's expiry if the registry's differs, only
// while d's cipher is still the registered one (RecordSASExpiry). A
// failure is logged and noted, never a reason not to deliver: the
// delivery matters more than the warning, and the next decryption tries
// again.
func (o *Opener) recordExpiry(ctx context.Context, d destination.Destination, expires time.Time) error {
	expires = expires.UTC().Truncate(time.Second) // the registry keeps seconds
	if o.Expiries == nil || d.Azure.SASExpiry.Equal(expires) {
		return nil
	}
	err := o.Expiries.RecordSASExpiry(ctx, d.OrgID, d.Azure.SASCipher, expires)
	log := o.logger()
	if err != nil {
		log.WarnContext(ctx, "record the SAS URL's expiry failed", "org_id", d.OrgID, "sas_expires", expires.Format(time.RFC3339), "error", err.Error())
		return err
	}
	log.InfoContext(ctx, "recorded the SAS URL's expiry", "org_id", d.OrgID, "sas_expires", expires.Format(time.RFC3339))
	return nil
}
