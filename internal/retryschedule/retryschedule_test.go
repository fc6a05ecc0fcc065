package retryschedule

import (
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/exportjob"
)

// TestScheduleFitsSQSLimit: at full scale, for every receive and every
// time the handler may have spent in it (up to the function's timeout),
// the delay ends within SQS's 12 hours of the receive, less the margin.
func TestScheduleFitsSQSLimit(t *testing.T) {
	s := Default
	if s.Limit != 12*time.Hour || s.Receives != MaxReceiveCount {
		t.Fatalf("schedule %+v: want SQS's 12-hour limit and MaxReceiveCount", s)
	}
	for n := 1; n <= s.Receives+1; n++ {
		// Every second of the timeout, and odd fractions of one (the
		// delay is whole seconds, rounded down).
		for elapsed := time.Duration(0); elapsed <= exportjob.FunctionTimeout; elapsed += time.Second + 7*time.Millisecond {
			d := s.Delay(n, elapsed)
			if d < 0 || d%time.Second != 0 || d+elapsed > s.Limit-s.Margin {
				t.Fatalf("receive %d after %s: delay %s; want whole seconds, and delay + elapsed within %s - %s", n, elapsed, d, s.Limit, s.Margin)
			}
		}
	}
	// The doubling: 15 min, 30 min, ... 8 h, then as much as the limit
	// allows.
	for n, want := range map[int]time.Duration{1: 15 * time.Minute, 2: 30 * time.Minute, 6: 8 * time.Hour, 7: 12*time.Hour - ReceiveMargin, 21: 12*time.Hour - ReceiveMargin} {
		if d := s.Delay(n, 0); d != want {
			t.Errorf("receive %d, at once: delay %s, want %s", n, d, want)
		}
	}
	if d := s.Delay(7, exportjob.FunctionTimeout); d != 12*time.Hour-ReceiveMargin-exportjob.FunctionTimeout {
		t.Errorf("receive 7 after the whole timeout: delay %s", d)
	}
}

// TestScheduleSpansSevenDays: the retries reach 7 days however long each
// receive takes (from none to the function's whole timeout), and a
// message leaves the queue for the dead-letter queue well inside the
// queue's 14 days, even if each receive also lost the whole margin before
// the handler started.
func TestScheduleSpansSevenDays(t *testing.T) {
	s := Default
	const retention = 14 * 24 * time.Hour
	for elapsed := time.Duration(0); elapsed <= exportjob.FunctionTimeout; elapsed += time.Second {
		if span := s.Span(elapsed); span < 7*24*time.Hour {
			t.Fatalf("receives of %s: the retries span %s, want at least 7 days", elapsed, span)
		}
		if life := s.Lifetime(elapsed) + time.Duration(s.Receives)*s.Margin; life >= retention {
			t.Fatalf("receives of %s: a message lives %s in the queue, want less than its retention %s", elapsed, life, retention)
		}
	}
	// The time the message spends hidden alone reaches 7 days too.
	var hidden time.Duration
	for _, d := range s.Delays(exportjob.FunctionTimeout)[:s.Receives-1] {
		hidden += d
	}
	if hidden < 7*24*time.Hour {
		t.Errorf("receives of the whole timeout: hidden %s in all, want at least 7 days", hidden)
	}
	t.Logf("span %s (instant receives) to %s (every receive %s); to the dead-letter queue after %s at most",
		s.Span(0), s.Span(exportjob.FunctionTimeout), exportjob.FunctionTimeout, s.Lifetime(exportjob.FunctionTimeout))
}
