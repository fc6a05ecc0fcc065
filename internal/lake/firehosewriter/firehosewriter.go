// Package firehosewriter is the ingest's writer into the lake: a
// logstore.Writer that hands classified events to an Amazon Data Firehose
// stream as raw records (internal/lake: the NDJSON event plus its org
// bucket, on which the stream partitions), in PutRecordBatch calls of at
// most 500 records and 4 MiB. Firehose buffers, compresses and writes them
// under raw/day=/bucket=/ (the stack configures its dynamic partitioning).
//
// Many events travel in one Firehose record (up to MaxAggregateEvents
// lines and MaxAggregateBytes): Firehose bills ingestion per record
// rounded up to 5 KB, and an event is about 500 bytes, so one record per
// event would cost ten times as much. The stream splits the records again
// (its RecordDeAggregation processor, JSON sub-records) before it
// partitions each event; it splits at most 500 sub-records of a record,
// and a record of more is not split as it should be, so a record holds at
// most 500 events (about 250 KB: the 5 KB rounding costs at most 2%).
//
// Records that a call reports as failed (FailedPutCount: throttling, an
// internal error) are sent again, alone, with backoff, up to MaxAttempts
// times; then Write fails naming how many were not accepted, so the ingest
// function fails its Kinesis batch and Lambda retries it (bisecting). A
// record may therefore reach the lake twice; compaction keeps one copy of
// each request ID, so a retry never duplicates a row.
//
// It imports audit and lake, and the Firehose API of the AWS SDK.
package firehosewriter

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
)

// Firehose's limits of one PutRecordBatch call and one record, and the
// size the writer packs records to.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 4 << 20
	MaxRecordBytes  = 1000 << 10
	// MaxAggregateBytes leaves a 4 MiB call room for four full records.
	MaxAggregateBytes = 1000 << 10
	// MaxAggregateEvents is the most sub-records Firehose's
	// RecordDeAggregation splits out of one record.
	MaxAggregateEvents = 500
)

// API is the part of the Firehose client the writer uses.
type API interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Writer writes events to one Firehose stream.
type Writer struct {
	Client API
	Stream string
	// MaxAttempts bounds the sends of a record that Firehose reports as
	// failed (default 6); Backoff is the wait before attempt n+1 (default
	// 100 ms doubling to at most 3.2 s).
	MaxAttempts int
	Backoff     func(n int) time.Duration
}

// Write stores events (see the package doc). Every event is checked
// first: if one is invalid nothing is sent.
func (w *Writer) Write(ctx context.Context, events []audit.Event) error {
	var recs [][]byte
	var cur []byte
	inCur := 0
	for i := range events {
		e := events[i]
		e.Normalize()
		if err := e.Validate(); err != nil {
			return fmt.Errorf("firehose writer: event %d (request %q): %w", i, e.RequestID, err)
		}
		line := lake.AppendRaw(nil, &e)
		if len(line) > MaxRecordBytes {
			return fmt.Errorf("firehose writer: event %d (request %q): %d bytes as a raw record, over Firehose's %d", i, e.RequestID, len(line), MaxRecordBytes)
		}
		if len(cur)+len(line) > MaxAggregateBytes || inCur == MaxAggregateEvents {
			recs, cur, inCur = append(recs, cur), nil, 0
		}
		cur = append(cur, line...)
		inCur++
	}
	if len(cur) > 0 {
		recs = append(recs, cur)
	}
	for start := 0; start < len(recs); {
		end, size := start, 0
		for end < len(recs) && end-start < MaxBatchRecords && size+len(recs[end]) <= MaxBatchBytes {
			size += len(recs[end])
			end++
		}
		if err := w.send(ctx, recs[start:end]); err != nil {
			return fmt.Errorf("firehose writer: stream %s: records %d to %d of %d (%d events in all): %w", w.Stream, start, end-1, len(recs), len(events), err)
		}
		start = end
	}
	return nil
}

// send puts one batch, sending the records Firehose refused again.
func (w *Writer) send(ctx context.Context, batch [][]byte) error {
	attempts := w.MaxAttempts
	if attempts <= 0 {
		attempts = 6
	}
	backoff := w.Backoff
	if backoff == nil {
		backoff = func(n int) time.Duration { return min(100*time.Millisecond<<n, 3200*time.Millisecond) }
	}
	pending := batch
	for n := 0; ; n++ {
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(w.Stream), Records: make([]types.Record, len(pending))}
		for i, r := range pending {
			in.Records[i] = types.Record{Data: r}
		}
		out, err := w.Client.PutRecordBatch(ctx, in)
		if err != nil {
			return err // the SDK's retryer has retried what it could
		}
		if aws.ToInt32(out.FailedPutCount) == 0 {
			return nil
		}
		var failed [][]byte
		var code, msg string
		for i, resp := range out.RequestResponses {
			if resp.ErrorCode != nil && i < len(pending) {
				failed = append(failed, pending[i])
				code, msg = aws.ToString(resp.ErrorCode), aws.ToString(resp.ErrorMessage)
			}
		}
		if len(failed) == 0 { // a count without per-record answers: send all again
			failed = pending
		}
		if n+1 >= attempts {
			return fmt.Errorf("%d of %d records not accepted after %d attempts (last: %s: %s)", len(failed), len(batch), attempts, code, msg)
		}
		t := time.NewTimer(backoff(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%d of %d records not accepted: %w", len(failed), len(batch), ctx.Err())
		case <-t.C:
		}
		pending = failed
	}
}
