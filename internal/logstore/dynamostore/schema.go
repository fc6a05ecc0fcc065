package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ddbtable"
)

// Table schema. The CDK stack defines the same table and must use these.
const (
	AttrPK      = "pk"      // partition key: org#day#shard
	AttrSK      = "sk"      // sort key: request ID
	AttrTS      = "ts"      // sort key of IndexByTime: 13-digit Unix ms#request ID
	AttrTTL     = "ttl"     // DynamoDB TTL attribute, Unix seconds
	IndexByTime = "by_time" // local secondary index on (pk, ts), projection ALL

	AttrMethod   = "m"
	AttrPath     = "p"
	AttrQuery    = "q"
	AttrStatus   = "st"
	AttrLength   = "cl"
	AttrSpace    = "sp"
	AttrRoute    = "r"
	AttrReferrer = "rf"
	AttrActor    = "a"
)

// MaxShards is the most shards a table can have (Options.Shards): the
// shard is written with two digits.
const MaxShards = 100

// tsDigits is the width of the time in ts; maxMillis is the largest time
// that fits, 2286-11-20T17:46:39.999Z.
const (
	tsDigits  = 13
	maxMillis = 9_999_999_999_999
)

// ShardOf returns the shard of a request ID: FNV-1a (32 bit) of its bytes
// modulo shards. Hand-written so the hot path does not allocate a hasher.
func ShardOf(requestID string, shards int) int {
	h := uint32(2166136261)
	for i := 0; i < len(requestID); i++ {
		h ^= uint32(requestID[i])
		h *= 16777619
	}
	return int(h % uint32(shards))
}

// PartitionKey is the pk of an org-day's shard.
func PartitionKey(org string, day audit.Day, shard int) string {
	b := make([]byte, 0, len(org)+len(audit.DayLayout)+5)
	return string(appendPartitionKey(b, org, day.String(), shard))
}

func appendPartitionKey(b []byte, org, day string, shard int) []byte {
	b = append(b, org...)
	b = append(b, '#')
	b = append(b, day...)
	b = append(b, '#', byte('0'+shard/10), byte('0'+shard%10))
	return b
}

// SortTime is the ts of an event: its time as 13-digit zero-padded Unix
// milliseconds, '#', the request ID.
func SortTime(t time.Time, requestID string) string {
	b := make([]byte, 0, tsDigits+1+len(requestID))
	return string(appendSortTime(b, t.UnixMilli(), requestID))
}

func appendSortTime(b []byte, ms int64, requestID string) []byte {
	var d [tsDigits]byte
	for i := tsDigits - 1; i >= 0; i-- {
		d[i] = byte('0' + ms%10)
		ms /= 10
	}
	b = append(b, d[:]...)
	b = append(b, '#')
	return append(b, requestID...)
}

// TableAPI is what CreateTable needs; *dynamodb.Client implements it.
type TableAPI interface {
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(context.Context, *dynamodb.UpdateTimeToLiveInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// CreateTable creates the log store table (on-demand billing, the by_time
// LSI), waits until it is active and turns on TTL on AttrTTL. It is for
// tests, local stacks and the CLI; production tables come from the CDK
// stack. A table that already exists is an error that errors.As finds as
// *types.ResourceInUseException: its schema is not checked, so it is not
// taken for success.
func CreateTable(ctx context.Context, client TableAPI, name string) error {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(n string, t types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(n), KeyType: t}
	}
	err := ddbtable.Create(ctx, client, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{s(AttrPK), s(AttrSK), s(AttrTS)},
		KeySchema:            []types.KeySchemaElement{key(AttrPK, types.KeyTypeHash), key(AttrSK, types.KeyTypeRange)},
		LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
			IndexName:  aws.String(IndexByTime),
			KeySchema:  []types.KeySchemaElement{key(AttrPK, types.KeyTypeHash), key(AttrTS, types.KeyTypeRange)},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	}, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("dynamostore: create table %s: %w", name, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrTTL), Enabled: aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamostore: enable TTL on table %s: %w", name, err)
	}
	return nil
}

// errShards is returned for a Shards value the key cannot hold.
var errShards = errors.New("dynamostore: Shards must be from 1 to " + strconv.Itoa(MaxShards))
