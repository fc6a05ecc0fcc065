// Package objstore is the object storage our own data lives in (the log
// store's lake: raw objects, compacted org-days, manifests), as one small
// interface: Bucket. Providers live in packages below (s3obj on Amazon S3
// or moto's S3, memobj in memory for tests) and pass the acceptance suite
// in objtest, so the fake cannot drift from S3.
//
// It is not the customers' storage: deliveries go through internal/sink,
// whose writes carry the customer's credentials and checks. This package
// imports only the standard library.
package objstore

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is wrapped by Get when the object does not exist.
var ErrNotFound = errors.New("object not found")

// Object is one listed object.
type Object struct {
	Key  string
	Size int64
	// ETag identifies the object's content as the store reports it: a
	// new write of the same key gives a new ETag unless the bytes are
	// the same. Compaction records it to tell a rewritten raw object from
	// the one it read.
	ETag string
}

// Bucket is a bucket of our own.
type Bucket interface {
	// Get streams the object's bytes. A missing object is an error that
	// wraps ErrNotFound. The caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Put streams r to key, replacing any object of that name. The object
	// becomes visible whole, once r reached io.EOF; if r fails or ctx
	// ends first, nothing (and no part of it) becomes visible and the old
	// object, if any, stays.
	Put(ctx context.Context, key string, r io.Reader) error
	// List calls fn for every object whose key starts with prefix, in
	// key order (bytewise), page by page. An error from fn stops it and
	// is returned as is.
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Delete removes the object; a missing object is not an error.
	Delete(ctx context.Context, key string) error
}
