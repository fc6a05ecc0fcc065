package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/destination"
	"github.com/contentful/auditlogs/internal/localdev/faultproxy"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

// at is an Azure destination of org whose SAS (cipher) writes to
// account/container, as put records it after decrypting.
func at(t *testing.T, org, account, container string) destination.Destination {
	d := azureDest(org, randomCipher(t), time.Time{})
	d.Azure.StorageAccount, d.Azure.Container = account, container
	return d
}

// holders is the claim item's orgs, sorted.
func holders(t *testing.T, r *Registry, account, container string) []string {
	t.Helper()
	item, err := r.getItem(context.Background(), target{account, container}.key())
	if err != nil {
		t.Fatal(err)
	}
	h := slices.Clone(stringSet(item, AttrClaimOrgs))
	slices.Sort(h)
	return h
}

func wantClaimed(t *testing.T, err error, holders ...string) {
	t.Helper()
	var ce *ClaimedError
	if !errors.Is(err, ErrClaimed) || !errors.As(err, &ce) || !slices.Equal(ce.Holders, holders) {
		t.Fatalf("err = %v, want a ClaimedError naming %v", err, holders)
	}
	for _, h := range holders {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q does not name %s", err, h)
		}
	}
}

// TestClaims: an org that registers a container another org holds is
// refused, naming the holder, and stores nothing; naming the holder as
// sharing it is accepted; a delete, a change of container and a change to
// S3 release the claim; the scans list destinations, never claims.
func TestClaims(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRegistry(t)
	const acct, logs, other = "acct01", "audit-logs", "other-logs"

	first := at(t, "org-a", acct, logs)
	if _, err := r.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got := holders(t, r, acct, logs); !slices.Equal(got, []string{"org-a"}) {
		t.Fatalf("claim holders %v, want org-a", got)
	}
	// Another org with the same container (the first org's cipher, or a
	// cipher of its own for the same container) is refused.
	stolen := first
	stolen.OrgID = "org-b"
	_, err := r.Put(ctx, stolen)
	wantClaimed(t, err, "org-a")
	if strings.Contains(err.Error(), first.Azure.SASCipher[:40]) || !strings.Contains(err.Error(), acct) || !strings.Contains(err.Error(), logs) {
		t.Errorf("error %q: want the account and container, never the cipher", err)
	}
	if _, err := r.Get(ctx, "org-b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused destination was stored: %v", err)
	}
	// The operator says the two orgs share it.
	if _, err := r.PutShared(ctx, stolen, []string{"org-a"}); err != nil {
		t.Fatalf("put shared with the holder: %v", err)
	}
	if got := holders(t, r, acct, logs); !slices.Equal(got, []string{"org-a", "org-b"}) {
		t.Fatalf("claim holders %v, want org-a and org-b", got)
	}
	// Naming one holder is not enough for a third org.
	_, err = r.PutShared(ctx, at(t, "org-c", acct, logs), []string{"org-a"})
	wantClaimed(t, err, "org-b")
	// The holder itself registers again (a new SAS of the same
	// container) without naming anyone.
	if _, err := r.Put(ctx, at(t, "org-a", acct, logs)); err != nil {
		t.Fatalf("the holder's own new SAS: %v", err)
	}

	// Scans see the two destinations, not the claim item.
	for name, list := range map[string]func(func(destination.Destination) error) error{
		"List": func(fn func(destination.Destination) error) error { return r.List(ctx, fn, failOnInvalid(t)) },
		"ListParallel": func(fn func(destination.Destination) error) error {
			return r.ListParallel(ctx, 3, fn, failOnInvalid(t))
		},
	} {
		var mu sync.Mutex
		var orgs []string
		if err := list(func(d destination.Destination) error {
			mu.Lock()
			defer mu.Unlock()
			orgs = append(orgs, d.OrgID)
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		slices.Sort(orgs)
		if !slices.Equal(orgs, []string{"org-a", "org-b"}) {
			t.Errorf("%s listed %v, want org-a and org-b", name, orgs)
		}
	}

	// A delete releases: org-c may take it sharing with org-b only.
	if err := r.Delete(ctx, "org-a"); err != nil {
		t.Fatal(err)
	}
	if got := holders(t, r, acct, logs); !slices.Equal(got, []string{"org-b"}) {
		t.Fatalf("after org-a's delete: holders %v, want org-b", got)
	}
	if _, err := r.PutShared(ctx, at(t, "org-c", acct, logs), []string{"org-b"}); err != nil {
		t.Fatalf("after org-a's delete: %v", err)
	}

	// A change of container releases the old one and claims the new.
	if _, err := r.Put(ctx, at(t, "org-b", acct, other)); err != nil {
		t.Fatal(err)
	}
	if got := holders(t, r, acct, logs); !slices.Equal(got, []string{"org-c"}) {
		t.Fatalf("after org-b moved: holders of %s %v, want org-c", logs, got)
	}
	_, err = r.Put(ctx, at(t, "org-d", acct, other))
	wantClaimed(t, err, "org-b")

	// A change to S3 releases too.
	if _, err := r.Put(ctx, s3Dest("org-b")); err != nil {
		t.Fatal(err)
	}
	if got := holders(t, r, acct, other); len(got) != 0 {
		t.Fatalf("after org-b moved to S3: holders %v, want none", got)
	}
	if _, err := r.Put(ctx, at(t, "org-d", acct, other)); err != nil {
		t.Fatalf("a released container: %v", err)
	}
	// And DeleteExisting releases as Delete does.
	if _, err := r.DeleteExisting(ctx, "org-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Put(ctx, at(t, "org-e", acct, logs)); err != nil {
		t.Fatalf("after org-c's delete: %v", err)
	}
}

// TestRecordSASContainer: the export's way in. A destination registered
// without its container (before claims existed, or by a caller that did
// not decrypt) gets it recorded and claimed at the first decryption; one
// whose container another org holds is refused and nothing is recorded;
// a replaced cipher records nothing.
func TestRecordSASContainer(t *testing.T) {
	ctx := context.Background()
	r, _, _ := newRegistry(t)
	c1, c2 := randomCipher(t), randomCipher(t)
	for org, c := range map[string]string{"org-x": c1, "org-y": c2} {
		if _, err := r.Put(ctx, azureDest(org, c, time.Time{})); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.RecordSASContainer(ctx, "org-x", c1, "acct01", "logs"); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "org-x")
	if err != nil || got.Azure.StorageAccount != "acct01" || got.Azure.Container != "logs" {
		t.Fatalf("after recording: %+v, %v", got.Azure, err)
	}
	if err := r.RecordSASContainer(ctx, "org-x", c1, "acct01", "logs"); err != nil {
		t.Fatalf("recording the same again: %v", err)
	}
	wantClaimed(t, r.RecordSASContainer(ctx, "org-y", c2, "acct01", "logs"), "org-x")
	if got, _ := r.Get(ctx, "org-y"); got.Azure.StorageAccount != "" {
		t.Fatalf("a refused container was recorded: %+v", got.Azure)
	}
	if err := r.RecordSASContainer(ctx, "org-y", c1, "acct01", "other"); !errors.Is(err, ErrCipherReplaced) {
		t.Fatalf("another cipher than the registered one: %v, want ErrCipherReplaced", err)
	}
	if err := r.RecordSASContainer(ctx, "nope", c1, "acct01", "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing org: %v, want ErrNotFound", err)
	}
	if _, err := r.Put(ctx, s3Dest("s3org")); err != nil {
		t.Fatal(err)
	}
	if err := r.RecordSASContainer(ctx, "s3org", c1, "acct01", "other"); err == nil || !strings.Contains(err.Error(), `"s3"`) {
		t.Fatalf("S3 org: %v, want an error naming its kind", err)
	}
}

// TestConcurrentClaims: of many orgs that register the same container at
// once, exactly one gets it; the others are refused naming it.
func TestConcurrentClaims(t *testing.T) {
	moto := testenv.Moto(t)
	// moto applies concurrent transactions without isolation (two can
	// both pass a condition the other makes false); DynamoDB applies them
	// one at a time, and the claim relies on that. So the transactions
	// pass moto one at a time, as they would pass DynamoDB; the reads are
	// not held back, so every org reads the container as free.
	p, err := faultproxy.Start(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	serial := &faultproxy.Rule{Name: "transactions one at a time", Method: http.MethodPost,
		Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"}, Action: faultproxy.Serial()}
	p.Add(serial)
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: p.URL}))
	table := testenv.UniqueName("registry")
	if err := CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	const n = 8
	// Every org reads the claim before any writes it: the first n reads of
	// the claim wait until all n happened, so all n transactions are
	// built on "the container is free" and race for it.
	barrier := &readBarrier{API: db, n: n}
	barrier.all = sync.NewCond(&barrier.mu)
	r := New(barrier, table)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	refused := 0
	for i := range n {
		wg.Go(func() {
			org := fmt.Sprintf("race-%d", i)
			_, err := r.Put(context.Background(), at(t, org, "acct01", "logs"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, org)
			case errors.Is(err, ErrClaimed):
				refused++
			default:
				t.Errorf("put %s: %v", org, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 || refused != n-1 {
		t.Fatalf("%d puts won (%v), %d refused; want 1 and %d", len(won), won, refused, n-1)
	}
	if got := holders(t, r, "acct01", "logs"); !slices.Equal(got, won) {
		t.Fatalf("claim holders %v, want the winner %v", got, won)
	}
	stored := 0
	if err := r.List(context.Background(), func(destination.Destination) error { stored++; return nil }, failOnInvalid(t)); err != nil || stored != 1 {
		t.Fatalf("%d destinations stored (%v), want the winner's only", stored, err)
	}
	if serial.Matches() < n {
		t.Errorf("%d transactions, want at least one per org (all read the container as free)", serial.Matches())
	}
}

// readBarrier holds each of the first n reads of a claim item until all n
// arrived.
type readBarrier struct {
	API
	n    int
	mu   sync.Mutex
	all  *sync.Cond
	seen int
}

func (b *readBarrier) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := b.API.GetItem(ctx, in, opts...)
	if !strings.HasPrefix(str(in.Key, AttrOrgID), ClaimKeyPrefix) {
		return out, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen < b.n {
		b.seen++
		b.all.Broadcast()
		for b.seen < b.n {
			b.all.Wait()
		}
	}
	return out, err
}

// failOnInvalid fails the test for any item a scan finds invalid: a claim
// item is neither a destination nor an invalid one.
func failOnInvalid(t *testing.T) func(InvalidItem) {
	return func(it InvalidItem) { t.Errorf("scan reported an invalid item: %+v", it) }
}
