package export

import (
	"fmt"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
)

// CheckDay tells whether day can be delivered at now, for a log store
// that keeps events for retention (zero: for ever): the day must be over
// (ErrDayNotOver), and its first events must still be stored
// (ErrOutsideRetention), so that a file is never delivered short. Export
// applies it; so does `auditctl backfill`, up front, to a whole range.
func CheckDay(day audit.Day, now time.Time, retention time.Duration) error {
	if day.End().After(now) {
		return fmt.Errorf("%w (it ends at %s)", ErrDayNotOver, day.End().Format(time.RFC3339))
	}
	if retention > 0 && !now.Before(day.Start().Add(retention)) {
		return fmt.Errorf("%w (%s)", ErrOutsideRetention, retention)
	}
	return nil
}

// OldestDay is the oldest day that CheckDay accepts at now: a day is
// inside while its start is after now - retention, which the day holding
// that instant never is.
func OldestDay(now time.Time, retention time.Duration) audit.Day {
	return audit.DayOf(now.Add(-retention)).AddDays(1)
}
