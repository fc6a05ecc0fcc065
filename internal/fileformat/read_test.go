package fileformat

// The tests' events and their comparison with what formattest's readers
// (which share no code with the encoders) read back.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/contentful/auditlogs/internal/audit"
	"github.com/contentful/auditlogs/internal/fileformat/formattest"
	"github.com/contentful/auditlogs/internal/logstore/genstore"
)

var columns = formattest.Columns

// The independent readers (formattest), under the names these tests use.
var (
	wantRow     = formattest.WantRow
	gunzip      = formattest.Gunzip
	readCSV     = formattest.ReadCSV
	readJSONL   = formattest.ReadJSONL
	readParquet = formattest.ReadParquet
)

func readRows(t testing.TB, f Format, data []byte) [][]string {
	return formattest.Rows(t, string(f), data)
}

// encode writes events as a file of format f.
func encode(t testing.TB, f Format, events []audit.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := NewEncoder(f, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if err := enc.Write(&events[i]); err != nil {
			t.Fatalf("write row %d: %v", i, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compareRows checks every row and value read back against the events.
// The CSV reader folds a CRLF inside a quoted field into LF (documented
// by encoding/csv), so for the CSV formats the expectation is folded too;
// that the bytes are csvenc's is checked byte for byte elsewhere.
func compareRows(t testing.TB, f Format, got [][]string, events []audit.Event) {
	t.Helper()
	if len(got) != len(events) {
		t.Fatalf("%s: %d rows read back, want %d", f, len(got), len(events))
	}
	for i := range events {
		want := wantRow(&events[i])
		for c := range want {
			w := want[c]
			if f == CSV || f == CSVGzip {
				w = strings.ReplaceAll(w, "\r\n", "\n")
			}
			if got[i][c] != w {
				t.Fatalf("%s: row %d %s = %q, want %q", f, i, columns[c], got[i][c], w)
			}
		}
	}
}

// generated returns n events of genstore's day, copied out of the Event
// it reuses.
func generated(t testing.TB, n int64) []audit.Event {
	t.Helper()
	day, _ := audit.ParseDay("2026-11-24")
	events := make([]audit.Event, 0, n)
	err := (&genstore.Store{Events: n}).ReadDay(context.Background(), "org1", day, func(e *audit.Event) error {
		events = append(events, *e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// hardEvents holds the values every format must carry through: CSV's
// special characters, JSON's, line breaks of every kind, invalid UTF-8 in
// every text column, empty values, non-ASCII, ties in time, extreme
// numbers and times, in time order as the export writes them.
func hardEvents() []audit.Event {
	day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	base := audit.Event{
		OrgID: "org1", RequestMethod: "PUT", RequestPath: "/spaces/sp1/entries/e1", RequestQuery: "locale=en-US",
		ResponseStatus: 200, ContentLength: 1234, Space: "sp1", Route: "/spaces/:space_id/entries/:entry_id",
		Referrer: "https://app.contentful.com/spaces/sp1", ActorID: "user:2YVRzNgF2sE64ooav1eKSd",
	}
	type change func(*audit.Event)
	cases := []change{
		func(e *audit.Event) { e.RequestTime = day }, // the first instant of the day
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a,b", "x=1,2", "https://r/," },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = `/a"b`, `q="x"`, `"quoted"` },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a\nb", "x=\n", "\nlead" },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a\rb", "x=\r", "trail\r" },
		func(e *audit.Event) { e.RequestPath, e.RequestQuery, e.Referrer = "/a\r\nb", "x=\r\n\r\n", "\r\n" },
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery, e.Referrer = `/a\b\`, "tab=\t&nul=\x00&bell=\x07&esc=\x1b&del=\x7f", `\"`
		},
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery = "/bad\xff\xfepath", "q=\xc3"
			e.Space, e.Route, e.Referrer, e.ActorID = "sp\x80", "/r\xe2\x82", "ref\x80,x", "user:\xed\xa0\x80" // a surrogate half is invalid too
		},
		func(e *audit.Event) { e.RequestMethod = "PAT\xffCH" }, // an unvalidated event still makes valid text
		func(e *audit.Event) { e.RequestQuery, e.Space, e.Route, e.Referrer, e.ActorID = "", "", "", "", "" },
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery, e.Referrer = "/entries/ünïcödé/日本", "title=Grüße&emoji=😀", "https://r/ß"
		},
		func(e *audit.Event) {
			e.RequestPath, e.RequestQuery, e.Referrer = "/ls\u2028ps\u2029nel\u0085", "a=\u2028", "\ufeffbom"
		},
		func(e *audit.Event) { e.RequestPath, e.Referrer = " /lead", "  " },
		func(e *audit.Event) { e.ContentLength, e.ResponseStatus = 0, 100 },
		func(e *audit.Event) { e.ContentLength, e.ResponseStatus = 1<<53+1, 599 }, // not exact as a float64
		func(e *audit.Event) { e.ContentLength = math.MaxInt64 },
		func(e *audit.Event) { e.RequestPath = "/" + strings.Repeat("long,\"path\"/", 680) }, // 8 KiB
		func(e *audit.Event) { e.RequestPath = "/all,\"at\"\n\r\nonce\xff\\\u2028" },
	}
	var events []audit.Event
	t := day.Add(13*time.Hour + 45*time.Minute)
	for i, c := range cases {
		e := base
		e.RequestID = fmt.Sprintf("r%02d", i)
		e.RequestTime = t.Add(time.Duration(i) * time.Millisecond)
		if i%3 == 2 {
			e.RequestTime = events[i-1].RequestTime // a tie with the row before
		}
		c(&e)
		events = append(events, e)
	}
	// A time with nanoseconds in another zone: written in UTC, truncated
	// to the millisecond. Then the last millisecond of the day.
	e := base
	e.RequestID, e.RequestTime = "r-cet", time.Date(2026, 11, 24, 23, 59, 59, 998765432, time.FixedZone("CET", 3600)).Add(time.Hour)
	events = append(events, e)
	e.RequestID, e.RequestTime = "r-last", day.Add(24*time.Hour-time.Millisecond)
	events = append(events, e)
	return events
}
