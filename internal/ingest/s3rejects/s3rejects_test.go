package s3rejects

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestRejectsOnMoto: an Ingester's rejects land in the bucket as one JSON
// Lines object under the day, each line naming the source, field and
// reason and holding the record as received, its credentials redacted; the
// good record is stored, not rejected.
func TestRejectsOnMoto(t *testing.T) {
	ctx := context.Background()
	moto := testenv.Moto(t)
	client := s3.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := testenv.UniqueName("rejects")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	sink := &Sink{S3: client, Bucket: bucket, Prefix: "rejects/", Now: func() time.Time { return now }}
	records := []ingest.Raw{
		{Source: "shardId-000000000001:100", Data: []byte(`{"request_id":"r1","org_id":"o1","request_time":"2026-11-24T10:00:00Z","request_method":"PUT","request_path":"/spaces/s1/environments/master/entries/e1","response_status":200}`)},
		{Source: "shardId-000000000001:101", Data: []byte(`{"request_id":"r2","org_id":"o1"`)},
		{Source: "shardId-000000000001:102", Data: []byte(`{"request_id":"r3","org_id":"o1","request_time":"2031-01-01T00:00:00Z","request_method":"PUT","request_path":"/spaces/s1","request_query":"access_token=` + pat + `&locale=en","response_status":200}`)},
	}
	redacted := strings.Replace(string(records[2].Data), pat, "REDACTED", 1)
	store := &countingStore{}
	c, err := (&ingest.Ingester{Store: store, Rejects: sink, Now: sink.Now}).Ingest(ctx, records)
	if err != nil || c.Stored != 1 || c.Rejected != 2 || store.n != 1 {
		t.Fatalf("%+v, %v (store got %d)", c, err, store.n)
	}
	key := "rejects/2026-11-25/shardId-000000000001_101.jsonl"
	if got := sink.Key(audit.DayOf(now), "shardId-000000000001:101"); got != key {
		t.Fatalf("key %q, want %q", got, key)
	}
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	body, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte(pat)) {
		t.Fatal("the rejects object holds the token") // not printed
	}
	var got []ingest.Reject
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var r ingest.Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	if len(got) != 2 || got[0].Source != records[1].Source || got[0].Field != "record" || got[0].Record != string(records[1].Data) ||
		got[1].Source != records[2].Source || got[1].Field != "request_time" || got[1].Reason == "" || got[1].Record != redacted {
		t.Fatalf("rejects in the object are not as expected")
	}
	if aws.ToString(obj.ContentType) != "application/x-ndjson" {
		t.Fatalf("content type %q", aws.ToString(obj.ContentType))
	}
}

// pat has the shape of a platform personal access token (made up).
var pat = "CFPAT-" + strings.Repeat("s3Rj_", 8) + "-ok"

// countingStore counts the events written to it.
type countingStore struct{ n int }

func (s *countingStore) Write(_ context.Context, es []audit.Event) error { s.n += len(es); return nil }
