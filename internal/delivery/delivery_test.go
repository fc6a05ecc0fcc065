package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
	"github.com/contentful/auditlogs/internal/ledger"
	"github.com/contentful/auditlogs/internal/sink"
)

type fakeExporter struct {
	err   error
	calls int
}

func (f *fakeExporter) Export(_ context.Context, org string, day audit.Day) (export.Delivery, error) {
	f.calls++
	if f.err != nil {
		return export.Delivery{}, f.err
	}
	return export.Delivery{Result: export.Result{OrgID: org, Day: day, Key: "p/" + org + ".csv", Rows: 7, Bytes: 99, SHA256: "abc", Duration: 5 * time.Millisecond}}, nil
}

// logLines parses the JSON log lines in b.
func logLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %s: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestRunIsAttemptOne: Run (the CLI's and the backfill's entry) logs its
// delivery as attempt 1, with the delivery line's fields; RunJob logs the
// job's attempt.
func TestRunIsAttemptOne(t *testing.T) {
	var logs bytes.Buffer
	s := &Service{Exporter: &fakeExporter{}, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	out, err := s.Run(context.Background(), "acme", mustDay("2026-11-24"), false)
	if err != nil || out.Key != "p/acme.csv" || out.Rows != 7 || out.Skipped != "" {
		t.Fatalf("Run: %+v, %v", out, err)
	}
	if _, err := s.RunJob(context.Background(), Job{OrgID: "acme", Day: mustDay("2026-11-24"), Attempt: 4}); err != nil {
		t.Fatal(err)
	}
	lines := logLines(t, logs.Bytes())
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2: %s", len(lines), logs.String())
	}
	for i, want := range []float64{1, 4} {
		l := lines[i]
		if l["msg"] != "delivered" || l["attempt"] != want || l["org_id"] != "acme" || l["day"] != "2026-11-24" {
			t.Errorf("line %d: %v; want delivered, attempt %v", i, l, want)
		}
		for _, k := range []string{"key", "rows", "bytes", "sha256", "duration_ms"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d lacks %s: %v", i, k, l)
			}
		}
	}
}

// TestRunClassifies: a failure no retry fixes is a PermanentError and is
// logged as permanent; others are returned as they are.
func TestRunClassifies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"refused", errors.Join(sink.ErrAccessDenied, errors.New("AccessDenied")), true},
		{"disabled", export.ErrDisabled, true},
		{"throttled", errors.New("ProvisionedThroughputExceeded"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &Service{Exporter: &fakeExporter{err: tc.err}, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			_, err := s.Run(context.Background(), "acme", mustDay("2026-11-24"), false)
			if err == nil || exportjob.IsPermanent(err) != tc.permanent || !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want permanent %v wrapping %v", err, tc.permanent, tc.err)
			}
			lines := logLines(t, logs.Bytes())
			if len(lines) != 1 || lines[0]["msg"] != "delivery failed" || lines[0]["permanent"] != tc.permanent || lines[0]["attempt"] != float64(1) {
				t.Fatalf("log: %s", logs.String())
			}
		})
	}
}

// TestRunRefusesInvalidInput: an org ID or a day that cannot be one is
// permanent, and nothing is exported.
func TestRunRefusesInvalidInput(t *testing.T) {
	x := &fakeExporter{}
	s := &Service{Exporter: x, Log: slog.New(slog.DiscardHandler)}
	for _, c := range []struct {
		org  string
		day  audit.Day
		want string
	}{{"a#b", mustDay("2026-11-24"), "org_id"}, {"acme", audit.Day{}, "day"}} {
		if _, err := s.Run(context.Background(), c.org, c.day, false); !exportjob.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%q, %v): %v; want a permanent error naming %s", c.org, c.day, err, c.want)
		}
	}
	if x.calls != 0 {
		t.Errorf("%d exports of invalid input", x.calls)
	}
}

func TestJobOf(t *testing.T) {
	j, err := JobOf(exportjob.Payload{OrgID: "acme", Day: "2026-11-24", Attempt: 3, Force: true})
	if err != nil || j.OrgID != "acme" || j.Day.String() != "2026-11-24" || j.Attempt != 3 || !j.Force || j.Owner != "" {
		t.Fatalf("JobOf = %+v, %v", j, err)
	}
	for _, c := range []struct {
		p    exportjob.Payload
		want string
	}{
		{exportjob.Payload{OrgID: "a#b", Day: "24.11.2026"}, "org_id"}, // the org first
		{exportjob.Payload{OrgID: "acme", Day: "24.11.2026"}, `day "24.11.2026"`},
		{exportjob.Payload{OrgID: "acme", Day: "2026-11-24", Attempt: -1}, "attempt"},
	} {
		if _, err := JobOf(c.p); !exportjob.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("JobOf(%+v): %v; want a permanent error naming %s", c.p, err, c.want)
		}
	}
}

// ownerLedger records the owners of Begin and answers that the day is free.
type ownerLedger struct{ owners []string }

func (o *ownerLedger) Begin(_ context.Context, _ string, _ audit.Day, owner string, _ time.Duration, _ bool) (ledger.Entry, error) {
	o.owners = append(o.owners, owner)
	return ledger.Entry{}, nil
}
func (o *ownerLedger) Finish(context.Context, string, audit.Day, string, ledger.Result) error {
	return nil
}
func (o *ownerLedger) Fail(context.Context, string, audit.Day, string, bool, string) error {
	return nil
}
func (o *ownerLedger) MarkStale(context.Context, string, audit.Day) error { return nil }
func (o *ownerLedger) Head(context.Context, string) (*ledger.Link, error) { return nil, nil }

// TestOwner: the job's owner holds the lease; without one, each run is a
// random local owner of its own.
func TestOwner(t *testing.T) {
	l := &ownerLedger{}
	s := &Service{Exporter: &fakeExporter{}, Ledger: l, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	if _, err := s.RunJob(ctx, Job{OrgID: "acme", Day: mustDay("2026-11-24"), Attempt: 1, Owner: "req-1"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Run(ctx, "acme", mustDay("2026-11-24"), false); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.owners) != 3 || l.owners[0] != "req-1" || !strings.HasPrefix(l.owners[1], "local-") || !strings.HasPrefix(l.owners[2], "local-") || l.owners[1] == l.owners[2] {
		t.Fatalf("owners %q; want req-1, then two distinct local owners", l.owners)
	}
}
