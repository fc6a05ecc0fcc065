package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
)

// page is one decoded Query page of a shard, never empty. ms holds each
// event's time as Unix milliseconds so the merge compares integers.
type page struct {
	events []audit.Event
	ms     []int64
}

// ReadDay streams the org-day in (RequestTime, RequestID) order; see
// logstore.Reader and the package doc.
func (s *Store) ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := audit.ValidateOrgID(org); err != nil { // also keeps '#' out of pk
		return fmt.Errorf("dynamostore: read day: %w", err)
	}
	if day.IsZero() {
		return fmt.Errorf("dynamostore: read day for org %s: day is not set", org)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamostore: read org %s day %s: %w", org, day, err)
	}
	if err := s.checkShards(ctx, false); err != nil {
		return err
	}
	ds := day.String()

	// Deferred in this order so that every goroutine is told to stop and
	// then waited for, whichever way ReadDay returns.
	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	// failure is why rctx ended: a shard's error, or the caller's context.
	failure := func() error {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil {
			return firstErr
		}
		return fmt.Errorf("dynamostore: read org %s day %s: %w", org, day, ctx.Err())
	}

	sources := make([]source, s.Shards)
	for shard := range s.Shards {
		// One page in the channel, one being fetched and decoded by the
		// goroutine, one being merged and one spent page in free, which
		// the goroutine decodes into again rather than allocate and clear
		// a new page: the most a shard holds.
		ch := make(chan *page, 1)
		free := make(chan *page, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readShard(rctx, org, ds, shard, ch, free, fail)
		}()
		// The goroutine closes ch only after its last page: a shard that
		// failed or was canceled leaves it open, so its end can never be
		// mistaken for the end of its part of the day.
		sources[shard] = func(spent *page) (*page, error) {
			if spent != nil {
				select {
				case free <- spent:
				default:
				}
			}
			select {
			case pg, ok := <-ch:
				if !ok {
					return nil, nil
				}
				return pg, nil
			case <-rctx.Done():
				return nil, failure()
			}
		}
	}
	if err := merge(sources, fn); err != nil {
		return err
	}
	// All shards ended normally; a context canceled meanwhile (by fn, say)
	// still fails the read rather than let a cut-short day look complete.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynamostore: read org %s day %s: %w", org, day, err)
	}
	return nil
}

// readShard pages through one shard on the time index and sends each
// decoded page to out; it closes out only when the shard is complete.
func (s *Store) readShard(ctx context.Context, org, day string, shard int, out chan<- *page, free <-chan *page, fail func(error)) {
	p := dynamodb.NewQueryPaginator(s.client, s.queryInput(org, day, shard))
	for p.HasMorePages() {
		out1, err := p.NextPage(ctx)
		if err != nil {
			fail(fmt.Errorf("dynamostore: query org %s day %s shard %02d: %w", org, day, shard, err))
			return
		}
		if len(out1.Items) == 0 {
			continue
		}
		var pg *page
		select {
		case pg = <-free:
		default:
			pg = new(page)
		}
		err = pg.decode(org, out1.Items)
		if err != nil {
			fail(fmt.Errorf("dynamostore: read org %s day %s shard %02d: %w", org, day, shard, err))
			return
		}
		select {
		case out <- pg:
		case <-ctx.Done():
			return
		}
	}
	close(out)
}

// readAttrs are the attributes ReadDay asks for. pk, sk and ttl are left
// out: the org is known, the request ID is part of ts and the expiry is not
// exported. That cuts the bytes on the wire and the SDK's decoding work by
// about a quarter; it does not cut RCU, which DynamoDB counts on whole items.
var readAttrs = []string{AttrTS, AttrMethod, AttrPath, AttrQuery, AttrStatus, AttrLength, AttrSpace, AttrRoute, AttrReferrer, AttrActor}

// queryInput asks for one shard of an org-day in time order.
func (s *Store) queryInput(org, day string, shard int) *dynamodb.QueryInput {
	pk := string(appendPartitionKey(nil, org, day, shard))
	// Names go through placeholders so that no attribute name can ever
	// collide with a DynamoDB reserved word.
	names := map[string]string{"#pk": AttrPK}
	proj := make([]string, len(readAttrs))
	for i, a := range readAttrs {
		proj[i] = "#" + a
		names["#"+a] = a
	}
	return &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexByTime),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String(strings.Join(proj, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ScanIndexForward:          aws.Bool(true),
		// Consistent: the export must see every write acknowledged before
		// it started. No Limit: DynamoDB fills 1 MB pages.
		ConsistentRead: aws.Bool(true),
	}
}

// decode fills pg with the items, reusing its slices.
func (pg *page) decode(org string, items []map[string]types.AttributeValue) error {
	if cap(pg.events) < len(items) {
		pg.events = make([]audit.Event, len(items))
		pg.ms = make([]int64, len(items))
	}
	pg.events, pg.ms = pg.events[:len(items)], pg.ms[:len(items)]
	for i, it := range items {
		ms, err := decodeItem(it, org, &pg.events[i])
		if err != nil {
			return err
		}
		pg.ms[i] = ms
	}
	return nil
}

// decodeItem fills e from an item with a lookup and a type assertion per
// attribute: reflection (attributevalue.UnmarshalMap) would cost more than
// the rest of the export per event, and lookups of the dozen known names
// are cheaper than ranging over the map. Unknown attributes are ignored,
// so a newer writer may add some.
func decodeItem(item map[string]types.AttributeValue, org string, e *audit.Event) (int64, error) {
	var ok bool
	var err error
	*e = audit.Event{OrgID: org}
	ts, ok := str(item, AttrTS, true, &err)
	if !ok {
		return 0, err
	}
	if e.RequestMethod, ok = str(item, AttrMethod, true, &err); !ok {
		return 0, err
	}
	if e.RequestPath, ok = str(item, AttrPath, true, &err); !ok {
		return 0, err
	}
	if e.RequestQuery, ok = str(item, AttrQuery, false, &err); !ok {
		return 0, err
	}
	if e.Space, ok = str(item, AttrSpace, false, &err); !ok {
		return 0, err
	}
	if e.Route, ok = str(item, AttrRoute, false, &err); !ok {
		return 0, err
	}
	if e.Referrer, ok = str(item, AttrReferrer, false, &err); !ok {
		return 0, err
	}
	if e.ActorID, ok = str(item, AttrActor, false, &err); !ok {
		return 0, err
	}
	status, ok := num(item, AttrStatus, true, &err)
	if !ok {
		return 0, err
	}
	e.ResponseStatus = int(status)
	if e.ContentLength, ok = num(item, AttrLength, false, &err); !ok {
		return 0, err
	}
	// ts is the time, '#', the request ID (the same as sk, which is not
	// read). The request ID shares ts's bytes.
	ms, ok := digits(ts[:min(tsDigits, len(ts))])
	if !ok || len(ts) < tsDigits+2 || ts[tsDigits] != '#' {
		return 0, badItem(item, AttrTS, "is not <13-digit Unix ms>#<request ID>")
	}
	e.RequestID = ts[tsDigits+1:]
	e.RequestTime = time.UnixMilli(ms).UTC()
	return ms, nil
}

// str returns the string attribute name; ok is false, with *err set, if it
// is missing and required or is not a string.
func str(item map[string]types.AttributeValue, name string, required bool, err *error) (string, bool) {
	av, found := item[name]
	if !found {
		if required {
			*err = badItem(item, name, "is missing")
			return "", false
		}
		return "", true
	}
	sv, isS := av.(*types.AttributeValueMemberS)
	if !isS {
		*err = badItem(item, name, "is not a string")
		return "", false
	}
	return sv.Value, true
}

// num is str for integer number attributes.
func num(item map[string]types.AttributeValue, name string, required bool, err *error) (int64, bool) {
	av, found := item[name]
	if !found {
		if required {
			*err = badItem(item, name, "is missing")
			return 0, false
		}
		return 0, true
	}
	nv, isN := av.(*types.AttributeValueMemberN)
	if !isN {
		*err = badItem(item, name, "is not a number")
		return 0, false
	}
	n, isInt := digits(nv.Value)
	if !isInt && len(nv.Value) > 18 { // beyond the fast path, up to int64's 19 digits
		var perr error
		n, perr = strconv.ParseInt(nv.Value, 10, 64)
		isInt = perr == nil && n >= 0
	}
	if !isInt {
		*err = badItem(item, name, "is not a non-negative integer")
		return 0, false
	}
	return n, true
}

// digits parses a non-negative decimal integer of up to 18 digits (no
// overflow possible) faster than strconv.ParseInt.
func digits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// badItem names the item by its ts, which holds time and request ID; the
// caller adds org, day and shard.
func badItem(item map[string]types.AttributeValue, attr, reason string) error {
	id := "without a string ts"
	if v, ok := item[AttrTS].(*types.AttributeValueMemberS); ok {
		id = "ts " + strconv.Quote(v.Value)
	}
	return fmt.Errorf("corrupt item %s: attribute %s %s", id, attr, reason)
}
