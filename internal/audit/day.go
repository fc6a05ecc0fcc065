package audit

import (
	"fmt"
	"time"
)

// Day is one UTC calendar day, the unit of delivery.
type Day struct {
	start time.Time // always 00:00:00 UTC
}

// DayLayout is how a Day is written in payloads, keys and flags.
const DayLayout = "2006-01-02"

// ParseDay parses "YYYY-MM-DD".
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(DayLayout, s)
	if err != nil {
		return Day{}, &FieldError{Field: "day", Value: s, Reason: "must be a date written YYYY-MM-DD"}
	}
	return Day{start: t}, nil
}

// DayOf returns the UTC day that contains t.
func DayOf(t time.Time) Day {
	y, m, d := t.UTC().Date()
	return Day{start: time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// Start is 00:00:00.000 UTC of the day.
func (d Day) Start() time.Time { return d.start }

// End is the first instant of the next day.
func (d Day) End() time.Time { return d.start.AddDate(0, 0, 1) }

// IsZero reports whether d was never set.
func (d Day) IsZero() bool { return d.start.IsZero() }

// Contains reports whether t falls inside the day.
func (d Day) Contains(t time.Time) bool {
	return !t.Before(d.start) && t.Before(d.End())
}

// AddDays returns the day n days later (earlier for negative n).
func (d Day) AddDays(n int) Day { return Day{start: d.start.AddDate(0, 0, n)} }

// Before reports whether d is an earlier day than e.
func (d Day) Before(e Day) bool { return d.start.Before(e.start) }

func (d Day) String() string { return d.start.Format(DayLayout) }

// MarshalText and UnmarshalText make a Day read and write as "YYYY-MM-DD".
func (d Day) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Day) UnmarshalText(b []byte) error {
	p, err := ParseDay(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// GoString helps test failure messages.
func (d Day) GoString() string { return fmt.Sprintf("audit.Day(%s)", d) }
