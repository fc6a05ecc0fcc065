package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore/storetest"
)

// fakeDB is an in-memory DynamoDB table with the by_time index, for tests
// that need small pages, injected failures or a count of calls, which the
// emulator cannot give. It checks the requests the way DynamoDB would.
type fakeDB struct {
	table    string
	pageSize int

	mu      sync.Mutex
	items   map[string]map[string]map[string]types.AttributeValue // pk → sk → item
	meta    map[string]types.AttributeValue                       // the shard-count record, if written
	batches int

	// Hooks, if set, run before the operation.
	onQuery func(ctx context.Context, pk string, continued bool) error
	onBatch func(call int, reqs []types.WriteRequest) (unprocessed []types.WriteRequest)
}

func newFake(pageSize int) *fakeDB {
	return &fakeDB{table: "t", pageSize: pageSize, items: map[string]map[string]map[string]types.AttributeValue{}}
}

func sOf(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (f *fakeDB) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if aws.ToString(in.TableName) != f.table || aws.ToString(in.IndexName) != IndexByTime ||
		!aws.ToBool(in.ConsistentRead) || !aws.ToBool(in.ScanIndexForward) || in.Limit != nil ||
		aws.ToString(in.KeyConditionExpression) != "#pk = :pk" || in.ExpressionAttributeNames["#pk"] != AttrPK {
		return nil, fmt.Errorf("fake: unexpected query %+v", in)
	}
	pk := in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS).Value
	if f.onQuery != nil {
		if err := f.onQuery(ctx, pk, in.ExclusiveStartKey != nil); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []map[string]types.AttributeValue
	for _, it := range f.items[pk] {
		all = append(all, it)
	}
	slices.SortFunc(all, func(a, b map[string]types.AttributeValue) int { return strings.Compare(sOf(a, AttrTS), sOf(b, AttrTS)) })
	if in.ExclusiveStartKey != nil {
		after := sOf(in.ExclusiveStartKey, AttrTS)
		i, _ := slices.BinarySearchFunc(all, after, func(it map[string]types.AttributeValue, ts string) int { return strings.Compare(sOf(it, AttrTS), ts) })
		for i < len(all) && sOf(all[i], AttrTS) <= after {
			i++
		}
		all = all[i:]
	}
	out := &dynamodb.QueryOutput{}
	if len(all) > f.pageSize {
		all = all[:f.pageSize]
		last := all[len(all)-1]
		out.LastEvaluatedKey = map[string]types.AttributeValue{AttrPK: last[AttrPK], AttrSK: last[AttrSK], AttrTS: last[AttrTS]}
	}
	// Only the projected attributes, as DynamoDB returns them.
	for i, it := range all {
		proj := map[string]types.AttributeValue{}
		for _, ph := range strings.Split(aws.ToString(in.ProjectionExpression), ", ") {
			name, ok := in.ExpressionAttributeNames[ph]
			if !ok {
				return nil, fmt.Errorf("fake: projection %q uses an undefined name", ph)
			}
			if v, ok := it[name]; ok {
				proj[name] = v
			}
		}
		all[i] = proj
	}
	out.Items = all
	return out, nil
}

func (f *fakeDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	reqs := in.RequestItems[f.table]
	if len(in.RequestItems) != 1 || len(reqs) == 0 || len(reqs) > 25 {
		return nil, fmt.Errorf("fake: ValidationException: %d tables, %d requests", len(in.RequestItems), len(reqs))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		k := sOf(r.PutRequest.Item, AttrPK) + "/" + sOf(r.PutRequest.Item, AttrSK)
		if seen[k] {
			return nil, errors.New("fake: ValidationException: Provided list of item keys contains duplicates")
		}
		seen[k] = true
	}
	f.mu.Lock()
	f.batches++
	call := f.batches
	f.mu.Unlock()
	var unprocessed []types.WriteRequest
	if f.onBatch != nil {
		unprocessed = f.onBatch(call, reqs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range reqs {
		if slices.ContainsFunc(unprocessed, func(u types.WriteRequest) bool { return u.PutRequest == r.PutRequest }) {
			continue
		}
		it := r.PutRequest.Item
		pk := sOf(it, AttrPK)
		if f.items[pk] == nil {
			f.items[pk] = map[string]map[string]types.AttributeValue{}
		}
		f.items[pk][sOf(it, AttrSK)] = it
	}
	out := &dynamodb.BatchWriteItemOutput{}
	if len(unprocessed) > 0 {
		out.UnprocessedItems = map[string][]types.WriteRequest{f.table: unprocessed}
	}
	return out, nil
}

// GetItem and PutItem serve the shard-count record only, as the store
// uses them: a consistent read, a write conditional on its absence.
func (f *fakeDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if aws.ToString(in.TableName) != f.table || !aws.ToBool(in.ConsistentRead) || sOf(in.Key, AttrPK) != MetaPK || sOf(in.Key, AttrSK) != ShardsSK {
		return nil, fmt.Errorf("fake: unexpected GetItem %+v", in)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &dynamodb.GetItemOutput{Item: f.meta}, nil
}

func (f *fakeDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if aws.ToString(in.TableName) != f.table || sOf(in.Item, AttrPK) != MetaPK || sOf(in.Item, AttrSK) != ShardsSK ||
		aws.ToString(in.ConditionExpression) != "attribute_not_exists(#pk)" || in.ExpressionAttributeNames["#pk"] != AttrPK {
		return nil, fmt.Errorf("fake: unexpected PutItem %+v", in)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.meta != nil {
		ccf := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		if in.ReturnValuesOnConditionCheckFailure == types.ReturnValuesOnConditionCheckFailureAllOld {
			ccf.Item = f.meta
		}
		return nil, ccf
	}
	f.meta = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDB) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.items {
		n += len(p)
	}
	return n
}

// TestAcceptanceOnFake runs the suite with pages of a few items, so that
// every shard crosses many page boundaries.
func TestAcceptanceOnFake(t *testing.T) {
	for _, shards := range []int{16, 3} {
		t.Run(fmt.Sprint("Shards", shards), func(t *testing.T) {
			storetest.RunReadWriter(t, func(*testing.T) storetest.ReadWriter {
				s := New(newFake(7), "t")
				s.Shards = shards
				return s
			})
		})
	}
}

var testDay = func() audit.Day { d, _ := audit.ParseDay("2026-11-24"); return d }()

func ev(org, id string, at time.Time) audit.Event {
	return audit.Event{OrgID: org, RequestID: id, RequestTime: at, RequestMethod: "PUT", RequestPath: "/p/" + id, ResponseStatus: 200}
}

func fill(t *testing.T, s *Store, n int) {
	t.Helper()
	var events []audit.Event
	for i := range n {
		events = append(events, ev("acme", fmt.Sprintf("r%04d", i), testDay.Start().Add(time.Duration(i)*time.Second)))
	}
	if err := s.Write(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

// noLeak fails the test if goroutines started during it are still running
// shortly after it returns. ReadDay waits for its own, so none should be.
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		for range 100 {
			if runtime.NumGoroutine() <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	})
}

func TestReadDayShardFailureStopsAll(t *testing.T) {
	f := newFake(2)
	s := New(f, "t")
	fill(t, s, 400)
	boom := errors.New("boom")
	// Shard 05 fails on its second page; every other shard hangs on its
	// second page until its context ends, as a slow shard would.
	f.onQuery = func(ctx context.Context, pk string, continued bool) error {
		if !continued {
			return nil
		}
		if strings.HasSuffix(pk, "#05") {
			return boom
		}
		<-ctx.Done()
		return ctx.Err()
	}
	noLeak(t)
	done := make(chan error, 1)
	go func() {
		done <- s.ReadDay(context.Background(), "acme", testDay, func(*audit.Event) error { return nil })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the shard's error", err)
		}
		for _, w := range []string{"acme", "2026-11-24", "shard 05"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %s", err, w)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadDay did not return after a shard failed: the other shards were not canceled")
	}
}

func TestReadDayFnErrorStopsShards(t *testing.T) {
	f := newFake(2)
	s := New(f, "t")
	fill(t, s, 400)
	f.onQuery = func(ctx context.Context, _ string, continued bool) error {
		if continued {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	noLeak(t)
	stop := errors.New("stop")
	err := s.ReadDay(context.Background(), "acme", testDay, func(*audit.Event) error { return stop })
	if err != stop {
		t.Fatalf("err = %v, want the error from fn as is", err)
	}
}

func TestReadDayCorruptItem(t *testing.T) {
	for name, mutate := range map[string]func(map[string]types.AttributeValue){
		"MissingTS": func(it map[string]types.AttributeValue) { delete(it, AttrTS) },
		"TSWithoutHash": func(it map[string]types.AttributeValue) {
			it[AttrTS] = &types.AttributeValueMemberS{Value: "1795527912345-r0001"}
		},
		"TSNotDigits": func(it map[string]types.AttributeValue) {
			it[AttrTS] = &types.AttributeValueMemberS{Value: "17955279123x5#r0001"}
		},
		"MethodMissing": func(it map[string]types.AttributeValue) { delete(it, AttrMethod) },
		"StatusString":  func(it map[string]types.AttributeValue) { it[AttrStatus] = &types.AttributeValueMemberS{Value: "200"} },
		"PathNumber":    func(it map[string]types.AttributeValue) { it[AttrPath] = &types.AttributeValueMemberN{Value: "1"} },
		"LengthFloat":   func(it map[string]types.AttributeValue) { it[AttrLength] = &types.AttributeValueMemberN{Value: "1.5"} },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(100)
			s := New(f, "t")
			s.Shards = 1
			fill(t, s, 3)
			item := f.items[PartitionKey("acme", testDay, 0)]["r0001"]
			mutate(item)
			calls := 0
			err := s.ReadDay(context.Background(), "acme", testDay, func(*audit.Event) error { calls++; return nil })
			if err == nil || !strings.Contains(err.Error(), "corrupt item") || !strings.Contains(err.Error(), "shard 00") {
				t.Fatalf("err = %v, want a corrupt item error naming the shard", err)
			}
			if _, hasTS := item[AttrTS]; hasTS && !strings.Contains(err.Error(), "r0001") {
				t.Fatalf("err = %v, want it to name the item r0001", err)
			}
			if calls != 0 {
				t.Fatalf("fn called %d times for a page that failed to decode", calls)
			}
		})
	}
}

func TestWriteRetriesUnprocessed(t *testing.T) {
	defer shortBackoff()()
	f := newFake(100)
	// The first three calls leave their first ten requests unprocessed.
	f.onBatch = func(call int, reqs []types.WriteRequest) []types.WriteRequest {
		if call <= 3 {
			return reqs[:min(10, len(reqs))]
		}
		return nil
	}
	s := New(f, "t")
	fill(t, s, 100)
	if got := f.count(); got != 100 {
		t.Fatalf("stored %d items, want 100", got)
	}
	if f.batches != 4+3 {
		t.Fatalf("%d BatchWriteItem calls, want 4 chunks + 3 retries", f.batches)
	}
}

func TestWriteGivesUpOnUnprocessed(t *testing.T) {
	defer shortBackoff()()
	f := newFake(100)
	f.onBatch = func(_ int, reqs []types.WriteRequest) []types.WriteRequest { return reqs[:1] }
	s := New(f, "t")
	s.WriteConcurrency = 1
	err := s.Write(context.Background(), []audit.Event{ev("acme", "a", testDay.Start())})
	if err == nil || !strings.Contains(err.Error(), "unprocessed") {
		t.Fatalf("err = %v, want an error about unprocessed items", err)
	}
	if f.batches != maxBatchAttempts {
		t.Fatalf("%d calls, want %d", f.batches, maxBatchAttempts)
	}

	// A canceled context ends the backoff at once.
	backoffBase, backoffMax = time.Hour, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Write(ctx, []audit.Event{ev("acme", "a", testDay.Start())}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
}

func shortBackoff() func() {
	b, m := backoffBase, backoffMax
	backoffBase, backoffMax = time.Millisecond, 4*time.Millisecond
	return func() { backoffBase, backoffMax = b, m }
}

func TestWriteValidatesBeforeWriting(t *testing.T) {
	f := newFake(100)
	s := New(f, "t")
	events := make([]audit.Event, 60)
	for i := range events {
		events[i] = ev("acme", fmt.Sprint("id", i), testDay.Start())
	}
	events[59].RequestMethod = "GET"
	err := s.Write(context.Background(), events)
	var fe *audit.FieldError
	if !errors.As(err, &fe) || fe.Field != "request_method" || !strings.Contains(err.Error(), "event 59") {
		t.Fatalf("err = %v, want a FieldError for request_method of event 59", err)
	}
	if f.batches != 0 {
		t.Fatalf("%d batches written before validation failed", f.batches)
	}

	late := ev("acme", "late", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Write(context.Background(), []audit.Event{late}); !errors.As(err, &fe) || fe.Field != "request_time" {
		t.Fatalf("err = %v, want a FieldError for a time the key cannot hold", err)
	}
	orig := ev("acme", "x", time.Date(2026, 11, 24, 1, 0, 0, 123456789, time.FixedZone("X", 3600)))
	keep := orig
	if err := s.Write(context.Background(), []audit.Event{orig}); err != nil {
		t.Fatal(err)
	}
	if orig != keep {
		t.Fatal("Write changed the caller's event")
	}
}

func TestConfigChecked(t *testing.T) {
	for _, n := range []int{0, -1, MaxShards + 1} {
		s := New(newFake(1), "t")
		s.Shards = n
		if err := s.Write(context.Background(), []audit.Event{ev("acme", "a", testDay.Start())}); err == nil {
			t.Errorf("Write with Shards %d succeeded", n)
		}
		if err := s.ReadDay(context.Background(), "acme", testDay, func(*audit.Event) error { return nil }); err == nil {
			t.Errorf("ReadDay with Shards %d succeeded", n)
		}
	}
	s := New(newFake(1), "t")
	if err := s.ReadDay(context.Background(), "a#b", testDay, func(*audit.Event) error { return nil }); err == nil {
		t.Error("ReadDay accepted an org ID with '#'")
	}
	if got := PartitionKey("acme", testDay, MaxShards-1); got != "acme#2026-11-24#99" {
		t.Errorf("PartitionKey = %q", got)
	}
}

func TestShardOfIsFNV1a(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	counts := make([]int, 16)
	for i := range 10000 {
		id := fmt.Sprintf("%x-%d", rng.Uint64(), i)
		h := fnv.New32a()
		h.Write([]byte(id))
		want := int(h.Sum32() % 16)
		if got := ShardOf(id, 16); got != want {
			t.Fatalf("ShardOf(%q) = %d, want %d", id, got, want)
		}
		counts[want]++
	}
	for i, c := range counts { // 625 expected each
		if c < 500 || c > 750 {
			t.Errorf("shard %d has %d of 10000 IDs: spread too uneven", i, c)
		}
	}
}

func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var want []audit.Event
	var sources []source
	for src := range 40 {
		// Per source: sorted events from few distinct times, split into
		// pages of random size; some sources are empty.
		n := rng.IntN(60)
		if src%7 == 0 {
			n = 0
		}
		evs := make([]audit.Event, n)
		for i := range evs {
			evs[i] = ev("acme", fmt.Sprintf("s%02d-%x", src, rng.Uint32()), testDay.Start().Add(time.Duration(rng.IntN(5))*time.Millisecond))
		}
		slices.SortFunc(evs, cmpEvents)
		want = append(want, evs...)
		var pages []*page
		for len(evs) > 0 {
			k := min(len(evs), 1+rng.IntN(8))
			pg := &page{events: evs[:k]}
			for _, e := range pg.events {
				pg.ms = append(pg.ms, e.RequestTime.UnixMilli())
			}
			pages = append(pages, pg)
			evs = evs[k:]
		}
		sources = append(sources, func(*page) (*page, error) {
			if len(pages) == 0 {
				return nil, nil
			}
			pg := pages[0]
			pages = pages[1:]
			return pg, nil
		})
	}
	slices.SortFunc(want, cmpEvents)
	var got []audit.Event
	if err := merge(sources, func(e *audit.Event) error { got = append(got, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("merged %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].RequestID != want[i].RequestID {
			t.Fatalf("event %d = %s, want %s", i, got[i].RequestID, want[i].RequestID)
		}
	}
}

func TestMergeSourceError(t *testing.T) {
	boom := errors.New("boom")
	one := &page{events: []audit.Event{ev("acme", "a", testDay.Start())}, ms: []int64{testDay.Start().UnixMilli()}}
	served := false
	sources := []source{
		func(*page) (*page, error) {
			if served {
				return nil, boom
			}
			served = true
			return one, nil
		},
		func(*page) (*page, error) { return nil, nil },
	}
	calls := 0
	if err := merge(sources, func(*audit.Event) error { calls++; return nil }); err != boom || calls != 1 {
		t.Fatalf("merge = %v after %d events, want boom after 1", err, calls)
	}
}

func cmpEvents(a, b audit.Event) int {
	return cmp.Or(a.RequestTime.Compare(b.RequestTime), strings.Compare(a.RequestID, b.RequestID))
}

// TestReadDayCanceledAfterLastPage cancels the context when the shard has
// already delivered its only page and ended: the read must still not end as
// complete. Repeated, because which of two ready channels a select picks is
// random.
func TestReadDayCanceledAfterLastPage(t *testing.T) {
	f := newFake(1000)
	s := New(f, "t")
	s.Shards = 1
	fill(t, s, 50)
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := s.ReadDay(ctx, "acme", testDay, func(*audit.Event) error {
			if calls++; calls == 1 {
				time.Sleep(5 * time.Millisecond) // the shard's goroutine sends its page and ends
				cancel()
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v after %d events, want context.Canceled", err, calls)
		}
	}
}
