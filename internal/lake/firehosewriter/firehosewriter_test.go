package firehosewriter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/lake"
	"github.com/contentful/auditlogs/internal/lake/firehosewriter"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

// events makes n valid events whose query is queryLen bytes.
func events(n int, queryLen int) []audit.Event {
	out := make([]audit.Event, n)
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = audit.Event{OrgID: fmt.Sprintf("org-%d", i%3), RequestID: fmt.Sprintf("req-%05d", i), RequestTime: start.Add(time.Duration(i) * time.Second),
			RequestMethod: "PUT", RequestPath: "/spaces/s/entries/e", RequestQuery: "q=" + strings.Repeat("x", queryLen), ResponseStatus: 200}
	}
	return out
}

// fake answers PutRecordBatch, refusing the records that refuse says.
type fake struct {
	mu      sync.Mutex
	calls   []int // records per call
	bytes   []int
	stored  [][]byte
	refuse  func(call, i int) bool
	callErr error
}

func (f *fake) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.callErr != nil {
		return nil, f.callErr
	}
	call := len(f.calls)
	f.calls = append(f.calls, len(in.Records))
	size := 0
	out := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0)}
	for i, r := range in.Records {
		size += len(r.Data)
		if f.refuse != nil && f.refuse(call, i) {
			*out.FailedPutCount++
			out.RequestResponses = append(out.RequestResponses, types.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException"), ErrorMessage: aws.String("slow down")})
			continue
		}
		f.stored = append(f.stored, r.Data)
		out.RequestResponses = append(out.RequestResponses, types.PutRecordBatchResponseEntry{RecordId: aws.String("id")})
	}
	f.bytes = append(f.bytes, size)
	return out, nil
}

func decode(t *testing.T, lines []byte) []audit.Event {
	t.Helper()
	var out []audit.Event
	r := lake.NewReader(bytes.NewReader(lines))
	for {
		var e audit.Event
		b, err := r.Next(&e)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if b != lake.BucketName(lake.BucketOf(e.OrgID)) {
			t.Fatalf("record of %s carries bucket %q, want %s", e.OrgID, b, lake.BucketName(lake.BucketOf(e.OrgID)))
		}
		out = append(out, e)
	}
}

func noWait(int) time.Duration { return 0 }

func TestBatchesWithinFirehoseLimits(t *testing.T) {
	for _, c := range []struct {
		n, queryLen int
	}{{1201, 10}, {300, 30 << 10}} { // many small events (500 a record); large ones (4 MiB per call)
		f := &fake{}
		in := events(c.n, c.queryLen)
		if err := (&firehosewriter.Writer{Client: f, Stream: "raw"}).Write(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		for i := range f.calls {
			if f.calls[i] > firehosewriter.MaxBatchRecords || f.bytes[i] > firehosewriter.MaxBatchBytes {
				t.Fatalf("call %d: %d records, %d bytes", i, f.calls[i], f.bytes[i])
			}
		}
		got := decode(t, bytes.Join(f.stored, nil))
		if len(got) != c.n || got[0] != in[0] || got[c.n-1] != in[c.n-1] {
			t.Fatalf("%d events stored of %d, or changed", len(got), c.n)
		}
		// Packed: each record but the last of a call near the aggregate
		// size, never over it, and far fewer records than events.
		for _, r := range f.stored {
			if n := bytes.Count(r, []byte("\n")); len(r) > firehosewriter.MaxAggregateBytes || n > firehosewriter.MaxAggregateEvents {
				t.Fatalf("a record of %d bytes, %d events", len(r), n)
			}
		}
		if len(f.stored) > c.n/10 {
			t.Fatalf("%d events in %d records: not packed", c.n, len(f.stored))
		}
	}
}

func TestRefusedRecordsAreSentAgain(t *testing.T) {
	// About 30 KiB an event: 33 to a record, four records to a call.
	in := events(300, 30<<10)
	clean := &fake{}
	if err := (&firehosewriter.Writer{Client: clean, Stream: "raw"}).Write(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	// The first two calls refuse every other record.
	f := &fake{refuse: func(call, i int) bool { return call < 2 && i%2 == 0 }}
	if err := (&firehosewriter.Writer{Client: f, Stream: "raw", Backoff: noWait}).Write(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got := decode(t, bytes.Join(f.stored, nil))
	seen := map[string]int{}
	for _, e := range got {
		seen[e.RequestID]++
	}
	if len(seen) != 300 || len(got) != 300 {
		t.Fatalf("%d distinct of %d stored; want all 300 once", len(seen), len(got))
	}
	if len(f.calls) <= len(clean.calls) || f.calls[1] != (f.calls[0]+1)/2 {
		t.Fatalf("calls %v (without refusals %v): want the refused half of the first call sent again alone", f.calls, clean.calls)
	}
}

func TestGivesUpNamingTheCount(t *testing.T) {
	f := &fake{refuse: func(_, i int) bool { return i < 2 }}
	err := (&firehosewriter.Writer{Client: f, Stream: "raw", MaxAttempts: 3, Backoff: noWait}).Write(context.Background(), events(10, 1))
	if err == nil || !strings.Contains(err.Error(), "1 of 1 records not accepted after 3 attempts") || !strings.Contains(err.Error(), "10 events") || !strings.Contains(err.Error(), "ServiceUnavailableException") {
		t.Fatalf("err = %v", err)
	}
	boom := errors.New("access denied")
	f = &fake{callErr: boom}
	if err := (&firehosewriter.Writer{Client: f, Stream: "raw"}).Write(context.Background(), events(3, 1)); !errors.Is(err, boom) || !strings.Contains(err.Error(), "stream raw") {
		t.Fatalf("a failed call: %v", err)
	}
}

func TestInvalidEventSendsNothing(t *testing.T) {
	in := events(5, 1)
	in[3].RequestMethod = ""
	f := &fake{}
	err := (&firehosewriter.Writer{Client: f, Stream: "raw"}).Write(context.Background(), in)
	var fe *audit.FieldError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "req-00003") || len(f.calls) != 0 {
		t.Fatalf("err %v, %d calls; want a FieldError naming req-00003 and nothing sent", err, len(f.calls))
	}
}

// TestThroughMotoFirehose writes through moto's Firehose into its S3 and
// reads the records back: moto writes each call as one object, without
// compression or partitioning (the stack's configuration does that in
// AWS), so the objects hold the raw records as sent.
func TestThroughMotoFirehose(t *testing.T) {
	moto := testenv.StartMoto(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	ctx := testenv.Context(t)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := testenv.UniqueName("lake")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fh := firehose.NewFromConfig(cfg)
	if _, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("auditlogs-raw"),
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose"),
			Prefix: aws.String("raw/"),
		},
	}); err != nil {
		t.Fatal(err)
	}
	in := events(700, 30<<10) // 21 MiB: six calls of four packed records
	if err := (&firehosewriter.Writer{Client: fh, Stream: "auditlogs-raw"}).Write(ctx, in); err != nil {
		t.Fatal(err)
	}
	list, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("raw/")})
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, o := range list.Contents {
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		all = append(all, b...)
	}
	got := decode(t, all)
	if len(list.Contents) != 6 || len(got) != 700 {
		t.Fatalf("%d objects, %d events; want 6 calls' objects holding all 700", len(list.Contents), len(got))
	}
	ids := map[string]audit.Event{}
	for _, e := range got {
		ids[e.RequestID] = e
	}
	for _, e := range in {
		if ids[e.RequestID] != e {
			t.Fatalf("event %s came back as %+v", e.RequestID, ids[e.RequestID])
		}
	}
}
