package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/fileformat"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func newRegistry(t *testing.T) (*Registry, *dynamodb.Client, string) {
	t.Helper()
	moto := testenv.Moto(t)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: moto.URL}))
	table := testenv.UniqueName("registry")
	if err := CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return New(db, table), db, table
}

func s3Dest(org string) destination.Destination {
	return destination.Destination{OrgID: org, Kind: destination.KindS3, Enabled: true,
		S3: &destination.S3{Bucket: "acme-audit", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/AuditLogs"}}
}

func TestPutGetRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRegistry(t)
	clock := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }

	owned := s3Dest("org1")
	owned.S3.BucketOwner = "210987654321"
	first, err := r.Put(ctx, owned)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CreatedAt.Equal(clock) || !first.UpdatedAt.Equal(clock) {
		t.Fatalf("times = %v %v, want %v", first.CreatedAt, first.UpdatedAt, clock)
	}
	if got, err := r.Get(ctx, "org1"); err != nil || got.S3.BucketOwner != "210987654321" {
		t.Fatalf("bucket owner read back %+v, %v", got.S3, err)
	}

	// Switching to Azure keeps created_at, moves updated_at, drops the S3 fields.
	clock = clock.Add(time.Hour)
	cipher := base64.StdEncoding.EncodeToString(make([]byte, 512))
	az := destination.Destination{OrgID: "org1", Kind: destination.KindAzure, Prefix: "audit", Enabled: true,
		Azure: &destination.Azure{SASCipher: cipher[:100] + "\n" + cipher[100:] + "\n", Residency: "eu", SASExpiry: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := r.Put(ctx, az); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "org1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != destination.KindAzure || got.S3 != nil || got.Azure == nil || got.Azure.SASCipher != cipher ||
		got.Azure.Residency != destination.ResidencyEU || got.Prefix != "audit/" || !got.Azure.SASExpiry.Equal(az.Azure.SASExpiry) {
		t.Fatalf("got %+v / %+v", got, got.Azure)
	}
	if !got.CreatedAt.Equal(first.CreatedAt) || !got.UpdatedAt.Equal(clock) {
		t.Fatalf("created %v updated %v", got.CreatedAt, got.UpdatedAt)
	}
}

// TestBucketOwnerOfOlderItems: an item stored before the bucket owner was
// (no bucket_owner) means the role's account; a new Put stores it.
func TestBucketOwnerOfOlderItems(t *testing.T) {
	ctx := context.Background()
	r, db, table := newRegistry(t)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		AttrOrgID: s("old"), AttrKind: s("s3"), AttrBucket: s("acme-audit"), AttrRegion: s("eu-west-1"), AttrRoleARN: s("arn:aws:iam::123456789012:role/x"),
	}}); err != nil {
		t.Fatal(err)
	}
	d, err := r.Get(ctx, "old")
	if err != nil || d.S3.BucketOwner != "" || d.S3.Owner() != "123456789012" {
		t.Fatalf("older item: %+v, %v; want no stored owner and the role's account as Owner", d.S3, err)
	}
	if _, err := r.Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("old")})
	if err != nil || str(out.Item, AttrBucketOwner) != "123456789012" {
		t.Fatalf("after Put: bucket_owner %q, %v; want the role's account stored", str(out.Item, AttrBucketOwner), err)
	}
}

func TestPutValidates(t *testing.T) {
	r, _, _ := newRegistry(t)
	d := s3Dest("org1")
	d.S3.RoleARN = "arn:aws:iam::1:role/x"
	_, err := r.Put(context.Background(), d)
	var fe *audit.FieldError
	if !errors.As(err, &fe) || fe.Field != "role_arn" {
		t.Fatalf("err = %v, want a role_arn field error", err)
	}
	if _, err := r.Get(context.Background(), "org1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an invalid destination was stored: Get = %v", err)
	}
}

func TestEnableDisableDeleteList(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRegistry(t)
	for _, org := range []string{"org1", "org2", "org3"} {
		if _, err := r.Put(ctx, s3Dest(org)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetEnabled(ctx, "org2", false); err != nil {
		t.Fatal(err)
	}
	if err := r.SetEnabled(ctx, "nope", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetEnabled on a missing org = %v, want ErrNotFound", err)
	}
	if err := r.Delete(ctx, "org3"); err != nil {
		t.Fatal(err)
	}
	enabled := map[string]bool{}
	if err := r.List(ctx, func(d destination.Destination) error { enabled[d.OrgID] = d.Enabled; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if len(enabled) != 2 || !enabled["org1"] || enabled["org2"] {
		t.Fatalf("listed %v, want org1 enabled and org2 disabled", enabled)
	}
}

func TestCorruptItemIsAnError(t *testing.T) {
	r, db, table := newRegistry(t)
	_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		AttrOrgID: s("org9"), AttrKind: s("s3"), AttrBucket: s("BAD_BUCKET"), AttrRegion: s("eu-west-1"), AttrRoleARN: s("arn:aws:iam::123456789012:role/x"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Get(context.Background(), "org9")
	if err == nil || !strings.Contains(err.Error(), "org9") || !strings.Contains(err.Error(), "BAD_BUCKET") {
		t.Fatalf("Get on a corrupt item = %v, want an error naming the org and the value", err)
	}
}

func TestListParallelSeesEveryOrgOnce(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRegistry(t)
	want := map[string]bool{}
	for i := range 40 {
		org := fmt.Sprintf("org%02d", i)
		want[org] = true
		if _, err := r.Put(ctx, s3Dest(org)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	if err := r.ListParallel(ctx, 4, func(d destination.Destination) error {
		mu.Lock()
		defer mu.Unlock()
		seen[d.OrgID]++
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	for org := range want {
		if seen[org] != 1 {
			t.Errorf("org %s seen %d times", org, seen[org])
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("saw %d orgs, want %d", len(seen), len(want))
	}
	stop := errors.New("stop")
	if err := r.ListParallel(ctx, 4, func(destination.Destination) error { return stop }, nil); !errors.Is(err, stop) {
		t.Fatalf("fn's error = %v, want it returned", err)
	}
}

// TestInvalidItemsAreSkippedAndNamed: among valid destinations on moto,
// items that do not decode (one of each kind of malformation) are skipped
// and reported, each with its org, field, value (never the cipher's) and
// reason, by List and by ListParallel; every valid destination is still
// listed once. Without a callback the first one is the error, and a
// failing Scan stays an error.
func TestInvalidItemsAreSkippedAndNamed(t *testing.T) {
	ctx := context.Background()
	r, db, table := newRegistry(t)
	cipher := base64.StdEncoding.EncodeToString(make([]byte, 512))
	valid := map[string]bool{}
	for i := range 12 {
		d := s3Dest(fmt.Sprintf("good-%02d", i))
		if i%3 == 0 {
			d = destination.Destination{OrgID: d.OrgID, Kind: destination.KindAzure, Enabled: true,
				Azure: &destination.Azure{SASCipher: cipher, Residency: destination.ResidencyUS}}
		}
		if _, err := r.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
		valid[d.OrgID] = true
	}
	// A cipher that is not one: its text must appear in no report.
	leaky := "sv=2025-01-05&sr=c&sp=cw&sig=SecretSignatureThatMustNeverAppear0123456789%2B%3D"
	s3Item := func(org string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{AttrOrgID: s(org), AttrKind: s("s3"), AttrEnabled: &types.AttributeValueMemberBOOL{Value: true},
			AttrBucket: s("acme-audit"), AttrRegion: s("eu-west-1"), AttrRoleARN: s("arn:aws:iam::123456789012:role/AuditLogs")}
	}
	azItem := func(org string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{AttrOrgID: s(org), AttrKind: s("azure"), AttrEnabled: &types.AttributeValueMemberBOOL{Value: true},
			AttrSASCipher: s(cipher), AttrResidency: s("eu")}
	}
	with := func(item map[string]types.AttributeValue, attr string, v types.AttributeValue) map[string]types.AttributeValue {
		if v == nil {
			delete(item, attr)
		} else {
			item[attr] = v
		}
		return item
	}
	want := map[string]InvalidItem{ // by org; Reason checked for a telling word
		"bad-kind":      {Field: AttrKind, Value: "gcs", Reason: `"s3" or "azure"`},
		"no-kind":       {Field: AttrKind, Value: "", Reason: `"s3" or "azure"`},
		"bad-bucket":    {Field: AttrBucket, Value: "BAD_BUCKET", Reason: "lowercase"},
		"no-bucket":     {Field: AttrBucket, Value: "", Reason: "3 to 63"},
		"bad-region":    {Field: AttrRegion, Value: "mars-1", Reason: "AWS region"},
		"bad-role":      {Field: AttrRoleARN, Value: "arn:aws:iam::1:role/x", Reason: "IAM role ARN"},
		"bad-prefix":    {Field: AttrPrefix, Value: "../up/", Reason: "'..'"},
		"bad-created":   {Field: AttrCreatedAt, Value: "yesterday", Reason: "RFC 3339"},
		"bad-updated":   {Field: AttrUpdatedAt, Value: "2026-13-01T00:00:00Z", Reason: "RFC 3339"},
		"bad-expiry":    {Field: AttrSASExpiry, Value: "next week", Reason: "RFC 3339"},
		"no-cipher":     {Field: AttrSASCipher, Reason: "empty"},
		"bad-cipher":    {Field: AttrSASCipher, Reason: "base64"},
		"short-cipher":  {Field: AttrSASCipher, Reason: "bytes"},
		"bad-residency": {Field: AttrResidency, Reason: "residency"},
		"Bad Org!":      {Field: AttrOrgID, Value: "Bad Org!", Reason: "letters, digits"},
	}
	for _, item := range []map[string]types.AttributeValue{
		with(s3Item("bad-kind"), AttrKind, s("gcs")),
		with(s3Item("no-kind"), AttrKind, nil),
		with(s3Item("bad-bucket"), AttrBucket, s("BAD_BUCKET")),
		with(s3Item("no-bucket"), AttrBucket, nil),
		with(s3Item("bad-region"), AttrRegion, s("mars-1")),
		with(s3Item("bad-role"), AttrRoleARN, s("arn:aws:iam::1:role/x")),
		with(s3Item("bad-prefix"), AttrPrefix, s("../up/")),
		with(s3Item("bad-created"), AttrCreatedAt, s("yesterday")),
		with(s3Item("bad-updated"), AttrUpdatedAt, s("2026-13-01T00:00:00Z")),
		with(azItem("bad-expiry"), AttrSASExpiry, s("next week")),
		with(azItem("no-cipher"), AttrSASCipher, nil),
		with(azItem("bad-cipher"), AttrSASCipher, s(leaky)),
		with(azItem("short-cipher"), AttrSASCipher, s(base64.StdEncoding.EncodeToString([]byte(leaky)))),
		with(azItem("bad-residency"), AttrResidency, s("mars")),
		s3Item("Bad Org!"),
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}

	check := func(name string, list func(fn func(destination.Destination) error, invalid func(InvalidItem)) error) {
		t.Helper()
		var mu sync.Mutex
		listed := map[string]int{}
		got := map[string]InvalidItem{}
		err := list(func(d destination.Destination) error {
			mu.Lock()
			defer mu.Unlock()
			listed[d.OrgID]++
			return nil
		}, func(bad InvalidItem) {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := got[bad.OrgID]; dup {
				t.Errorf("%s: %s reported twice", name, bad.OrgID)
			}
			got[bad.OrgID] = bad
		})
		if err != nil {
			t.Fatalf("%s: %v, want every invalid item skipped", name, err)
		}
		for org := range valid {
			if listed[org] != 1 {
				t.Errorf("%s: valid org %s listed %d times", name, org, listed[org])
			}
		}
		if len(listed) != len(valid) {
			t.Errorf("%s: listed %v, want the %d valid orgs", name, listed, len(valid))
		}
		for org, w := range want {
			g, ok := got[org]
			if !ok {
				t.Errorf("%s: invalid item %q not reported", name, org)
				continue
			}
			if g.OrgID != org || g.Field != w.Field || g.Value != w.Value || !strings.Contains(g.Reason, w.Reason) {
				t.Errorf("%s: item %q reported as %+v, want field %s, value %q and a reason with %q", name, org, g, w.Field, w.Value, w.Reason)
			}
			msg := g.Error()
			if !strings.Contains(msg, strconv.Quote(org)) || !strings.Contains(msg, w.Field) {
				t.Errorf("%s: %q does not name org and field", name, msg)
			}
			for _, secret := range []string{leaky[20:60], "SecretSignature", cipher[:40], base64.StdEncoding.EncodeToString([]byte(leaky))[:40]} {
				if strings.Contains(msg, secret) || strings.Contains(g.Value, secret) || strings.Contains(g.Reason, secret) {
					t.Errorf("%s: the report of %q shows the cipher: %s", name, org, msg)
				}
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: reported %d invalid items, want %d: %v", name, len(got), len(want), got)
		}
	}
	check("List", func(fn func(destination.Destination) error, invalid func(InvalidItem)) error {
		return r.List(ctx, fn, invalid)
	})
	check("ListParallel", func(fn func(destination.Destination) error, invalid func(InvalidItem)) error {
		return r.ListParallel(ctx, 3, fn, invalid)
	})

	// No callback: the first invalid item is the error.
	var bad InvalidItem
	if err := r.List(ctx, func(destination.Destination) error { return nil }, nil); !errors.As(err, &bad) || want[bad.OrgID].Field != bad.Field {
		t.Fatalf("List without an invalid callback = %v, want an InvalidItem", err)
	}
	// A Scan that fails is fatal, not an invalid item.
	gone := New(db, table+"-missing")
	err := gone.ListParallel(ctx, 2, func(destination.Destination) error { return nil }, func(InvalidItem) { t.Error("a failed Scan reported as an invalid item") })
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("ListParallel on a missing table = %v, want the Scan's ResourceNotFoundException", err)
	}
}

// TestFormatAndLayoutRoundTrip: a destination's format and layout read
// back as stored; the defaults are stored as absent, and an item without
// them (stored before they existed) reads as csv and flat.
func TestFormatAndLayoutRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, db, table := newRegistry(t)
	d := s3Dest("org1")
	d.Format, d.Layout = fileformat.Parquet, destination.LayoutDaily
	if _, err := r.Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Get(ctx, "org1"); err != nil || got.Format != fileformat.Parquet || got.Layout != destination.LayoutDaily {
		t.Fatalf("read back %q %q, %v", got.Format, got.Layout, err)
	}
	d.Format, d.Layout = "", ""
	if _, err := r.Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("org1")})
	if err != nil || out.Item[AttrFormat] != nil || out.Item[AttrLayout] != nil {
		t.Fatalf("the defaults stored as %v %v, %v; want absent", out.Item[AttrFormat], out.Item[AttrLayout], err)
	}
	if got, err := r.Get(ctx, "org1"); err != nil || got.Format != fileformat.CSV || got.Layout != destination.LayoutFlat {
		t.Fatalf("defaults read back %q %q, %v", got.Format, got.Layout, err)
	}
}
