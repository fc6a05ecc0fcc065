// Package s3sink delivers files to a customer's S3 bucket.
//
// The customer owns the bucket and an IAM role that trusts our account with
// sts:ExternalId = their org ID. Open assumes that role with the org ID as
// external ID (always: a caller cannot choose it, which is what stops one
// customer from pointing us at another customer's role, the confused-deputy
// problem) and with an inline session policy that narrows the session to
// s3:PutObject and s3:AbortMultipartUpload under the destination's prefix,
// in a bucket the destination's owner account owns (s3:ResourceAccount),
// so even a role that grants too much can do nothing else with our session.
// Every write also sends ExpectedBucketOwner: a bucket of the same name
// that someone else re-created after the customer deleted theirs gets
// nothing.
//
// Upload streams through the SDK's transfer manager: about Concurrency+2
// parts are held in memory per upload, whatever the file's size. A body
// smaller than one part is read completely before the single PutObject is
// sent, so a failing source never produces a truncated object; a larger one
// goes up as a multipart upload that is aborted when the source or the
// context fails, so no object and no pending upload is left behind.
//
// Of this module s3sink imports sink (the interface it implements),
// destination (the checks of an S3 destination) and audit (the org ID's).
// It must not import the opener, the registry, internal/app, the export or
// another provider: they sit above it or beside it.
package s3sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
	"github.com/contentful/auditlogs/internal/sink"
)

// ContentType is the Content-Type of an object whose sink.Object leaves
// it empty: sink.DefaultContentType.
const ContentType = sink.DefaultContentType

const (
	// DefaultPartSize is the multipart part size when Options leaves it 0.
	DefaultPartSize = 8 << 20
	// MinPartSize is S3's minimum for every part but the last; smaller
	// settings are raised to it.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's maximum part size; larger settings are lowered.
	MaxPartSize = 5 << 30
	// DefaultConcurrency is the number of parts sent at once when Options
	// leaves it 0.
	DefaultConcurrency = 4
	// SessionDuration is how long one assumed-role session lasts. The
	// credentials cache renews it before it expires, so an upload longer
	// than this still succeeds; one hour is also the limit for role
	// chaining, which applies when our service itself runs under a role.
	SessionDuration = time.Hour
	// abortTimeout bounds the clean-up of a failed multipart upload. It
	// runs on a fresh context, so that a canceled upload is still aborted.
	abortTimeout = 30 * time.Second
)

// Destination is where one org's files go. It mirrors the registry's
// record on purpose, so this package does not depend on the registry.
type Destination struct {
	OrgID   string // also the external ID of the AssumeRole call
	Bucket  string
	Region  string // the bucket's region
	RoleARN string // the customer's role that trusts our account
	Prefix  string // prepended to every object name, may be empty
	// BucketOwner is the account ID that must own the bucket: sent as
	// ExpectedBucketOwner on every write and required by the session
	// policy (s3:ResourceAccount). Empty means the role's account.
	BucketOwner string
}

// owner is the account that must own the bucket.
func (d Destination) owner() string {
	if d.BucketOwner != "" {
		return d.BucketOwner
	}
	return destination.RoleAccount(d.RoleARN)
}

// Options tunes uploads. The zero value is ready to use.
type Options struct {
	// PartSize is the multipart part size in bytes: DefaultPartSize if 0,
	// clamped to [MinPartSize, MaxPartSize]. Bodies smaller than one part
	// go up in a single PutObject.
	PartSize int64
	// Concurrency is the number of parts sent at once: DefaultConcurrency
	// if 0 or negative.
	Concurrency int
	// Prefix is prepended to every object name. Open takes it from
	// Destination.Prefix (and refuses a different one here, since the
	// session policy is scoped to the destination's prefix); New uses it
	// as given.
	Prefix string
	// BucketOwner, when set, is sent as ExpectedBucketOwner on every
	// request that writes (PutObject, CreateMultipartUpload, UploadPart,
	// CompleteMultipartUpload, AbortMultipartUpload): S3 refuses them
	// with 403 AccessDenied if another account owns the bucket. Open takes
	// it from the destination (and refuses a different one here); New uses
	// it as given.
	BucketOwner string
}

func (o Options) withDefaults() Options {
	o.PartSize = sink.PartSize(o.PartSize, DefaultPartSize, MinPartSize, MaxPartSize)
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// Sink uploads to one bucket. It is safe for concurrent use.
type Sink struct {
	client *s3.Client
	tm     *transfermanager.Client
	bucket string
	prefix string
	owner  *string // ExpectedBucketOwner, nil when not checked
}

var _ sink.Sink = (*Sink)(nil)

// Open assumes dest's role for dest's org and returns a Sink that writes
// with that session. The role is assumed once here, so that a role the
// customer has not set up (trust policy, external ID, missing role) is
// reported at once as sink.ErrAccessDenied rather than on the first upload.
// cfg holds our own credentials, used only to call STS.
func Open(ctx context.Context, cfg aws.Config, dest Destination, opts Options) (*Sink, error) {
	if err := validateDestination(dest); err != nil {
		return nil, err
	}
	if opts.Prefix != "" && opts.Prefix != dest.Prefix {
		return nil, fmt.Errorf("s3sink: Options.Prefix %q differs from the destination's prefix %q: %w", opts.Prefix, dest.Prefix, sink.ErrInvalidConfig)
	}
	opts.Prefix = dest.Prefix
	if opts.BucketOwner != "" && opts.BucketOwner != dest.owner() {
		return nil, fmt.Errorf("s3sink: Options.BucketOwner %q differs from the destination's bucket owner %q: %w", opts.BucketOwner, dest.owner(), sink.ErrInvalidConfig)
	}
	opts.BucketOwner = dest.owner()
	policy, err := SessionPolicy(dest)
	if err != nil {
		return nil, err
	}
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), dest.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(dest.OrgID)
		o.RoleSessionName = SessionName(dest.OrgID)
		o.Policy = aws.String(policy)
		o.Duration = SessionDuration
	})
	creds := aws.NewCredentialsCache(provider)
	if _, err := creds.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("assume role %s for org %s: %w", dest.RoleARN, dest.OrgID, classifyAssumeRole(err, dest.OrgID))
	}
	client := newS3Client(cfg, dest.Region, creds)
	return New(client, dest.Bucket, opts), nil
}

// newS3Client is the S3 client for a destination: its region, the assumed
// role's credentials, and the rest (HTTP client, endpoint, retry settings)
// from cfg.
func newS3Client(cfg aws.Config, region string, creds aws.CredentialsProvider) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Region = region
		o.Credentials = creds
		PathStyleForEmulators(o)
		if cfg.Retryer == nil {
			// The SDK's default, spelled out: an operator-configured
			// retryer in cfg wins.
			o.Retryer = retry.NewStandard()
		}
	})
}

// PathStyleForEmulators is s3obj's (one rule for every S3 client of ours):
// path-style requests when an endpoint override points at an emulator.
var PathStyleForEmulators = s3obj.PathStyleForEmulators

// New returns a Sink on a client the caller already has (its credentials,
// region and endpoint are used as they are).
func New(client *s3.Client, bucket string, opts Options) *Sink {
	opts = opts.withDefaults()
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = opts.PartSize
		o.Concurrency = opts.Concurrency
		// Switch to multipart as soon as a body exceeds one part: the
		// library reads up to this threshold into memory before it
		// decides, so a larger threshold would only buffer more.
		o.MultipartUploadThreshold = opts.PartSize
		// Abort a failed multipart upload on a fresh context: with the
		// default 0 the abort reuses the caller's context, which fails at
		// once when that context was canceled, and leaves the parts (and
		// their storage cost) in the customer's bucket.
		o.FailTimeout = abortTimeout
		// Checksums: the library's default (a CRC32 on every request,
		// which S3 verifies) is kept on purpose.
	})
	s := &Sink{client: client, tm: tm, bucket: bucket, prefix: opts.Prefix}
	if opts.BucketOwner != "" {
		s.owner = aws.String(opts.BucketOwner)
	}
	return s
}

// Upload streams r to the object prefix+name, with o's Content-Type
// (ContentType if empty), Content-Encoding and user metadata, replacing
// any object of that name. If r fails or ctx ends before io.EOF, no object
// becomes visible: a single-part body is sent only once it was read
// completely, and a multipart upload is aborted. Metadata that fails
// sink.ValidateMetadata is refused before r is read. Errors name the
// bucket and key, wrap the SDK's error and are classified with the sink
// sentinels.
func (s *Sink) Upload(ctx context.Context, name string, r io.Reader, o sink.Object) error {
	if name == "" {
		return errors.New("s3sink: upload: empty object name")
	}
	key := s.prefix + name
	if err := sink.ValidateMetadata(o.Metadata); err != nil {
		return fmt.Errorf("s3sink: upload s3://%s/%s: %w", s.bucket, key, err)
	}
	in := &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
		Body:   r,
		// The transfer manager sets these on the PutObject of a small
		// body and on the CreateMultipartUpload of a large one, and so on
		// the object either way.
		ContentType: aws.String(o.ContentTypeOrDefault()),
		Metadata:    o.Metadata,
		// The transfer manager passes it on to each request it makes:
		// PutObject, or CreateMultipartUpload, UploadPart,
		// CompleteMultipartUpload and its own AbortMultipartUpload.
		ExpectedBucketOwner: s.owner,
	}
	if o.ContentEncoding != "" {
		in.ContentEncoding = aws.String(o.ContentEncoding)
	}
	_, err := s.tm.UploadObject(ctx, in)
	if err == nil {
		return nil
	}
	var mpu transfermanager.MultipartUploadError
	if errors.As(err, &mpu) && mpu.UploadID() != "" {
		if aerr := s.abort(key, mpu.UploadID()); aerr != nil {
			err = fmt.Errorf("%w (and abort multipart upload %s: %v; its parts stay until a lifecycle rule removes them)", err, mpu.UploadID(), aerr)
		}
	}
	return fmt.Errorf("s3sink: upload s3://%s/%s: %w", s.bucket, key, classify(err))
}

// abort makes sure a failed multipart upload is gone. The transfer manager
// aborts it itself, but reports a failed abort only inside its error text;
// aborting again is cheap and only happens on failures. NoSuchUpload means
// the library's abort worked (or the upload completed after all, in which
// case the complete object is a correct one).
func (s *Sink) abort(key, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	defer cancel()
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:              aws.String(s.bucket),
		Key:                 aws.String(key),
		UploadId:            aws.String(uploadID),
		ExpectedBucketOwner: s.owner,
	})
	var ae smithy.APIError
	if err == nil || (errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload") {
		return nil
	}
	return err
}
