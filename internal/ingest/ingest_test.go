package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/localdev/synth"
	"github.com/contentful/auditlogs/internal/localdev/testenv"
	"github.com/contentful/auditlogs/internal/logstore/lakestore/laketest"
	"github.com/contentful/auditlogs/internal/logstore/memstore"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// motoStore returns the lake store on a bucket of its own on the shared
// moto_server; its reads compact the bucket-day first (laketest).
func motoStore(tb testing.TB) *laketest.Store {
	tb.Helper()
	return laketest.New(tb, "ingest")
}

type dayReader interface {
	ReadDay(ctx context.Context, org string, day audit.Day, fn func(e *audit.Event) error) error
}

func readDay(t testing.TB, s dayReader, org string, day audit.Day) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := s.ReadDay(context.Background(), org, day, func(e *audit.Event) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// mixedBatch holds good records (PUT, PATCH, DELETE, one POST), skipped
// ones (GET, HEAD, OPTIONS, unknown routes), malformed ones, and a record
// delivered twice.
func mixedBatch(t testing.TB) (records []Raw, goodIDs []string, rejectedSources []string) {
	add := func(src string, data string) { records = append(records, Raw{Source: src, Data: []byte(data)}) }
	rec := func(id, method, path string, extra string) string {
		return fmt.Sprintf(`{"request_id":%q,"org_id":"mix-org","request_time":"2026-11-24T10:%02d:00.123456Z","request_method":%q,"request_path":%q,"response_status":200,"content_length":42,"actor_id":"user:u1"%s}`,
			id, len(records)%60, method, path, extra)
	}
	good := []struct{ method, path string }{
		{"PUT", "/spaces/sp1/environments/master/entries/e1"},
		{"PATCH", "/spaces/sp1/environments/staging/entries/e2"},
		{"DELETE", "/spaces/sp2/environment_aliases/master"},
		{"PUT", "/spaces/sp2/environments/master/assets/a1/published"},
		{"PUT", "/organizations/mix-org/environment_templates/t1"},
	}
	for i, g := range good {
		id := fmt.Sprintf("good-%d", i)
		add("k:"+id, rec(id, g.method, g.path, `,"space":"ignored"`))
		goodIDs = append(goodIDs, id)
	}
	add("k:dup", rec("good-0", "PUT", "/spaces/sp1/environments/master/entries/e1", "")) // a redelivery
	add("k:post", rec("post-1", "POST", "/spaces/sp1/environments/master/entries", ""))
	add("k:get", rec("get-1", "GET", "/spaces/sp1/environments/master/entries/e1", ""))
	add("k:head", rec("head-1", "HEAD", "/spaces/sp1", ""))
	add("k:options", rec("opt-1", "OPTIONS", "/spaces/sp1", ""))
	add("k:unknown1", rec("unk-1", "PUT", "/spaces/sp1/unknown/x", ""))
	add("k:unknown2", rec("unk-2", "DELETE", "/v2/whatever", ""))
	bad := map[string]string{
		"k:bad-json":   `{"request_id":"b1",`,
		"k:bad-type":   strings.Replace(rec("b2", "PUT", "/spaces/s/environments/m/entries/e", ""), `"response_status":200`, `"response_status":"200"`, 1),
		"k:bad-time":   strings.Replace(rec("b3", "PUT", "/spaces/s/environments/m/entries/e", ""), "2026-11-24T10", "2031-11-24T10", 1),
		"k:bad-org":    strings.Replace(rec("b4", "PUT", "/spaces/s/environments/m/entries/e", ""), "mix-org", "mix org", 1),
		"k:bad-utf8":   "{\"request_id\":\xff}",
		"k:long-space": rec("b6", "PUT", "/spaces/"+strings.Repeat("s", 300), ""),
	}
	for _, src := range slices.Sorted(func(yield func(string) bool) {
		for k := range bad {
			if !yield(k) {
				return
			}
		}
	}) {
		add(src, bad[src])
		rejectedSources = append(rejectedSources, src)
	}
	return records, goodIDs, rejectedSources
}

func checkMixed(t *testing.T, store interface {
	dayReader
	Write(context.Context, []audit.Event) error
}) {
	records, goodIDs, rejected := mixedBatch(t)
	sink := &MemorySink{}
	in := &Ingester{Store: store, Rejects: sink, Now: func() time.Time { return testNow }, BatchSize: 2}
	day, _ := audit.ParseDay("2026-11-24")
	for pass := 1; pass <= 2; pass++ { // the whole batch delivered twice
		c, err := in.Ingest(context.Background(), records)
		if err != nil {
			t.Fatal(err)
		}
		want := Counts{Records: len(records), Stored: 6, SkippedMethod: 4, SkippedRoute: 2, Rejected: 6,
			Entities: map[string]int{"entries": 3, "environments": 1, "assets": 1, "content_model_templates": 1}}
		if fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("pass %d: counts %+v, want %+v", pass, c, want)
		}
		got := readDay(t, store, "mix-org", day)
		var ids []string
		for _, e := range got {
			ids = append(ids, e.RequestID)
			if e.Space == "ignored" {
				t.Errorf("%s: space taken from the record", e.RequestID)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, goodIDs) {
			t.Fatalf("pass %d: stored %v, want each of %v once", pass, ids, goodIDs)
		}
		for _, e := range got {
			if e.RequestID == "good-2" && (e.Space != "sp2" || e.Route != "/spaces/:space_id/environment_aliases/:environment_alias_id" || e.RequestPath != "/spaces/sp2/environment_aliases/master") {
				t.Errorf("alias event %+v", e)
			}
			if e.RequestID == "good-4" && (e.Space != "" || e.Route != "/organizations/:organization_id/environment_templates/:template_id") {
				t.Errorf("org event %+v", e)
			}
			if e.RequestTime.Nanosecond()%1e6 != 0 || e.RequestTime.Nanosecond() != 123e6 {
				t.Errorf("time %v not truncated to ms", e.RequestTime)
			}
		}
	}
	rs := sink.Rejects()
	if len(rs) != 2*len(rejected) {
		t.Fatalf("%d rejects, want %d", len(rs), 2*len(rejected))
	}
	wantField := map[string]string{"k:bad-json": "record", "k:bad-type": "response_status", "k:bad-time": "request_time",
		"k:bad-org": "org_id", "k:bad-utf8": "record", "k:long-space": "space"}
	for _, r := range rs[:len(rejected)] {
		if r.Field != wantField[r.Source] || r.Reason == "" || !strings.Contains(r.Error, r.Field) {
			t.Errorf("reject %+v: want field %q and a reason", r, wantField[r.Source])
		}
		if r.Source == "k:bad-utf8" && (r.Record != "" || len(r.RecordBase64) == 0) {
			t.Errorf("invalid UTF-8 record kept as %+v", r)
		}
		if r.Source == "k:long-space" && (r.RequestID != "b6" || r.OrgID != "mix-org" || !strings.Contains(r.Record, `"b6"`)) {
			t.Errorf("reject %+v lacks the record's IDs", r)
		}
	}
}

// TestIngestMixedBatchOnMoto: good records are stored once, even when
// delivered twice, in the real log store; malformed ones reach the reject
// sink with their reason; skipped ones are counted.
func TestIngestMixedBatchOnMoto(t *testing.T) {
	checkMixed(t, motoStore(t))
}

func TestIngestMixedBatchInMemory(t *testing.T) {
	checkMixed(t, memstore.New())
}

// TestIngestRedeliveredAcrossBatches: a synthetic day ingested twice, in
// different batchings, holds each request once on moto.
func TestIngestRedeliveredOnMoto(t *testing.T) {
	store := motoStore(t)
	day, _ := audit.ParseDay("2026-11-24")
	var records []Raw
	cfg := synth.Config{Orgs: []string{"redo-org"}, Events: 300, Day: day, Seed: 3}
	if err := synth.Generate(context.Background(), cfg, func(e *audit.Event) error {
		records = append(records, Raw{Source: e.RequestID, Data: RecordOf(e)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1000, 7} {
		in := &Ingester{Store: store, Now: func() time.Time { return testNow }, BatchSize: batch}
		c, err := in.Ingest(context.Background(), records[:len(records)/2])
		if err == nil {
			var c2 Counts
			c2, err = in.Ingest(context.Background(), records) // overlaps the first half
			c.Add(c2)
		}
		if err != nil || c.Stored != len(records)*3/2 || c.Rejected+c.SkippedMethod+c.SkippedRoute != 0 {
			t.Fatalf("batch %d: %+v, %v", batch, c, err)
		}
	}
	got := readDay(t, store, "redo-org", day)
	if len(got) != len(records) {
		t.Fatalf("%d events stored, want %d (one per request)", len(got), len(records))
	}
}

type failingStore struct{ calls int }

func (f *failingStore) Write(context.Context, []audit.Event) error {
	f.calls++
	return errors.New("table unavailable")
}

type failingSink struct{}

func (failingSink) Reject(context.Context, []Reject) error { return errors.New("bucket unavailable") }

func TestIngestErrors(t *testing.T) {
	records, _, _ := mixedBatch(t)
	_, err := (&Ingester{Store: &failingStore{}, Now: func() time.Time { return testNow }}).Ingest(context.Background(), records)
	if err == nil || !strings.Contains(err.Error(), "table unavailable") {
		t.Fatalf("store error: %v", err)
	}
	_, err = (&Ingester{Store: memstore.New(), Rejects: failingSink{}, Now: func() time.Time { return testNow }}).Ingest(context.Background(), records)
	if err == nil || !strings.Contains(err.Error(), "bucket unavailable") || !strings.Contains(err.Error(), "6 rejected") {
		t.Fatalf("sink error: %v", err)
	}
	// Nothing to store: no call to the store.
	fs := &failingStore{}
	if c, err := (&Ingester{Store: fs}).Ingest(context.Background(), []Raw{{Data: []byte("{}")}}); err != nil || fs.calls != 0 || c.Rejected != 1 {
		t.Fatalf("only rejects: %+v, %v, %d store calls", c, err, fs.calls)
	}
}

func TestJSONLSink(t *testing.T) {
	var buf bytes.Buffer
	s := &JSONLSink{W: &buf}
	raw := Raw{Source: "f:1", Data: []byte(`{"request_id":1}`)}
	_, err := Parse(raw.Data, testNow)
	if err := s.Reject(context.Background(), []Reject{newReject(raw, nil, err), newReject(Raw{Source: "f:2", Data: []byte{0xff}}, nil, errors.New("x"))}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%q", buf.String())
	}
	var r Reject
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || r.Source != "f:1" || r.Field != "request_id" || r.Record != string(raw.Data) || !strings.Contains(r.Reason, "string") {
		t.Fatalf("%+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &r); err != nil || r.Field != "record" || !bytes.Equal(r.RecordBase64, []byte{0xff}) {
		t.Fatalf("%+v, %v", r, err)
	}
}

func TestReadLines(t *testing.T) {
	long := `{"x":"` + strings.Repeat("a", MaxRecordBytes+100) + `"}`
	in := "{\"a\":1}\r\n\n   \n" + long + "\n{\"b\":2}\n{\"c\":3}"
	var got []Raw
	err := ReadLines(strings.NewReader(in), "f", 2, func(rs []Raw) error {
		if len(rs) > 2 {
			t.Errorf("batch of %d", len(rs))
		}
		got = append(got, rs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Source != "f:1" || string(got[0].Data) != `{"a":1}` || got[1].Source != "f:4" ||
		len(got[1].Data) != MaxRecordBytes+1 || got[2].Source != "f:5" || string(got[3].Data) != `{"c":3}` || got[3].Source != "f:6" {
		t.Fatalf("records: %d, %q %q %d %q", len(got), got[0].Source, got[0].Data, len(got[1].Data), got[3].Data)
	}
	if _, err := Parse(got[1].Data, testNow); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Fatalf("long line: %v", err)
	}
	stop := errors.New("stop")
	if err := ReadLines(strings.NewReader(in), "f", 1, func([]Raw) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn error: %v", err)
	}
}

// lateNoter records NoteLate calls and checks that the day's events are in
// the store when it is called.
type lateNoter struct {
	store *memstore.Store
	calls map[string]int
	err   error
}

func (l *lateNoter) NoteLate(ctx context.Context, org string, day audit.Day, n int) error {
	stored := 0
	if err := l.store.ReadDay(ctx, org, day, func(*audit.Event) error { stored++; return nil }); err != nil {
		return err
	}
	if stored < n {
		return fmt.Errorf("NoteLate(%s, %s, %d) before the events were stored (%d stored)", org, day, n, stored)
	}
	l.calls[org+" "+day.String()] += n
	return l.err
}

// TestIngestNotesLateDays: the events of past days (before the ingester's
// UTC today) are noted once stored, per org-day with their count; today's
// events, skipped and rejected records are not.
func TestIngestNotesLateDays(t *testing.T) {
	rec := func(id, org, at, method string) Raw {
		f := goodFields()
		f["request_id"], f["org_id"], f["request_time"], f["request_method"] = id, org, at, method
		return Raw{Source: id, Data: marshal(t, f)}
	}
	records := []Raw{
		rec("a1", "org-a", "2026-11-24T23:59:59.999Z", "PUT"),
		rec("a2", "org-a", "2026-11-24T10:00:00Z", "DELETE"),
		rec("a3", "org-a", "2026-11-25T00:00:00Z", "PUT"), // today
		rec("b1", "org-b", "2026-11-25T00:30:00+01:00", "PATCH"),
		rec("b2", "org-b", "2026-11-20T00:00:00Z", "GET"), // not audited
		{Source: "bad", Data: []byte(`{"org_id":"org-c","request_time":"2026-11-23T00:00:00Z"}`)},
	}
	store := memstore.New()
	noter := &lateNoter{store: store, calls: map[string]int{}}
	in := &Ingester{Store: store, Late: noter, Now: func() time.Time { return testNow }}
	if _, err := in.Ingest(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"org-a 2026-11-24": 2, "org-b 2026-11-24": 1}
	if fmt.Sprint(noter.calls) != fmt.Sprint(want) {
		t.Fatalf("noted %v, want %v", noter.calls, want)
	}
	noter.err = errors.New("ledger unavailable")
	if _, err := in.Ingest(context.Background(), records); err == nil || !strings.Contains(err.Error(), "ledger unavailable") {
		t.Fatalf("a ledger error must fail the batch (to be retried): %v", err)
	}
}

// secondWriteFails stores the first Write and fails the rest.
type secondWriteFails struct {
	*memstore.Store
	writes int
}

func (s *secondWriteFails) Write(ctx context.Context, es []audit.Event) error {
	if s.writes++; s.writes > 1 {
		return errors.New("table unavailable")
	}
	return s.Store.Write(ctx, es)
}

// TestStoreEventsNotesLateDays: audit events stored through StoreEvents
// (auditctl events load) are noted as Ingest notes them: the past
// org-days, once stored, with their counts; after a store error, the days
// of the events stored before it.
func TestStoreEventsNotesLateDays(t *testing.T) {
	ev := func(id, org string, at time.Time) audit.Event {
		return audit.Event{OrgID: org, RequestID: id, RequestTime: at, RequestMethod: "PUT", RequestPath: "/spaces/s1", ResponseStatus: 200}
	}
	yesterday, today := testNow.Add(-24*time.Hour), testNow
	events := []audit.Event{
		ev("a1", "org-a", yesterday), ev("a2", "org-a", yesterday.Add(time.Minute)), ev("a3", "org-a", today),
		ev("b1", "org-b", yesterday.Add(-48*time.Hour)),
	}
	source := func(emit func(audit.Event) error) error {
		for _, e := range events {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	store := memstore.New()
	noter := &lateNoter{store: store, calls: map[string]int{}}
	in := &Ingester{Store: store, Late: noter, Now: func() time.Time { return testNow }}
	n, err := in.StoreEvents(context.Background(), source)
	if err != nil || n != len(events) {
		t.Fatalf("stored %d, %v", n, err)
	}
	if want := map[string]int{"org-a 2026-11-24": 2, "org-b 2026-11-22": 1}; fmt.Sprint(noter.calls) != fmt.Sprint(want) {
		t.Fatalf("noted %v, want %v", noter.calls, want)
	}

	// One event a batch, the second batch fails: the first is noted.
	failing := &secondWriteFails{Store: memstore.New()}
	noter = &lateNoter{store: failing.Store, calls: map[string]int{}}
	in = &Ingester{Store: failing, Late: noter, BatchSize: 1, Now: func() time.Time { return testNow }}
	n, err = in.StoreEvents(context.Background(), source)
	if err == nil || !strings.Contains(err.Error(), "table unavailable") || n != 1 {
		t.Fatalf("stored %d, %v; want 1 and the store's error", n, err)
	}
	if want := map[string]int{"org-a 2026-11-24": 1}; fmt.Sprint(noter.calls) != fmt.Sprint(want) {
		t.Fatalf("noted %v after the error, want %v", noter.calls, want)
	}
}
