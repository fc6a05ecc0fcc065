package dynamostore

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
)

// BenchmarkDecodeItem measures the per-event cost ReadDay adds to the SDK's
// own decoding; it needs no emulator.
func BenchmarkDecodeItem(b *testing.B) {
	e := audit.Event{
		OrgID: "bench-org", RequestID: "0123456789abcdef0123456789abcdef",
		RequestTime:   time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.UTC),
		RequestMethod: "PATCH", RequestPath: "/spaces/abcdefabcdef/environments/master/entries/0000000000abcdefabcdef",
		RequestQuery: "locale=en-US&include=2", ResponseStatus: 200, ContentLength: 4711, Space: "abcdefabcdef",
		Route: "/spaces/:space_id/environments/:environment_id/entries/:entry_id", Referrer: "https://app.contentful.com/",
		ActorID: "user-0000000000abcdefabcdef",
	}
	s := New(nil, "t")
	item := s.item(&e, PartitionKey(e.OrgID, audit.DayOf(e.RequestTime), 3), e.RequestTime.UnixMilli())
	items := make([]map[string]types.AttributeValue, 1000)
	for i := range items {
		items[i] = item
	}
	b.ReportAllocs()
	var pg page
	for b.Loop() {
		if err := pg.decode("bench-org", items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
}
