package backfill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/delivery"
	"github.com/contentful/auditlogs/internal/export"
	"github.com/contentful/auditlogs/internal/exportjob"
)

func day(s string) audit.Day {
	d, err := audit.ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

// days35 is a retention of 35 days, the log store's default.
const days35 = 35 * 24 * time.Hour

func TestDays(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	got, err := Days(day("2026-11-22"), day("2026-11-24"), now, days35)
	if err != nil || fmt.Sprint(got) != "[2026-11-22 2026-11-23 2026-11-24]" {
		t.Fatalf("Days = %v, %v", got, err)
	}
	if got, err := Days(day("2026-10-22"), day("2026-10-22"), now, days35); err != nil || len(got) != 1 {
		t.Fatalf("oldest day alone: %v, %v", got, err)
	}
	for name, c := range map[string]struct {
		from, to     string
		field, value string
		is           error
		reason       string
	}{
		"reversed":         {"2026-11-24", "2026-11-22", "from", "2026-11-24", nil, "is after to 2026-11-22"},
		"today":            {"2026-11-23", "2026-11-25", "to", "2026-11-25", export.ErrDayNotOver, "up to yesterday (UTC), 2026-11-24"},
		"future":           {"2026-11-30", "2026-12-01", "from", "2026-11-30", export.ErrDayNotOver, "not over"},
		"out of retention": {"2026-10-21", "2026-11-01", "from", "2026-10-21", export.ErrOutsideRetention, "(35 days): the oldest day that can be delivered now is 2026-10-22"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Days(day(c.from), day(c.to), now, days35)
			var re *RangeError
			if !errors.As(err, &re) || re.Field != c.field || re.Value != c.value || !strings.Contains(re.Reason, c.reason) {
				t.Fatalf("err = %#v, want %s %s: ...%s", err, c.field, c.value, c.reason)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, want it to wrap %v", err, c.is)
			}
		})
	}
}

// call is one day handed to the delivery.
type call struct {
	OrgID string
	Day   audit.Day
	Force bool
}

// fakeDelivery answers per day; the storage path behind the real delivery
// is tested against the emulators in cmd/auditctl (TestBackfill), and
// Run's attempt (1) in internal/delivery.
type fakeDelivery struct {
	mu       sync.Mutex
	calls    []call
	answer   func(ctx context.Context, p call) (delivery.Outcome, error)
	inFlight int
	maxIn    int
}

func (h *fakeDelivery) Run(ctx context.Context, org string, day audit.Day, force bool) (delivery.Outcome, error) {
	p := call{OrgID: org, Day: day, Force: force}
	h.mu.Lock()
	h.calls = append(h.calls, p)
	h.inFlight++
	h.maxIn = max(h.maxIn, h.inFlight)
	h.mu.Unlock()
	defer func() { h.mu.Lock(); h.inFlight--; h.mu.Unlock() }()
	return h.answer(ctx, p)
}

type recorder struct {
	events []string
}

func (r *recorder) Start(d audit.Day) { r.events = append(r.events, "start "+d.String()) }
func (r *recorder) Done(res DayResult, done, total int) {
	r.events = append(r.events, fmt.Sprintf("done %s %s %d/%d", res.Day, res.Status, done, total))
}

func TestRunFailedDayDoesNotStopOthers(t *testing.T) {
	days := []audit.Day{day("2026-11-20"), day("2026-11-21"), day("2026-11-22"), day("2026-11-23")}
	h := &fakeDelivery{answer: func(_ context.Context, p call) (delivery.Outcome, error) {
		switch p.Day.String() {
		case "2026-11-21":
			return delivery.Outcome{}, errors.New("throttled")
		case "2026-11-22":
			return delivery.Outcome{}, &exportjob.PermanentError{Err: errors.New("access denied")}
		case "2026-11-23":
			return delivery.Outcome{Skipped: exportjob.SkippedLeased}, nil
		}
		return delivery.Outcome{Result: export.Result{Key: "k-" + p.Day.String(), Rows: 3, Bytes: 99, SHA256: "abc"}}, nil
	}}
	rec := &recorder{}
	sum := (&Runner{Delivery: h, Progress: rec}).Run(context.Background(), "acme", days, true)
	want := []struct {
		st        Status
		err       string
		permanent bool
	}{{Delivered, "", false}, {Failed, "throttled", false}, {Failed, "access denied", true}, {Leased, "", false}}
	for i, w := range want {
		d := sum.Days[i]
		if d.Day != days[i] || d.Status != w.st || !strings.Contains(d.Error, w.err) || d.Permanent != w.permanent {
			t.Errorf("day %d: %+v, want %v %q permanent %t", i, d, w.st, w.err, w.permanent)
		}
	}
	if d := sum.Days[0]; d.Key != "k-2026-11-20" || d.Rows != 3 || d.Bytes != 99 || d.SHA256 != "abc" {
		t.Errorf("delivered day: %+v", d)
	}
	if sum.Delivered != 1 || sum.Failed != 2 || sum.Leased != 1 || sum.NotRun != 0 || sum.OK() || sum.Interrupted || sum.From != days[0] || sum.To != days[3] {
		t.Errorf("summary %+v", sum)
	}
	for i, p := range h.calls {
		if p.OrgID != "acme" || p.Day.String() != days[i].String() || !p.Force {
			t.Errorf("call %d: %+v", i, p)
		}
	}
	if got := strings.Join(rec.events, "; "); got != "start 2026-11-20; done 2026-11-20 delivered 1/4; start 2026-11-21; done 2026-11-21 failed 2/4; start 2026-11-22; done 2026-11-22 failed 3/4; start 2026-11-23; done 2026-11-23 leased 4/4" {
		t.Errorf("progress: %s", got)
	}
}

// TestRunInterrupted: cancelling during the second day lets that day
// finish on a live context, and starts no other.
func TestRunInterrupted(t *testing.T) {
	days := []audit.Day{day("2026-11-20"), day("2026-11-21"), day("2026-11-22"), day("2026-11-23")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &fakeDelivery{answer: func(dctx context.Context, p call) (delivery.Outcome, error) {
		if p.Day.String() == "2026-11-21" {
			cancel() // Ctrl-C while the day is delivered
			time.Sleep(20 * time.Millisecond)
			if dctx.Err() != nil {
				return delivery.Outcome{}, fmt.Errorf("the day in progress was cancelled: %w", dctx.Err())
			}
		}
		return delivery.Outcome{Result: export.Result{Rows: 1}}, nil
	}}
	sum := (&Runner{Delivery: h, DayTimeout: time.Minute}).Run(ctx, "acme", days, false)
	if len(h.calls) != 2 {
		t.Fatalf("%d days started after the interruption, want 2", len(h.calls))
	}
	got := []Status{sum.Days[0].Status, sum.Days[1].Status, sum.Days[2].Status, sum.Days[3].Status}
	if fmt.Sprint(got) != "[delivered delivered not-run not-run]" || !sum.Interrupted || sum.NotRun != 2 || sum.Delivered != 2 || sum.OK() {
		t.Fatalf("statuses %v, summary %+v: %s", got, sum, sum.Days[1].Error)
	}
	if h.calls[0].Force {
		t.Error("Force sent though not asked for")
	}
}

func TestRunConcurrency(t *testing.T) {
	var days []audit.Day
	for i := range 9 {
		days = append(days, day("2026-11-01").AddDays(i))
	}
	for _, c := range []struct{ asked, want int }{{0, 1}, {3, 3}, {50, MaxConcurrency}} {
		h := &fakeDelivery{}
		// Each day holds its worker until as many days as wanted have been
		// in flight at once (or 10 s went by, when the runner cannot get
		// there), so that the count does not depend on how fast a loaded
		// machine starts goroutines.
		h.answer = func(context.Context, call) (delivery.Outcome, error) {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				h.mu.Lock()
				reached := h.maxIn >= c.want
				h.mu.Unlock()
				if reached {
					break
				}
			}
			return delivery.Outcome{}, nil
		}
		sum := (&Runner{Delivery: h, Concurrency: c.asked}).Run(context.Background(), "acme", days, true)
		if !sum.OK() || len(h.calls) != len(days) {
			t.Fatalf("concurrency %d: %+v", c.asked, sum)
		}
		if h.maxIn != c.want {
			t.Errorf("concurrency %d: %d days at once, want %d", c.asked, h.maxIn, c.want)
		}
		for i, d := range sum.Days {
			if d.Day != days[i] {
				t.Errorf("summary out of order at %d: %s", i, d.Day)
			}
		}
	}
}
