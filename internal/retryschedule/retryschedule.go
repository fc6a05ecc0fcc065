// Package retryschedule is the retry queue's backoff: the schedule by
// which the retry function (internal/retryfn) hides a message whose export
// failed, the queue's maxReceiveCount and visibility timeout that the CDK
// stack (infra/stack) and the local stack set, and the limits SQS puts on
// them.
//
// It is a leaf: of this module it imports only internal/exportjob (for the
// export functions' timeout), so that the stack can configure the retry
// queue without importing the retry function.
package retryschedule

import (
	"time"

	"github.com/contentful/auditlogs/internal/exportjob"
)

// The retry schedule's parameters (Default).
const (
	// FirstDelay is the delay after a message's first failed receive;
	// each further failure doubles it, as far as VisibilityLimit allows.
	FirstDelay = 15 * time.Minute
	// VisibilityLimit is SQS's: a message stays invisible at most 12
	// hours after it was received; ChangeMessageVisibility refuses a
	// timeout that ends later (moto counts from the message's sending,
	// which is stricter).
	VisibilityLimit = 12 * time.Hour
	// ReceiveMargin is kept below VisibilityLimit for the part of a
	// receive the handler cannot measure, before it starts: the event
	// source mapping's batching window (the stack sets none; SQS allows
	// at most 5 minutes), its invocation and a cold start, and the
	// difference between SQS's clock and the function's.
	ReceiveMargin = 10 * time.Minute
	// MaxReceiveCount is the retry queue's maxReceiveCount: after that
	// many receives SQS moves the message to the dead-letter queue. With
	// the delays above, 21 receives span more than 7 days however long
	// each takes (Schedule.Span).
	MaxReceiveCount = 21
)

// Default is the retry queue's schedule; the CDK stack takes its
// maxReceiveCount from it.
var Default = Schedule{First: FirstDelay, Limit: VisibilityLimit, Margin: ReceiveMargin, Receives: MaxReceiveCount}

// Schedule is a retry policy: a message whose export failed at its n-th
// receive is hidden for First·2^(n-1), but never past Limit - Margin after
// its receive; after Receives receives the queue moves it to the
// dead-letter queue. Tests scale it down in time; the rule is the same.
type Schedule struct {
	First    time.Duration
	Limit    time.Duration
	Margin   time.Duration
	Receives int
}

// Delay is how long a message stays hidden after its receiveCount-th
// receive failed, elapsed after the handler started: First·2^(n-1), at
// most Limit - Margin - elapsed, in whole seconds (SQS's unit, rounded
// down so that the limit holds), never negative.
func (s Schedule) Delay(receiveCount int, elapsed time.Duration) time.Duration {
	room := s.Limit - s.Margin - max(elapsed, 0)
	d := s.First
	for i := 1; i < receiveCount && d < room; i++ {
		d *= 2
	}
	return max(min(d, room), 0).Truncate(time.Second)
}

// Delays returns the delay after each of the Receives receives of a
// message that fails every time, each receive lasting elapsed in the
// handler; the last is the wait before its move to the dead-letter queue.
func (s Schedule) Delays(elapsed time.Duration) []time.Duration {
	delays := make([]time.Duration, 0, s.Receives)
	for n := 1; n <= s.Receives; n++ {
		delays = append(delays, s.Delay(n, elapsed))
	}
	return delays
}

// Span is the time from a message's first receive to its last, when each
// receive fails after elapsed in the handler: how long the retries reach.
func (s Schedule) Span(elapsed time.Duration) time.Duration {
	var span time.Duration
	for _, d := range s.Delays(elapsed)[:max(s.Receives-1, 0)] {
		span += elapsed + d
	}
	return span
}

// Lifetime is the time from a message's first receive to its move to the
// dead-letter queue under the same assumption: Span, then the last
// receive and its delay. The queue must keep messages longer.
func (s Schedule) Lifetime(elapsed time.Duration) time.Duration {
	if s.Receives < 1 {
		return 0
	}
	return s.Span(elapsed) + elapsed + s.Delay(s.Receives, elapsed)
}

// QueueVisibility is the retry queue's visibility timeout: six times the
// retry function's timeout, as Lambda advises for SQS event sources. It
// applies only when a retry dies; the handler sets each failed message's
// backoff itself.
const QueueVisibility = 6 * exportjob.FunctionTimeout
