package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/contentful/auditlogs/internal/destination"
)

// randomCipher is a well-formed cipher (512 bytes, base64) that no key
// decrypts: the registry only stores it.
func randomCipher(t *testing.T) string {
	t.Helper()
	b := make([]byte, 512)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func azureDest(org, cipher string, expiry time.Time) destination.Destination {
	return destination.Destination{OrgID: org, Kind: destination.KindAzure, Enabled: true,
		Azure: &destination.Azure{SASCipher: cipher, Residency: destination.ResidencyUS, SASExpiry: expiry}}
}

func TestSetAndRecordSASExpiry(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRegistry(t)
	clock := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }
	cipher := randomCipher(t)
	if _, err := r.Put(ctx, azureDest("az1", cipher, time.Time{})); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Put(ctx, s3Dest("s3org")); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour) // an update_at that moved would show

	first := time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)
	if err := r.SetSASExpiry(ctx, "az1", first); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "az1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Azure.SASExpiry.Equal(first) || got.Azure.SASCipher != cipher || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Fatalf("after SetSASExpiry: expiry %v (want %v), updated %v (want unchanged %v)", got.Azure.SASExpiry, first, got.UpdatedAt, got.CreatedAt)
	}

	// The export's variant: recorded while the cipher is the registered one.
	second := first.AddDate(0, 6, 0)
	if err := r.RecordSASExpiry(ctx, "az1", cipher, second); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, "az1"); !got.Azure.SASExpiry.Equal(second) {
		t.Fatalf("after RecordSASExpiry: expiry %v, want %v", got.Azure.SASExpiry, second)
	}
	// An operator registered a new cipher meanwhile: the old SAS's expiry
	// must not overwrite the new one's.
	newCipher := randomCipher(t)
	third := second.AddDate(1, 0, 0)
	if _, err := r.Put(ctx, azureDest("az1", newCipher, third)); err != nil {
		t.Fatal(err)
	}
	err = r.RecordSASExpiry(ctx, "az1", cipher, second)
	if !errors.Is(err, ErrCipherReplaced) || strings.Contains(err.Error(), cipher[:40]) {
		t.Fatalf("stale cipher: err = %v, want ErrCipherReplaced without the cipher", err)
	}
	if got, _ := r.Get(ctx, "az1"); !got.Azure.SASExpiry.Equal(third) {
		t.Fatalf("a stale cipher's expiry was recorded: %v, want %v", got.Azure.SASExpiry, third)
	}

	if err := r.SetSASExpiry(ctx, "nope", first); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing org: %v, want ErrNotFound", err)
	}
	if err := r.SetSASExpiry(ctx, "s3org", first); err == nil || !strings.Contains(err.Error(), `"s3"`) {
		t.Fatalf("S3 org: %v, want an error naming its kind", err)
	}
	if got, _ := r.Get(ctx, "s3org"); got.Azure != nil {
		t.Fatalf("S3 org got Azure fields: %+v", got)
	}
	if err := r.SetSASExpiry(ctx, "az1", time.Time{}); err == nil {
		t.Fatal("a zero expiry was accepted")
	}
}

func TestDeleteExisting(t *testing.T) {
	ctx := context.Background()
	r, db, table := newRegistry(t)
	if _, err := r.Put(ctx, azureDest("az1", randomCipher(t), time.Time{})); err != nil {
		t.Fatal(err)
	}
	kind, err := r.DeleteExisting(ctx, "az1")
	if err != nil || kind != destination.KindAzure {
		t.Fatalf("DeleteExisting = %q, %v", kind, err)
	}
	if _, err := r.Get(ctx, "az1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: Get = %v", err)
	}
	if _, err := r.DeleteExisting(ctx, "az1"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "az1") {
		t.Fatalf("second delete = %v, want ErrNotFound naming the org", err)
	}
	// A hand-edited item that no longer validates can still be removed.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		AttrOrgID: s("broken"), AttrKind: s("s3"), AttrBucket: s("BAD_BUCKET"),
	}}); err != nil {
		t.Fatal(err)
	}
	if kind, err := r.DeleteExisting(ctx, "broken"); err != nil || kind != destination.KindS3 {
		t.Fatalf("delete of a corrupt item = %q, %v", kind, err)
	}
}
