package ledger

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/faultproxy"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func newLedger(t *testing.T) *Ledger {
	t.Helper()
	moto := testenv.Moto(t)
	// moto applies concurrent conditional writes to one item without
	// isolation (two UpdateItems can both pass a condition the other
	// makes false); DynamoDB applies them one at a time, and the lease
	// relies on that. So the writes pass moto one at a time, as they
	// would pass DynamoDB.
	p, err := faultproxy.Start(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.Add(&faultproxy.Rule{Name: "writes one at a time", Method: http.MethodPost,
		Header: map[string]string{"X-Amz-Target": "DynamoDB_20120810.UpdateItem"}, Action: faultproxy.Serial()})
	db := dynamodb.NewFromConfig(testenv.AWSConfig(t, testenv.Endpoints{Default: p.URL}))
	table := testenv.UniqueName("ledger")
	if err := CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return New(db, table)
}

// TestLifecycle walks an org-day through the ledger on moto: a lease,
// a refused second export, a delivery, a skipped repeat, a forced
// re-delivery, a lease taken over after it ran out, a stale owner's
// result refused, and a permanent failure with its reason.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	clock := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	l.SetClock(func() time.Time { return clock })
	day, _ := audit.ParseDay("2026-11-24")

	e, err := l.Begin(ctx, "acme", day, "inv-1", 15*time.Minute, false)
	if err != nil || e.Status != Running || e.Attempts != 1 || e.LeaseOwner != "inv-1" {
		t.Fatalf("first begin: %+v, %v", e, err)
	}
	if _, err := l.Begin(ctx, "acme", day, "inv-2", 15*time.Minute, false); !errors.Is(err, ErrLeased) {
		t.Fatalf("second begin while leased: %v, want ErrLeased", err)
	}
	if err := l.Finish(ctx, "acme", day, "inv-1", Result{Key: "p/acme.csv", Rows: 42, Bytes: 4200, SHA256: "abc"}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := l.Get(ctx, "acme", day)
	if err != nil || !ok || got.Status != Delivered || got.Key != "p/acme.csv" || got.Rows != 42 || got.Bytes != 4200 || got.SHA256 != "abc" ||
		got.LeaseOwner != "" || !got.DeliveredAt.Equal(clock) {
		t.Fatalf("after finish: %+v, %v, %v", got, ok, err)
	}
	if _, err := l.Begin(ctx, "acme", day, "inv-3", 15*time.Minute, false); !errors.Is(err, ErrDelivered) {
		t.Fatalf("begin of a delivered day: %v, want ErrDelivered", err)
	}
	e, err = l.Begin(ctx, "acme", day, "inv-4", 15*time.Minute, true)
	if err != nil || e.Attempts != 2 || e.Status != Running {
		t.Fatalf("forced begin: %+v, %v", e, err)
	}

	// inv-4 dies; after its lease runs out inv-5 takes over.
	clock = clock.Add(16 * time.Minute)
	if _, err := l.Begin(ctx, "acme", day, "inv-5", 15*time.Minute, true); err != nil {
		t.Fatalf("take-over of a lapsed lease: %v", err)
	}
	if err := l.Finish(ctx, "acme", day, "inv-4", Result{Key: "stale"}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale owner's finish: %v, want ErrLeaseLost", err)
	}
	if err := l.Fail(ctx, "acme", day, "inv-5", true, "assume role for org acme: AccessDenied"); err != nil {
		t.Fatal(err)
	}
	got, _, _ = l.Get(ctx, "acme", day)
	if got.Status != Failed || !got.Permanent || got.LastError != "assume role for org acme: AccessDenied" || got.Attempts != 3 || got.Key != "p/acme.csv" {
		t.Fatalf("after fail: %+v", got)
	}
	// A failed day can be tried again without force.
	if _, err := l.Begin(ctx, "acme", day, "inv-6", 15*time.Minute, false); err != nil {
		t.Fatalf("begin after a failure: %v", err)
	}

	if _, ok, err := l.Get(ctx, "acme", day.AddDays(-1)); ok || err != nil {
		t.Fatalf("get of a day never seen: %v, %v", ok, err)
	}
	if _, err := l.Begin(ctx, "acme", day.AddDays(-2), "inv-7", time.Minute, false); err != nil {
		t.Fatal(err)
	}
	days, err := l.Days(ctx, "acme", day.AddDays(-6), day)
	if err != nil || len(days) != 2 || days[0].Day != day.AddDays(-2) || days[1].Day != day {
		t.Fatalf("days: %+v, %v", days, err)
	}
}

// TestConcurrentBegin: of many exports of one org-day started at once,
// exactly one gets the lease.
func TestConcurrentBegin(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	day, _ := audit.ParseDay("2026-11-24")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, leased := 0, 0
	for i := range 8 {
		wg.Go(func() {
			_, err := l.Begin(ctx, "race", day, "inv-"+string(rune('a'+i)), time.Minute, false)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrLeased):
				leased++
			default:
				t.Errorf("begin: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || leased != 7 {
		t.Fatalf("%d leases taken, %d refused; want 1 and 7", won, leased)
	}
}

// TestLateEvents: events stored for a day after its delivery began make
// the delivery stale, and only then: Begin lets a new delivery through
// without force, and that delivery is current again. A day without an
// entry is left alone, and so is a delivery that began after the events.
func TestLateEvents(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	clock := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	l.SetClock(func() time.Time { return clock })
	day, _ := audit.ParseDay("2026-11-24")

	// No entry: nothing to note, nothing created.
	if err := l.NoteLate(ctx, "acme", day, 3); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.Get(ctx, "acme", day); ok || err != nil {
		t.Fatalf("NoteLate created an entry: %v, %v", ok, err)
	}

	deliver := func(owner string) {
		t.Helper()
		if _, err := l.Begin(ctx, "acme", day, owner, 15*time.Minute, false); err != nil {
			t.Fatalf("begin %s: %v", owner, err)
		}
		clock = clock.Add(time.Minute)
		if err := l.Finish(ctx, "acme", day, owner, Result{Key: "k", Rows: 1}); err != nil {
			t.Fatal(err)
		}
	}
	deliver("inv-1")
	clock = clock.Add(time.Hour)
	if err := l.NoteLate(ctx, "acme", day, 2); err != nil {
		t.Fatal(err)
	}
	if err := l.NoteLate(ctx, "acme", day, 1); err != nil {
		t.Fatal(err)
	}
	got, _, _ := l.Get(ctx, "acme", day)
	if !got.Stale() || got.Current() || got.LateEvents != 3 || got.Status != Delivered {
		t.Fatalf("after late events: %+v (stale %v)", got, got.Stale())
	}
	// The stale day is delivered again without force, and is current.
	clock = clock.Add(time.Hour)
	deliver("inv-2")
	got, _, _ = l.Get(ctx, "acme", day)
	if got.Stale() || !got.Current() || got.Attempts != 2 {
		t.Fatalf("after the new delivery: %+v", got)
	}
	if _, err := l.Begin(ctx, "acme", day, "inv-3", 15*time.Minute, false); !errors.Is(err, ErrDelivered) {
		t.Fatalf("begin of a current day: %v, want ErrDelivered", err)
	}

	// Events noted while a delivery runs: that delivery may have missed
	// them, so once it finishes the day is stale.
	other := day.AddDays(-1)
	if _, err := l.Begin(ctx, "acme", other, "inv-4", 15*time.Minute, false); err != nil {
		t.Fatal(err)
	}
	if err := l.NoteLate(ctx, "acme", other, 1); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(30 * time.Second)
	if err := l.Finish(ctx, "acme", other, "inv-4", Result{Key: "k2"}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := l.Get(ctx, "acme", other); !got.Stale() {
		t.Fatalf("events noted during the delivery: %+v, want stale", got)
	}
}

// TestMarkStale: a delivery marked stale (an export committed after its
// lease was taken over) is delivered again without force; an org-day
// without an entry is left alone.
func TestMarkStale(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	clock := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	l.SetClock(func() time.Time { return clock })
	day, _ := audit.ParseDay("2026-11-24")
	if err := l.MarkStale(ctx, "acme", day); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.Get(ctx, "acme", day); ok || err != nil {
		t.Fatalf("MarkStale created an entry: %v, %v", ok, err)
	}
	if _, err := l.Begin(ctx, "acme", day, "inv-1", 15*time.Minute, false); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	if err := l.Finish(ctx, "acme", day, "inv-1", Result{Key: "k", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkStale(ctx, "acme", day); err != nil {
		t.Fatal(err)
	}
	got, _, _ := l.Get(ctx, "acme", day)
	if !got.Stale() || got.LateEvents != 0 || got.Status != Delivered {
		t.Fatalf("after MarkStale: %+v (stale %v), want delivered, stale, no late events", got, got.Stale())
	}
	clock = clock.Add(time.Minute)
	if _, err := l.Begin(ctx, "acme", day, "inv-2", 15*time.Minute, false); err != nil {
		t.Fatalf("begin of the stale day without force: %v", err)
	}
}

// TestManifestChain: a delivery's manifest is recorded with the org's
// chain head in one transaction on moto. The head moves from nil to each
// manifest in turn; a manifest made after a head that has since moved is
// refused with ErrChainMoved and records nothing (the day stays running,
// the head stays); a lost lease is ErrLeaseLost even with a manifest; a
// redelivery's history and previous link read back; Days never returns
// the chain's item.
func TestManifestChain(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	d1, _ := audit.ParseDay("2026-11-24")
	d2, _ := audit.ParseDay("2026-11-25")
	m1 := &ManifestRecord{Link: Link{Key: "p/d1.manifest.json", SHA256: "s1"}}
	m2 := &ManifestRecord{Link: Link{Key: "p/d2.manifest.json", SHA256: "s2"}, Previous: &m1.Link}

	if h, err := l.Head(ctx, "acme"); h != nil || err != nil {
		t.Fatalf("head before any delivery: %+v, %v", h, err)
	}
	for _, d := range []audit.Day{d1, d2} {
		if _, err := l.Begin(ctx, "acme", d, "inv-"+d.String(), 15*time.Minute, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(ctx, "acme", d1, "inv-"+d1.String(), Result{Key: "p/d1.csv", Rows: 1, SHA256: "f1", Manifest: m1}); err != nil {
		t.Fatal(err)
	}
	if h, err := l.Head(ctx, "acme"); err != nil || h == nil || *h != m1.Link {
		t.Fatalf("head after day 1: %+v, %v", h, err)
	}
	// Day 2 made its manifest before day 1 was recorded: previous nil.
	stale := &ManifestRecord{Link: Link{Key: m2.Key, SHA256: "s2-stale"}}
	err := l.Finish(ctx, "acme", d2, "inv-"+d2.String(), Result{Key: "p/d2.csv", SHA256: "f2", Manifest: stale})
	if !errors.Is(err, ErrChainMoved) {
		t.Fatalf("finish after a moved head: %v, want ErrChainMoved", err)
	}
	if e, _, _ := l.Get(ctx, "acme", d2); e.Status != Running || e.Manifest != nil {
		t.Fatalf("day 2 after the refused finish: %+v", e)
	}
	if h, _ := l.Head(ctx, "acme"); h == nil || *h != m1.Link {
		t.Fatalf("head after the refused finish: %+v", h)
	}
	if err := l.Finish(ctx, "acme", d2, "inv-other", Result{Key: "p/d2.csv", Manifest: m2, Head: &m1.Link}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("finish by another owner: %v, want ErrLeaseLost", err)
	}
	if err := l.Finish(ctx, "acme", d2, "inv-"+d2.String(), Result{Key: "p/d2.csv", SHA256: "f2", Manifest: m2, Head: &m1.Link}); err != nil {
		t.Fatal(err)
	}
	// Day 1 again: its new manifest follows day 2's and keeps the first.
	if _, err := l.Begin(ctx, "acme", d1, "inv-again", 15*time.Minute, true); err != nil {
		t.Fatal(err)
	}
	m1b := &ManifestRecord{Link: Link{Key: m1.Key, SHA256: "s1b"}, Previous: &m2.Link}
	if err := l.Finish(ctx, "acme", d1, "inv-again", Result{Key: "p/d1.csv", SHA256: "f1b", Manifest: m1b, History: []ManifestRecord{*m1}, Head: &m2.Link}); err != nil {
		t.Fatal(err)
	}
	e, _, err := l.Get(ctx, "acme", d1)
	if err != nil || e.Manifest == nil || e.Manifest.Link != m1b.Link || e.Manifest.Previous == nil || *e.Manifest.Previous != m2.Link ||
		len(e.ManifestHistory) != 1 || e.ManifestHistory[0].Link != m1.Link || e.ManifestHistory[0].Previous != nil {
		t.Fatalf("day 1 after its redelivery: %+v %+v, %v", e.Manifest, e.ManifestHistory, err)
	}
	if h, _ := l.Head(ctx, "acme"); h == nil || *h != m1b.Link {
		t.Fatalf("head after the redelivery: %+v", h)
	}
	// The widest range of days holds only days: the chain's item sorts
	// after "9999-12-31" (digits before letters).
	late, _ := audit.ParseDay("9999-12-31")
	if all, err := l.Days(ctx, "acme", d1, late); err != nil || len(all) != 2 {
		t.Fatalf("days: %d entries, %v", len(all), err)
	}
}

// TestPage pages through an org's days on moto: in day order, limit a
// page (one read a page: a full last page says no more follow), more
// reported exactly when days follow, other orgs' days never in it, and a bad limit refused.
func TestPage(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	first, _ := audit.ParseDay("2026-11-01")
	var want []string
	for i := range 5 {
		day := first.AddDays(2 * i) // days with gaps between them
		if _, err := l.Begin(ctx, "acme", day, "inv", time.Minute, false); err != nil {
			t.Fatal(err)
		}
		if err := l.Finish(ctx, "acme", day, "inv", Result{Key: "k-" + day.String(), Rows: int64(i)}); err != nil {
			t.Fatal(err)
		}
		want = append(want, day.String())
	}
	if _, err := l.Begin(ctx, "other", first, "inv", time.Minute, false); err != nil {
		t.Fatal(err)
	}
	to := first.AddDays(30)
	for _, limit := range []int{1, 2, 4, 5, 6} {
		var got []string
		start, pages := first, 0
		for {
			es, more, err := l.Page(ctx, "acme", start, to, limit)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(es) > limit || (more && len(es) != limit) {
				t.Fatalf("limit %d: a page of %d, more %t", limit, len(es), more)
			}
			for _, e := range es {
				if e.OrgID != "acme" {
					t.Fatalf("limit %d: an entry of %s", limit, e.OrgID)
				}
				got = append(got, e.Day.String())
			}
			if !more {
				break
			}
			start = es[len(es)-1].Day.AddDays(1)
		}
		if !slices.Equal(got, want) || pages != (len(want)+limit-1)/limit {
			t.Errorf("limit %d: %v in %d pages, want %v", limit, got, pages, want)
		}
	}
	if es, more, err := l.Page(ctx, "acme", first.AddDays(1), first.AddDays(3), 10); err != nil || more || len(es) != 1 || es[0].Day != first.AddDays(2) {
		t.Errorf("a range inside: %+v, %t, %v", es, more, err)
	}
	if _, _, err := l.Page(ctx, "acme", first, to, 0); err == nil {
		t.Error("limit 0 accepted")
	}
}
