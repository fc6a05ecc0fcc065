// Package storetest is the acceptance suite that every log store provider
// must pass: the in-memory fake, the lake's reader (in memory and on
// moto_server's S3) and a read-only store over NDJSON files (in this
// package's tests) run the same tests, so the fake cannot drift from the
// real store.
//
// The suite has two parts. Run checks what the export relies on, reading:
// it seeds each store through a function the provider gives (Open), so a
// store need not have a Write method to pass it. RunWriter checks what the
// ingest relies on, writing: validation, idempotence across Write calls,
// cancellation. A store that writes runs both (RunReadWriter), seeded
// through its own Write (Written).
//
// It imports only audit and logstore, never a provider: providers import
// it from their tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/logstore"
)

// ReadWriter is a provider that writes as well as reads: what RunWriter,
// RunReadWriter and Written take.
type ReadWriter interface {
	logstore.Reader
	logstore.Writer
}

// Open seeds and opens a store for one subtest of Run: it returns a new
// store that holds events and nothing else, as the store's writer would
// have stored them, and the suite then only reads it.
//
// The events are valid (audit.Event.Validate after Normalize) but not
// normalized, and come in the order they were written: the store must hold
// each normalized (audit.Event.Normalize: valid UTF-8, credentials
// redacted, UTC milliseconds), and of events with the same org, day and
// request ID only the last. Open may fail t. The suite does not change
// events once Open has them.
type Open = func(t *testing.T, events []audit.Event) logstore.Reader

// day is the day most tests write to. Its neighbours are used to check the
// boundaries.
var day = mustDay("2026-11-24")

func mustDay(s string) audit.Day {
	d, err := audit.ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Run runs the reading suite. open is called once per subtest.
func Run(t *testing.T, open Open) {
	t.Run("OrderAcrossShardsWithEqualTimes", func(t *testing.T) { testOrder(t, open) })
	t.Run("SameRequestIDIsOneRow", func(t *testing.T) { testDuplicates(t, open) })
	t.Run("OtherOrgsAndDaysExcluded", func(t *testing.T) { testIsolation(t, open) })
	t.Run("EmptyDay", func(t *testing.T) { testEmptyDay(t, open) })
	t.Run("ErrorFromFnStopsRead", func(t *testing.T) { testFnError(t, open) })
	t.Run("ValuesSurviveByteForByte", func(t *testing.T) { testValues(t, open) })
	t.Run("CredentialsRedacted", func(t *testing.T) { testRedacted(t, open) })
	t.Run("ManyPages", func(t *testing.T) { testManyPages(t, open) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceled(t, open) })
}

// RunWriter runs the writing suite. newStore must return an empty store
// each time it is called; it is called once per subtest.
func RunWriter(t *testing.T, newStore func(t *testing.T) ReadWriter) {
	t.Run("OrderAcrossWrites", func(t *testing.T) { testOrderAcrossWrites(t, newStore(t)) })
	t.Run("SameRequestIDAcrossWrites", func(t *testing.T) { testDuplicatesAcrossWrites(t, newStore(t)) })
	t.Run("CallerEventsUnchanged", func(t *testing.T) { testCallerEvents(t, newStore(t)) })
	t.Run("InvalidEventWritesNothing", func(t *testing.T) { testInvalid(t, newStore(t)) })
	t.Run("CanceledWrite", func(t *testing.T) { testCanceledWrite(t, newStore(t)) })
}

// RunReadWriter runs both suites on a store that writes: Run, seeded
// through the store's Write (Written), and RunWriter.
func RunReadWriter(t *testing.T, newStore func(t *testing.T) ReadWriter) {
	t.Run("Read", func(t *testing.T) { Run(t, Written(newStore)) })
	t.Run("Write", func(t *testing.T) { RunWriter(t, newStore) })
}

// Written is Run's Open for a store that writes: an empty store from
// newStore, given the events in one Write.
func Written(newStore func(t *testing.T) ReadWriter) Open {
	return func(t *testing.T, events []audit.Event) logstore.Reader {
		t.Helper()
		s := newStore(t)
		write(t, s, events...)
		return s
	}
}

// event returns a valid event; tests change what they look at.
func event(org, id string, at time.Time) audit.Event {
	return audit.Event{
		OrgID: org, RequestID: id, RequestTime: at,
		RequestMethod: "PUT", RequestPath: "/spaces/sp1/entries/" + id, RequestQuery: "locale=en-US",
		ResponseStatus: 200, ContentLength: 512, Space: "sp1", Route: "/spaces/:space/entries/:entry",
		Referrer: "https://app.contentful.com/", ActorID: "user-1",
	}
}

func write(t *testing.T, s logstore.Writer, events ...audit.Event) {
	t.Helper()
	if err := s.Write(context.Background(), events); err != nil {
		t.Fatalf("Write(%d events): %v", len(events), err)
	}
}

// readAll copies every event of the org-day, failing the test on error.
func readAll(t *testing.T, s logstore.Reader, org string, d audit.Day) []audit.Event {
	t.Helper()
	var got []audit.Event
	err := s.ReadDay(context.Background(), org, d, func(e *audit.Event) error {
		got = append(got, *e)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadDay(%s, %s): %v", org, d, err)
	}
	return got
}

// expect returns what a store must hand back for events written in order:
// normalized, the last write of each (org, day, request ID), sorted by
// (RequestTime, RequestID). It is computed here, independently of any store.
func expect(org string, d audit.Day, events ...audit.Event) []audit.Event {
	last := map[string]audit.Event{}
	for _, e := range events {
		e.Normalize()
		if e.OrgID == org && d.Contains(e.RequestTime) {
			last[e.RequestID] = e
		}
	}
	out := make([]audit.Event, 0, len(last))
	for _, e := range last {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b audit.Event) int {
		if c := a.RequestTime.Compare(b.RequestTime); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	return out
}

// assertEvents compares field by field and names the first difference.
func assertEvents(t *testing.T, got, want []audit.Event) {
	t.Helper()
	for i := 0; i < len(got) && i < len(want); i++ {
		if d := diff(got[i], want[i]); d != "" {
			t.Fatalf("event %d of %d: %s", i, len(want), d)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
}

func diff(g, w audit.Event) string {
	if !g.RequestTime.Equal(w.RequestTime) || g.RequestTime.Location() != time.UTC {
		return fmt.Sprintf("request %q: RequestTime = %s, want %s (UTC)", w.RequestID, g.RequestTime, w.RequestTime)
	}
	for _, f := range []struct {
		name string
		g, w any
	}{
		{"OrgID", g.OrgID, w.OrgID}, {"RequestID", g.RequestID, w.RequestID},
		{"RequestMethod", g.RequestMethod, w.RequestMethod}, {"RequestPath", g.RequestPath, w.RequestPath},
		{"RequestQuery", g.RequestQuery, w.RequestQuery}, {"ResponseStatus", g.ResponseStatus, w.ResponseStatus},
		{"ContentLength", g.ContentLength, w.ContentLength}, {"Space", g.Space, w.Space},
		{"Route", g.Route, w.Route}, {"Referrer", g.Referrer, w.Referrer}, {"ActorID", g.ActorID, w.ActorID},
	} {
		if f.g != f.w {
			return fmt.Sprintf("request %q: %s = %q, want %q", w.RequestID, f.name, f.g, f.w)
		}
	}
	return ""
}

// flat is the events of several writes in the order they were written.
func flat(writes [][]audit.Event) []audit.Event {
	var all []audit.Event
	for _, w := range writes {
		all = append(all, w...)
	}
	return all
}

// orderWrites is 600 events of one org-day in Write calls of uneven size,
// as ingest would make them.
func orderWrites(org string) [][]audit.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	// Few distinct times, so most events share their time with others and
	// only the request ID orders them; IDs that are prefixes of each other,
	// mixed case and punctuation check that the order is by bytes.
	times := make([]time.Time, 12)
	for i := range times {
		times[i] = day.Start().Add(time.Duration(rng.Int64N(int64(24 * time.Hour)))).Truncate(time.Millisecond)
	}
	times[0], times[1] = day.Start(), day.End().Add(-time.Millisecond)
	var all []audit.Event
	for i := range 600 {
		id := fmt.Sprintf("req-%d", i)
		switch i % 5 {
		case 1:
			id = fmt.Sprintf("R%x", rng.Uint64())
		case 2:
			id = fmt.Sprintf("req-%d#%c", i, "~!Za_"[rng.IntN(5)])
		}
		all = append(all, event(org, id, times[rng.IntN(len(times))]))
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	var writes [][]audit.Event
	for start := 0; start < len(all); {
		n := min(len(all)-start, 1+rng.IntN(120))
		writes = append(writes, all[start:start+n])
		start += n
	}
	return writes
}

func testOrder(t *testing.T, open Open) {
	const org = "org-order"
	all := flat(orderWrites(org))
	s := open(t, all)
	assertEvents(t, readAll(t, s, org, day), expect(org, day, all...))
}

func testOrderAcrossWrites(t *testing.T, s ReadWriter) {
	const org = "org-order"
	writes := orderWrites(org)
	for _, w := range writes {
		write(t, s, w...)
	}
	assertEvents(t, readAll(t, s, org, day), expect(org, day, flat(writes)...))
}

// duplicateWrites is events that repeat request IDs, in the Write calls
// that RunWriter makes; Run seeds them all at once.
func duplicateWrites(org string) [][]audit.Event {
	at := func(h int) time.Time { return day.Start().Add(time.Duration(h) * time.Hour) }

	// In one Write: the same ID at both ends of a batch larger than a
	// writer's chunk (the former DynamoDB store's was 25 items), so that
	// a store writing chunks concurrently has the copies in different
	// ones. The last must win.
	var batch []audit.Event
	first := event(org, "dup-in-batch", at(1))
	batch = append(batch, first)
	for i := range 58 {
		batch = append(batch, event(org, fmt.Sprintf("filler-%02d", i), at(2)))
	}
	second := first
	second.ResponseStatus, second.RequestPath = 404, "/changed/in/batch"
	batch = append(batch, second)
	// And twice inside what would be one chunk.
	third := event(org, "dup-adjacent", at(3))
	fourth := third
	fourth.ActorID = "user-2"
	batch = append(batch, third, fourth)

	// In two Writes, with the second changing fields, clearing optional
	// ones and moving the time within the day, which changes the order.
	again := event(org, "dup-two-writes", at(4))
	changed := again
	changed.RequestTime = at(23)
	changed.ResponseStatus, changed.RequestMethod = 500, "DELETE"
	changed.RequestQuery, changed.Space, changed.Referrer, changed.ContentLength = "", "", "", 0
	return [][]audit.Event{batch, {again}, {changed}, {event(org, "after-first-before-second", at(10))}}
}

func testDuplicates(t *testing.T, open Open) {
	const org = "org-dup"
	all := flat(duplicateWrites(org))
	checkDuplicates(t, readAll(t, open(t, all), org, day), expect(org, day, all...))
}

func testDuplicatesAcrossWrites(t *testing.T, s ReadWriter) {
	const org = "org-dup"
	writes := duplicateWrites(org)
	for _, w := range writes {
		write(t, s, w...)
	}
	checkDuplicates(t, readAll(t, s, org, day), expect(org, day, flat(writes)...))
}

func checkDuplicates(t *testing.T, got, want []audit.Event) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range got {
		seen[e.RequestID]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("request ID %q read %d times, want once", id, n)
		}
	}
	assertEvents(t, got, want)
	// Spelled out too, so that a wrong expect cannot hide a wrong store.
	if got[len(got)-1].RequestID != "dup-two-writes" || got[len(got)-1].ResponseStatus != 500 || got[len(got)-1].Space != "" {
		t.Fatalf("last event = %+v, want the second write of dup-two-writes at 23:00 with status 500 and no space", got[len(got)-1])
	}
}

func testIsolation(t *testing.T, open Open) {
	const a, b, aLonger = "acme", "globex", "acme-eu"
	prev, next := day.AddDays(-1), day.AddDays(1)
	ms := time.Millisecond
	events := []audit.Event{
		event(a, "a-first", day.Start()),
		event(a, "a-noon", day.Start().Add(12*time.Hour)),
		event(a, "a-last", day.End().Add(-ms)),
		event(a, "a-prev-last", day.Start().Add(-ms)),
		event(a, "a-next-first", day.End()),
		event(b, "a-noon", day.Start().Add(12*time.Hour)), // same request ID, other org
		event(b, "b-first", day.Start()),
		event(aLonger, "e-noon", day.Start().Add(12*time.Hour)), // org whose ID extends a's
	}
	s := open(t, events)

	for _, tc := range []struct {
		org  string
		d    audit.Day
		want []string
	}{
		{a, day, []string{"a-first", "a-noon", "a-last"}},
		{a, prev, []string{"a-prev-last"}},
		{a, next, []string{"a-next-first"}},
		{b, day, []string{"b-first", "a-noon"}},
		{aLonger, day, []string{"e-noon"}},
	} {
		got := readAll(t, s, tc.org, tc.d)
		var ids []string
		for _, e := range got {
			ids = append(ids, e.RequestID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("ReadDay(%s, %s) = %q, want %q", tc.org, tc.d, ids, tc.want)
			continue
		}
		assertEvents(t, got, expect(tc.org, tc.d, events...))
	}
}

func testEmptyDay(t *testing.T, open Open) {
	const org = "org-empty"
	// Neighbours exist, so an empty result is not just an empty store.
	s := open(t, []audit.Event{event(org, "before", day.Start().Add(-time.Millisecond)), event(org, "after", day.End()),
		event("org-other", "same-day", day.Start())})
	calls := 0
	err := s.ReadDay(context.Background(), org, day, func(*audit.Event) error { calls++; return nil })
	if err != nil || calls != 0 {
		t.Fatalf("ReadDay of an empty day: err = %v, fn called %d times; want nil and 0", err, calls)
	}
}

func testFnError(t *testing.T, open Open) {
	const org = "org-fnerr"
	var events []audit.Event
	for i := range 40 {
		events = append(events, event(org, fmt.Sprintf("r%02d", i), day.Start().Add(time.Duration(i)*time.Minute)))
	}
	s := open(t, events)
	stop := errors.New("consumer gave up")
	calls := 0
	err := s.ReadDay(context.Background(), org, day, func(*audit.Event) error {
		calls++
		if calls == 3 {
			return fmt.Errorf("wrapped by fn: %w", stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("ReadDay err = %v, want the error from fn", err)
	}
	if calls != 3 {
		t.Fatalf("fn called %d times, want the read to stop at the error (3)", calls)
	}
}

func testValues(t *testing.T, open Open) {
	const org = "org-values"
	tricky := []string{
		`a,b,,c`, `say "hi" ""`, "line\r\nbreak\rcr\nlf", "tab\there", "ünïcødé 日本語 🎉 \u2028 \u00a0",
		`=cmd|' /C calc'!A0`, "  leading and trailing  ", "\x7f delete", "comma, \"quote\"\r\n and 🎉",
	}
	var events []audit.Event
	for i, v := range tricky {
		e := event(org, fmt.Sprintf("val-%02d", i), day.Start().Add(time.Duration(i)*time.Second))
		e.RequestPath, e.RequestQuery, e.Space, e.Route, e.Referrer, e.ActorID = "/"+v, v, v, v, v, v
		events = append(events, e)
	}
	// A request ID with punctuation and non-ASCII letters.
	odd := event(org, `id,"é"#1`, day.Start().Add(time.Hour))
	events = append(events, odd)
	// Empty optional fields and zero numbers must come back empty, not
	// as the values of another event.
	bare := event(org, "bare", day.Start().Add(2*time.Hour))
	bare.RequestQuery, bare.Space, bare.Route, bare.Referrer, bare.ActorID, bare.ContentLength = "", "", "", "", "", 0
	events = append(events, bare)
	// Fields at their size limits are stored whole.
	big := event(org, "big", day.Start().Add(3*time.Hour))
	big.RequestPath = "/" + strings.Repeat("p", audit.MaxPathLen-1)
	big.RequestQuery = strings.Repeat("q=ü&", audit.MaxQueryLen/5)
	big.Referrer = strings.Repeat("r", audit.MaxReferrerLen)
	big.ContentLength = 1<<53 + 1 // beyond float64 precision
	big.ResponseStatus = 599
	events = append(events, big)
	// Invalid UTF-8 is stored as Normalize makes it; a time in another zone
	// with sub-millisecond digits comes back as UTC milliseconds.
	bad := event(org, "bad-utf8", time.Date(2026, 11, 24, 9, 30, 0, 123456789, time.FixedZone("CET", 3600)))
	bad.RequestPath, bad.ActorID = "/bad\xffbyte", "\xc3"
	events = append(events, bad)
	s := open(t, events)

	got := readAll(t, s, org, day)
	assertEvents(t, got, expect(org, day, events...))
	for _, e := range got {
		if e.RequestID == "bad-utf8" {
			if e.RequestPath != "/bad\uFFFDbyte" || !e.RequestTime.Equal(time.Date(2026, 11, 24, 8, 30, 0, 123000000, time.UTC)) {
				t.Fatalf("normalized event = %q at %s", e.RequestPath, e.RequestTime)
			}
		}
	}
}

// credentialEvent carries a credential in its query and its referrer.
func credentialEvent(org string) (e audit.Event, token string) {
	token = "CFPAT-" + strings.Repeat("0aZ_-", 8) + "end"
	e = event(org, "tok", day.Start().Add(time.Hour))
	e.RequestQuery = "access_token=" + token + "&locale=en"
	e.Referrer = "https://example.com/cb?x=1#id_token=eyJ.x.y&state=" + token
	return e, token
}

// testRedacted: a store keeps no credential whoever writes to it
// (audit.Event.Normalize): the value of a credential parameter and a
// platform token are stored as REDACTED, the rest as written.
func testRedacted(t *testing.T, open Open) {
	const org = "org-redact"
	e, token := credentialEvent(org)
	got := readAll(t, open(t, []audit.Event{e}), org, day)
	if len(got) != 1 {
		t.Fatalf("%d events stored, want 1", len(got))
	}
	// The messages do not print the stored values: they may hold the token.
	if got[0].RequestQuery != "access_token=REDACTED&locale=en" {
		t.Errorf("stored query is not access_token=REDACTED&locale=en (token kept: %v)", strings.Contains(got[0].RequestQuery, token))
	}
	if got[0].Referrer != "https://example.com/cb?x=1#id_token=REDACTED&state=REDACTED" {
		t.Errorf("stored referrer is not redacted as expected (token kept: %v)", strings.Contains(got[0].Referrer, token))
	}
}

// testCallerEvents: Write normalizes copies, never the caller's events.
func testCallerEvents(t *testing.T, s ReadWriter) {
	const org = "org-redact"
	e, _ := credentialEvent(org)
	e.RequestTime = e.RequestTime.In(time.FixedZone("CET", 3600)).Add(123456 * time.Nanosecond)
	in := e
	write(t, s, e)
	if e != in {
		t.Fatal("Write changed the caller's event")
	}
	if got := readAll(t, s, org, day); len(got) != 1 || got[0].RequestQuery != "access_token=REDACTED&locale=en" {
		t.Fatalf("read %d events after the Write, want 1, redacted", len(got))
	}
}

func testInvalid(t *testing.T, s ReadWriter) {
	const org = "org-invalid"
	good := event(org, "good", day.Start())
	bad := event(org, "bad", day.Start().Add(time.Second))
	bad.ResponseStatus = 42
	err := s.Write(context.Background(), []audit.Event{good, bad, event(org, "good-2", day.Start())})
	var fe *audit.FieldError
	if !errors.As(err, &fe) || fe.Field != "response_status" {
		t.Fatalf("Write with an invalid event: err = %v, want a *audit.FieldError for response_status", err)
	}
	if !strings.Contains(err.Error(), "response_status") {
		t.Fatalf("error %q does not name the field", err)
	}
	if got := readAll(t, s, org, day); len(got) != 0 {
		t.Fatalf("after a rejected Write the day holds %d events, want none", len(got))
	}
	if err := s.Write(context.Background(), nil); err != nil {
		t.Fatalf("Write(nil) = %v", err)
	}
}

func testManyPages(t *testing.T, open Open) {
	const org = "org-large"
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 3000
	events := make([]audit.Event, n)
	for i := range events {
		e := event(org, fmt.Sprintf("%08x-%d", rng.Uint32(), i), day.Start().Add(time.Duration(rng.Int64N(int64(24*time.Hour)))))
		if i%10 == 0 {
			e.RequestTime = day.Start().Add(6 * time.Hour) // a crowd at one instant
		}
		// About 1 KB of path each: 3 MB in all, more than one 1 MB page.
		path := make([]byte, 1000)
		for j := range path {
			path[j] = "abcdefghijklmnopqrstuvwxyz0123456789/"[rng.IntN(37)]
		}
		e.RequestPath = "/" + string(path)
		events[i] = e
	}
	s := open(t, events)
	want := expect(org, day, events...)
	assertEvents(t, readAll(t, s, org, day), want)

	// Stopping early in a large day stops cleanly.
	stop := errors.New("stop")
	calls := 0
	err := s.ReadDay(context.Background(), org, day, func(*audit.Event) error {
		if calls++; calls == 10 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 10 {
		t.Fatalf("stopping after 10 events: err = %v after %d calls, want the error as is after 10", err, calls)
	}
}

// cancelEvents is 200 events of one org-day.
func cancelEvents(org string) []audit.Event {
	var events []audit.Event
	for i := range 200 {
		events = append(events, event(org, fmt.Sprintf("c%03d", i), day.Start().Add(time.Duration(i)*time.Second)))
	}
	return events
}

func testCanceled(t *testing.T, open Open) {
	const org = "org-cancel"
	s := open(t, cancelEvents(org))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := s.ReadDay(ctx, org, day, func(*audit.Event) error { calls++; return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadDay with a canceled context: err = %v after %d events, want context.Canceled", err, calls)
	}

	// Canceled while reading: the read must not end as if the day were
	// complete.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	calls = 0
	err = s.ReadDay(ctx, org, day, func(*audit.Event) error {
		if calls++; calls == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadDay canceled after 5 of 200 events: err = %v after %d events, want context.Canceled", err, calls)
	}
}

func testCanceledWrite(t *testing.T, s ReadWriter) {
	const org = "org-cancel"
	events := cancelEvents(org)
	write(t, s, events[1:]...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Write(ctx, events[:1]); err == nil {
		t.Fatal("Write with a canceled context succeeded")
	}
}
