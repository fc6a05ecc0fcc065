// Package memstore is an in-memory log store for unit tests. It keeps every
// event in a map and sorts a day when it is read, so it is not for
// production or large benchmarks; it passes the same acceptance suite
// (storetest) as the lake's reader, so tests that use it see the same
// behaviour: one row per org, day and request ID, last write wins, and
// ReadDay in (RequestTime, RequestID) order. It imports audit only: not
// logstore, whose interfaces it implements as they are, nor factory, which
// does not offer it.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/contentful/auditlogs/internal/audit"
)

// key is the identity of a stored event, the same as the lake's (one row
// per org-day and request ID): the day is part of it because a store
// partitions by org-day.
type key struct {
	org, day, requestID string
}

// Store keeps events in memory. The zero value is not ready; use New.
type Store struct {
	mu     sync.Mutex
	events map[key]audit.Event
}

// New returns an empty Store.
func New() *Store { return &Store{events: map[key]audit.Event{}} }

// Write validates every event first and stores them only if all are valid,
// so a bad batch changes nothing. A request ID written again replaces the
// earlier event.
func (s *Store) Write(ctx context.Context, events []audit.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: write: %w", err)
	}
	norm := make([]audit.Event, len(events))
	for i, e := range events { // e is a copy: the caller's slice is left alone
		e.Normalize()
		if err := e.Validate(); err != nil {
			return fmt.Errorf("memstore: event %d: %w", i, err)
		}
		norm[i] = e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range norm {
		s.events[key{e.OrgID, audit.DayOf(e.RequestTime).String(), e.RequestID}] = e
	}
	return nil
}

// ReadDay copies the org-day out under the lock, sorts it and calls fn
// without holding the lock, so fn may write to the store.
func (s *Store) ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error {
	if err := audit.ValidateOrgID(org); err != nil {
		return fmt.Errorf("memstore: read day: %w", err)
	}
	if day.IsZero() {
		return fmt.Errorf("memstore: read day for org %s: day is not set", org)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: read org %s day %s: %w", org, day, err)
	}
	ds := day.String()
	s.mu.Lock()
	var out []audit.Event
	for k, e := range s.events {
		if k.org == org && k.day == ds {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b audit.Event) int {
		if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	for i := range out {
		// Checked per event so that a read canceled midway reports it
		// instead of returning nil for a day it did not finish.
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memstore: read org %s day %s: %w", org, day, err)
		}
		e := out[i] // fn gets a copy it may modify without touching the store
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}
