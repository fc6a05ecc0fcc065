// Package s3obj is an objstore.Bucket on Amazon S3 (and moto's S3 in local
// runs and tests): GetObject, ListObjectsV2 through the SDK's paginator,
// DeleteObject, and Put through the SDK's transfer manager, which streams a
// body of any size in parts and aborts the multipart upload when the body
// fails, so a half-written object never becomes visible.
//
// It imports objstore and the AWS SDK only.
package s3obj

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/contentful/auditlogs/internal/objstore"
)

// PartSize is the part size of multipart uploads: the transfer manager
// holds about Concurrency+1 parts in memory, so 8 MiB × 3 bounds a Put's
// buffers at about 32 MiB whatever the object's size.
const (
	PartSize    = 8 << 20
	Concurrency = 2
)

// abortTimeout bounds the abort of a failed multipart upload, which runs on
// a fresh context so that a canceled caller still cleans up.
const abortTimeout = 30 * time.Second

// Bucket is one S3 bucket of ours.
type Bucket struct {
	client *s3.Client
	tm     *transfermanager.Client
	name   string
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns the bucket name on client.
func New(client *s3.Client, name string) *Bucket {
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = PartSize
		o.Concurrency = Concurrency
		o.MultipartUploadThreshold = PartSize
		o.FailTimeout = abortTimeout
	})
	return &Bucket{client: client, tm: tm, name: name}
}

// PathStyleForEmulators makes a client send path-style requests when an
// endpoint override (AWS_ENDPOINT_URL, which only the local stack and the
// tests set) points it at an emulator: moto serves buckets on its one host.
// Without an override S3's default, virtual-hosted style, stays, which it
// requires for new features and regions. Use it as an s3.Options function
// of every S3 client of ours.
func PathStyleForEmulators(o *s3.Options) { o.UsePathStyle = o.BaseEndpoint != nil }

// LakeOptions are the options of a client of the lake's bucket:
// PathStyleForEmulators, and no log line for a response without a checksum
// to validate (a multipart object's): the lake's manifest names each
// object's SHA-256, which its readers check.
func LakeOptions(o *s3.Options) {
	PathStyleForEmulators(o)
	o.DisableLogOutputChecksumValidationSkipped = true
}

// Name is the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Get streams s3://bucket/key.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && api.ErrorCode() == "NotFound") {
			return nil, fmt.Errorf("s3obj: get s3://%s/%s: %w", b.name, key, objstore.ErrNotFound)
		}
		return nil, fmt.Errorf("s3obj: get s3://%s/%s: %w", b.name, key, err)
	}
	return out.Body, nil
}

// Put streams r to s3://bucket/key.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	_, err := b.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(key), Body: r,
	})
	if err == nil {
		return nil
	}
	var mpu transfermanager.MultipartUploadError
	if errors.As(err, &mpu) && mpu.UploadID() != "" {
		// The transfer manager aborted it already, but reports a failed
		// abort only in its text: abort once more, cheaply, on failures
		// only. NoSuchUpload means it is gone.
		actx, cancel := context.WithTimeout(context.Background(), abortTimeout)
		defer cancel()
		if _, aerr := b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(b.name), Key: aws.String(key), UploadId: aws.String(mpu.UploadID()),
		}); aerr != nil {
			var nsu *types.NoSuchUpload
			if !errors.As(aerr, &nsu) {
				err = fmt.Errorf("%w (and abort multipart upload: %v; its parts stay until the lifecycle rule removes them)", err, aerr)
			}
		}
	}
	return fmt.Errorf("s3obj: put s3://%s/%s: %w", b.name, key, err)
}

// List lists s3://bucket/prefix* in key order (S3 lists in UTF-8 binary
// order, which is bytewise).
func (b *Bucket) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.name), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("s3obj: list s3://%s/%s: %w", b.name, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(objstore.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes s3://bucket/key.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("s3obj: delete s3://%s/%s: %w", b.name, key, err)
	}
	return nil
}
