package export

import (
	"errors"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// days35 is a retention of 35 days, the log store's default.
const days35 = 35 * 24 * time.Hour

func TestCheckDayAndOldestDay(t *testing.T) {
	for _, now := range []time.Time{
		time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 13, 45, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 23, 59, 59, 999e6, time.UTC),
	} {
		for _, retention := range []time.Duration{days35, 48 * time.Hour} {
			oldest := OldestDay(now, retention)
			if err := CheckDay(oldest, now, retention); err != nil {
				t.Errorf("now %s, retention %s: oldest day %s refused: %v", now, retention, oldest, err)
			}
			if err := CheckDay(oldest.AddDays(-1), now, retention); !errors.Is(err, ErrOutsideRetention) {
				t.Errorf("now %s, retention %s: day before the oldest %s: err = %v, want ErrOutsideRetention", now, retention, oldest.AddDays(-1), err)
			}
			yesterday := audit.DayOf(now).AddDays(-1)
			if !oldest.Before(yesterday.AddDays(1)) {
				t.Errorf("now %s, retention %s: oldest %s is after yesterday %s", now, retention, oldest, yesterday)
			}
			if err := CheckDay(audit.DayOf(now), now, retention); !errors.Is(err, ErrDayNotOver) {
				t.Errorf("now %s: today: err = %v, want ErrDayNotOver", now, err)
			}
		}
	}
	// At midnight the day that just ended is over.
	midnight := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	if err := CheckDay(audit.DayOf(midnight).AddDays(-1), midnight, days35); err != nil {
		t.Errorf("yesterday at midnight: %v", err)
	}
	if got := OldestDay(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC), days35).String(); got != "2026-10-22" {
		t.Errorf("oldest day with 35 days' retention on 2026-11-25 = %s, want 2026-10-22", got)
	}
	// A store that keeps every event: no day that is over is too old.
	if err := CheckDay(audit.DayOf(midnight).AddDays(-10000), midnight, 0); err != nil {
		t.Errorf("a day 10000 days ago without retention: %v", err)
	}
}
