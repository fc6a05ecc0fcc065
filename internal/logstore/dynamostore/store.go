package dynamostore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client
// implements it and tests can fake it. GetItem and PutItem touch only the
// shard-count record.
type API interface {
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// Store reads and writes one table (see the package doc for its schema).
// Set its Options, if at all, before the first call; a Store is then safe
// for concurrent use.
type Store struct {
	client API
	table  string

	Options

	// shardsChecked is the Shards value found to match the table's record
	// (0: not yet); shardsMu makes concurrent first calls check once.
	shardsChecked atomic.Int32
	shardsMu      sync.Mutex
}

// New returns a Store on table with the default Options.
func New(client API, table string) *Store { return NewWithOptions(client, table, Options{}) }

// NewWithOptions returns a Store on table with o, whose zero fields take
// their defaults.
func NewWithOptions(client API, table string, o Options) *Store {
	return &Store{client: client, table: table, Options: o.withDefaults()}
}

// Retention is how long the store keeps an event after its request time:
// Options.Retention, the TTL that Write sets. It implements the
// logstore.Store method that the export asks for the oldest day it may
// deliver.
func (s *Store) Retention() time.Duration { return s.Options.Retention }

func (s *Store) check() error {
	if s.Shards < 1 || s.Shards > MaxShards {
		return fmt.Errorf("%w, not %d", errShards, s.Shards)
	}
	if s.Options.Retention <= 0 {
		return fmt.Errorf("dynamostore: Retention must be positive, not %s", s.Options.Retention)
	}
	if s.WriteConcurrency < 1 {
		return fmt.Errorf("dynamostore: WriteConcurrency must be at least 1, not %d", s.WriteConcurrency)
	}
	return nil
}

// batchSize is DynamoDB's limit of requests in one BatchWriteItem.
const batchSize = 25

// Retries of unprocessed items: exponential from backoffBase, capped at
// backoffMax, full jitter. maxBatchAttempts bounds the calls for one chunk
// (at most about 6 s of waiting); a table that keeps refusing that long is
// an error for the caller to retry, not something to hide.
// They are variables so that tests can shorten the waits.
var (
	maxBatchAttempts = 8
	backoffBase      = 50 * time.Millisecond
	backoffMax       = 3 * time.Second
)

// Write stores events; see logstore.Writer. Every event is validated before
// anything is written.
func (s *Store) Write(ctx context.Context, events []audit.Event) error {
	if err := s.check(); err != nil {
		return err
	}
	reqs := make([]types.WriteRequest, 0, len(events))
	// Position in reqs of each key seen, to collapse repeats: the last
	// event wins, at the place of the first.
	seen := make(map[string]int, len(events))
	var key []byte
	for i := range events {
		e := events[i] // a copy: Normalize must not change the caller's slice
		e.Normalize()
		if err := e.Validate(); err != nil {
			return fmt.Errorf("dynamostore: event %d: %w", i, err)
		}
		ms := e.RequestTime.UnixMilli()
		if ms > maxMillis {
			return fmt.Errorf("dynamostore: event %d: %w", i, &audit.FieldError{
				Field: "request_time", Value: e.RequestTime.Format(audit.TimeLayout),
				Reason: "must be before 2286-11-20T17:46:40Z, the end of the store's 13-digit time key",
			})
		}
		shard := ShardOf(e.RequestID, s.Shards)
		key = appendPartitionKey(key[:0], e.OrgID, audit.DayOf(e.RequestTime).String(), shard)
		pk := string(key)
		req := types.WriteRequest{PutRequest: &types.PutRequest{Item: s.item(&e, pk, ms)}}
		key = append(append(key, 0), e.RequestID...) // NUL: in neither org nor request ID
		if j, ok := seen[string(key)]; ok {
			reqs[j] = req
			continue
		}
		seen[string(key)] = len(reqs)
		reqs = append(reqs, req)
	}
	if len(reqs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamostore: write: %w", err)
	}
	if err := s.checkShards(ctx, true); err != nil {
		return err
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		sem      = make(chan struct{}, s.WriteConcurrency)
	)
chunks:
	for start := 0; start < len(reqs); start += batchSize {
		select {
		case sem <- struct{}{}:
		case <-wctx.Done():
			break chunks
		}
		chunk := reqs[start:min(start+batchSize, len(reqs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.writeChunk(wctx, chunk); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamostore: write: %w", err)
	}
	return nil
}

// writeChunk writes up to 25 requests, retrying what DynamoDB leaves
// unprocessed (throttling of single partitions shows up there, not as an
// error the SDK's retryer would see).
func (s *Store) writeChunk(ctx context.Context, pending []types.WriteRequest) error {
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.table: pending},
		})
		if err != nil {
			return fmt.Errorf("dynamostore: batch write of %d items to table %s: %w", len(pending), s.table, err)
		}
		pending = out.UnprocessedItems[s.table]
		if len(pending) == 0 {
			return nil
		}
		if attempt == maxBatchAttempts {
			return fmt.Errorf("dynamostore: batch write to table %s: %d items still unprocessed after %d attempts", s.table, len(pending), attempt)
		}
		d := min(backoffBase<<(attempt-1), backoffMax)
		t := time.NewTimer(rand.N(d) + 1)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("dynamostore: batch write to table %s: %d items unprocessed: %w", s.table, len(pending), ctx.Err())
		}
	}
}

// item encodes e, already normalized and valid, leaving out empty values.
func (s *Store) item(e *audit.Event, pk string, ms int64) map[string]types.AttributeValue {
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	num := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	it := make(map[string]types.AttributeValue, 13)
	it[AttrPK] = str(pk)
	it[AttrSK] = str(e.RequestID)
	it[AttrTS] = str(string(appendSortTime(make([]byte, 0, tsDigits+1+len(e.RequestID)), ms, e.RequestID)))
	it[AttrTTL] = num(e.RequestTime.Add(s.Options.Retention).Unix())
	it[AttrMethod] = str(e.RequestMethod)
	it[AttrPath] = str(e.RequestPath)
	it[AttrStatus] = num(int64(e.ResponseStatus))
	for _, f := range [...]struct {
		name, v string
	}{{AttrQuery, e.RequestQuery}, {AttrSpace, e.Space}, {AttrRoute, e.Route}, {AttrReferrer, e.Referrer}, {AttrActor, e.ActorID}} {
		if f.v != "" {
			it[f.name] = str(f.v)
		}
	}
	if e.ContentLength != 0 {
		it[AttrLength] = num(e.ContentLength)
	}
	return it
}
