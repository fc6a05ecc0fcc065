package synth

import (
	"context"
	"errors"
	"testing"

	"github.com/contentful/auditlogs/internal/audit"
)

// TestStoreBatches: Store hands every generated event to the writer once,
// in batches no larger than asked, copies and not the reused event.
func TestStoreBatches(t *testing.T) {
	c := Config{Orgs: []string{"org-a", "org-b", "org-c"}, Events: 2503, Day: testDay(t), Seed: 7}
	w := &recordingWriter{}
	n, err := Store(context.Background(), w, c, 500)
	if err != nil || n != c.Events {
		t.Fatalf("stored %d, err %v", n, err)
	}
	counts, ids := map[string]int{}, map[string]bool{}
	for _, b := range w.batches {
		if len(b) > 500 || len(b) == 0 {
			t.Fatalf("batch of %d", len(b))
		}
		for _, e := range b {
			counts[e.OrgID]++
			ids[e.OrgID+"/"+e.RequestID] = true
		}
	}
	if len(ids) != c.Events {
		t.Fatalf("%d distinct events, want %d", len(ids), c.Events)
	}
	for org, want := range Counts(c) {
		if counts[org] != want {
			t.Errorf("org %s: %d stored, Counts says %d", org, counts[org], want)
		}
	}
	w.fail = errors.New("throttled")
	if _, err := Store(context.Background(), w, c, 500); !errors.Is(err, w.fail) {
		t.Fatalf("error %v, want the writer's", err)
	}
}

type recordingWriter struct {
	batches [][]audit.Event
	fail    error
}

func (w *recordingWriter) Write(_ context.Context, events []audit.Event) error {
	if w.fail != nil {
		return w.fail
	}
	w.batches = append(w.batches, append([]audit.Event(nil), events...))
	return nil
}
