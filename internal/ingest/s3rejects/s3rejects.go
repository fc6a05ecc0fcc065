// Package s3rejects keeps the ingest's rejected records in an S3 bucket of
// the service's own account: one JSON Lines object per batch that had
// rejects, under <prefix><YYYY-MM-DD>/<source of the batch's first
// reject>.jsonl, each line an ingest.Reject (source, field, reason, the
// record). Operators find them by day; `auditctl ingest --file` replays a
// fixed object once the cause is fixed (docs/ingest-format.md).
//
// A retried Kinesis batch writes its rejects again under the same name
// when its first reject is the same, so most retries overwrite rather than
// duplicate; where they do duplicate, the source (shard and sequence
// number) tells the copies apart.
//
// Of this module it imports audit (the day of a key) and ingest (the Reject
// it writes); internal/app builds it for the ingest function. It must not
// import internal/app, a log store or a Lambda package.
package s3rejects

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ingest"
)

// API is the part of the S3 client the sink uses.
type API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Sink is an ingest.RejectSink on S3.
type Sink struct {
	S3     API
	Bucket string
	Prefix string           // "rejects/" for example; may be empty
	Now    func() time.Time // time.Now when nil
	Log    *slog.Logger     // when set, each object written is logged
}

// Reject writes rs as one object. A batch's rejects are bounded by the
// batch (a Lambda payload is at most 6 MB), so they are sent from memory.
func (s *Sink) Reject(ctx context.Context, rs []ingest.Reject) error {
	if len(rs) == 0 {
		return nil
	}
	var body bytes.Buffer
	if err := (&ingest.JSONLSink{W: &body}).Reject(ctx, rs); err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	key := s.Key(audit.DayOf(now()), rs[0].Source)
	_, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body.Bytes()),
		ContentLength: aws.Int64(int64(body.Len())),
		ContentType:   aws.String("application/x-ndjson"),
	})
	if err != nil {
		return fmt.Errorf("write %d rejected records to s3://%s/%s: %w", len(rs), s.Bucket, key, err)
	}
	if s.Log != nil {
		s.Log.WarnContext(ctx, "rejected records written", "count", len(rs), "bucket", s.Bucket, "key", key,
			"first_source", rs[0].Source, "first_field", rs[0].Field, "first_reason", rs[0].Reason)
	}
	return nil
}

// Key is the object name of a batch whose first reject came from source,
// written on day.
func (s *Sink) Key(day audit.Day, source string) string {
	if source == "" {
		source = "unknown"
	}
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, source)
	if len(safe) > 200 {
		safe = safe[:200]
	}
	return s.Prefix + day.String() + "/" + safe + ".jsonl"
}
