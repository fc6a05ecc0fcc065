// Package ledger records the delivery of every org-day in one DynamoDB
// table (partition key org_id, sort key day): its status (running,
// delivered, failed), the attempts, a lease that lets one export at a time
// work on an org-day, the result of a delivery (key, rows, bytes, SHA-256)
// and the last error, classified and free of secrets. The lease is taken
// with a conditional write, so of two concurrent exports of one org-day
// exactly one delivers; a delivered org-day is not delivered again unless
// forced. DynamoDB details stay inside this package.
//
// Of this module it imports only audit and ddbtable. It must not import the
// delivery or the export (the delivery imports it), internal/app or a
// Lambda package; the CDK stack imports it for the table's attribute names,
// one more reason for it to stay a store.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/ddbtable"
)

// Attribute names of a ledger item.
const (
	AttrOrgID       = "org_id"
	AttrDay         = "day"
	AttrStatus      = "status"
	AttrAttempts    = "attempts"
	AttrLeaseOwner  = "lease_owner"
	AttrLeaseUntil  = "lease_until" // unix milliseconds
	AttrKey         = "object_key"
	AttrRows        = "rows"
	AttrBytes       = "bytes"
	AttrSHA256      = "sha256"
	AttrDeliveredAt = "delivered_at"
	AttrLastError   = "last_error"
	AttrPermanent   = "permanent"
	AttrUpdatedAt   = "updated_at"
	AttrBegunAt     = "begun_at"      // unix milliseconds: when the last attempt took the lease
	AttrLateAt      = "late_event_at" // unix milliseconds: see NoteLate and MarkStale
	AttrLateEvents  = "late_events"
	// The day's manifest (internal/manifest) as delivered: its key and
	// SHA-256, the manifest it named as its previous, and the earlier
	// manifests of the day, which a redelivery superseded.
	AttrManifestKey     = "manifest_key"
	AttrManifestSHA256  = "manifest_sha256"
	AttrManifestPrevKey = "manifest_previous_key"
	AttrManifestPrevSHA = "manifest_previous_sha256"
	AttrManifestHistory = "manifest_history" // a list of maps of the four above
	// The org's chain head: the item of sort key ChainDay holds the key
	// and SHA-256 of the last manifest delivered to the org.
	AttrHeadKey    = "head_key"
	AttrHeadSHA256 = "head_sha256"
)

// ChainDay is the sort key of an org's chain-head item. It is no day
// ("chain" sorts after every "YYYY-MM-DD"), so a query of days never
// returns it.
const ChainDay = "chain"

// ClockSkew is added to the time NoteLate records, so that the clocks of
// the ingest and export functions' hosts, which differ by milliseconds,
// cannot make a late event look older than the export that missed it.
const ClockSkew = 2 * time.Second

// Status of an org-day.
type Status string

const (
	Running   Status = "running"
	Delivered Status = "delivered"
	Failed    Status = "failed"
)

var (
	// ErrDelivered: the org-day was delivered already (and not forced).
	ErrDelivered = errors.New("already delivered")
	// ErrLeased: another export holds the org-day's lease now.
	ErrLeased = errors.New("another export is delivering this org-day")
	// ErrLeaseLost: the lease expired and another export took it; this
	// export's result must not be recorded.
	ErrLeaseLost = errors.New("the lease was lost to another export")
	// ErrChainMoved: another delivery to the org recorded its manifest
	// since this one read the chain's head; this one's manifest names a
	// previous that is no longer the last, and must be made again.
	ErrChainMoved = errors.New("another delivery to the org advanced its manifest chain")
)

// Link names a delivered manifest: its key at the destination and the
// SHA-256 of its bytes.
type Link struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// ManifestRecord is one manifest delivered for an org-day and the link it
// named as its previous (nil for the org's first).
type ManifestRecord struct {
	Link
	Previous *Link `json:"previous"`
}

// Entry is one org-day's record.
type Entry struct {
	OrgID       string    `json:"org_id"`
	Day         audit.Day `json:"day"`
	Status      Status    `json:"status"`
	Attempts    int       `json:"attempts"`
	LeaseOwner  string    `json:"lease_owner,omitempty"`
	LeaseUntil  time.Time `json:"lease_until,omitzero"`
	Key         string    `json:"key,omitempty"`
	Rows        int64     `json:"rows"`
	Bytes       int64     `json:"bytes"`
	SHA256      string    `json:"sha256,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Permanent   bool      `json:"permanent,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	BegunAt     time.Time `json:"begun_at,omitzero"`
	LateAt      time.Time `json:"late_event_at,omitzero"`
	LateEvents  int64     `json:"late_events,omitempty"`
	// Manifest is the day's manifest as last delivered, if any;
	// ManifestHistory the day's earlier ones, oldest first.
	Manifest        *ManifestRecord  `json:"manifest,omitempty"`
	ManifestHistory []ManifestRecord `json:"manifest_history,omitempty"`
}

// Stale reports a delivered org-day that received events after its
// delivery began (NoteLate): its file lacks them, and it is to be
// delivered again.
func (e Entry) Stale() bool { return e.Status == Delivered && e.LateAt.After(e.BegunAt) }

// Current reports an org-day whose delivered file holds every event.
func (e Entry) Current() bool { return e.Status == Delivered && !e.Stale() }

// Result is what a delivery produced.
type Result struct {
	Key    string
	Rows   int64
	Bytes  int64
	SHA256 string
	// Manifest, when set, is the manifest delivered beside the file;
	// History the day's earlier ones (the entry's, plus the one it
	// supersedes); Head the chain's head the manifest was made after (nil
	// for the org's first), which must still be the head.
	Manifest *ManifestRecord
	History  []ManifestRecord
	Head     *Link
}

// API is the part of the DynamoDB client the ledger uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	dynamodb.QueryAPIClient
}

// Ledger is the delivery ledger on a DynamoDB table.
type Ledger struct {
	db    API
	table string
	now   func() time.Time
}

// New returns a Ledger on table.
func New(db API, table string) *Ledger { return &Ledger{db: db, table: table, now: time.Now} }

// SetClock replaces the clock (tests).
func (l *Ledger) SetClock(now func() time.Time) { l.now = now }

// CreateTable creates the ledger table (on-demand) for tests and local
// stacks; the CDK stack defines the same schema in the cloud.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	err := ddbtable.Create(ctx, db, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(AttrOrgID), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(AttrDay), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(AttrOrgID), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(AttrDay), KeyType: types.KeyTypeRange},
		},
	}, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("create ledger table %s: %w", table, err)
	}
	return nil
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func (l *Ledger) key(org string, day audit.Day) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrOrgID: s(org), AttrDay: s(day.String())}
}

var names = map[string]string{
	"#status": AttrStatus, "#attempts": AttrAttempts, "#owner": AttrLeaseOwner, "#until": AttrLeaseUntil,
	"#updated": AttrUpdatedAt, "#org": AttrOrgID, "#begun": AttrBegunAt, "#late": AttrLateAt, "#lateN": AttrLateEvents,
}

func pick(keys ...string) map[string]string {
	m := map[string]string{}
	for _, k := range keys {
		m[k] = names[k]
	}
	return m
}

// Begin takes the org-day's lease for owner (an invocation's ID) until
// now+lease, counts an attempt and records when it began. It fails with
// ErrDelivered when the org-day was delivered and force is false (unless
// the delivery is stale: events arrived after it began), and with
// ErrLeased while another owner's lease runs. A lease that ran out (its
// export died) is taken over.
func (l *Ledger) Begin(ctx context.Context, org string, day audit.Day, owner string, lease time.Duration, force bool) (Entry, error) {
	now := l.now().UTC()
	cond := "(attribute_not_exists(#org) OR #status <> :running OR #until < :now OR #owner = :owner)"
	if !force {
		cond += " AND (attribute_not_exists(#org) OR #status <> :delivered OR #late > #begun)"
	}
	vals := map[string]types.AttributeValue{
		":running": s(string(Running)), ":now": n(now.UnixMilli()), ":owner": s(owner),
		":until": n(now.Add(lease).UnixMilli()), ":one": n(1), ":zero": n(0), ":updated": s(now.Format(time.RFC3339Nano)),
		":begun": n(now.UnixMilli()),
	}
	nm := pick("#status", "#attempts", "#owner", "#until", "#updated", "#org", "#begun")
	if !force {
		vals[":delivered"] = s(string(Delivered))
		nm["#late"] = AttrLateAt
	}
	out, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       l.key(org, day),
		UpdateExpression:          aws.String("SET #status = :running, #owner = :owner, #until = :until, #updated = :updated, #begun = :begun, #attempts = if_not_exists(#attempts, :zero) + :one"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  nm,
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
		// On a failed condition, the item says which one failed.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		old, derr := decode(ccf.Item)
		if derr == nil && old.Current() && !force {
			return old, fmt.Errorf("org %s day %s: %w (%s, %d rows, at %s)", org, day, ErrDelivered, old.Key, old.Rows, old.DeliveredAt.Format(time.RFC3339))
		}
		return old, fmt.Errorf("org %s day %s: %w (lease until %s)", org, day, ErrLeased, old.LeaseUntil.Format(time.RFC3339))
	}
	if err != nil {
		return Entry{}, fmt.Errorf("ledger: begin org %s day %s: %w", org, day, err)
	}
	return decode(out.Attributes)
}

// Finish records a delivery, if owner still holds the lease. With a
// manifest, the org's chain head moves to it in the same transaction, if
// the head is still r.Head (ErrChainMoved otherwise: nothing is recorded).
func (l *Ledger) Finish(ctx context.Context, org string, day audit.Day, owner string, r Result) error {
	now := l.now().UTC()
	set := []string{"#status = :delivered", "#key = :key", "#rows = :rows", "#bytes = :bytes", "#sha = :sha", "#at = :updated", "#updated = :updated"}
	remove := []string{"#owner", "#until", "#err", "#perm"}
	names := map[string]string{"#key": AttrKey, "#rows": AttrRows, "#bytes": AttrBytes, "#sha": AttrSHA256, "#at": AttrDeliveredAt, "#err": AttrLastError, "#perm": AttrPermanent}
	vals := map[string]types.AttributeValue{":delivered": s(string(Delivered)), ":key": s(r.Key), ":rows": n(r.Rows), ":bytes": n(r.Bytes), ":sha": s(r.SHA256),
		":updated": s(now.Format(time.RFC3339Nano))}
	update := func() string { return "SET " + strings.Join(set, ", ") + " REMOVE " + strings.Join(remove, ", ") }
	if r.Manifest == nil {
		return l.settle(ctx, org, day, owner, update(), names, vals)
	}
	set = append(set, "#mk = :mk", "#msha = :msha", "#mhist = :mhist")
	names["#mk"], names["#msha"], names["#mhist"] = AttrManifestKey, AttrManifestSHA256, AttrManifestHistory
	names["#mpk"], names["#mps"] = AttrManifestPrevKey, AttrManifestPrevSHA
	vals[":mk"], vals[":msha"] = s(r.Manifest.Key), s(r.Manifest.SHA256)
	hist := make([]types.AttributeValue, len(r.History))
	for i, h := range r.History {
		hist[i] = &types.AttributeValueMemberM{Value: recordItem(h)}
	}
	vals[":mhist"] = &types.AttributeValueMemberL{Value: hist}
	if p := r.Manifest.Previous; p != nil {
		set = append(set, "#mpk = :mpk", "#mps = :mps")
		vals[":mpk"], vals[":mps"] = s(p.Key), s(p.SHA256)
	} else {
		remove = append(remove, "#mpk", "#mps")
	}
	headCond, headVals := "attribute_not_exists(#hsha)", map[string]types.AttributeValue{":hk": s(r.Manifest.Key), ":hsha": s(r.Manifest.SHA256)}
	if r.Head != nil {
		headCond, headVals[":expect"] = "#hsha = :expect", s(r.Head.SHA256)
	}
	_, err := l.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: l.ownedUpdate(org, day, owner, update(), names, vals)},
		{Update: &types.Update{
			TableName: aws.String(l.table), Key: l.chainKey(org), UpdateExpression: aws.String("SET #hk = :hk, #hsha = :hsha"),
			ConditionExpression: aws.String(headCond), ExpressionAttributeNames: map[string]string{"#hk": AttrHeadKey, "#hsha": AttrHeadSHA256},
			ExpressionAttributeValues: headVals,
		}},
	}})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		reasons := canceled.CancellationReasons
		if len(reasons) == 2 && aws.ToString(reasons[0].Code) == "ConditionalCheckFailed" {
			return fmt.Errorf("org %s day %s: %w", org, day, ErrLeaseLost)
		}
		if len(reasons) == 2 && aws.ToString(reasons[1].Code) == "ConditionalCheckFailed" {
			return fmt.Errorf("org %s day %s: %w", org, day, ErrChainMoved)
		}
		// Which condition failed is not said (or another transaction
		// conflicted): retried as a moved chain, whose next round reads
		// the head again and meets a lost lease as ErrLeaseLost.
		return fmt.Errorf("org %s day %s: %w (%v)", org, day, ErrChainMoved, err)
	}
	var conflict *types.TransactionConflictException
	if errors.As(err, &conflict) {
		return fmt.Errorf("org %s day %s: %w (%v)", org, day, ErrChainMoved, err)
	}
	if err != nil {
		return fmt.Errorf("ledger: record org %s day %s: %w", org, day, err)
	}
	return nil
}

// Head returns the last manifest delivered to org (nil before its first).
func (l *Ledger) Head(ctx context.Context, org string) (*Link, error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: l.chainKey(org), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("ledger: chain head of org %s: %w", org, err)
	}
	k, _ := out.Item[AttrHeadKey].(*types.AttributeValueMemberS)
	h, _ := out.Item[AttrHeadSHA256].(*types.AttributeValueMemberS)
	if k == nil || h == nil {
		return nil, nil
	}
	return &Link{Key: k.Value, SHA256: h.Value}, nil
}

func (l *Ledger) chainKey(org string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrOrgID: s(org), AttrDay: s(ChainDay)}
}

// recordItem is a ManifestRecord as a map of the manifest attributes.
func recordItem(r ManifestRecord) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{AttrManifestKey: s(r.Key), AttrManifestSHA256: s(r.SHA256)}
	if r.Previous != nil {
		m[AttrManifestPrevKey], m[AttrManifestPrevSHA] = s(r.Previous.Key), s(r.Previous.SHA256)
	}
	return m
}

// decodeRecord reads a ManifestRecord from an item or a history element;
// nil when it holds none.
func decodeRecord(item map[string]types.AttributeValue) *ManifestRecord {
	str := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	if str(AttrManifestSHA256) == "" {
		return nil
	}
	r := &ManifestRecord{Link: Link{Key: str(AttrManifestKey), SHA256: str(AttrManifestSHA256)}}
	if str(AttrManifestPrevSHA) != "" {
		r.Previous = &Link{Key: str(AttrManifestPrevKey), SHA256: str(AttrManifestPrevSHA)}
	}
	return r
}

// Fail records a failed attempt with its error message (which must hold
// no secret: the sinks' errors are scrubbed) and whether a retry could
// fix it, if owner still holds the lease.
func (l *Ledger) Fail(ctx context.Context, org string, day audit.Day, owner string, permanent bool, msg string) error {
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	now := l.now().UTC()
	return l.settle(ctx, org, day, owner,
		"SET #status = :failed, #err = :err, #perm = :perm, #updated = :updated REMOVE #owner, #until",
		map[string]string{"#err": AttrLastError, "#perm": AttrPermanent},
		map[string]types.AttributeValue{":failed": s(string(Failed)), ":err": s(msg), ":perm": &types.AttributeValueMemberBOOL{Value: permanent},
			":updated": s(now.Format(time.RFC3339Nano))})
}

func (l *Ledger) settle(ctx context.Context, org string, day audit.Day, owner, update string, extraNames map[string]string, vals map[string]types.AttributeValue) error {
	u := l.ownedUpdate(org, day, owner, update, extraNames, vals)
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 u.TableName,
		Key:                       u.Key,
		UpdateExpression:          u.UpdateExpression,
		ConditionExpression:       u.ConditionExpression,
		ExpressionAttributeNames:  u.ExpressionAttributeNames,
		ExpressionAttributeValues: u.ExpressionAttributeValues,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("org %s day %s: %w", org, day, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("ledger: record org %s day %s: %w", org, day, err)
	}
	return nil
}

// ownedUpdate is update of the org-day's item, on the condition that
// owner still holds its lease: what settle writes alone and Finish in a
// transaction with the chain's head.
func (l *Ledger) ownedUpdate(org string, day audit.Day, owner, update string, extraNames map[string]string, vals map[string]types.AttributeValue) *types.Update {
	nm := pick("#status", "#owner", "#until", "#updated")
	for k, v := range extraNames {
		nm[k] = v
	}
	vals[":owner"] = s(owner)
	return &types.Update{
		TableName:                 aws.String(l.table),
		Key:                       l.key(org, day),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#owner = :owner"),
		ExpressionAttributeNames:  nm,
		ExpressionAttributeValues: vals,
	}
}

// NoteLate records that n events of a past org-day were stored now, after
// the day ended: if the org-day has an entry (an export began), a delivery
// that began before now is stale and the day is delivered again (Begin
// lets it through; the fan-out's catch-up dispatches it). An org-day
// without an entry is left alone: its first delivery will hold the events.
// Call it after the events are stored.
func (l *Ledger) NoteLate(ctx context.Context, org string, day audit.Day, events int) error {
	if err := l.outdate(ctx, org, day, int64(events)); err != nil {
		return fmt.Errorf("ledger: note late events of org %s day %s: %w", org, day, err)
	}
	return nil
}

// MarkStale records that the org-day's object may not be the latest
// delivery's: an export that lost its lease to another committed its
// upload after all, possibly over the newer one. As with late events, a
// delivery that began before now is stale and the day is delivered
// again.
func (l *Ledger) MarkStale(ctx context.Context, org string, day audit.Day) error {
	if err := l.outdate(ctx, org, day, 0); err != nil {
		return fmt.Errorf("ledger: mark org %s day %s stale: %w", org, day, err)
	}
	return nil
}

// outdate sets the entry's late_event_at to now (plus ClockSkew) and adds
// events to late_events, if the entry exists.
func (l *Ledger) outdate(ctx context.Context, org string, day audit.Day, events int64) error {
	at := l.now().UTC().Add(ClockSkew)
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       l.key(org, day),
		UpdateExpression:          aws.String("SET #late = :at, #lateN = if_not_exists(#lateN, :zero) + :n"),
		ConditionExpression:       aws.String("attribute_exists(#org)"),
		ExpressionAttributeNames:  pick("#late", "#lateN", "#org"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": n(at.UnixMilli()), ":n": n(events), ":zero": n(0)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	return err
}

// Get returns an org-day's entry; ok is false when there is none.
func (l *Ledger) Get(ctx context.Context, org string, day audit.Day) (e Entry, ok bool, err error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: l.key(org, day), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return e, false, fmt.Errorf("ledger: get org %s day %s: %w", org, day, err)
	}
	if len(out.Item) == 0 {
		return e, false, nil
	}
	e, err = decode(out.Item)
	return e, err == nil, err
}

// Days returns an org's entries for the days from..to (both included), in
// day order; days without an entry are absent.
func (l *Ledger) Days(ctx context.Context, org string, from, to audit.Day) ([]Entry, error) {
	p := dynamodb.NewQueryPaginator(l.db, &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		KeyConditionExpression:    aws.String("#org = :org AND #day BETWEEN :from AND :to"),
		ExpressionAttributeNames:  map[string]string{"#org": AttrOrgID, "#day": AttrDay},
		ExpressionAttributeValues: map[string]types.AttributeValue{":org": s(org), ":from": s(from.String()), ":to": s(to.String())},
		ConsistentRead:            aws.Bool(true),
	})
	var entries []Entry
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ledger: days of org %s: %w", org, err)
		}
		for _, it := range page.Items {
			e, err := decode(it)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// Page returns up to limit of org's entries from day from to day to, in
// day order, and whether more follow (the self-service API's delivery
// history, one page a request: a year of days is never read at once).
// The next page starts the day after the last entry returned.
func (l *Ledger) Page(ctx context.Context, org string, from, to audit.Day, limit int) ([]Entry, bool, error) {
	if limit < 1 {
		return nil, false, fmt.Errorf("ledger: page of org %s: limit %d, want at least 1", org, limit)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		KeyConditionExpression:    aws.String("#org = :org AND #day BETWEEN :from AND :to"),
		ExpressionAttributeNames:  map[string]string{"#org": AttrOrgID, "#day": AttrDay},
		ExpressionAttributeValues: map[string]types.AttributeValue{":org": s(org), ":from": s(from.String()), ":to": s(to.String())},
		ConsistentRead:            aws.Bool(true),
		// One more than asked: whether it exists says if a page follows.
		Limit: aws.Int32(int32(limit + 1)),
	}
	var entries []Entry
	for {
		page, err := l.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("ledger: page of org %s: %w", org, err)
		}
		for _, it := range page.Items {
			e, err := decode(it)
			if err != nil {
				return nil, false, err
			}
			entries = append(entries, e)
		}
		// DynamoDB may stop short of Limit (1 MB a response): go on
		// until the page is full or the range is read.
		if len(entries) > limit || len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		in.Limit = aws.Int32(int32(limit + 1 - len(entries)))
	}
	if len(entries) > limit {
		return entries[:limit], true, nil
	}
	return entries, false, nil
}

func decode(item map[string]types.AttributeValue) (Entry, error) {
	var e Entry
	str := func(k string) string {
		if v, ok := item[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(k string) int64 {
		if v, ok := item[k].(*types.AttributeValueMemberN); ok {
			i, _ := strconv.ParseInt(v.Value, 10, 64)
			return i
		}
		return 0
	}
	e.OrgID = str(AttrOrgID)
	day, err := audit.ParseDay(str(AttrDay))
	if err != nil {
		return e, fmt.Errorf("ledger item of org %s: %w", e.OrgID, err)
	}
	e.Day = day
	e.Status = Status(str(AttrStatus))
	e.Attempts = int(num(AttrAttempts))
	e.LeaseOwner = str(AttrLeaseOwner)
	if ms := num(AttrLeaseUntil); ms > 0 {
		e.LeaseUntil = time.UnixMilli(ms).UTC()
	}
	e.Key, e.Rows, e.Bytes, e.SHA256 = str(AttrKey), num(AttrRows), num(AttrBytes), str(AttrSHA256)
	e.DeliveredAt, _ = time.Parse(time.RFC3339Nano, str(AttrDeliveredAt))
	e.UpdatedAt, _ = time.Parse(time.RFC3339Nano, str(AttrUpdatedAt))
	e.LastError = str(AttrLastError)
	if v, ok := item[AttrPermanent].(*types.AttributeValueMemberBOOL); ok {
		e.Permanent = v.Value
	}
	if ms := num(AttrBegunAt); ms > 0 {
		e.BegunAt = time.UnixMilli(ms).UTC()
	}
	if ms := num(AttrLateAt); ms > 0 {
		e.LateAt = time.UnixMilli(ms).UTC()
	}
	e.LateEvents = num(AttrLateEvents)
	e.Manifest = decodeRecord(item)
	if l, ok := item[AttrManifestHistory].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			if m, ok := v.(*types.AttributeValueMemberM); ok {
				if r := decodeRecord(m.Value); r != nil {
					e.ManifestHistory = append(e.ManifestHistory, *r)
				}
			}
		}
	}
	return e, nil
}
