package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore/dynamotest"
)

// callCounter counts the store's calls to moto by operation.
type callCounter struct {
	dynamostore.API
	query, batch, get, put atomic.Int64
}

func (c *callCounter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.query.Add(1)
	return c.API.Query(ctx, in, o...)
}

func (c *callCounter) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.batch.Add(1)
	return c.API.BatchWriteItem(ctx, in, o...)
}

func (c *callCounter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.get.Add(1)
	return c.API.GetItem(ctx, in, o...)
}

func (c *callCounter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.put.Add(1)
	return c.API.PutItem(ctx, in, o...)
}

// TestShardCountIsRecordedAndEnforced, on moto: a writer with 16 shards
// records the count in the table; readers with 8 and with 32 and a writer
// with 8 refuse, naming AUDITLOG_SHARDS, their value and the table's,
// before any Query or BatchWriteItem. The day's events all lie in the
// shards a reader with 8 does not query, so without the record it would
// find nothing and say nothing. A reader with 16 reads every event, and
// checks the record once per Store.
func TestShardCountIsRecordedAndEnforced(t *testing.T) {
	ctx := context.Background()
	client, table := dynamotest.Table(t, "logstore-shards")
	store := func(shards int) (*dynamostore.Store, *callCounter) {
		c := &callCounter{API: client}
		s := dynamostore.New(c, table)
		s.Shards, s.ShardsName = shards, "AUDITLOG_SHARDS"
		return s, c
	}
	day, _ := audit.ParseDay("2026-11-24")
	var events []audit.Event
	for i := 0; len(events) < 40; i++ {
		id := fmt.Sprintf("req-%04d", i)
		if dynamostore.ShardOf(id, 16) < 8 { // only shards 8 to 15 of 16
			continue
		}
		events = append(events, audit.Event{OrgID: "acme", RequestID: id, RequestTime: day.Start().Add(time.Duration(i) * time.Minute),
			RequestMethod: "PUT", RequestPath: "/spaces/s/entries/" + id, ResponseStatus: 200})
	}

	// A reader of a table no writer has recorded its count in goes on,
	// and records nothing.
	fresh, fc := store(8)
	if err := fresh.ReadDay(ctx, "acme", day, func(*audit.Event) error { return nil }); err != nil {
		t.Fatalf("ReadDay of a table without a record: %v", err)
	}
	if fc.put.Load() != 0 {
		t.Fatal("a reader wrote the shard-count record")
	}

	writer, wc := store(16)
	if err := writer.Write(ctx, events); err != nil {
		t.Fatal(err)
	}
	if wc.put.Load() != 1 {
		t.Fatalf("the first writer made %d PutItem calls, want 1 (the record)", wc.put.Load())
	}
	rec, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "#meta"}, "sk": &types.AttributeValueMemberS{Value: "shards"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := rec.Item["shards"].(*types.AttributeValueMemberN); !ok || n.Value != "16" || len(rec.Item) != 3 {
		t.Fatalf("shard-count record %v, want pk, sk and shards = 16", rec.Item)
	}

	refused := func(what string, err error, configured int, c *callCounter) {
		t.Helper()
		var me *dynamostore.ShardsMismatchError
		if !errors.Is(err, dynamostore.ErrShardsMismatch) || !errors.As(err, &me) || me.Configured != configured || me.Stored != 16 {
			t.Fatalf("%s: err = %v, want a shard-count mismatch (%d configured, 16 stored)", what, err, configured)
		}
		msg := err.Error()
		if !strings.Contains(msg, fmt.Sprintf("AUDITLOG_SHARDS is %d", configured)) || !strings.Contains(msg, "over 16 shards") ||
			!strings.Contains(msg, "AUDITLOG_SHARDS=16") || !strings.Contains(msg, table) {
			t.Fatalf("%s: %q does not name AUDITLOG_SHARDS, %d, 16 and the table", what, msg, configured)
		}
		if c.query.Load() != 0 || c.batch.Load() != 0 {
			t.Fatalf("%s: %d queries and %d batch writes before refusing", what, c.query.Load(), c.batch.Load())
		}
	}
	for _, n := range []int{8, 32} {
		r, c := store(n)
		calls := 0
		err := r.ReadDay(ctx, "acme", day, func(*audit.Event) error { calls++; return nil })
		refused(fmt.Sprintf("reader with %d", n), err, n, c)
		if calls != 0 {
			t.Fatalf("reader with %d: fn called %d times", n, calls)
		}
	}
	// The reader of 8 that read the table before the record existed
	// refuses now too (an absent record is not remembered).
	fc.query.Store(0)
	refused("earlier reader with 8", fresh.ReadDay(ctx, "acme", day, func(*audit.Event) error { return nil }), 8, fc)

	w8, c8 := store(8)
	more := []audit.Event{{OrgID: "acme", RequestID: "other", RequestTime: day.Start(), RequestMethod: "PUT", RequestPath: "/x", ResponseStatus: 200}}
	refused("writer with 8", w8.Write(ctx, more), 8, c8)
	if c8.put.Load() != 0 {
		t.Fatal("the writer with 8 wrote the record")
	}

	// The same count reads every event, checking the record once.
	r16, c16 := store(16)
	for range 3 {
		got := 0
		if err := r16.ReadDay(ctx, "acme", day, func(e *audit.Event) error {
			if e.RequestID != events[got].RequestID {
				return fmt.Errorf("event %d is %s, want %s", got, e.RequestID, events[got].RequestID)
			}
			got++
			return nil
		}); err != nil || got != len(events) {
			t.Fatalf("reader with 16: %d events, %v; want %d", got, err, len(events))
		}
	}
	if c16.get.Load() != 1 {
		t.Fatalf("reader with 16: %d reads of the record in 3 days read, want 1", c16.get.Load())
	}
	if err := writer.Write(ctx, more); err != nil || wc.get.Load() != 1 || wc.put.Load() != 1 {
		t.Fatalf("the writer's second Write: %v, %d GetItem, %d PutItem (want the first check remembered)", err, wc.get.Load(), wc.put.Load())
	}
}

// TestFirstWritersRace: two first writers with different counts on a
// fresh table on moto: the conditional write lets exactly one record its
// count; the other refuses and stores nothing.
func TestFirstWritersRace(t *testing.T) {
	ctx := context.Background()
	client, table := dynamotest.Table(t, "logstore-race")
	day, _ := audit.ParseDay("2026-11-24")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, shards := range []int{16, 4} {
		wg.Go(func() {
			s := dynamostore.New(client, table)
			s.Shards = shards
			errs[i] = s.Write(ctx, []audit.Event{{OrgID: "acme", RequestID: fmt.Sprintf("w%d", shards), RequestTime: day.Start(),
				RequestMethod: "PUT", RequestPath: "/x", ResponseStatus: 200}})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors %v: want exactly one writer refused", errs)
	}
	winner, lost := 16, errs[1]
	if errs[0] != nil {
		winner, lost = 4, errs[0]
	}
	var me *dynamostore.ShardsMismatchError
	if !errors.As(lost, &me) || me.Stored != winner || !strings.Contains(lost.Error(), "Shards is") {
		t.Fatalf("the refused writer's error %v, want a mismatch naming the setting (Shards by default) and %d", lost, winner)
	}
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 { // the record and the winner's event
		t.Fatalf("table holds %d items, want the record and one event", len(out.Items))
	}
}

// TestCorruptShardRecord: a record without a valid count is an error
// naming it, for readers and writers.
func TestCorruptShardRecord(t *testing.T) {
	ctx := context.Background()
	client, table := dynamotest.Table(t, "logstore-badmeta")
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "#meta"}, "sk": &types.AttributeValueMemberS{Value: "shards"}, "shards": &types.AttributeValueMemberS{Value: "16"},
	}}); err != nil {
		t.Fatal(err)
	}
	s := dynamostore.New(client, table)
	day, _ := audit.ParseDay("2026-11-24")
	err := s.ReadDay(ctx, "acme", day, func(*audit.Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "shard-count record") || !strings.Contains(err.Error(), "not a number") {
		t.Fatalf("ReadDay with a corrupt record: %v", err)
	}
	err = s.Write(ctx, []audit.Event{{OrgID: "acme", RequestID: "a", RequestTime: day.Start(), RequestMethod: "PUT", RequestPath: "/x", ResponseStatus: 200}})
	if err == nil || !strings.Contains(err.Error(), "shard-count record") {
		t.Fatalf("Write with a corrupt record: %v", err)
	}
}
