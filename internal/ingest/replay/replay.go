// Package replay gives the ingest a second chance at a batch it gave up
// on. When the ingest function keeps failing on a batch (the log store or
// the ledger down for days), its Kinesis event source mapping stops
// retrying once the records are 6 days old and puts an on-failure record
// in the ingest-failures queue: the shard and the first and last sequence
// numbers, never the records. Their audit events are missing until someone
// reads the records back from the stream, which keeps them 7 days. Replay
// does that: it reads exactly that range of the shard and runs it through
// the same ingester as the function (idempotent by request ID, late days
// noted in the ledger so they are delivered again), and Queue drains the
// ingest-failures queue, deleting a message only once its whole range is
// stored.
//
// Of this module it imports only internal/ingest (the ingester it hands
// the records to); the caller gives it the Kinesis and SQS clients. Only
// auditctl imports it (`auditctl ingest replay`); it must not import
// internal/app, a log store provider or a Lambda package.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/contentful/auditlogs/internal/ingest"
)

// BatchInfo is the KinesisBatchInfo of an event source mapping's
// on-failure record: which records of which shard were given up on.
type BatchInfo struct {
	ShardID             string `json:"shardId"`
	StartSequenceNumber string `json:"startSequenceNumber"`
	EndSequenceNumber   string `json:"endSequenceNumber"`
	BatchSize           int    `json:"batchSize"`
	StreamARN           string `json:"streamArn"`
	FirstArrival        string `json:"approximateArrivalOfFirstRecord,omitempty"`
	LastArrival         string `json:"approximateArrivalOfLastRecord,omitempty"`
}

// Failure is an event source mapping's on-failure record, the body of an
// ingest-failures message.
type Failure struct {
	RequestContext struct {
		Condition   string `json:"condition"` // RetryAttemptsExhausted, RecordAgeExceeded, ...
		FunctionARN string `json:"functionArn"`
	} `json:"requestContext"`
	Timestamp string    `json:"timestamp"`
	Batch     BatchInfo `json:"KinesisBatchInfo"`
}

// ParseFailure reads an on-failure record and checks that it names a range
// of a Kinesis shard; the error names the field and the value.
func ParseFailure(body []byte) (Failure, error) {
	var f Failure
	if err := json.Unmarshal(body, &f); err != nil {
		return f, fmt.Errorf("not an on-failure record of a Kinesis event source mapping: %w", err)
	}
	b := f.Batch
	if b.StreamARN == "" && b.ShardID == "" && b.StartSequenceNumber == "" {
		return f, errors.New("not an on-failure record of a Kinesis event source mapping: no KinesisBatchInfo")
	}
	a, err := arn.Parse(b.StreamARN)
	if err != nil || a.Service != "kinesis" || !strings.HasPrefix(a.Resource, "stream/") {
		return f, fmt.Errorf("KinesisBatchInfo.streamArn %q: not the ARN of a Kinesis stream", b.StreamARN)
	}
	if !strings.HasPrefix(b.ShardID, "shardId-") {
		return f, fmt.Errorf("KinesisBatchInfo.shardId %q: not a shard ID", b.ShardID)
	}
	if !isSeq(b.StartSequenceNumber) {
		return f, fmt.Errorf("KinesisBatchInfo.startSequenceNumber %q: not a sequence number", b.StartSequenceNumber)
	}
	if !isSeq(b.EndSequenceNumber) {
		return f, fmt.Errorf("KinesisBatchInfo.endSequenceNumber %q: not a sequence number", b.EndSequenceNumber)
	}
	if cmpSeq(b.StartSequenceNumber, b.EndSequenceNumber) > 0 {
		return f, fmt.Errorf("KinesisBatchInfo: startSequenceNumber %s is after endSequenceNumber %s", b.StartSequenceNumber, b.EndSequenceNumber)
	}
	return f, nil
}

// isSeq reports a Kinesis sequence number: decimal digits, at most 128.
func isSeq(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// cmpSeq compares two sequence numbers as the integers they are.
func cmpSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// Stream is the part of the Kinesis client a replay reads with.
type Stream interface {
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Ingester stores records as the ingest function does (*ingest.Ingester).
type Ingester interface {
	Ingest(ctx context.Context, records []ingest.Raw) (ingest.Counts, error)
}

// ErrGap means records of the range are no longer in the stream (past its
// retention): their audit events are lost. The records still there were
// ingested all the same.
var ErrGap = errors.New("records of the range are no longer in the stream")

// ErrIncomplete means the shard ended, or its newest record was reached,
// before the range's last sequence number.
var ErrIncomplete = errors.New("the range's last record was not found in the shard")

// Replayer reads ranges back from the stream into an Ingester.
type Replayer struct {
	Stream   Stream
	Ingester Ingester
	// Pause between two reads of the shard (default 200 ms): Kinesis
	// allows 5 reads a second per shard, shared with the ingest
	// function's own reader, and the SDK retries when we go over.
	Pause time.Duration
	// Limit is the most records a read returns (default, and Kinesis's
	// maximum, 10,000; a read also stops at 10 MB).
	Limit int32
}

// Result is what a replay read and what became of it.
type Result struct {
	Shard  string        `json:"shard"`
	Start  string        `json:"start_sequence_number"`
	End    string        `json:"end_sequence_number"`
	First  string        `json:"first_read,omitempty"` // sequence number of the first record read
	Last   string        `json:"last_read,omitempty"`  // and of the last
	Counts ingest.Counts `json:"counts"`
}

// Replay reads the records of b from the stream, from its start sequence
// number to its end one, both included, and ingests them a page of
// GetRecords at a time (at most 10 MB), so a range never sits in memory
// whole. Ingesting is idempotent: a range replayed twice stores every
// event once. The error wraps ErrGap when the stream no longer holds the
// range's first records, and ErrIncomplete when its last record was not
// found; the Result says what was read and stored either way.
func (r *Replayer) Replay(ctx context.Context, b BatchInfo) (Result, error) {
	res := Result{Shard: b.ShardID, Start: b.StartSequenceNumber, End: b.EndSequenceNumber}
	a, err := arn.Parse(b.StreamARN)
	if err != nil {
		return res, fmt.Errorf("stream ARN %q: %w", b.StreamARN, err)
	}
	// The stream's own region, whatever the client's default is.
	inRegion := func(o *kinesis.Options) { o.Region = a.Region }
	// iterator starts at the range's first record, or after the last
	// record read when an iterator expired (after 5 minutes) while the
	// ingester worked on a page.
	iterator := func() (*string, error) {
		in := &kinesis.GetShardIteratorInput{
			StreamARN: aws.String(b.StreamARN), ShardId: aws.String(b.ShardID),
			ShardIteratorType:      types.ShardIteratorTypeAtSequenceNumber,
			StartingSequenceNumber: aws.String(b.StartSequenceNumber),
		}
		if res.Last != "" {
			in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(res.Last)
		}
		it, err := r.Stream.GetShardIterator(ctx, in, inRegion)
		if err != nil {
			return nil, fmt.Errorf("shard iterator for %s of %s %s %s: %w", b.ShardID, b.StreamARN, in.ShardIteratorType, aws.ToString(in.StartingSequenceNumber), err)
		}
		return it.ShardIterator, nil
	}
	iter, err := iterator()
	if err != nil {
		return res, err
	}
	pause := r.Pause
	if pause == 0 {
		pause = 200 * time.Millisecond
	}
	var limit *int32
	if r.Limit > 0 {
		limit = aws.Int32(r.Limit)
	}
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(pause):
			}
		}
		if iter == nil {
			return res, errors.Join(fmt.Errorf("shard %s ended after %s, before %s: %w", b.ShardID, lastOr(res.Last, "its start"), b.EndSequenceNumber, ErrIncomplete), gap(res, b))
		}
		out, err := r.Stream.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: aws.String(b.StreamARN), ShardIterator: iter, Limit: limit}, inRegion)
		if expired := new(types.ExpiredIteratorException); errors.As(err, &expired) {
			if iter, err = iterator(); err != nil {
				return res, err
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("read shard %s of %s after %s: %w", b.ShardID, b.StreamARN, lastOr(res.Last, b.StartSequenceNumber), err)
		}
		var raws []ingest.Raw
		done := false
		for _, rec := range out.Records {
			seq := aws.ToString(rec.SequenceNumber)
			if cmpSeq(seq, b.EndSequenceNumber) > 0 {
				done = true
				break
			}
			if res.First == "" {
				res.First = seq
			}
			res.Last = seq
			raws = append(raws, ingest.Raw{Source: b.ShardID + ":" + seq, Data: rec.Data})
			if seq == b.EndSequenceNumber {
				done = true
				break
			}
		}
		if len(raws) > 0 {
			c, err := r.Ingester.Ingest(ctx, raws)
			res.Counts.Add(c)
			if err != nil {
				return res, fmt.Errorf("ingest records %s to %s of shard %s: %w", strings.TrimPrefix(raws[0].Source, b.ShardID+":"), res.Last, b.ShardID, err)
			}
		}
		if done {
			break
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 && out.NextShardIterator != nil {
			return res, errors.Join(fmt.Errorf("shard %s has no record after %s up to %s: %w", b.ShardID, lastOr(res.Last, b.StartSequenceNumber), b.EndSequenceNumber, ErrIncomplete), gap(res, b))
		}
		iter = out.NextShardIterator
	}
	return res, gap(res, b)
}

// gap is the error for the records of b's range that were not read
// because the stream no longer holds them (nil when none is missing at
// the start): AT_SEQUENCE_NUMBER of a trimmed record starts at the oldest
// record left.
func gap(res Result, b BatchInfo) error {
	switch {
	case res.First == "":
		return fmt.Errorf("shard %s: none of %s to %s is left in the stream: %w", b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, ErrGap)
	case cmpSeq(res.First, b.StartSequenceNumber) > 0:
		return fmt.Errorf("shard %s: the records from %s to before %s are no longer in the stream: %w", b.ShardID, b.StartSequenceNumber, res.First, ErrGap)
	}
	return nil
}

func lastOr(last, or string) string {
	if last == "" {
		return or
	}
	return last
}
