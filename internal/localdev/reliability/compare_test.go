package reliability

import (
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/csvenc"
)

// TestCompareRows: the suite's check finds a file that differs from the
// generated events in one field, lacks a row, repeats one, or holds them
// out of order, though its row count may be right.
func TestCompareRows(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 13, 45, 12, 345e6, time.UTC)
	ev := func(id string, at time.Time, query string) audit.Event {
		return audit.Event{OrgID: "o", RequestID: id, RequestTime: at, RequestMethod: "PUT", RequestPath: "/spaces/s1/entries/e1",
			RequestQuery: query, ResponseStatus: 200, ContentLength: 12, Space: "s1", Route: "/spaces/{space_id}/entries/{entry_id}", ActorID: "user:1"}
	}
	a, b, c := ev("a", t0, "x=1"), ev("b", t0.Add(time.Second), "y=\"2\",z"), ev("c", t0.Add(2*time.Second), "")
	file := func(events ...audit.Event) []byte {
		var sb strings.Builder
		enc := csvenc.NewEncoder(&sb)
		if err := enc.WriteHeader(); err != nil {
			t.Fatal(err)
		}
		for i := range events {
			if err := enc.Write(&events[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		return []byte(sb.String())
	}
	want := [][]string{record(a), record(b), record(c)}
	changed := b
	changed.ActorID = "user:2"
	for _, tc := range []struct {
		name                 string
		body                 []byte
		rows, missing, extra int
		misplaced            bool
	}{
		{"equal", file(a, b, c), 3, 0, 0, false},
		{"one field changed", file(a, changed, c), 3, 1, 1, true},
		{"a row lacking", file(a, c), 2, 1, 0, true},
		{"a row twice", file(a, b, b, c), 4, 0, 1, true},
		{"out of order", file(b, a, c), 3, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, missing, extra, misplaced, err := compareRows(tc.body, want)
			if err != nil || rows != tc.rows || missing != tc.missing || extra != tc.extra || (misplaced != "") != tc.misplaced {
				t.Errorf("rows %d, missing %d, extra %d, misplaced %q, err %v; want %d, %d, %d, misplaced %v",
					rows, missing, extra, misplaced, err, tc.rows, tc.missing, tc.extra, tc.misplaced)
			}
		})
	}
}
