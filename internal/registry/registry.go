// Package registry stores the destinations of all organizations in one
// DynamoDB table, one item per org (partition key org_id), and beside them
// one claim item per Azure storage container that an org delivers to
// (claims.go), which keeps another org from registering it. Every write is
// validated by the destination package first, and every read is validated
// again, so a hand-edited item fails loudly instead of misdirecting a
// delivery. DynamoDB details stay inside this package.
//
// It is a store below the sinks: it imports audit, destination, fileformat and
// ddbtable only, and must not import the sink layer (the opener imports
// it), internal/app, the export or any Lambda handler package.
package registry

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
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/fileformat"
)

// Attribute names of a registry item.
const (
	AttrOrgID  = "org_id"
	AttrKind   = "kind"
	AttrPrefix = "prefix"
	// AttrFormat and AttrLayout are the delivered files' format and
	// layout; absent from items stored before they existed (and for the
	// defaults), which mean csv and flat.
	AttrFormat    = "format"
	AttrLayout    = "layout"
	AttrEnabled   = "enabled"
	AttrCreatedAt = "created_at"
	AttrUpdatedAt = "updated_at"
	AttrBucket    = "bucket"
	AttrRegion    = "region"
	AttrRoleARN   = "role_arn"
	// AttrBucketOwner is the bucket owner's account ID; absent from items
	// stored before it existed, which mean the role's account.
	AttrBucketOwner = "bucket_owner"
	AttrSASCipher   = "sas_cipher"
	AttrResidency   = "residency"
	AttrSASExpiry   = "sas_expiry"
)

// ErrNotFound means the org has no destination.
var ErrNotFound = errors.New("no destination registered")

// API is the part of the DynamoDB client the registry uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	dynamodb.ScanAPIClient
}

// Registry reads and writes destinations.
type Registry struct {
	db    API
	table string
	now   func() time.Time
}

// New returns a Registry on table.
func New(db API, table string) *Registry {
	return &Registry{db: db, table: table, now: time.Now}
}

// CreateTable creates the registry table (on-demand) for tests and local
// stacks; the CDK stack defines the same schema in the cloud.
func CreateTable(ctx context.Context, db *dynamodb.Client, table string) error {
	err := ddbtable.Create(ctx, db, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(AttrOrgID), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(AttrOrgID), KeyType: types.KeyTypeHash}},
	}, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("create registry table %s: %w", table, err)
	}
	return nil
}

// Put creates or replaces the destination of d.OrgID after normalizing
// and validating it. CreatedAt is kept from the first Put; UpdatedAt is
// now. Fields of the other kind are removed. An Azure destination whose
// storage account and container are known claims them (claims.go): Put
// refuses, with a *ClaimedError, a container that another org holds.
func (r *Registry) Put(ctx context.Context, d destination.Destination) (destination.Destination, error) {
	return r.PutShared(ctx, d, nil)
}

// PutShared is Put for a destination whose container the orgs in shared
// may hold too: the operator says that they deliver there on purpose
// (orgs of one customer). Holders not named still refuse it.
func (r *Registry) PutShared(ctx context.Context, d destination.Destination, shared []string) (destination.Destination, error) {
	d.Normalize()
	if err := d.Validate(); err != nil {
		return d, err
	}
	for _, o := range shared {
		if err := audit.ValidateOrgID(o); err != nil {
			return d, err
		}
	}
	err := retry("put destination for org "+d.OrgID, func() error { return r.put(ctx, d, shared) })
	if err != nil {
		return d, err
	}
	return r.Get(ctx, d.OrgID)
}

// put is one round of PutShared: read the destination as it is, work out
// the claims that move, and write them and the destination at once, each
// conditional on what was read.
func (r *Registry) put(ctx context.Context, d destination.Destination, shared []string) error {
	old, err := r.getItem(ctx, d.OrgID)
	if err != nil {
		return fmt.Errorf("put destination for org %s: %w", d.OrgID, err)
	}
	var to target
	if d.Azure != nil {
		to = target{d.Azure.StorageAccount, d.Azure.Container}
	}
	writes, err := r.claimMoves(ctx, d.OrgID, targetOf(old), to, shared)
	var claimed *ClaimedError
	if errors.As(err, &claimed) {
		return err // the caller names the org
	}
	if err != nil {
		return fmt.Errorf("put destination for org %s: %w", d.OrgID, err)
	}
	now := r.now().UTC().Truncate(time.Millisecond)
	vals := map[string]types.AttributeValue{
		":kind": s(string(d.Kind)), ":enabled": &types.AttributeValueMemberBOOL{Value: d.Enabled},
		":now": s(now.Format(time.RFC3339Nano)),
	}
	set := "SET #kind = :kind, #enabled = :enabled, #updated = :now, #created = if_not_exists(#created, :now)"
	names := map[string]string{"#kind": AttrKind, "#enabled": AttrEnabled, "#updated": AttrUpdatedAt, "#created": AttrCreatedAt}
	var remove []string
	field := func(attr, val string) {
		ph := "#" + attr
		names[ph] = attr
		if val == "" {
			remove = append(remove, ph)
			return
		}
		vals[":"+attr] = s(val)
		set += ", " + ph + " = :" + attr
	}
	field(AttrPrefix, d.Prefix)
	// The defaults are stored as absent, so that an item reads the same
	// as one written before formats and layouts existed.
	format, layout := string(d.Format), string(d.Layout)
	if d.FileFormat() == fileformat.Default {
		format = ""
	}
	if d.Layout == destination.LayoutFlat {
		layout = ""
	}
	field(AttrFormat, format)
	field(AttrLayout, layout)
	var s3 destination.S3
	var az destination.Azure
	if d.S3 != nil {
		s3 = *d.S3
	}
	if d.Azure != nil {
		az = *d.Azure
	}
	field(AttrBucket, s3.Bucket)
	field(AttrRegion, s3.Region)
	field(AttrRoleARN, s3.RoleARN)
	field(AttrBucketOwner, s3.BucketOwner)
	field(AttrSASCipher, az.SASCipher)
	field(AttrResidency, string(az.Residency))
	expiry := ""
	if !az.SASExpiry.IsZero() {
		expiry = az.SASExpiry.UTC().Format(time.RFC3339)
	}
	field(AttrSASExpiry, expiry)
	field(AttrStorageAccount, az.StorageAccount)
	field(AttrContainer, az.Container)
	expr := set
	if len(remove) > 0 {
		expr += " REMOVE "
		for i, ph := range remove {
			if i > 0 {
				expr += ", "
			}
			expr += ph
		}
	}
	var cond string
	if old == nil {
		names["#"+AttrOrgID] = AttrOrgID
		cond = "attribute_not_exists(#" + AttrOrgID + ")"
	} else {
		cond = targetCondition(targetOf(old), names, vals)
	}
	writes = append(writes, types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(r.table),
		Key:                       key(d.OrgID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	}})
	if err := r.transact(ctx, writes); err != nil {
		return fmt.Errorf("put destination for org %s: %w", d.OrgID, err)
	}
	return nil
}

// Get returns the destination of org, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, org string) (destination.Destination, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: key(org), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return destination.Destination{}, fmt.Errorf("get destination for org %s: %w", org, err)
	}
	if out.Item == nil {
		return destination.Destination{}, fmt.Errorf("org %s: %w", org, ErrNotFound)
	}
	return decode(out.Item)
}

// SetEnabled turns delivery for org on or off ("stop delivery").
func (r *Registry) SetEnabled(ctx context.Context, org string, enabled bool) error {
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.table),
		Key:                       key(org),
		UpdateExpression:          aws.String("SET #enabled = :enabled, #updated = :now"),
		ConditionExpression:       aws.String("attribute_exists(#org)"),
		ExpressionAttributeNames:  map[string]string{"#enabled": AttrEnabled, "#updated": AttrUpdatedAt, "#org": AttrOrgID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":enabled": &types.AttributeValueMemberBOOL{Value: enabled}, ":now": s(r.now().UTC().Format(time.RFC3339Nano))},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("org %s: %w", org, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set enabled=%t for org %s: %w", enabled, org, err)
	}
	return nil
}

// Delete removes org's destination; deleting a missing one is not an error.
func (r *Registry) Delete(ctx context.Context, org string) error {
	if _, err := r.DeleteExisting(ctx, org); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// DeleteExisting removes org's destination, and its claim of a container
// (in the same transaction), and returns its kind, or an error wrapping
// ErrNotFound if there is none (an operator who mistyped the org learns
// it). The item is not decoded first: a hand-edited item that no longer
// validates can still be removed.
func (r *Registry) DeleteExisting(ctx context.Context, org string) (destination.Kind, error) {
	var kind destination.Kind
	err := retry("delete destination for org "+org, func() error {
		old, err := r.getItem(ctx, org)
		switch {
		case err != nil:
			return err
		case old == nil:
			return fmt.Errorf("org %s: %w", org, ErrNotFound)
		}
		kind = destination.Kind(str(old, AttrKind))
		from := targetOf(old)
		writes, err := r.claimMoves(ctx, org, from, target{}, nil)
		if err != nil {
			return err
		}
		names := map[string]string{"#" + AttrOrgID: AttrOrgID}
		vals := map[string]types.AttributeValue{}
		cond := "attribute_exists(#" + AttrOrgID + ") AND " + targetCondition(from, names, vals)
		if len(vals) == 0 {
			vals = nil // DynamoDB refuses an empty map
		}
		writes = append(writes, types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(r.table), Key: key(org),
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		}})
		return r.transact(ctx, writes)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("delete destination for org %s: %w", org, err)
	}
	return kind, err
}

// List calls fn for every valid destination and invalid for every item
// that does not decode into one, page by page with the SDK's paginator:
// one hand-edited or corrupt item never hides the others. A failed Scan,
// or an error from fn, ends the list and is returned. A nil invalid makes
// the first invalid item the error (see InvalidItem).
func (r *Registry) List(ctx context.Context, fn func(destination.Destination) error, invalid func(InvalidItem)) error {
	return r.scanSegment(ctx, 0, 1, fn, invalid)
}

// ListParallel is List with the table scanned in segments at once (a
// parallel Scan, each segment paginated), for a registry of many orgs. fn
// and invalid are called from several goroutines and must be safe for
// that; the first error stops every segment and is returned.
func (r *Registry) ListParallel(ctx context.Context, segments int, fn func(destination.Destination) error, invalid func(InvalidItem)) error {
	if segments < 1 {
		segments = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, segments)
	for seg := range segments {
		go func() {
			errs <- r.scanSegment(ctx, int32(seg), int32(segments), fn, invalid)
		}()
	}
	var first error
	for range segments {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

func (r *Registry) scanSegment(ctx context.Context, seg, total int32, fn func(destination.Destination) error, invalid func(InvalidItem)) error {
	p := dynamodb.NewScanPaginator(r.db, &dynamodb.ScanInput{
		TableName: aws.String(r.table), ConsistentRead: aws.Bool(true),
		Segment: aws.Int32(seg), TotalSegments: aws.Int32(total),
		// Claim items are not destinations (claims.go).
		FilterExpression:          aws.String("NOT begins_with(#key, :claim)"),
		ExpressionAttributeNames:  map[string]string{"#key": AttrOrgID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":claim": s(ClaimKeyPrefix)},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan registry %s segment %d/%d: %w", r.table, seg, total, err)
		}
		for _, item := range page.Items {
			d, err := decode(item)
			if err != nil {
				bad := invalidItem(item, err)
				if invalid == nil {
					return bad
				}
				invalid(bad)
				continue
			}
			if err := fn(d); err != nil {
				return err
			}
		}
	}
	return nil
}

func key(org string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrOrgID: s(org)}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func str(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func decode(item map[string]types.AttributeValue) (destination.Destination, error) {
	d := destination.Destination{
		OrgID:  str(item, AttrOrgID),
		Kind:   destination.Kind(str(item, AttrKind)),
		Prefix: str(item, AttrPrefix),
		Format: fileformat.Format(str(item, AttrFormat)),
		Layout: destination.Layout(str(item, AttrLayout)),
	}
	if d.Format == "" {
		d.Format = fileformat.Default
	}
	if d.Layout == "" {
		d.Layout = destination.LayoutFlat
	}
	if v, ok := item[AttrEnabled].(*types.AttributeValueMemberBOOL); ok {
		d.Enabled = v.Value
	}
	var err error
	for _, tf := range []struct {
		attr string
		dst  *time.Time
	}{{AttrCreatedAt, &d.CreatedAt}, {AttrUpdatedAt, &d.UpdatedAt}} {
		if v := str(item, tf.attr); v != "" {
			if *tf.dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return d, fmt.Errorf("registry item for org %s: %s %s: %w", d.OrgID, tf.attr, strconv.Quote(v), err)
			}
		}
	}
	switch d.Kind {
	case destination.KindS3:
		d.S3 = &destination.S3{Bucket: str(item, AttrBucket), Region: str(item, AttrRegion), RoleARN: str(item, AttrRoleARN), BucketOwner: str(item, AttrBucketOwner)}
	case destination.KindAzure:
		d.Azure = &destination.Azure{SASCipher: str(item, AttrSASCipher), Residency: destination.Residency(str(item, AttrResidency)),
			StorageAccount: str(item, AttrStorageAccount), Container: str(item, AttrContainer)}
		if v := str(item, AttrSASExpiry); v != "" {
			if d.Azure.SASExpiry, err = time.Parse(time.RFC3339, v); err != nil {
				return d, fmt.Errorf("registry item for org %s: %s %s: %w", d.OrgID, AttrSASExpiry, strconv.Quote(v), err)
			}
		}
	}
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("registry item for org %s is invalid: %w", d.OrgID, err)
	}
	return d, nil
}
