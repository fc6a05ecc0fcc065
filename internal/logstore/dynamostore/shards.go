package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The shard-count record: one item of the table that says over how many
// shards its org-days are spread (see the package doc, Shards). Its pk
// starts with '#', which no org ID does, so it is no org-day's partition;
// it has no ts, so the time index never holds it, and no ttl, so it never
// expires.
const (
	MetaPK       = "#meta"  // pk of the table's own records
	ShardsSK     = "shards" // sk of the shard-count record
	AttrShards   = "shards" // N: the shard count, 1 to MaxShards
	defaultShard = "Shards" // what the mismatch error calls the setting when ShardsName is empty
)

// ErrShardsMismatch is what a *ShardsMismatchError is (errors.Is).
var ErrShardsMismatch = errors.New("dynamostore: the shard count differs from the table's")

// ShardsMismatchError means the table's events are spread over another
// number of shards than the Store is set to: a reader would miss the
// events of the shards it does not query, a writer would put events where
// readers do not look. Nothing was read or written.
type ShardsMismatchError struct {
	Table      string
	Setting    string // the name of the setting (Store.ShardsName)
	Configured int    // the Store's Shards
	Stored     int    // the table's record
}

func (e *ShardsMismatchError) Error() string {
	return fmt.Sprintf("dynamostore: table %s spreads each org-day over %d shards (its shard-count record), but %s is %d: "+
		"reading with %d would miss events and writing would put them where readers do not look; set %s=%d (a table's shard count never changes)",
		e.Table, e.Stored, e.Setting, e.Configured, e.Configured, e.Setting, e.Stored)
}

// Is makes errors.Is(err, ErrShardsMismatch) hold.
func (e *ShardsMismatchError) Is(target error) bool { return target == ErrShardsMismatch }

// checkShards compares s.Shards with the table's shard-count record
// before anything is read or written. A writer (claim) creates the record
// if the table has none, conditionally, so that of two first writers with
// different settings one wins and the other refuses. A reader of a table
// without the record goes on: no writer that records it has written, so
// there is nothing it could miss (a table filled before the record existed
// gets it from its next write). A match is remembered for the Store's
// life: the record is written once and never changed.
func (s *Store) checkShards(ctx context.Context, claim bool) error {
	if int(s.shardsChecked.Load()) == s.Shards {
		return nil
	}
	s.shardsMu.Lock()
	defer s.shardsMu.Unlock()
	if int(s.shardsChecked.Load()) == s.Shards {
		return nil
	}
	stored, found, err := s.readShards(ctx)
	if err != nil {
		return err
	}
	if !found {
		if !claim {
			return nil
		}
		if stored, err = s.claimShards(ctx); err != nil {
			return err
		}
	}
	if stored != s.Shards {
		setting := s.ShardsName
		if setting == "" {
			setting = defaultShard
		}
		return &ShardsMismatchError{Table: s.table, Setting: setting, Configured: s.Shards, Stored: stored}
	}
	s.shardsChecked.Store(int32(s.Shards))
	return nil
}

func shardsKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: MetaPK},
		AttrSK: &types.AttributeValueMemberS{Value: ShardsSK},
	}
}

// readShards reads the record, consistently: a record written a moment
// ago by another process must be seen.
func (s *Store) readShards(ctx context.Context) (int, bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: shardsKey(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, false, fmt.Errorf("dynamostore: read the shard count of table %s: %w", s.table, err)
	}
	if out.Item == nil {
		return 0, false, nil
	}
	n, err := s.decodeShards(out.Item)
	return n, err == nil, err
}

// claimShards writes the record with s.Shards unless one exists, and
// returns the count the table then has: s.Shards, or the one another
// writer recorded first.
func (s *Store) claimShards(ctx context.Context) (int, error) {
	item := shardsKey()
	item[AttrShards] = &types.AttributeValueMemberN{Value: strconv.Itoa(s.Shards)}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": AttrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf) && ccf.Item != nil:
		return s.decodeShards(ccf.Item)
	case errors.As(err, &ccf):
		n, found, rerr := s.readShards(ctx)
		if rerr == nil && !found {
			rerr = fmt.Errorf("dynamostore: table %s: the shard-count record exists and does not", s.table)
		}
		return n, rerr
	case err != nil:
		return 0, fmt.Errorf("dynamostore: record the shard count of table %s: %w", s.table, err)
	}
	return s.Shards, nil
}

func (s *Store) decodeShards(item map[string]types.AttributeValue) (int, error) {
	got := "missing"
	switch v := item[AttrShards].(type) {
	case *types.AttributeValueMemberN:
		if n, err := strconv.Atoi(v.Value); err == nil && n >= 1 && n <= MaxShards {
			return n, nil
		}
		got = v.Value
	case nil:
	default:
		got = fmt.Sprintf("not a number (%T)", v)
	}
	return 0, fmt.Errorf("dynamostore: table %s: the shard-count record (pk %q, sk %q) has %s %s, want a number from 1 to %d",
		s.table, MetaPK, ShardsSK, AttrShards, got, MaxShards)
}
