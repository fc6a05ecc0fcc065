package dynamostore_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore"
	"github.com/contentful/auditlogs/internal/logstore/dynamostore/dynamotest"
	"github.com/contentful/auditlogs/internal/logstore/storetest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// countingAPI counts Query calls that continue a shard, to show that the
// tests cross page boundaries on the emulator too.
type countingAPI struct {
	dynamostore.API
	continued *atomic.Int64
}

func (c countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if in.ExclusiveStartKey != nil {
		c.continued.Add(1)
	}
	return c.API.Query(ctx, in, opts...)
}

func TestAcceptanceOnMoto(t *testing.T) {
	for _, shards := range []int{dynamostore.DefaultShards, 1} {
		t.Run("Shards"+strconv.Itoa(shards), func(t *testing.T) {
			var continued atomic.Int64
			storetest.RunReadWriter(t, func(t *testing.T) storetest.ReadWriter {
				client, table := dynamotest.Table(t, "logstore")
				s := dynamostore.New(countingAPI{client, &continued}, table)
				s.Shards = shards
				return s
			})
			// With one shard, the 3 MB day is several 1 MB pages.
			if shards == 1 && continued.Load() == 0 {
				t.Error("no query needed a second page: the suite did not test paging on moto")
			}
		})
	}
}

// TestItemLayout pins the stored form that the package doc documents and
// the CDK stack and other tools rely on.
func TestItemLayout(t *testing.T) {
	client, table := dynamotest.Table(t, "logstore")
	ctx := context.Background()

	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	tb := desc.Table
	if tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", tb.BillingModeSummary)
	}
	if got := keys(tb.KeySchema); got != "pk:HASH sk:RANGE " {
		t.Errorf("key schema = %q", got)
	}
	if len(tb.LocalSecondaryIndexes) != 1 || aws.ToString(tb.LocalSecondaryIndexes[0].IndexName) != "by_time" ||
		keys(tb.LocalSecondaryIndexes[0].KeySchema) != "pk:HASH ts:RANGE " ||
		tb.LocalSecondaryIndexes[0].Projection.ProjectionType != types.ProjectionTypeAll {
		t.Errorf("local secondary indexes = %+v", tb.LocalSecondaryIndexes)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "ttl" || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("TTL = %+v, want enabled on ttl", d)
	}

	s := dynamostore.New(client, table)
	at := time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.UTC)
	e := audit.Event{OrgID: "acme", RequestID: "req-1", RequestTime: at, RequestMethod: "PATCH", RequestPath: "/x",
		ResponseStatus: 204, ContentLength: 0, Space: "sp1", ActorID: "u1"}
	if err := s.Write(ctx, []audit.Event{e}); err != nil {
		t.Fatal(err)
	}
	shard := dynamostore.ShardOf("req-1", 16)
	pk := "acme#2026-11-24#" + twoDigits(shard)
	if got := dynamostore.PartitionKey("acme", audit.DayOf(at), shard); got != pk {
		t.Errorf("PartitionKey = %q, want %q", got, pk)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: "req-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pk": "S:" + pk, "sk": "S:req-1", "ts": "S:1795527912345#req-1",
		"ttl": "N:" + strconv.FormatInt(at.Add(35*24*time.Hour).Unix(), 10),
		"m":   "S:PATCH", "p": "S:/x", "st": "N:204", "sp": "S:sp1", "a": "S:u1",
	}
	got := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			got[k] = "S:" + v.Value
		case *types.AttributeValueMemberN:
			got[k] = "N:" + v.Value
		default:
			got[k] = "?"
		}
	}
	if len(got) != len(want) {
		t.Errorf("item has %d attributes, want %d (empty values left out): %v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("attribute %s = %q, want %q", k, got[k], w)
		}
	}
}

func keys(ks []types.KeySchemaElement) string {
	var s string
	for _, k := range ks {
		s += aws.ToString(k.AttributeName) + ":" + string(k.KeyType) + " "
	}
	return s
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
