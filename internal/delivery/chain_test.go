package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/ledger"
)

// chainSealer stands in for internal/seal: each manifest's SHA-256 is
// made of its day, its round and the head it follows, so that a manifest
// made after another head is another manifest. It counts the seals.
type chainSealer struct {
	mu    sync.Mutex
	seals int
}

func (c *chainSealer) Seal(_ context.Context, d export.Delivery, head *ledger.Link, earlier *ledger.Entry) (ledger.ManifestRecord, []ledger.ManifestRecord, error) {
	c.mu.Lock()
	c.seals++
	n := c.seals
	c.mu.Unlock()
	prev := "none"
	if head != nil {
		prev = head.SHA256
	}
	sum := sha256.Sum256([]byte(d.Day.String() + "/" + prev + "/" + string(rune('a'+n))))
	rec := ledger.ManifestRecord{Link: ledger.Link{Key: d.Key + ".manifest.json", SHA256: hex.EncodeToString(sum[:])}, Previous: head}
	var history []ledger.ManifestRecord
	if earlier != nil && earlier.Manifest != nil {
		history = append(append(history, earlier.ManifestHistory...), *earlier.Manifest)
	}
	return rec, history, nil
}

// TestConcurrentDeliveriesChainOnce: eight days of one org delivered at
// once (a backfill's concurrency), then two of them again, on the ledger
// on moto: the manifests form one line from the head back to the first,
// each day's current manifest in it once, each superseded one named by its
// day's history; deliveries that met a moved head sealed again.
func TestConcurrentDeliveriesChainOnce(t *testing.T) {
	l := newLedger(t)
	sealer := &chainSealer{}
	svc := &Service{Exporter: &countingExporter{}, Ledger: l, Sealer: sealer, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	var days []audit.Day
	for i := range 8 {
		days = append(days, mustDay("2026-11-10").AddDays(i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(days))
	for _, d := range days {
		wg.Go(func() {
			_, err := svc.RunJob(ctx, Job{OrgID: "acme", Day: d, Attempt: 1})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []audit.Day{days[2], days[7]} {
		if _, err := svc.Run(ctx, "acme", d, true); err != nil {
			t.Fatal(err)
		}
	}

	// Every manifest ever recorded, by SHA-256: the days' current ones and
	// their histories.
	entries, err := l.Days(ctx, "acme", days[0], days[len(days)-1])
	if err != nil || len(entries) != len(days) {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	nodes := map[string]ledger.ManifestRecord{}
	for _, e := range entries {
		if e.Manifest == nil {
			t.Fatalf("day %s has no manifest", e.Day)
		}
		for _, r := range append(append([]ledger.ManifestRecord{}, e.ManifestHistory...), *e.Manifest) {
			nodes[r.SHA256] = r
		}
		if want := map[audit.Day]int{days[2]: 1, days[7]: 1}[e.Day]; len(e.ManifestHistory) != want {
			t.Fatalf("day %s: %d superseded manifests, want %d", e.Day, len(e.ManifestHistory), want)
		}
	}
	if len(nodes) != len(days)+2 {
		t.Fatalf("%d manifests recorded, want %d", len(nodes), len(days)+2)
	}
	head, err := l.Head(ctx, "acme")
	if err != nil || head == nil {
		t.Fatalf("head %v, %v", head, err)
	}
	seen := map[string]bool{}
	for at := head; at != nil; {
		r, ok := nodes[at.SHA256]
		if !ok {
			t.Fatalf("the chain names %s (%s), which no day recorded", at.SHA256, at.Key)
		}
		if seen[at.SHA256] {
			t.Fatalf("the chain loops at %s", at.Key)
		}
		seen[at.SHA256] = true
		at = r.Previous
	}
	if len(seen) != len(nodes) {
		t.Fatalf("the chain from the head holds %d of the %d manifests: it forked", len(seen), len(nodes))
	}
	if sealer.seals < len(nodes) {
		t.Fatalf("%d seals for %d manifests", sealer.seals, len(nodes))
	}
	t.Logf("%d seals for %d manifests", sealer.seals, len(nodes))
}
