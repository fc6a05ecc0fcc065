package replay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ingest"
	"github.com/contentful/auditlogs/internal/ingest/replay"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/lakestore/laketest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// sampleRecord is events/ingest-failure.json: the example invocation
// record of the Lambda developer guide ("Retain discarded batch records for
// a Kinesis Data Streams event source"), the form the ingest-failures
// queue's messages take.
func sampleRecord(tb testing.TB) string {
	tb.Helper()
	return string(testenv.SampleEvent(tb, "ingest-failure.json"))
}

func TestParseFailure(t *testing.T) {
	awsDocRecord := sampleRecord(t)
	f, err := replay.ParseFailure([]byte(awsDocRecord))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Batch
	if f.RequestContext.Condition != "RetryAttemptsExhausted" || b.ShardID != "shardId-000000000001" || b.BatchSize != 500 ||
		b.StartSequenceNumber != "49601189658422359378836298521827638475320189012309704722" ||
		b.EndSequenceNumber != "49601189658422359378836298522902373528957594348623495186" ||
		b.StreamARN != "arn:aws:kinesis:us-east-2:123456789012:stream/mystream" {
		t.Fatalf("parsed %+v", f)
	}
	bad := []struct{ from, to, want string }{
		{`"streamArn": "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"`, `"streamArn": "arn:aws:sqs:us-east-2:123456789012:q"`, `streamArn "arn:aws:sqs:us-east-2:123456789012:q"`},
		{`"shardId": "shardId-000000000001"`, `"shardId": "../x"`, `shardId "../x"`},
		{`"startSequenceNumber": "49601189658422359378836298521827638475320189012309704722"`, `"startSequenceNumber": "12x"`, `startSequenceNumber "12x"`},
		{`"endSequenceNumber": "49601189658422359378836298522902373528957594348623495186"`, `"endSequenceNumber": ""`, `endSequenceNumber ""`},
		// 10 is after 9 as integers, though not as strings.
		{`"endSequenceNumber": "49601189658422359378836298522902373528957594348623495186"`, `"endSequenceNumber": "4960118965842235937883629852182763847532018901230970472"`, "is after endSequenceNumber"},
		{`"KinesisBatchInfo"`, `"SomethingElse"`, "no KinesisBatchInfo"},
		{`{`, `[`, "not an on-failure record"},
	}
	for _, c := range bad {
		body := strings.Replace(awsDocRecord, c.from, c.to, 1)
		if body == awsDocRecord {
			t.Fatalf("case %q changes nothing", c.want)
		}
		if _, err := replay.ParseFailure([]byte(body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("with %s: err = %v, want one naming %q", c.to, err, c.want)
		}
	}
}

// world is a request-log stream, a log store and an ingest-failures queue
// on moto.
type world struct {
	kin    *kinesis.Client
	sqs    *sqs.Client
	store  *laketest.Store
	arn    string
	shard  string
	seqs   []string // of the records put, in order
	ids    []string // their request IDs ("" for records that store nothing)
	day    audit.Day
	reject *ingest.MemorySink
}

const org = "replay-org"

// newWorld puts n records on a one-shard stream: every fifth a GET
// (skipped), every seventh malformed (rejected), the rest audited PUTs.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	ctx := context.Background()
	moto := testenv.Moto(t)
	cfg := testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL})
	w := &world{kin: kinesis.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), reject: &ingest.MemorySink{}}
	w.store = laketest.New(t, "replay")

	w.arn = testenv.NewStream(t, w.kin)
	w.day = audit.DayOf(time.Now()).AddDays(-2)
	for i := range n {
		id := fmt.Sprintf("req-%03d", i)
		method, stored := "PUT", true
		data := ""
		switch {
		case i%7 == 3:
			data, stored = `{"request_id":"`+id+`","org_id":"`+org+`"`, false
		case i%5 == 4:
			method, stored = "GET", false
		}
		if data == "" {
			data = fmt.Sprintf(`{"request_id":%q,"org_id":%q,"request_time":%q,"request_method":%q,"request_path":"/spaces/sp1/environments/master/entries/e%d","response_status":200,"content_length":7,"actor_id":"user:u1"}`,
				id, org, w.day.Start().Add(time.Duration(i)*time.Minute).Format(time.RFC3339Nano), method, i)
		}
		out, err := w.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String(w.arn), PartitionKey: aws.String(org), Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		w.shard = aws.ToString(out.ShardId)
		w.seqs = append(w.seqs, aws.ToString(out.SequenceNumber))
		if !stored {
			id = ""
		}
		w.ids = append(w.ids, id)
	}
	return w
}

func (w *world) replayer(in replay.Ingester) *replay.Replayer {
	if in == nil {
		in = &ingest.Ingester{Store: w.store, Rejects: w.reject}
	}
	// 4 records a read, so that ranges cross reads.
	return &replay.Replayer{Stream: w.kin, Ingester: in, Pause: time.Millisecond, Limit: 4}
}

func (w *world) batch(from, to string) replay.BatchInfo {
	return replay.BatchInfo{ShardID: w.shard, StartSequenceNumber: from, EndSequenceNumber: to, StreamARN: w.arn}
}

// stored are the request IDs of the org-day in the log store, in order.
func (w *world) stored(t *testing.T) []string {
	t.Helper()
	var ids []string
	if err := w.store.ReadDay(context.Background(), org, w.day, func(e *audit.Event) error {
		ids = append(ids, e.RequestID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// want are the request IDs records i to j (included) store.
func (w *world) want(i, j int) []string {
	var ids []string
	for _, id := range w.ids[i : j+1] {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestReplayReadsExactlyTheRange(t *testing.T) {
	w := newWorld(t, 30)
	r := w.replayer(nil)
	b := w.batch(w.seqs[5], w.seqs[22])
	res, err := r.Replay(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.stored(t), w.want(5, 22); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want records 5 to 22: %v", got, want)
	}
	rejected := 0
	for i := 5; i <= 22; i++ {
		if i%7 == 3 {
			rejected++
		}
	}
	c := res.Counts
	if res.First != w.seqs[5] || res.Last != w.seqs[22] || c.Records != 18 || c.Stored != len(w.want(5, 22)) || c.Rejected != rejected || c.SkippedMethod != 18-c.Stored-rejected {
		t.Fatalf("result %+v", res)
	}
	rs := w.reject.Rejects()
	if len(rs) != rejected || rs[0].Source != w.shard+":"+w.seqs[10] {
		t.Fatalf("rejects %+v, want %d, the first from %s:%s", rs, rejected, w.shard, w.seqs[10])
	}
	// Again: nothing is stored twice.
	if _, err := r.Replay(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if got, want := w.stored(t), w.want(5, 22); !slices.Equal(got, want) {
		t.Fatalf("after a second replay, stored %v, want %v", got, want)
	}
}

func TestReplayReportsWhatTheStreamNoLongerHolds(t *testing.T) {
	w := newWorld(t, 12)
	r := w.replayer(nil)
	// A start before the oldest record: the stream answers from its
	// oldest record, as for a range whose first records were trimmed.
	before := "0"
	if w.seqs[0] == before {
		t.Fatal("moto's first sequence number is 0: pick another")
	}
	res, err := r.Replay(context.Background(), w.batch(before, w.seqs[6]))
	if !errors.Is(err, replay.ErrGap) || !strings.Contains(err.Error(), "from 0 to before "+w.seqs[0]) {
		t.Fatalf("err = %v, want ErrGap naming the lost range", err)
	}
	// What is left is stored all the same.
	if got, want := w.stored(t), w.want(0, 6); !slices.Equal(got, want) || res.Last != w.seqs[6] {
		t.Fatalf("stored %v (last read %s), want %v", got, res.Last, want)
	}

	// An end past the newest record: the range's end is not there.
	res, err = r.Replay(context.Background(), w.batch(w.seqs[8], w.seqs[11]+"0"))
	if !errors.Is(err, replay.ErrIncomplete) || res.Last != w.seqs[11] {
		t.Fatalf("err = %v, last read %s: want ErrIncomplete after %s", err, res.Last, w.seqs[11])
	}
	if got, want := w.stored(t), append(w.want(0, 6), w.want(8, 11)...); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v (record 7 in no range)", got, want)
	}
}

// failingIngester fails the call that holds the record from source fail.
type failingIngester struct {
	replay.Ingester
	fail string
}

func (f *failingIngester) Ingest(ctx context.Context, rs []ingest.Raw) (ingest.Counts, error) {
	for _, r := range rs {
		if r.Source == f.fail {
			return ingest.Counts{}, errors.New("log store unavailable")
		}
	}
	return f.Ingester.Ingest(ctx, rs)
}

func TestDrainDeletesOnlyWhatIsStored(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 20)
	q, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(testenv.UniqueName("ingest-failures"))})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(q.QueueUrl)
	record := func(from, to string) string {
		return strings.NewReplacer(
			"shardId-000000000001", w.shard,
			"49601189658422359378836298521827638475320189012309704722", from,
			"49601189658422359378836298522902373528957594348623495186", to,
			"arn:aws:kinesis:us-east-2:123456789012:stream/mystream", w.arn,
		).Replace(sampleRecord(t))
	}
	send := func(body string) {
		if _, err := w.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	send(record(w.seqs[0], w.seqs[9]))
	send(`{"not":"a failure record"}`)
	send(record(w.seqs[10], w.seqs[19]))

	// The second range's store write fails: its message stays.
	in := &failingIngester{Ingester: &ingest.Ingester{Store: w.store, Rejects: w.reject}, fail: w.shard + ":" + w.seqs[15]}
	var progress []replay.Outcome
	outs, err := w.replayer(in).Drain(ctx, w.sqs, url, 0, func(o replay.Outcome) { progress = append(progress, o) })
	if err == nil || !strings.Contains(err.Error(), "log store unavailable") || !strings.Contains(err.Error(), "no KinesisBatchInfo") {
		t.Fatalf("err = %v, want the store failure and the bad message", err)
	}
	if len(outs) != 3 || len(progress) != 3 {
		t.Fatalf("outcomes %+v, progress %d", outs, len(progress))
	}
	deleted := 0
	for _, o := range outs {
		if o.Deleted {
			deleted++
			if o.Error != "" || o.Condition != "RetryAttemptsExhausted" || o.Result == nil || o.Result.Start != w.seqs[0] {
				t.Fatalf("deleted %+v", o)
			}
		}
	}
	if deleted != 1 {
		t.Fatalf("%d deleted, want 1: %+v", deleted, outs)
	}
	// The first range, and the second's read before the failing one
	// (records 10 to 13).
	if got, want := w.stored(t), w.want(0, 13); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}

	// Fixed: the two kept messages are visible again at once; the range
	// is stored and its message deleted, the bad message stays.
	outs, err = w.replayer(nil).Drain(ctx, w.sqs, url, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "no KinesisBatchInfo") || strings.Contains(err.Error(), "log store") || len(outs) != 2 {
		t.Fatalf("second drain: %v, %+v", err, outs)
	}
	if got, want := w.stored(t), w.want(0, 19); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	left, err := w.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Messages) != 1 || !strings.Contains(aws.ToString(left.Messages[0].Body), "not") {
		t.Fatalf("left in the queue: %+v, want the bad message only", left.Messages)
	}
}

// expiringStream answers the second read with ExpiredIteratorException,
// as Kinesis does for an iterator more than 5 minutes old, and records
// how the iterators were asked for.
type expiringStream struct {
	replay.Stream
	reads     int
	iterators []string
}

func (s *expiringStream) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	s.iterators = append(s.iterators, string(in.ShardIteratorType)+" "+aws.ToString(in.StartingSequenceNumber))
	return s.Stream.GetShardIterator(ctx, in, opts...)
}

func (s *expiringStream) GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	if s.reads++; s.reads == 2 {
		return nil, &types.ExpiredIteratorException{Message: aws.String("Iterator expired")}
	}
	return s.Stream.GetRecords(ctx, in, opts...)
}

func TestReplayGoesOnAfterAnExpiredIterator(t *testing.T) {
	w := newWorld(t, 14)
	r := w.replayer(nil)
	s := &expiringStream{Stream: w.kin}
	r.Stream = s
	res, err := r.Replay(context.Background(), w.batch(w.seqs[1], w.seqs[12]))
	if err != nil {
		t.Fatal(err)
	}
	// The first read (4 records) was stored; the next iterator starts after it.
	want := []string{"AT_SEQUENCE_NUMBER " + w.seqs[1], "AFTER_SEQUENCE_NUMBER " + w.seqs[4]}
	if !slices.Equal(s.iterators, want) {
		t.Fatalf("iterators %v, want %v", s.iterators, want)
	}
	if got, want := w.stored(t), w.want(1, 12); !slices.Equal(got, want) || res.Counts.Records != 12 {
		t.Fatalf("stored %v (%d records read), want %v from 12", got, res.Counts.Records, want)
	}
}
