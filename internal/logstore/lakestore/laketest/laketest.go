// Package laketest gives a test a log store of its own on the S3 data
// lake, on its package's shared moto_server: lakestore on a new bucket
// (through objstore/s3obj), writing raw objects with the lake's direct
// writer (lake/directwriter), whose ReadDay compacts the org's bucket-day
// first (internal/compaction), as auditctl export does, so that what the
// test wrote is readable at once. It is for the tests of the code that
// writes to or reads from the log store.
//
// Tests only: production code imports it only from _test.go files. It may
// import lakestore, compaction, the lake and its direct writer, objstore
// and testenv, and nothing that uses the log store: ingest's own tests
// import it, so an import of the ingest would be a cycle.
package laketest

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compaction"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/lake/directwriter"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/lakestore"
	"github.com/contentful/auditlogs/internal/objstore/s3obj"
)

// Store is a lake store whose reads compact first. Write, Retention and
// OpenDayFile are lakestore's (OpenDayFile does not compact: it finds
// what the last ReadDay's compaction wrote).
type Store struct {
	*lakestore.Store
	// Compactor compacts the org's bucket-day before each ReadDay.
	Compactor *compaction.Compactor
}

// ReadDay compacts the org's bucket-day (a no-op when its manifest lists
// every raw object already), then reads the org-day from the lake.
func (s *Store) ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error {
	if _, err := s.Compactor.Compact(ctx, day, lake.BucketOf(org)); err != nil {
		return fmt.Errorf("laketest: compact %s bucket %d: %w", day, lake.BucketOf(org), err)
	}
	return s.Store.ReadDay(ctx, org, day, fn)
}

// New creates a bucket named after prefix on the package's shared
// moto_server and returns a store on it. The bucket is left to the
// emulator, which ends with the package's tests.
func New(tb testing.TB, prefix string) *Store {
	tb.Helper()
	client := s3.NewFromConfig(testenv.AWSConfig(tb, testenv.Endpoints{Default: testenv.Moto(tb).URL}), s3obj.LakeOptions)
	name := testenv.UniqueName(prefix)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
	b := s3obj.New(client, name)
	return &Store{
		Store:     &lakestore.Store{Lake: b, Writer: &directwriter.Writer{Lake: b}},
		Compactor: &compaction.Compactor{Lake: b, TempDir: tb.TempDir()},
	}
}
