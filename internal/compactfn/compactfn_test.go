package compactfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/compactfn"
	"github.com/contentful/auditlogs/internal/compaction"
)

type calls struct {
	got  []string
	fail string
}

func (c *calls) Compact(_ context.Context, d audit.Day, bucket int) (compaction.Result, error) {
	c.got = append(c.got, d.String())
	if d.String() == c.fail {
		return compaction.Result{}, errors.New("boom")
	}
	return compaction.Result{Day: d, Bucket: bucket, Changed: []string{"acme"}}, nil
}

func now() time.Time { return time.Date(2026, 12, 2, 0, 45, 0, 0, time.UTC) }

// TestSampleEvent drives the handler's JSON contract with events/compact.json.
func TestSampleEvent(t *testing.T) {
	payload, err := os.ReadFile("../../events/compact.json")
	if err != nil {
		t.Fatal(err)
	}
	c := &calls{}
	h := &compactfn.Handler{Compactor: c, Now: now}
	raw, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var out compactfn.Output
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	// 00:30 on 2026-12-02 minus the margin is 2026-12-02 00:00: the last
	// closed day is 2026-12-01, and the week before it.
	want := "2026-11-25 2026-11-26 2026-11-27 2026-11-28 2026-11-29 2026-11-30 2026-12-01"
	if strings.Join(c.got, " ") != want || out.Bucket != 17 || len(out.Results) != 7 || out.Changed != 7 {
		t.Fatalf("compacted %v, output %+v; want days %s of bucket 17", c.got, out, want)
	}
}

func TestMarginHoldsBackTheDay(t *testing.T) {
	c := &calls{}
	h := &compactfn.Handler{Compactor: c, Now: now}
	b := 3
	if _, err := h.Handle(context.Background(), compactfn.Event{Bucket: &b, Time: "2026-12-02T00:20:00Z"}); err != nil {
		t.Fatal(err)
	}
	if c.got[len(c.got)-1] != "2026-11-30" {
		t.Fatalf("20 minutes after midnight the last day compacted is %s, want 2026-11-30 (the margin is 30 minutes)", c.got[len(c.got)-1])
	}
}

func TestOneDayFailingDoesNotStopTheOthers(t *testing.T) {
	c := &calls{fail: "2026-11-28"}
	h := &compactfn.Handler{Compactor: c, Now: now}
	b := 3
	out, err := h.Handle(context.Background(), compactfn.Event{Bucket: &b})
	if err == nil || len(c.got) != 7 || len(out.Results) != 6 {
		t.Fatalf("err %v, %d days tried, %d results; want the error and the six other days compacted", err, len(c.got), len(out.Results))
	}
}

func TestBadEvents(t *testing.T) {
	h := &compactfn.Handler{Compactor: &calls{}, Now: now}
	b, neg := 3, 64
	for _, c := range []struct {
		ev   compactfn.Event
		want string
	}{
		{compactfn.Event{}, `bucket "": is required`},
		{compactfn.Event{Bucket: &neg}, `bucket "64": must be 0 to 63`},
		{compactfn.Event{Bucket: &b, Day: "2026-13-01"}, `day "2026-13-01"`},
		{compactfn.Event{Bucket: &b, Day: "2026-12-02"}, `is not over yet`},
		{compactfn.Event{Bucket: &b, Time: "yesterday"}, `time "yesterday"`},
	} {
		_, err := h.Handle(context.Background(), c.ev)
		var bad *compactfn.BadEventError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want a BadEventError containing %q", c.ev, err, c.want)
		}
	}
}
